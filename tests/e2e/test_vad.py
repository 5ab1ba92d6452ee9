"""Voice activity detection: `amanuensis vad` against faster-whisper's Silero VAD (onnxruntime).

On every clip of the manifest (lj_longform_dev included) and on a long recording made here from
dev clips with gaps, digital silence and quiet noise:
- each 512-sample window's speech probability is within 1e-3 of faster-whisper's SileroVADModel;
- the speech spans equal faster-whisper's get_speech_timestamps, each boundary within one window,
  with the default options and non-default ones (batched mode's, and a stricter set).

Both sides see the same samples: 16-bit WAV clips are given to amanuensis as they are (its FFmpeg
decoding gives the samples faster-whisper's decode_audio gives); other formats (mp3, ogg, m4a,
flac), whose decoders differ in their first and last samples, are decoded by faster-whisper and
written to 16-bit WAV, which holds its samples exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.audio import decode_audio
from faster_whisper.utils import get_assets_path
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

import amanuensis_cli
import report

PROBABILITY_TOLERANCE = 1e-3
WINDOW = 512
SAMPLE_RATE = 16000

# Option sets the spans are compared under (faster-whisper's names), besides the defaults.
OPTION_SETS = {
    "default": {},
    "batched": {"min_silence_duration_ms": 160, "max_speech_duration_s": 30},
    "strict": {"threshold": 0.6, "neg_threshold": 0.3, "min_speech_duration_ms": 250,
               "min_silence_duration_ms": 500, "speech_pad_ms": 100, "max_speech_duration_s": 12},
}


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit mono 16 kHz WAV of float samples that are multiples of 1/32768 (exact)."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


def long_recording(clips, rng: np.random.Generator) -> np.ndarray:
    """Dev clips joined by gaps of 0.1-4 s, with stretches of digital silence and quiet noise."""
    def noise(seconds, level):
        return np.round(rng.normal(0, level, int(seconds * SAMPLE_RATE)) * 32768) / 32768

    gaps = [0.1, 0.25, 0.12, 0.6, 2.5, 0.1, 1.2, 4.0, 0.15, 0.3]
    parts = [noise(3.0, 0.002)]
    for i, clip in enumerate(clips):
        parts.append(decode_audio(str(clip.path)))
        parts.append(np.zeros(int(gaps[i % len(gaps)] * SAMPLE_RATE)))
        if i == len(clips) // 3:
            parts.append(np.zeros(20 * SAMPLE_RATE))  # digital silence
        if i == 2 * len(clips) // 3:
            parts.append(noise(8.0, 0.003))  # quiet noise
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def vad_inputs(manifest, dev_clips, tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (the file amanuensis reads, the samples faster-whisper sees)."""
    folder = tmp_path_factory.mktemp("vad")
    inputs = {}
    for clip in manifest:
        samples = decode_audio(str(clip.path))
        path = clip.path if clip.path.suffix == ".wav" else write_wav(
            folder / (clip.path.name + ".wav"), samples)
        inputs[clip.path.name] = (path, samples)
    long = long_recording([c for c in dev_clips if c.path.suffix == ".wav"],
                          np.random.default_rng(1234))
    path = write_wav(folder / "long_with_gaps.wav", long)
    inputs[path.name] = (path, decode_audio(str(path)))
    return inputs


def cli_flags(options: dict) -> list[str]:
    flags = []
    for name, value in options.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


def run_cli(amanuensis, args, env=None) -> amanuensis_cli.CliRun:
    argv = [str(amanuensis), *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=None if env is None else {**os.environ, **env}, timeout=300)
    return amanuensis_cli.CliRun(argv, proc.returncode, proc.stdout, proc.stderr, 0.0, 0.0)


def run_vad(amanuensis, files, *args, env=None) -> dict[str, dict]:
    """`amanuensis vad ARGS FILES`: file name -> its JSON line (one per file, in order)."""
    run = run_cli(amanuensis, ["vad", *args, *files], env)
    assert run.returncode == 0, run.describe()
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    return {Path(line["file"]).name: line for line in lines}


@pytest.fixture(scope="module")
def ours_default(amanuensis, vad_inputs) -> dict[str, dict]:
    files = [path for path, _ in vad_inputs.values()]
    by_file = run_vad(amanuensis, files, "--probabilities")
    return {name: by_file[path.name] for name, (path, _) in vad_inputs.items()}


def fw_probabilities(samples: np.ndarray) -> np.ndarray:
    padded = np.pad(samples, (0, WINDOW - len(samples) % WINDOW))
    return get_vad_model()(padded).reshape(-1)


def test_probabilities_match_faster_whisper(vad_inputs, ours_default):
    worst, failures = 0.0, []
    for name, (_, samples) in vad_inputs.items():
        ours = np.array(ours_default[name]["probabilities"], dtype=np.float32)
        expected = fw_probabilities(samples)
        assert ours.shape == expected.shape, f"{name}: {ours.shape} windows, fw {expected.shape}"
        diff = float(np.abs(ours - expected).max())
        worst = max(worst, diff)
        if diff > PROBABILITY_TOLERANCE:
            i = int(np.abs(ours - expected).argmax())
            failures.append(f"{name}: max diff {diff:.2e} at window {i} "
                            f"(ours {ours[i]:.5f}, fw {expected[i]:.5f})")
        duration = len(samples) / SAMPLE_RATE
        assert ours_default[name]["duration"] == pytest.approx(duration, abs=1e-6)
    report.SUMMARY_LINES.append(f"vad: {len(vad_inputs)} files, max |p - fw| = {worst:.2e} "
                                f"(tolerance {PROBABILITY_TOLERANCE:g})")
    assert not failures, "\n".join(failures)


