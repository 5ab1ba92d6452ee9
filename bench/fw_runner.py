"""One benchmark run of faster-whisper, for bench/compare (the peer of `amanuensis bench --json`).

    .venv/bin/python bench/fw_runner.py --model models/base --compute-type int8 --threads 2 \
        --beam-size 5 [--language en] FILE...

Prints one JSON object: load time, and per file the wall time, time to first segment, tokens
and text. Peak memory and CPU time are measured by the caller, from outside.
"""

from __future__ import annotations

import json
import time

from runner_args import parse_runner_args


def main() -> None:
    args = parse_runner_args()

    import faster_whisper
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    start = time.perf_counter()
    model = WhisperModel(args.model, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1)
    out = {"engine": "faster-whisper", "backend": f"faster-whisper {faster_whisper.__version__}",
           "load_seconds": time.perf_counter() - start, "files": []}
    for path in args.files:
        audio = decode_audio(path)  # as ours: decoding the file is not timed
        start = time.perf_counter()
        first = -1.0
        tokens = 0
        texts = []
        segments, info = model.transcribe(audio, language=args.language, beam_size=args.beam_size,
                                          vad_filter=False)
        for segment in segments:
            if first < 0:
                first = time.perf_counter() - start
            tokens += len(segment.tokens)
            texts.append(segment.text)
        out["files"].append({"path": path, "audio_seconds": info.duration,
                             "wall_seconds": time.perf_counter() - start,
                             "first_segment_seconds": first, "tokens": tokens,
                             "text": "".join(texts)})
    out["encoder_seconds"] = None
    out["decoder_seconds"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
