"""The Python package against faster-whisper (parity) and against our own CLI (speed).

    .venv/bin/python bench/python_api.py [--model base] [--compute-type int8] [--threads 2]
                                         [--long .cache/long10.wav] [--repetitions 2]

1. Parity: every English dev clip of ../shared/audio/manifest.tsv through amanuensis.WhisperModel
   and faster_whisper.WhisperModel in this process, same arguments, greedy and beam 5 with word
   timestamps. Per setting: clips with identical text, and the largest differences in segment and
   word times, average log-probability and language probability.
2. Speed on a long file (same model, compute type, threads, beam 5, language en), taking turns:
   `amanuensis transcribe` (process start to exit), the Python package (model load plus
   transcribe, in-process), faster-whisper (the same, in-process).

Prints markdown tables and writes bench/results/python_api-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
sys.path.insert(0, str(REPO_ROOT / "build" / "release" / "python"))

import amanuensis  # noqa: E402
import faster_whisper  # noqa: E402
import manifest as manifest_mod  # noqa: E402
from machine import cpu_name  # noqa: E402

SETTINGS = {
    "greedy": {"beam_size": 1, "temperature": 0},
    "beam 5 + words": {"beam_size": 5, "word_timestamps": True},
}


def parity(model_dir: str, threads: int) -> list[dict]:
    clips = [c.path for c in manifest_mod.dev_subset(manifest_mod.load_manifest(
        manifest_mod.SHARED_AUDIO))]
    ours = amanuensis.WhisperModel(model_dir, cpu_threads=threads)
    fw = faster_whisper.WhisperModel(model_dir, cpu_threads=threads)
    rows = []
    for name, kwargs in SETTINGS.items():
        row = {"setting": name, "clips": len(clips), "identical": 0, "segment_s": 0.0,
               "word_s": 0.0, "avg_logprob": 0.0, "language_probability": 0.0}
        for clip in clips:
            a, a_info = ours.transcribe(str(clip), **kwargs)
            f, f_info = fw.transcribe(str(clip), **kwargs)
            a, f = list(a), list(f)
            row["language_probability"] = max(row["language_probability"], abs(
                a_info.language_probability - f_info.language_probability))
            if [s.text for s in a] != [s.text for s in f]:
                continue
            row["identical"] += 1
            for x, y in zip(a, f):
                row["segment_s"] = max(row["segment_s"], abs(x.start - y.start),
                                       abs(x.end - y.end))
                row["avg_logprob"] = max(row["avg_logprob"], abs(x.avg_logprob - y.avg_logprob))
                for v, w in zip(x.words or [], y.words or []):
                    row["word_s"] = max(row["word_s"], abs(v.start - w.start), abs(v.end - w.end))
        rows.append(row)
    return rows


def speed(model_dir: str, compute_type: str, threads: int, audio: str, repetitions: int) -> dict:
    cli = REPO_ROOT / "build" / "release" / "amanuensis"
    times = {"cli": [], "python": [], "faster-whisper": []}
    kwargs = {"beam_size": 5, "language": "en"}
    for _ in range(repetitions):
        start = time.monotonic()
        subprocess.run([str(cli), "transcribe", "--model", model_dir, "--compute-type",
                        compute_type, "--threads", str(threads), "--beam-size", "5",
                        "--language", "en", audio], check=True, capture_output=True)
        times["cli"].append(time.monotonic() - start)
        for name, module in (("python", amanuensis), ("faster-whisper", faster_whisper)):
            start = time.monotonic()
            model = module.WhisperModel(model_dir, compute_type=compute_type, cpu_threads=threads)
            segments, info = model.transcribe(audio, **kwargs)
            list(segments)
            times[name].append(time.monotonic() - start)
            del model
    duration = info.duration
    return {name: {"median_s": statistics.median(t), "all_s": t,
                   "rtf": duration / statistics.median(t)} for name, t in times.items()} | {
        "audio_s": duration}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--long", default=str(REPO_ROOT / ".cache" / "long10.wav"))
    parser.add_argument("--repetitions", type=int, default=2)
    args = parser.parse_args()
    model_dir = str(REPO_ROOT / "models" / args.model)

    rows = parity(model_dir, args.threads)
    print(f"\nParity, {args.model} (stored type), {args.threads} threads, {cpu_name()}\n")
    print("| setting | identical text | max segment time diff s | max word time diff s "
          "| max avg_logprob diff | max language prob diff |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['identical']} / {r['clips']} | {r['segment_s']:.3f} "
              f"| {r['word_s']:.3f} | {r['avg_logprob']:.5f} | {r['language_probability']:.5f} |")

    result = speed(model_dir, args.compute_type, args.threads, args.long, args.repetitions)
    print(f"\nSpeed, {Path(args.long).name} ({result['audio_s']:.0f} s), {args.model} "
          f"{args.compute_type}, beam 5, {args.threads} threads, median of {args.repetitions}\n")
    print("| engine | wall s | RTF | vs CLI |")
    print("|---|---|---|---|")
    for name in ("cli", "python", "faster-whisper"):
        r = result[name]
        print(f"| {name} | {r['median_s']:.2f} | {r['rtf']:.1f} | "
              f"{result['cli']['median_s'] / r['median_s']:.3f} |")

    out = REPO_ROOT / "bench" / "results" / (
        "python_api-" + datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S") + ".json")
    out.write_text(json.dumps({"cpu": cpu_name(), "model": args.model, "threads": args.threads,
                               "compute_type": args.compute_type, "parity": rows,
                               "speed": result}, indent=2))
    print(f"\nwrote {out.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
