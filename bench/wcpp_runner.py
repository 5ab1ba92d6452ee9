"""One benchmark run of whisper.cpp (through pywhispercpp), for bench/compare: a second peer with
the same command line and JSON output as bench/fw_runner.py.

    .venv/bin/python bench/wcpp_runner.py --model models/base --compute-type int8 --threads 2 \
        --beam-size 5 [--language en] FILE...

--model is the CTranslate2 folder the other engines get. whisper.cpp needs ggml weights: a
`ggml-*.bin` placed in that folder (or --model naming a ggml file) is used as it is; otherwise
the folder is converted once by `build/release/amanuensis convert --to ggml --quantize TYPE`
($AMANUENSIS_BINARY names another binary) into .cache/ggml/<folder>-<type>.bin (git-ignored;
redone when model.bin or the binary is newer). Weight types by --compute-type:
int8* -> q8_0 (whisper.cpp's quantization of the 2-D weights), anything else (default, float32,
float16, ...) -> f16, whisper.cpp's usual format (an all-f32 ggml file aborts in whisper.cpp
1.8.5's CPU backend, GGML_ASSERT(src0->type == GGML_TYPE_F16)); the backend string names the
weight type actually run.

Decoding is set as faster-whisper's defaults: beam search of --beam-size (greedy when 1),
best_of 5 for the temperature fallback, timestamps decoded but not printed (--without-timestamps:
whisper.cpp's no_timestamps), previous text as prompt, non-speech tokens suppressed, no VAD.
Modes whisper.cpp cannot run here are refused with runner_args.unsupported (exit status
EXIT_UNSUPPORTED; bench/compare notes the peer as skipped), never replaced by another mode:
--vad-filter (whisper.cpp's VAD needs a ggml Silero model, and there is none here), --batch-size
N >= 1 (it has no batched chunk pipeline), --word-timestamps (its experimental token timestamps
are not faster-whisper's cross-attention word alignment). Prints one JSON object: the options,
load time, and per file the audio seconds (after-VAD seconds: the same, no VAD), wall time, time
to first segment, segments, tokens (text and timestamp tokens of the segments, as
faster-whisper's segment.tokens) and text; encoder/decoder seconds from whisper.cpp's own timings
over all files (decoder = sample + decode + batched decode + prompt). Conversion time and
whisper.cpp's log go to stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner_args import options_of, parse_runner_args, unsupported

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "ggml"
AMANUENSIS = Path(os.environ.get("AMANUENSIS_BINARY", REPO_ROOT / "build" / "release" / "amanuensis"))
GGML_MAGIC = b"lmgg"  # 0x67676d6c little-endian


def weight_type(compute_type: str) -> str:
    if compute_type.startswith("int8"):
        return "q8_0"
    return "f16"


def is_ggml(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGML_MAGIC
    except OSError:
        return False


def ggml_weights(model: str, wtype: str) -> Path:
    path = Path(model)
    if path.is_file() and is_ggml(path):
        return path
    found = sorted(p for p in path.glob("ggml-*.bin") if is_ggml(p))
    if found:
        preferred = [p for p in found if (wtype in p.name) == (wtype != "f16")]
        return (preferred or found)[0]
    source = path / "model.bin"
    if not source.exists():
        raise SystemExit(f"{model}: no model.bin and no ggml-*.bin")
    if not AMANUENSIS.exists():
        raise SystemExit(f"{AMANUENSIS}: not built (cmake --build build/release), needed to convert {model}")
    target = CACHE_DIR / f"{path.resolve().name}-{wtype}.bin"
    newest_input = max(source.stat().st_mtime, AMANUENSIS.stat().st_mtime)
    if not target.exists() or target.stat().st_mtime < newest_input:
        target.unlink(missing_ok=True)  # convert writes only new files
        start = time.perf_counter()
        command = [str(AMANUENSIS), "convert", "--model", str(path), "--to", "ggml",
                   "--quantize", wtype, "--output", str(target)]
        done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
        if done.returncode != 0:
            raise SystemExit(f"wcpp_runner: {' '.join(command)} failed ({done.returncode})")
        print(f"wcpp_runner: converted in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return target


_TIMING = re.compile(r"(\w+) time =\s*([0-9.]+) ms")


def whisper_timings(ctx) -> dict[str, float]:
    """whisper_print_timings, read back from its stderr output (milliseconds by name)."""
    import _pywhispercpp as pw
    from pywhispercpp.utils import redirect_stderr

    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        with redirect_stderr(to=log.name):
            pw.whisper_print_timings(ctx)
        text = open(log.name, encoding="utf-8", errors="replace").read()
    return {name: float(ms) for name, ms in _TIMING.findall(text)}


def refuse_unsupported_modes(args) -> None:
    if args.batch_size > 0:
        unsupported("whisper.cpp", f"--batch-size {args.batch_size}: no batched chunk pipeline")
    if args.vad_filter:
        unsupported("whisper.cpp", "--vad-filter: no ggml Silero VAD model here")
    if args.word_timestamps:
        unsupported("whisper.cpp", "--word-timestamps: its token timestamps are another method")


def main() -> None:
    args = parse_runner_args()
    refuse_unsupported_modes(args)

    wtype = weight_type(args.compute_type)
    weights = ggml_weights(args.model, wtype)

    import importlib.metadata

    import _pywhispercpp as pw
    from faster_whisper.audio import decode_audio  # the same decoding as fw_runner.py
    from pywhispercpp.model import Model

    beam = args.beam_size > 1
    start = time.perf_counter()
    model = Model(str(weights), params_sampling_strategy=1 if beam else 0,
                  redirect_whispercpp_logs_to=None, n_threads=args.threads,
                  language=args.language or "", translate=False,
                  no_timestamps=bool(args.without_timestamps),
                  no_context=False, print_progress=False, print_realtime=False,
                  print_timestamps=False, print_special=False, suppress_blank=True,
                  suppress_nst=True)
    load_seconds = time.perf_counter() - start
    model._set_params({"beam_search": {"beam_size": args.beam_size if beam else -1,
                                       "patience": -1.0},
                       "greedy": {"best_of": 5}})
    ctx = model._ctx
    version = importlib.metadata.version("pywhispercpp")
    libs = sorted((Path(pw.__file__).parent / "pywhispercpp.libs").glob("libwhisper-*.so.*"))
    wcpp_version = libs[0].name.split(".so.")[-1] if libs else "?"
    out = {"engine": "whisper.cpp",
           "backend": f"whisper.cpp {wcpp_version} (pywhispercpp {version}) {wtype}",
           "options": options_of(args), "load_seconds": load_seconds, "files": []}

    eot, beg = pw.whisper_token_eot(ctx), pw.whisper_token_beg(ctx)
    pw.whisper_reset_timings(ctx)
    for path in args.files:
        audio = decode_audio(path)  # as ours: decoding the file is not timed
        first = [-1.0]
        start = time.perf_counter()

        def on_segment(_segment, start=start, first=first):
            if first[0] < 0:
                first[0] = time.perf_counter() - start

        segments = model.transcribe(audio, new_segment_callback=on_segment)
        wall = time.perf_counter() - start
        n_segments = pw.whisper_full_n_segments(ctx)
        tokens = 0
        for i in range(n_segments):
            for j in range(pw.whisper_full_n_tokens(ctx, i)):
                token = pw.whisper_full_get_token_id(ctx, i, j)
                if token < eot or token >= beg:  # text and timestamp tokens
                    tokens += 1
        text = "".join(pw.whisper_full_get_segment_text(ctx, i).decode("utf-8", "replace")
                       for i in range(n_segments))
        out["files"].append({"path": path, "audio_seconds": len(audio) / 16000.0,
                             "duration_after_vad": len(audio) / 16000.0, "wall_seconds": wall,
                             "first_segment_seconds": first[0] if segments else -1.0,
                             "segments": n_segments, "tokens": tokens, "text": text})
    timings = whisper_timings(ctx)
    if "encode" in timings:
        out["encoder_seconds"] = timings["encode"] / 1000.0
        out["decoder_seconds"] = sum(timings.get(k, 0.0)
                                     for k in ("sample", "decode", "batchd", "prompt")) / 1000.0
    else:
        out["encoder_seconds"] = None
        out["decoder_seconds"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
