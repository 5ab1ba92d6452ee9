"""Model formats (issue 16): each model converted by `amanuensis convert` into every format and
weight type, then every dev clip transcribed from each, in one run: conversion time, load time,
whether each clip's transcript equals the CTranslate2 folder's, WER, and peak memory.

    .venv/bin/python bench/formats.py [--models tiny.en base] [--compute-type int8] [--threads 2]
                                      [--formats hf:float32 hf:float16 ggml:f16 ggml:q8_0 ggml:q5_0]

- load s: the whole `amanuensis transcribe` process on 0.5 s of silence, one token decoded (the
  model's load dominates it), best of 3;
- equal: dev clips whose segments (text, start, end) equal the CTranslate2 folder's (greedy, the
  same compute type and threads);
- peak MiB: the whole-process peak RSS of the dev-set run.

Prints a markdown table and writes bench/results/formats-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

import amanuensis_cli  # noqa: E402
import manifest as manifest_mod  # noqa: E402
from machine import cpu_name  # noqa: E402
from wer import corpus_wer  # noqa: E402

DEFAULT_FORMATS = ["hf:float32", "hf:float16", "ggml:f16", "ggml:q8_0", "ggml:q5_0"]


def peak_rss_mib(argv: list[str]) -> tuple[int, str, float]:
    """Runs argv; returns (exit code, stdout, peak RSS MiB) of that process alone."""
    pid = os.fork()
    if pid == 0:
        out = os.open(str(Path(tempfile.gettempdir()) / f"formats-{os.getpid()}.out"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    path = Path(tempfile.gettempdir()) / f"formats-{pid}.out"
    stdout = path.read_text(encoding="utf-8", errors="replace")
    path.unlink()
    return os.waitstatus_to_exitcode(status), stdout, usage.ru_maxrss / 1024


def silence(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 8000)
    return path


def load_seconds(binary: Path, model: Path, clip: Path, args: list[str]) -> float:
    """The whole process on 0.5 s of silence, one token decoded: mostly the model's load."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run = amanuensis_cli.run(binary, ["transcribe", "--model", model, *args, "--language", "en",
                                          "--temperature", "0", "--max-new-tokens", "1", clip])
        if run.returncode != 0:
            raise SystemExit(run.describe())
        best = min(best, time.perf_counter() - start)
    return best


def same_transcript(a: dict, b: dict) -> bool:
    """The same text, cut into the same segments at the same times."""
    return [(s["start"], s["end"], s["text"]) for s in a["segments"]] == \
        [(s["start"], s["end"], s["text"]) for s in b["segments"]]


def transcribe_all(binary: Path, model: Path, clips, args: list[str], threads: int):
    argv = [str(binary), *amanuensis_cli.transcribe_args(model, [c.path for c in clips], "json",
                                                         threads=threads, extra=args)]
    code, stdout, peak = peak_rss_mib(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {code}")
    return amanuensis_cli.parse_json_lines(stdout, [c.path for c in clips]), peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--formats", nargs="+", default=DEFAULT_FORMATS)
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary", type=Path, default=REPO_ROOT / "build/release/amanuensis")
    options = parser.parse_args()

    clips = manifest_mod.dev_subset(manifest_mod.load_manifest())
    run_args = ["--compute-type", options.compute_type]
    work = Path(tempfile.mkdtemp(prefix="amanuensis-formats-"))
    quiet = silence(work / "silence.wav")
    rows = []
    try:
        for model_name in options.models:
            source = REPO_ROOT / "models" / model_name
            reference, peak = transcribe_all(options.binary, source, clips, run_args,
                                             options.threads)
            rows.append({"model": model_name, "format": "ct2 (source)", "type": "float16",
                         "convert_s": 0.0,
                         "load_s": load_seconds(options.binary, source, quiet, run_args),
                         "equal": len(clips), "clips": len(clips), "peak_mib": peak,
                         "wer": corpus_wer([(c.reference, r["text"]) for c, r in
                                            zip(clips, reference)])})
            for spec in options.formats:
                fmt, wtype = spec.split(":")
                name = f"{model_name}-{fmt}-{wtype}"
                target = work / (name + ".bin" if fmt == "ggml" else name)
                start = time.perf_counter()
                run = amanuensis_cli.run(options.binary, ["convert", "--model", source, "--to", fmt,
                                                          "--quantize", wtype, "--output", target])
                if run.returncode != 0:
                    raise SystemExit(run.describe())
                convert_s = time.perf_counter() - start
                results, peak = transcribe_all(options.binary, target, clips, run_args,
                                               options.threads)
                equal = sum(same_transcript(r, e) for r, e in zip(results, reference))
                rows.append({"model": model_name, "format": fmt, "type": wtype,
                             "convert_s": convert_s,
                             "load_s": load_seconds(options.binary, target, quiet, run_args),
                             "equal": equal, "clips": len(clips), "peak_mib": peak,
                             "wer": corpus_wer([(c.reference, r["text"]) for c, r in
                                                zip(clips, results)])})
                print(rows[-1], file=sys.stderr)
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cpu = cpu_name()
    print(f"\n{cpu}; compute type {options.compute_type}, {options.threads} threads, greedy; "
          f"{len(clips)} dev clips\n")
    print("| model | format | weights | convert s | load s | transcripts equal to ct2 | WER % "
          "| peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['format']} | {r['type']} | {r['convert_s']:.1f} | "
              f"{r['load_s']:.2f} | {r['equal']}/{r['clips']} | {100 * r['wer']:.2f} | "
              f"{r['peak_mib']:.0f} |")
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    out = REPO_ROOT / "bench" / "results" / f"formats-{stamp}.json"
    out.write_text(json.dumps({"cpu": cpu, "compute_type": options.compute_type,
                               "threads": options.threads, "rows": rows}, indent=2))
    print(f"\nwrote {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
