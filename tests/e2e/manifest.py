"""The shared development audio set: <repo>/../shared/audio/manifest.tsv and its clips."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_AUDIO = REPO_ROOT.parent / "shared" / "audio"
# The model folders under models/ that the suite and the benchmark use (made by scripts/setup.sh).
MODEL_NAMES = ("tiny.en", "base")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
LONG_CLIP_ID = "lj_longform_dev"
# Re-encodings of jfk.wav; the dev subset keeps jfk.wav and jfk.mp3 only.
JFK_VARIANTS_LEFT_OUT = ("jfk.flac", "jfk.ogg", "jfk.m4a")


def model_params(slow: tuple[str, ...]) -> list:
    """MODEL_NAMES as pytest parameters, those in `slow` marked `slow` (opt-in: left out of CI
    for time, tests/e2e/conftest.py)."""
    import pytest

    return [pytest.param(m, marks=pytest.mark.slow) if m in slow else m for m in MODEL_NAMES]


@dataclass(frozen=True)
class Clip:
    id: str
    seconds: float
    language: str
    source: str
    license: str
    reference: str
    path: Path


def load_manifest(audio_dir: Path = SHARED_AUDIO) -> list[Clip]:
    manifest = audio_dir / "manifest.tsv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found (the shared audio set belongs beside the repo)")
    lines = manifest.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    expected = ["id", "seconds", "language", "source", "license", "reference"]
    if header != expected:
        raise ValueError(f"{manifest}: unexpected header {header}")
    clips = []
    for line in lines[1:]:
        if not line.strip():
            continue
        cid, seconds, language, source, license_, reference = line.split("\t")
        name = cid if cid.endswith(AUDIO_EXTENSIONS) else cid + ".wav"
        clips.append(Clip(cid, float(seconds), language, source, license_, reference,
                          audio_dir / name))
    return clips


def dev_subset(clips: list[Clip]) -> list[Clip]:
    """English clips without the long-form clip and the jfk re-encodings (keeps jfk.wav, jfk.mp3)."""
    return [c for c in clips
            if c.language == "en" and c.id != LONG_CLIP_ID and c.id not in JFK_VARIANTS_LEFT_OUT]


def english(clips: list[Clip]) -> list[Clip]:
    return [c for c in clips if c.language == "en"]


def by_id(clips: list[Clip], cid: str) -> Clip:
    for c in clips:
        if c.id == cid:
            return c
    raise KeyError(cid)
