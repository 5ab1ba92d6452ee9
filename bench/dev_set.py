"""Speed and accuracy of amanuensis against faster-whisper on the English dev set.

    .venv/bin/python bench/dev_set.py [--models tiny.en base] [--repetitions 3]
                                      [--amanuensis build/release/amanuensis] [--threads 2]

For each model, every English clip of ../shared/audio/manifest.tsv (lj_longform_dev and the jfk
re-encodings included) is transcribed by our CLI (one process over all clips) and by faster-whisper
greedy (beam_size=1, temperature=0, no VAD, condition_on_previous_text, language en; float32 on the
CPU), alternating, `--repetitions` times. Both use the same number of threads.

Wall times include model loading: for ours, process start to exit; for faster-whisper,
WhisperModel() construction plus transcribing every clip (in this Python process, so without
interpreter start-up and imports). Prints a markdown table and writes
bench/results/dev_set-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

import amanuensis_cli  # noqa: E402
import fw_reference  # noqa: E402
import manifest as manifest_mod  # noqa: E402
import report  # noqa: E402
from machine import cpu_name  # noqa: E402
from wer import corpus_wer  # noqa: E402

WALL_NOTE = ("wall times include model load: ours = CLI process start to exit; faster-whisper = "
             "WhisperModel() construction + transcribe of every clip, in-process")



def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def bench_model(model: str, binary: Path, clips: list, repetitions: int, threads: int) -> dict:
    model_dir = REPO_ROOT / "models" / model
    paths = [c.path for c in clips]
    ours_walls, ours_cpu, fw_walls = [], [], []
    ours_texts = fw_texts = None
    for rep in range(repetitions):
        results, run = amanuensis_cli.transcribe_json(binary, model_dir, paths, "en", threads)
        ours_walls.append(run.wall_seconds)
        ours_cpu.append(run.cpu_seconds)
        ours_texts = [r["text"] for r in results]
        fw = fw_reference.generate(model_dir, paths, cpu_threads=threads)
        fw_walls.append(fw["total_seconds"])
        fw_texts = [fw["clips"][p.name]["text"] for p in paths]
        print(f"  {model} rep {rep + 1}/{repetitions}: ours {run.wall_seconds:.2f}s, "
              f"faster-whisper {fw['total_seconds']:.2f}s", file=sys.stderr)
    audio = sum(c.seconds for c in clips)
    ours_median, fw_median = statistics.median(ours_walls), statistics.median(fw_walls)
    return {
        "model": model,
        "clips": len(clips),
        "audio_seconds": round(audio, 3),
        "wer_ours_percent": round(100 * corpus_wer(zip((c.reference for c in clips), ours_texts)), 3),
        "wer_fw_percent": round(100 * corpus_wer(zip((c.reference for c in clips), fw_texts)), 3),
        "ours_wall_seconds": [round(w, 3) for w in ours_walls],
        "ours_cpu_seconds": [round(w, 3) for w in ours_cpu],
        "fw_wall_seconds": [round(w, 3) for w in fw_walls],
        "ours_median_wall_seconds": round(ours_median, 3),
        "fw_median_wall_seconds": round(fw_median, 3),
        "ours_rtf": round(audio / ours_median, 2),
        "fw_rtf": round(audio / fw_median, 2),
        "wall_ratio_ours_over_fw": round(ours_median / fw_median, 3),
        "per_clip": [{"clip": c.id, "ours": o.strip(), "fw": f.strip()}
                     for c, o, f in zip(clips, ours_texts, fw_texts)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(manifest_mod.MODEL_NAMES))
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--amanuensis", type=Path, default=REPO_ROOT / "build/release/amanuensis")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()

    if not os.access(args.amanuensis, os.X_OK):
        sys.exit(f"error: {args.amanuensis} not found; build it with scripts/setup.sh")
    clips = manifest_mod.english(manifest_mod.load_manifest())
    print(f"{len(clips)} English clips, {sum(c.seconds for c in clips):.1f} s of audio, "
          f"{args.repetitions} repetitions, {args.threads} threads", file=sys.stderr)

    models = [bench_model(m, args.amanuensis, clips, args.repetitions, args.threads)
              for m in args.models]

    rows = [[m["model"], f"{m['wer_ours_percent']:.2f}", f"{m['wer_fw_percent']:.2f}",
             f"{m['audio_seconds']:.1f}", f"{m['ours_median_wall_seconds']:.2f}",
             f"{m['fw_median_wall_seconds']:.2f}", f"{m['ours_rtf']:.1f}", f"{m['fw_rtf']:.1f}",
             f"{m['wall_ratio_ours_over_fw']:.2f}"] for m in models]
    print(report.table(["model", "WER ours %", "WER fw %", "audio s", "wall ours s (median)",
                        "wall fw s (median)", "RTF ours", "RTF fw", "wall ours/fw"], rows))
    print(f"\nRTF = audio seconds / wall seconds (higher is faster); {WALL_NOTE}; "
          f"{args.threads} threads each, median of {args.repetitions}.")

    import ctranslate2
    import faster_whisper

    data = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": cpu_name(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "threads": args.threads,
        "repetitions": args.repetitions,
        "faster_whisper": faster_whisper.__version__,
        "ctranslate2": ctranslate2.__version__,
        "fw_options": {"model": dict(fw_reference.GREEDY_MODEL_OPTIONS, cpu_threads=args.threads),
                       "transcribe": fw_reference.GREEDY_TRANSCRIBE_OPTIONS},
        "note": WALL_NOTE,
        "models": models,
    }
    out = report.write_json(args.out_dir / f"dev_set-{datetime.date.today().isoformat()}.json", data)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
