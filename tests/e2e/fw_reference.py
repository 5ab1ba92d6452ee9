"""faster-whisper reference transcripts for the end-to-end tests (cached as JSON).

The "greedy" reference is what Amanuensis is measured against:
    WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=2)
    model.transcribe(path, beam_size=1, temperature=0.0, vad_filter=False,
                     condition_on_previous_text=True, language="en")
(every other transcribe() option at faster-whisper's default).

Results are cached in <cache_dir>/fw-<model>-<key>.json; the key hashes the model (folder name and
model.bin size), the options, the faster-whisper and ctranslate2 versions and the clip list (paths
and sizes), so a change of any of them makes a new reference.

Run on its own:  .venv/bin/python tests/e2e/fw_reference.py models/base CLIP... [--cache-dir D]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

GREEDY_MODEL_OPTIONS = {"device": "cpu", "compute_type": "float32", "cpu_threads": 2}
GREEDY_TRANSCRIBE_OPTIONS = {
    "beam_size": 1,
    "temperature": 0.0,
    "vad_filter": False,
    "condition_on_previous_text": True,
    "language": "en",
}
CACHE_FORMAT = 2


def _versions() -> dict:
    import ctranslate2
    import faster_whisper

    return {"faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__}


def _model_id(model_dir: Path) -> dict:
    model_dir = Path(model_dir)
    return {"name": model_dir.name, "model_bin_size": (model_dir / "model.bin").stat().st_size}


def load_model(model_dir: Path, cpu_threads: int = 2):
    from faster_whisper import WhisperModel

    opts = dict(GREEDY_MODEL_OPTIONS, cpu_threads=cpu_threads)
    return WhisperModel(str(model_dir), **opts)


def detect_one(model, path: Path) -> dict:
    """The language of one clip by WhisperModel.detect_language (what transcribe computes first
    when no language is given, on the same first window), without decoding: transcribe would
    encode that window a second time."""
    from faster_whisper.audio import decode_audio

    start = time.perf_counter()
    audio = decode_audio(str(path))
    language, probability, _ = model.detect_language(audio)
    return {"path": str(path), "language": language, "language_probability": probability,
            "duration": len(audio) / 16000, "text": "", "segments": [],
            "wall_seconds": time.perf_counter() - start}


def transcribe_one(model, path: Path, transcribe_options: dict | None = None) -> dict:
    """Transcribes one clip with an already loaded WhisperModel; returns the result record.
    The option {"detect_language_only": True} gives detect_one's record instead."""
    opts = GREEDY_TRANSCRIBE_OPTIONS if transcribe_options is None else transcribe_options
    if opts.get("detect_language_only"):
        return detect_one(model, path)
    start = time.perf_counter()
    segments, info = model.transcribe(str(path), **opts)
    segments = list(segments)  # the generator does the work
    wall = time.perf_counter() - start
    return {
        "path": str(path),
        "language": info.language,
        "language_probability": info.language_probability,
        "duration": info.duration,
        "text": "".join(s.text for s in segments),
        "segments": [
            {
                "id": s.id,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
                "temperature": s.temperature,
                "words": [{"word": w.word, "start": w.start, "end": w.end,
                           "probability": w.probability} for w in (s.words or [])],
            }
            for s in segments
        ],
        "wall_seconds": wall,
    }


def generate(model_dir: Path, clips: list[Path], cpu_threads: int = 2,
             transcribe_options: dict | None = None) -> dict:
    """Loads the model and transcribes each clip (no cache)."""
    options = GREEDY_TRANSCRIBE_OPTIONS if transcribe_options is None else transcribe_options
    start = time.perf_counter()
    model = load_model(model_dir, cpu_threads)
    load_seconds = time.perf_counter() - start
    results = {}
    for clip in clips:
        results[Path(clip).name] = transcribe_one(model, Path(clip), options)
    return {
        "model": _model_id(model_dir),
        "options": {"model": dict(GREEDY_MODEL_OPTIONS, cpu_threads=cpu_threads),
                    "transcribe": options},
        "versions": _versions(),
        "load_seconds": load_seconds,
        "total_seconds": time.perf_counter() - start,
        "clips": results,
    }


def cache_key(model_dir: Path, clips: list[Path], cpu_threads: int = 2,
              transcribe_options: dict | None = None) -> str:
    key = {
        "format": CACHE_FORMAT,
        "model": _model_id(model_dir),
        "model_options": dict(GREEDY_MODEL_OPTIONS, cpu_threads=cpu_threads),
        "transcribe_options": GREEDY_TRANSCRIBE_OPTIONS if transcribe_options is None
                              else transcribe_options,
        "versions": _versions(),
        "clips": [[Path(c).name, Path(c).stat().st_size] for c in clips],
    }
    blob = json.dumps(key, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def greedy_reference(model_dir: Path, clips: list[Path], cache_dir: Path,
                     cpu_threads: int = 2) -> dict:
    """The greedy reference for `clips`, from the cache or freshly generated."""
    return reference(model_dir, clips, cache_dir, GREEDY_TRANSCRIBE_OPTIONS, cpu_threads)


def reference(model_dir: Path, clips: list[Path], cache_dir: Path, transcribe_options: dict,
              cpu_threads: int = 2) -> dict:
    """faster-whisper's transcripts of `clips` with `transcribe_options` (cached).

    Returns {"clips": {file name: {"text", "segments", "duration", "wall_seconds", ...}},
             "load_seconds", "total_seconds", "cached": bool, ...}.
    """
    model_dir, clips, cache_dir = Path(model_dir), [Path(c) for c in clips], Path(cache_dir)
    names = [c.name for c in clips]
    if len(set(names)) != len(names):
        raise ValueError("clip file names must be unique")
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(model_dir, clips, cpu_threads, transcribe_options)
    cache_file = cache_dir / f"fw-{model_dir.name}-{key}.json"
    if cache_file.exists():
        try:
            data = json.loads(cache_file.read_text())
            if sorted(data["clips"]) == sorted(names):
                data["cached"] = True
                return data
        except (ValueError, KeyError):
            pass  # damaged cache file: regenerate
    data = generate(model_dir, clips, cpu_threads, transcribe_options)
    tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(cache_file)
    data["cached"] = False
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(__file__).resolve().parents[2] / "build" / "e2e-cache")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data = greedy_reference(args.model_dir, args.clips, args.cache_dir, args.threads)
    audio = sum(c["duration"] for c in data["clips"].values())
    for name, clip in data["clips"].items():
        print(f"{name}\t{clip['wall_seconds']:.2f}s\t{clip['text'].strip()}")
    print(f"# cached={data['cached']} load={data['load_seconds']:.2f}s "
          f"total={data['total_seconds']:.2f}s audio={audio:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
