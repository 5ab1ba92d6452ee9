"""whisper.cpp itself loads what `amanuensis convert --to ggml` writes: tiny.en converted to q5_0
and transcribed by pywhispercpp (whisper.cpp 1.8.5) with a word error rate below 15 % on jfk.

Skipped, saying why, where pywhispercpp is not importable.
"""

from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

import wer


def _pcm(path) -> np.ndarray:
    with wave.open(str(path), "rb") as f:
        assert f.getframerate() == 16000 and f.getnchannels() == 1 and f.getsampwidth() == 2
        frames = f.readframes(f.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def test_whisper_cpp_transcribes_our_q5_0_file(amanuensis, tiny_model, manifest, tmp_path):
    model_module = pytest.importorskip("pywhispercpp.model",
                                       reason="pywhispercpp (whisper.cpp) is not installed")
    output = tmp_path / "tiny.en-q5_0.bin"
    subprocess.run([str(amanuensis), "convert", "--model", str(tiny_model), "--to", "ggml",
                    "--quantize", "q5_0", "--output", str(output)],
                   check=True, capture_output=True, text=True, timeout=120)
    with open(output, "rb") as f:
        assert f.read(4) == b"lmgg"

    clip = next(c for c in manifest if c.id == "jfk")
    model = model_module.Model(str(output), redirect_whispercpp_logs_to=None, n_threads=2,
                               print_progress=False, print_realtime=False, language="en")
    segments = model.transcribe(_pcm(clip.path))
    text = " ".join(segment.text.strip() for segment in segments)
    error = wer.wer(clip.reference, text)
    assert error < 0.15, f"whisper.cpp on our q5_0 file: {text!r} (WER {error:.1%})"
