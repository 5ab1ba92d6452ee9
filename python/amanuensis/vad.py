"""faster_whisper.vad: VadOptions and get_speech_timestamps, on the engine's native Silero VAD."""
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from . import _amanuensis


@dataclass
class VadOptions:
    """faster-whisper's VAD options, same names and defaults."""

    threshold: float = 0.5
    neg_threshold: float = None
    min_speech_duration_ms: int = 0
    max_speech_duration_s: float = float("inf")
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400


def _vad_dict(vad_options) -> dict:
    if vad_options is None:
        return {}
    if isinstance(vad_options, VadOptions):
        return asdict(vad_options)
    if isinstance(vad_options, dict):
        return asdict(VadOptions(**vad_options))  # unknown keys raise TypeError here
    raise TypeError("vad_parameters must be a dict or a VadOptions")


def get_speech_timestamps(
    audio: np.ndarray,
    vad_options: Optional[VadOptions] = None,
    sampling_rate: int = 16000,
    **kwargs,
) -> List[dict]:
    """The speech in `audio` (16 kHz float samples) as [{"start": sample, "end": sample}, ...]."""
    if sampling_rate != 16000:
        raise ValueError("amanuensis's VAD runs at 16000 Hz only")
    if vad_options is None:
        vad_options = VadOptions(**kwargs)
    samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    spans = _amanuensis.detect_speech(samples, _vad_dict(vad_options))
    return [{"start": int(start), "end": int(end)} for start, end in spans]
