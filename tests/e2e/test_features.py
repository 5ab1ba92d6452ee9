"""Log-mel features: log_mel_tool against faster-whisper's FeatureExtractor.

The tool reads raw float32 16 kHz samples and writes raw float32 row-major [n_mels][frames] with
frames = samples / 160 + 1: exactly FeatureExtractor(feature_size=n_mels)(waveform), i.e. with its
default padding of 160 samples.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from faster_whisper.audio import decode_audio
from faster_whisper.feature_extractor import FeatureExtractor

import manifest as manifest_mod

TOLERANCE = 1e-3


def _feature_clips() -> list[manifest_mod.Clip]:
    # Every 16 kHz WAV of the manifest, plus jfk.flac (44.1 kHz stereo, resampled by the decoder).
    return [c for c in manifest_mod.load_manifest()
            if c.path.suffix == ".wav" or c.path.name == "jfk.flac"]


_extractors: dict[int, FeatureExtractor] = {}


@pytest.mark.parametrize("n_mels", (80, 128))
@pytest.mark.parametrize("clip", _feature_clips(), ids=lambda c: c.id)
def test_log_mel_matches_faster_whisper(clip, n_mels, log_mel_tool, tmp_path):
    waveform = decode_audio(str(clip.path))
    assert waveform.dtype == np.float32
    raw_in, raw_out = tmp_path / "in.f32", tmp_path / "out.f32"
    waveform.tofile(raw_in)

    proc = subprocess.run([str(log_mel_tool), "--mels", str(n_mels), str(raw_in), str(raw_out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"log_mel_tool failed ({proc.returncode}): {proc.stderr}"

    if n_mels not in _extractors:
        _extractors[n_mels] = FeatureExtractor(feature_size=n_mels)
    expected = _extractors[n_mels](waveform)
    frames = len(waveform) // 160 + 1
    assert expected.shape == (n_mels, frames)

    ours = np.fromfile(raw_out, dtype=np.float32)
    assert ours.size == n_mels * frames, (
        f"log_mel_tool wrote {ours.size} values, expected {n_mels} x {frames} = {n_mels * frames}")
    ours = ours.reshape(n_mels, frames)
    assert np.all(np.isfinite(ours))
    diff = np.abs(ours - expected)
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    assert diff.max() <= TOLERANCE, (
        f"max |ours - faster-whisper| = {diff.max():.2e} at mel {worst[0]}, frame {worst[1]} "
        f"(ours {ours[worst]:.5f}, fw {expected[worst]:.5f}); mean {diff.mean():.2e}")
