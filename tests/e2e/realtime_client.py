"""Helpers for driving /v1/realtime in tests and benchmarks: audio in the wire formats, and the
bookkeeping of one transcription session's events."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PCM_RATE = 24000  # the Realtime API's audio/pcm


def pcm16(path: Path, rate: int = PCM_RATE) -> bytes:
    """The clip as 16-bit little-endian mono PCM at `rate` (PyAV's resampler, as faster-whisper)."""
    from faster_whisper.audio import decode_audio

    samples = decode_audio(str(path), sampling_rate=rate)
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def silence(seconds: float, rate: int = PCM_RATE) -> bytes:
    return bytes(2 * int(seconds * rate))


def chunks(audio: bytes, milliseconds: int, rate: int = PCM_RATE):
    step = 2 * rate * milliseconds // 1000
    for offset in range(0, len(audio), step):
        yield audio[offset:offset + step]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mulaw(path: Path) -> bytes:
    """G.711 mu-law at 8 kHz (the reference encoder of ITU-T G.711, in numpy)."""
    pcm = np.frombuffer(pcm16(path, 8000), dtype="<i2").astype(np.int32)
    sign = (pcm < 0).astype(np.int32)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~((sign << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def session_update(turn_detection: dict | None | str = "server_vad", language: str | None = "en",
                   audio_format: dict | None = None, **transcription) -> dict:
    if turn_detection == "server_vad":
        turn_detection = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                          "silence_duration_ms": 500}
    transcription = {"model": "whisper-1", **transcription}
    if language:
        transcription["language"] = language
    return {"type": "session.update",
            "session": {"type": "transcription",
                        "audio": {"input": {
                            "format": audio_format or {"type": "audio/pcm", "rate": PCM_RATE},
                            "transcription": transcription,
                            "turn_detection": turn_detection}}}}


@dataclass
class Turn:
    item_id: str
    deltas: list[str] = field(default_factory=list)
    transcript: str | None = None
    failed: dict | None = None


@dataclass
class SessionLog:
    """What a session sent, in order, with the turns' text gathered."""
    events: list[dict] = field(default_factory=list)
    turns: dict[str, Turn] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def add(self, event: dict) -> None:
        self.events.append(event)
        kind = event.get("type", "")
        item = event.get("item_id")
        if kind == "error":
            self.errors.append(event["error"])
        elif kind == "conversation.item.input_audio_transcription.delta":
            self.turns.setdefault(item, Turn(item)).deltas.append(event["delta"])
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.turns.setdefault(item, Turn(item)).transcript = event["transcript"]
        elif kind == "conversation.item.input_audio_transcription.failed":
            self.turns.setdefault(item, Turn(item)).failed = event["error"]

    def types(self) -> list[str]:
        return [e.get("type", "") for e in self.events]

    def pending(self) -> int:
        """Turns committed whose transcript has not arrived."""
        committed = {e["item_id"] for e in self.events
                     if e.get("type") == "input_audio_buffer.committed"}
        return sum(1 for i in committed
                   if i not in self.turns or (self.turns[i].transcript is None
                                              and self.turns[i].failed is None))

    def text(self) -> str:
        """The completed transcripts, in the order the turns were committed."""
        order = [e["item_id"] for e in self.events if e.get("type") == "input_audio_buffer.committed"]
        return " ".join((self.turns[i].transcript or "").strip() for i in order if i in self.turns)
