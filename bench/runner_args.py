"""The command line every benchmark runner takes (bench/fw_runner.py, bench/wcpp_runner.py and
`amanuensis bench --json`), so that bench/compare can call them all the same way.

    --model DIR --compute-type T --threads N --beam-size B --language xx
    [--vad-filter[=false]] [--batch-size N] [--without-timestamps[=false]] [--word-timestamps]
    FILE...

--batch-size 0 (the default) is sequential decoding (faster-whisper's WhisperModel.transcribe),
N >= 1 the batched pipeline (its BatchedInferencePipeline, N chunks at a time). --vad-filter and
--without-timestamps left out stay None: the engine's default for the mode (off sequential, on
batched). The boolean options are spelled as CLI11 spells them in `amanuensis bench`: `--NAME`,
`--NAME=true`, `--NAME=false` (`--no-NAME` works too).

A runner that cannot run the mode asked for (whisper.cpp has no VAD model here and no chunk
batching) calls `unsupported()`: it exits with EXIT_UNSUPPORTED and says why on standard error, and
bench/compare leaves that peer out of the cell with the reason as a note.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

MAX_BATCH_SIZE = 256
BOOLEAN_OPTIONS = ("--vad-filter", "--without-timestamps", "--word-timestamps")
EXIT_UNSUPPORTED = 3
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _spell_booleans(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """--NAME=true / --NAME=false -> --NAME / --no-NAME, which argparse's BooleanOptionalAction
    takes; a bare --NAME never swallows the next argument (a file name)."""
    spelled = []
    for arg in argv:
        name, equals, value = arg.partition("=")
        if equals and name in BOOLEAN_OPTIONS:
            if value.lower() not in _TRUE + _FALSE:
                parser.error(f"argument {name}: expected true or false, got {value!r}")
            arg = name if value.lower() in _TRUE else "--no-" + name[2:]
        spelled.append(arg)
    return spelled


def _batch_size(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be in 0..{MAX_BATCH_SIZE}, got {value}")
    return value


def parse_runner_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--compute-type", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--language", default="en")
    parser.add_argument("--vad-filter", action=argparse.BooleanOptionalAction, default=None,
                        help="transcribe only the speech the VAD finds (default: off sequential, "
                             "on batched)")
    parser.add_argument("--batch-size", type=_batch_size, default=0,
                        help="0: sequential; N >= 1: batched pipeline, N chunks at a time")
    parser.add_argument("--without-timestamps", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="decode text only (default: off sequential, on batched)")
    parser.add_argument("--word-timestamps", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("files", nargs="+")
    return parser.parse_args(_spell_booleans(sys.argv[1:] if argv is None else argv, parser))


def options_of(args: argparse.Namespace) -> dict:
    """The "options" object of the runner's JSON output, as `amanuensis bench --json` writes it
    (None: unset, the engine's default for the mode)."""
    return {"compute_type": args.compute_type, "threads": args.threads, "device": "cpu",
            "beam_size": args.beam_size, "language": args.language,
            "vad_filter": args.vad_filter, "batch_size": args.batch_size,
            "without_timestamps": args.without_timestamps,
            "word_timestamps": args.word_timestamps}


def unsupported(engine: str, reason: str) -> NoReturn:
    """Refuses a mode this runner cannot run, rather than running another one in its place."""
    print(f"unsupported: {engine}: {reason}", file=sys.stderr)
    print(json.dumps({"engine": engine, "unsupported": reason}))
    sys.exit(EXIT_UNSUPPORTED)