def spans_close(ours: list[tuple[int, int]], theirs: list[tuple[int, int]]) -> bool:
    return len(ours) == len(theirs) and all(
        abs(a - c) <= WINDOW and abs(b - d) <= WINDOW for (a, b), (c, d) in zip(ours, theirs))


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_timestamps_match_faster_whisper(option_set, amanuensis, vad_inputs, ours_default):
    options = OPTION_SETS[option_set]
    if options:
        files = [path for path, _ in vad_inputs.values()]
        by_file = run_vad(amanuensis, files, *cli_flags(options))
        results = {name: by_file[path.name] for name, (path, _) in vad_inputs.items()}
    else:
        results = ours_default
    exact, failures, spans = 0, [], 0
    for name, (_, samples) in vad_inputs.items():
        theirs = [(s["start"], s["end"]) for s in
                  get_speech_timestamps(samples, VadOptions(**options))]
        ours = [(s["start_samples"], s["end_samples"]) for s in results[name]["speech"]]
        for s in results[name]["speech"]:
            assert s["start"] == round(s["start_samples"] / SAMPLE_RATE, 3)
            assert s["end"] == round(s["end_samples"] / SAMPLE_RATE, 3)
        spans += len(theirs)
        exact += ours == theirs
        if not spans_close(ours, theirs):
            failures.append(f"{name}: ours {ours}\n    fw   {theirs}")
    report.SUMMARY_LINES.append(f"vad spans ({option_set}): {exact}/{len(vad_inputs)} files "
                                f"identical, {spans} spans, {len(failures)} beyond one window")
    assert not failures, "\n".join(failures)


def test_long_recording_is_split_by_max_speech(vad_inputs, amanuensis):
    path, samples = vad_inputs["long_with_gaps.wav"]
    (result,) = run_vad(amanuensis, [path], *cli_flags(OPTION_SETS["batched"])).values()
    lengths = [s["end_samples"] - s["start_samples"] for s in result["speech"]]
    assert len(lengths) > 5 and max(lengths) <= 30 * SAMPLE_RATE, lengths
    # The 20 s of digital silence holds no speech.
    assert sum(lengths) < len(samples) - 20 * SAMPLE_RATE


def test_silence_only(amanuensis, tmp_path):
    files = [write_wav(tmp_path / "silence.wav", np.zeros(10 * SAMPLE_RATE, np.float32)),
             write_wav(tmp_path / "short.wav", np.zeros(100, np.float32)),
             write_wav(tmp_path / "noise.wav", np.random.default_rng(5).normal(
                 0, 0.001, 5 * SAMPLE_RATE).astype(np.float32))]
    results = run_vad(amanuensis, files, "--probabilities")
    for f in files:
        result = results[f.name]
        assert result["speech"] == [], f"{f.name}: {result['speech']}"
        n = int(round(result["duration"] * SAMPLE_RATE))
        assert len(result["probabilities"]) == n // WINDOW + 1
        assert max(result["probabilities"]) < 0.5


@pytest.mark.parametrize("flag,value", [("--threshold", "1.5"), ("--threshold", "nan"),
                                        ("--neg-threshold", "-0.2"),
                                        ("--min-silence-duration-ms", "-1"),
                                        ("--max-speech-duration-s", "0"),
                                        ("--speech-pad-ms", "x")])
def test_bad_option_is_a_usage_error(amanuensis, jfk, flag, value):
    run = run_cli(amanuensis, ["vad", flag, value, jfk])
    assert run.returncode == 2, run.describe()
    assert run.stdout == ""
    assert flag in run.stderr, run.describe()


def test_unreadable_audio(amanuensis, jfk, tmp_path):
    bad = tmp_path / "not_audio.wav"
    bad.write_text("this is not audio")
    run = run_cli(amanuensis, ["vad", bad, jfk])
    assert run.returncode == 1, run.describe()
    assert str(bad) in run.stderr and "error:" in run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(jfk)], "the readable file is still done"


def test_model_lookup(amanuensis, jfk, tmp_path):
    model = Path(get_assets_path()) / "silero_vad_v6.onnx"
    built_in = run_vad(amanuensis, [jfk], "--probabilities")
    explicit = run_vad(amanuensis, [jfk], "--probabilities", "--vad-model", model)
    from_env = run_vad(amanuensis, [jfk], "--probabilities", env={"AMANUENSIS_VAD_MODEL": str(model)})
    assert built_in == explicit == from_env

    missing = tmp_path / "missing.onnx"
    run = run_cli(amanuensis, ["vad", "--vad-model", missing, jfk])
    assert run.returncode == 1 and str(missing) in run.stderr, run.describe()
    assert run.stdout == ""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(model.read_bytes()[:100000])
    run = run_cli(amanuensis, ["vad", "--vad-model", broken, jfk])
    assert run.returncode == 1 and str(broken) in run.stderr, run.describe()
