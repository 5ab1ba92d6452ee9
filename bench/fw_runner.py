"""One benchmark run of faster-whisper, for bench/compare (the peer of `amanuensis bench --json`).

    .venv/bin/python bench/fw_runner.py --model models/base --compute-type int8 --threads 2 \
        --beam-size 5 [--language en] [--vad-filter[=false]] [--batch-size N] \
        [--without-timestamps[=false]] [--word-timestamps] FILE...

--batch-size 0 runs WhisperModel.transcribe (vad_filter False unless --vad-filter); N >= 1 runs
BatchedInferencePipeline(model).transcribe(batch_size=N) with its own defaults (vad_filter True,
without_timestamps True, its VAD settings) unless the options say otherwise (bench/runner_args.py).
Prints one JSON object: the options, load time, and per file the audio and after-VAD seconds, wall
time, time to first segment, segments, tokens and text. Peak memory and CPU time are measured by
the caller, from outside.
"""

from __future__ import annotations

import json
import time

from runner_args import options_of, parse_runner_args


def transcribe_function(model, args):
    """WhisperModel.transcribe, or BatchedInferencePipeline's when --batch-size N >= 1, and the
    keyword arguments of its calls: only the options given, so that each mode keeps its defaults."""
    from faster_whisper import BatchedInferencePipeline

    kwargs = {"language": args.language, "beam_size": args.beam_size,
              "word_timestamps": args.word_timestamps}
    if args.vad_filter is not None:
        kwargs["vad_filter"] = args.vad_filter
    if args.without_timestamps is not None:
        kwargs["without_timestamps"] = args.without_timestamps
    if args.batch_size > 0:
        kwargs["batch_size"] = args.batch_size
        return BatchedInferencePipeline(model).transcribe, kwargs
    return model.transcribe, kwargs


def main() -> None:
    args = parse_runner_args()

    import faster_whisper
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    start = time.perf_counter()
    model = WhisperModel(args.model, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1)
    transcribe, kwargs = transcribe_function(model, args)
    out = {"engine": "faster-whisper", "backend": f"faster-whisper {faster_whisper.__version__}",
           "options": options_of(args), "load_seconds": time.perf_counter() - start,
           "files": []}
    for path in args.files:
        audio = decode_audio(path)  # as ours: decoding the file is not timed
        start = time.perf_counter()
        first = -1.0
        tokens = 0
        texts = []
        segments, info = transcribe(audio, **kwargs)
        for segment in segments:
            if first < 0:
                first = time.perf_counter() - start
            tokens += len(segment.tokens)
            texts.append(segment.text)
        out["files"].append({"path": path, "audio_seconds": info.duration,
                             "duration_after_vad": info.duration_after_vad,
                             "wall_seconds": time.perf_counter() - start,
                             "first_segment_seconds": first, "segments": len(texts),
                             "tokens": tokens, "text": "".join(texts)})
    out["encoder_seconds"] = None
    out["decoder_seconds"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
