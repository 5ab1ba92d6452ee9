"""Long recordings made of the dev clips, shared by bench/compare (its `long` and `long-silence`
sets) and the e2e tests.

    long          the clips one after another, 0.5 s of digital silence after each, in whole passes
                  over the clips until at least 10 minutes (the file bench/compare has always
                  used: 657 s for the 35 dev clips)
    long-silence  the clips with 1.5 s of digital silence after each, until the clips and gaps
                  make at least 10 minutes; at the clip boundary nearest the middle, after the gap,
                  30 s of digital silence then 30 s of quiet noise (seeded Gaussian white noise,
                  RMS 0.003, about -50 dBFS) and another gap (664 s in all for the dev clips)

    recording = long_audio.make("long-silence", clips, out_dir)
    recording.path, recording.seconds, recording.reference          # the clip references joined
    recording.clips                                                 # ClipSpan(id, start, end)
    recording.silence, recording.noise                              # (start, end) or None
    recording.quiet_stretches()                                     # where no speech may appear

Times are seconds, [start, end), exact to the sample. The WAV (16 kHz mono, 16-bit) is written
only when it is missing or differs from what the clips give now (stale), so callers may call
`make` every time. Decoding uses faster-whisper's decode_audio, as the runners do.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MIN_SECONDS = 600.0  # clips and gaps, without the silence and noise stretch
QUIET_STRETCH_SECONDS = 30.0  # each of the silence and the noise
NOISE_RMS = 0.003
NOISE_SEED = 20261129
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".cache" / "bench"


@dataclass(frozen=True)
class Layout:
    gap_seconds: float
    whole_passes: bool  # stop only at the end of a pass over the clips
    quiet_stretch: bool  # insert the silence and noise stretch in the middle


SETS = {"long": Layout(gap_seconds=0.5, whole_passes=True, quiet_stretch=False),
        "long-silence": Layout(gap_seconds=1.5, whole_passes=False, quiet_stretch=True)}


@dataclass(frozen=True)
class ClipSpan:
    id: str
    start: float
    end: float


@dataclass(frozen=True)
class LongAudio:
    name: str
    path: Path
    seconds: float
    reference: str
    clips: tuple[ClipSpan, ...]
    silence: tuple[float, float] | None
    noise: tuple[float, float] | None

    def quiet_stretches(self) -> list[tuple[float, float]]:
        """The digital silence and the noise: nothing may be transcribed inside them."""
        return [s for s in (self.silence, self.noise) if s is not None]

    def describe(self) -> dict:
        """For result files: the layout without the per-clip list."""
        return {"seconds": round(self.seconds, 3), "clips": len(self.clips),
                "silence": self.silence, "noise": self.noise}


def quiet_noise(samples: int) -> np.ndarray:
    rng = np.random.default_rng(NOISE_SEED)
    return np.clip(rng.normal(0.0, NOISE_RMS, samples), -1.0, 1.0).astype(np.float32)


def _clip_order(durations: list[int], gap: int, whole_passes: bool) -> list[int]:
    """Clip indices, in passes over the clips, until the clips and their gaps reach MIN_SECONDS
    (then at the end of that pass if whole_passes)."""
    order, total = [], 0
    while total < MIN_SECONDS * SAMPLE_RATE:
        for i, samples in enumerate(durations):
            if total >= MIN_SECONDS * SAMPLE_RATE and not whole_passes:
                break
            order.append(i)
            total += samples + gap
    return order


def _middle_boundary(order: list[int], durations: list[int], gap: int) -> int:
    """Position in `order` after whose clip (and gap) the middle of the recording is nearest."""
    ends = np.cumsum([durations[i] + gap for i in order])
    return int(np.argmin(np.abs(ends - ends[-1] / 2)))


def _assemble(name: str, clips: list, audios: list[np.ndarray], path: Path):
    layout = SETS[name]
    gap = np.zeros(round(layout.gap_seconds * SAMPLE_RATE), dtype=np.float32)
    order = _clip_order([len(a) for a in audios], len(gap), layout.whole_passes)
    middle = _middle_boundary(order, [len(a) for a in audios], len(gap)) \
        if layout.quiet_stretch else -1
    stretch = round(QUIET_STRETCH_SECONDS * SAMPLE_RATE)
    pieces, spans, position = [], [], 0
    silence = noise = None

    def add(samples: np.ndarray) -> tuple[float, float]:
        nonlocal position
        pieces.append(samples)
        position += len(samples)
        return ((position - len(samples)) / SAMPLE_RATE, position / SAMPLE_RATE)

    for n, i in enumerate(order):
        spans.append(ClipSpan(clips[i].id, *add(audios[i])))
        add(gap)
        if n == middle:
            silence = add(np.zeros(stretch, dtype=np.float32))
            noise = add(quiet_noise(stretch))
            add(gap)
    samples = np.concatenate(pieces)
    reference = " ".join(clips[i].reference for i in order)
    recording = LongAudio(name, path, len(samples) / SAMPLE_RATE, reference, tuple(spans),
                          silence, noise)
    return samples, recording


def _write_if_stale(samples: np.ndarray, path: Path) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    if path.exists():
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE) \
                    and w.readframes(w.getnframes()) == pcm:
                return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.wav")
    with wave.open(str(partial), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)
    partial.replace(path)


def make(name: str, clips: list, out_dir: Path = DEFAULT_DIR) -> LongAudio:
    """Writes (when missing or stale) out_dir/<name>.wav from the clips (manifest.Clip, in order)
    and returns where everything is in it."""
    if name not in SETS:
        raise ValueError(f"unknown long recording {name!r}; known: {', '.join(SETS)}")
    if not clips:
        raise ValueError(f"{name}: no clips to concatenate")
    from faster_whisper.audio import decode_audio

    audios = [decode_audio(str(c.path), sampling_rate=SAMPLE_RATE) for c in clips]
    samples, recording = _assemble(name, clips, audios, Path(out_dir) / f"{name}.wav")
    _write_if_stale(samples, recording.path)
    return recording


if __name__ == "__main__":  # writes both files and prints their layout
    import json
    import sys

    import manifest

    dev = manifest.dev_subset(manifest.load_manifest())
    for set_name in sys.argv[1:] or SETS:
        made = make(set_name, dev)
        print(json.dumps({"name": set_name, "path": str(made.path), **made.describe()}))
