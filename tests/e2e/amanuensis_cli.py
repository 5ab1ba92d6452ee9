"""Runs the amanuensis CLI and parses what it prints.

Interface (see README.md):
    amanuensis transcribe --model DIR [--language xx] [--threads N]
               [--output-format txt|json|srt|vtt] [--output-dir D] FILE...
Without --output-dir the transcript is the only thing on stdout; for json it is one compact JSON
object per input file per line, in input order. Progress goes to stderr. Errors: "error: <message>"
on stderr and exit code 1; usage errors: usage text on stderr and exit code 2.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


# Decoding options of faster-whisper's greedy reference (fw_reference.GREEDY_TRANSCRIBE_OPTIONS:
# beam_size=1, temperature=0.0 without fallback), spelled out because the CLI's own defaults
# follow faster-whisper's transcribe() defaults (beam_size=5, temperatures 0.0, 0.2, ..., 1.0).
# The remaining options (condition_on_previous_text, thresholds, no VAD) are the defaults on both sides.
GREEDY_ARGS = ("--beam-size", "1", "--temperature", "0")


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float  # process start to exit, measured here
    cpu_seconds: float   # user + system time of the process

    def describe(self) -> str:
        tail = "\n".join(self.stderr.splitlines()[-20:])
        return f"{' '.join(self.args)}\nexit code {self.returncode}\n--- stderr (tail) ---\n{tail}"


def run(binary: Path, args: Sequence[str | Path], timeout: float = 900,
        cwd: Path | None = None) -> CliRun:
    argv = [str(binary)] + [str(a) for a in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                          cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return CliRun(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"), wall, cpu)


def transcribe_args(model_dir: Path, files: Sequence[Path], output_format: str = "json",
                    language: str | None = "en", threads: int | None = 2,
                    extra: Sequence[str] = (), decoding: Sequence[str] = GREEDY_ARGS) -> list[str]:
    args = ["transcribe", "--model", str(model_dir), *decoding]
    if language:
        args += ["--language", language]
    if threads:
        args += ["--threads", str(threads)]
    args += ["--output-format", output_format, *extra]
    return args + [str(f) for f in files]


def parse_json_lines(stdout: str, files: Sequence[Path]) -> list[dict]:
    """One JSON object per input file, in input order; checks "file" matches the path as given."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != len(files):
        raise AssertionError(f"expected {len(files)} JSON lines on stdout, got {len(lines)}:\n"
                             + stdout[:2000])
    results = []
    for line, f in zip(lines, files):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"stdout line is not JSON ({e}): {line[:300]}") from None
        if not isinstance(obj, dict):
            raise AssertionError(f"stdout line is not a JSON object: {line[:300]}")
        if obj.get("file") != str(f):
            raise AssertionError(f"JSON line for {f} has file={obj.get('file')!r} (order?)")
        for key in ("text", "segments", "duration"):
            if key not in obj:
                raise AssertionError(f"JSON for {f} lacks {key!r}: {line[:300]}")
        results.append(obj)
    return results


def transcribe_json(binary: Path, model_dir: Path, files: Sequence[Path], language: str = "en",
                    threads: int = 2, timeout: float = 900) -> tuple[list[dict], CliRun]:
    """Runs the CLI once over all files with --output-format json; returns (results, run)."""
    cli = run(binary, transcribe_args(model_dir, files, "json", language, threads), timeout)
    if cli.returncode != 0:
        raise AssertionError("amanuensis failed:\n" + cli.describe())
    return parse_json_lines(cli.stdout, files), cli
