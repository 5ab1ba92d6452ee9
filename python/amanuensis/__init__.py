"""Amanuensis: Whisper speech-to-text, as a drop-in for faster-whisper.

    from amanuensis import WhisperModel   # instead of: from faster_whisper import WhisperModel

    model = WhisperModel("base", compute_type="int8")
    segments, info = model.transcribe("audio.mp3", beam_size=5)
    for segment in segments:
        print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text))
"""
from . import audio, tokenizer, utils, vad
from .audio import decode_audio
from .transcribe import (
    BatchedInferencePipeline,
    Segment,
    TranscriptionInfo,
    TranscriptionOptions,
    WhisperModel,
    Word,
)
from .utils import available_models, format_timestamp

__version__ = "0.1.0"

__all__ = [
    "available_models",
    "decode_audio",
    "WhisperModel",
    "BatchedInferencePipeline",
    "Segment",
    "Word",
    "TranscriptionInfo",
    "TranscriptionOptions",
    "format_timestamp",
    "__version__",
]
