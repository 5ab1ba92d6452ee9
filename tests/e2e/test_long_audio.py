"""The long recordings of tests/e2e/long_audio.py (bench/compare's `long` and `long-silence` sets):
their layout, their samples, and that faster-whisper's VAD finds no speech in the silence and
noise stretch (the premise of any test that nothing may be transcribed there)."""

from __future__ import annotations

import wave

import numpy as np
import pytest

import long_audio
from long_audio import SAMPLE_RATE

# get_speech_timestamps pads each span by speech_pad_ms (400 ms) on both sides.
VAD_PAD_SECONDS = 0.4


@pytest.fixture(scope="module")
def recordings(dev_clips, cache_dir):
    return {name: long_audio.make(name, dev_clips, cache_dir / "long_audio")
            for name in long_audio.SETS}


def samples_of(recording) -> np.ndarray:
    with wave.open(str(recording.path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32767


def seconds_of_clips_and_gaps(recording) -> float:
    """The recording without its quiet stretch and the gap that follows it."""
    if not recording.quiet_stretches():
        return recording.seconds
    return (recording.seconds - 2 * long_audio.QUIET_STRETCH_SECONDS
            - long_audio.SETS[recording.name].gap_seconds)


@pytest.mark.parametrize("name", list(long_audio.SETS))
def test_clips_in_order_with_their_gaps(recordings, dev_clips, name):
    recording = recordings[name]
    gap = long_audio.SETS[name].gap_seconds
    assert seconds_of_clips_and_gaps(recording) >= long_audio.MIN_SECONDS
    assert recording.reference == " ".join(
        dev_clips[i % len(dev_clips)].reference for i in range(len(recording.clips)))
    assert recording.clips[0].start == 0
    for before, after in zip(recording.clips, recording.clips[1:]):
        if recording.silence and before.end < recording.silence[0] < after.start:
            assert recording.silence[0] == pytest.approx(before.end + gap)
            assert after.start == pytest.approx(recording.noise[1] + gap)
        else:
            assert after.start == pytest.approx(before.end + gap), (before, after)
    assert recording.seconds == pytest.approx(recording.clips[-1].end + gap)
    assert len(samples_of(recording)) == round(recording.seconds * SAMPLE_RATE)


def test_long_is_whole_passes_without_a_quiet_stretch(recordings, dev_clips):
    recording = recordings["long"]
    assert recording.quiet_stretches() == []
    assert len(recording.clips) % len(dev_clips) == 0


def test_quiet_stretch_in_the_middle_at_a_clip_boundary(recordings):
    recording = recordings["long-silence"]
    (silence_start, silence_end), (noise_start, noise_end) = recording.silence, recording.noise
    assert silence_end - silence_start == pytest.approx(long_audio.QUIET_STRETCH_SECONDS)
    assert noise_end - noise_start == pytest.approx(long_audio.QUIET_STRETCH_SECONDS)
    assert silence_end == noise_start
    assert not [c for c in recording.clips if c.start < noise_end and c.end > silence_start]
    # the clip boundary nearest the middle of the clips and gaps
    gap = long_audio.SETS["long-silence"].gap_seconds
    longest = max(c.end - c.start for c in recording.clips) + gap
    assert abs(silence_start - seconds_of_clips_and_gaps(recording) / 2) <= longest / 2


def test_silence_is_digital_and_noise_quiet(recordings):
    recording = recordings["long-silence"]
    samples = samples_of(recording)
    silence, noise = (samples[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]
                      for start, end in (recording.silence, recording.noise))
    assert not silence.any()
    rms = float(np.sqrt(np.mean(noise ** 2)))
    assert rms == pytest.approx(long_audio.NOISE_RMS, rel=0.05)


def test_rewritten_only_when_stale(recordings, dev_clips):
    recording = recordings["long-silence"]
    written = recording.path.stat().st_mtime_ns
    assert long_audio.make("long-silence", dev_clips, recording.path.parent) == recording
    assert recording.path.stat().st_mtime_ns == written
    recording.path.write_bytes(recording.path.read_bytes()[:-2])  # truncated: stale
    long_audio.make("long-silence", dev_clips, recording.path.parent)
    assert len(samples_of(recording)) == round(recording.seconds * SAMPLE_RATE)


def test_faster_whisper_vad_finds_no_speech_in_the_quiet_stretch(recordings):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    recording = recordings["long-silence"]
    samples = samples_of(recording)
    start, end = recording.silence[0] + VAD_PAD_SECONDS, recording.noise[1] - VAD_PAD_SECONDS
    sequential = VadOptions()
    batched = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)
    for options in (sequential, batched):
        spans = [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE)
                 for s in get_speech_timestamps(samples, options)]
        inside = [s for s in spans if s[0] < end and s[1] > start]
        assert not inside, f"{options}: speech found in the quiet stretch: {inside}"
