"""Long recordings: VAD filtering and the batched pipeline against faster-whisper, silence and
noise that must stay silent, and the repetition controls.

References are faster-whisper 1.2.1 on the same model folder (float32, 2 threads):
  * sequential with VAD:  WhisperModel.transcribe(vad_filter=True, beam_size=1, temperature=0)
  * batched:              BatchedInferencePipeline(model).transcribe(batch_size=8) (its defaults:
                          VAD on, no timestamps, beam 5, first temperature only)
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

import amanuensis_cli as cli
import long_audio
import manifest as manifest_mod
from wer import corpus_wer



def fw_model(model_dir: Path):
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=2)


def fw_segments(segments, words: bool = False) -> list[dict]:
    out = []
    for s in segments:
        record = {"start": s.start, "end": s.end, "text": s.text}
        if words:
            record["words"] = [{"start": w.start, "end": w.end, "word": w.word}
                               for w in (s.words or [])]
        out.append(record)
    return out


def ours(amanuensis: Path, model_dir: Path, audio: Path, *extra: str,
         compute_type: str = "float32") -> dict:
    """Our CLI's JSON for one file: float32, as faster-whisper's references, unless a test asks
    for the faster int8 where it checks behaviour, not equality with them."""
    run = cli.run(amanuensis, ["transcribe", "--model", model_dir, "--language", "en",
                               "--threads", "2", "--output-format", "json",
                               "--compute-type", compute_type, *extra, audio], timeout=900)
    assert run.returncode == 0, run.describe()
    return cli.parse_json_lines(run.stdout, [audio])[0]


def cached(cache_dir: Path, name: str, compute):
    path = cache_dir / f"long-form-{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.write_text(json.dumps(value))
    return value


def assert_same_segments(got: list[dict], want: list[dict], duration: float,
                         tolerance: float = 0.021):
    """Same texts, times within tolerance. faster-whisper can stamp the last segment past the end
    of the recording; we clamp every time to the duration, so its times are clamped here too."""
    assert [s["text"] for s in got] == [s["text"] for s in want]
    for g, w in zip(got, want):
        assert g["end"] <= duration + 1e-3, (g, duration)
        assert abs(g["start"] - min(w["start"], duration)) <= tolerance, (g, w)
        assert abs(g["end"] - min(w["end"], duration)) <= tolerance, (g, w)


@pytest.fixture(scope="module")
def longform(audio_dir) -> Path:
    return audio_dir / "lj_longform_dev.wav"


@pytest.fixture(scope="module")
def speech_with_silence(cache_dir, dev_clips) -> long_audio.LongAudio:
    """Dev clips with 1.5 s gaps, and 30 s of digital silence then 30 s of quiet noise inside."""
    return long_audio.make("long-silence", dev_clips, cache_dir)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def test_sequential_vad_matches_faster_whisper(amanuensis, tiny_model, longform, jfk, cache_dir):
    for audio in (longform, jfk):
        def reference():
            segments, info = fw_model(tiny_model).transcribe(
                str(audio), language="en", beam_size=1, temperature=0.0, vad_filter=True)
            return {"segments": fw_segments(segments), "after": info.duration_after_vad}

        want = cached(cache_dir, f"vad-{audio.stem}", reference)
        got = ours(amanuensis, tiny_model, audio, *cli.GREEDY_ARGS, "--vad-filter")
        assert_same_segments(got["segments"], want["segments"], got["duration"])
        assert got["duration_after_vad"] == pytest.approx(want["after"], abs=0.001)


def test_batched_matches_faster_whisper(amanuensis, model_dirs, longform, cache_dir):
    model_dir = model_dirs["base"]

    def reference():
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(fw_model(model_dir))
        segments, info = pipeline.transcribe(str(longform), language="en", batch_size=8)
        return {"segments": fw_segments(segments), "after": info.duration_after_vad}

    want = cached(cache_dir, "batched-base", reference)
    got = ours(amanuensis, model_dir, longform, "--batch-size", "8")
    assert_same_segments(got["segments"], want["segments"], got["duration"])
    assert got["duration_after_vad"] == pytest.approx(want["after"], abs=0.001)


def test_batched_word_timestamps(amanuensis, tiny_model, longform, cache_dir):
    def reference():
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(fw_model(tiny_model))
        segments, _ = pipeline.transcribe(str(longform), language="en", batch_size=4,
                                          word_timestamps=True)
        return fw_segments(segments, words=True)

    want = cached(cache_dir, "batched-words-tiny", reference)
    got = ours(amanuensis, tiny_model, longform, "--batch-size", "4", "--word-timestamps")
    assert [s["text"] for s in got["segments"]] == [s["text"] for s in want]
    got_words = [w for s in got["segments"] for w in s["words"]]
    want_words = [w for s in want for w in s["words"]]
    assert [w["word"] for w in got_words] == [w["word"] for w in want_words]
    worst = max(max(abs(g["start"] - w["start"]), abs(g["end"] - w["end"]))
                for g, w in zip(got_words, want_words))
    assert worst <= 0.05, f"word times differ by up to {worst:.3f} s"
    for segment in got["segments"]:
        for word in segment["words"]:
            assert segment["start"] - 1e-6 <= word["start"] <= word["end"] <= segment["end"] + 1e-6


@pytest.mark.parametrize("mode", [("--vad-filter",), ("--batch-size", "8")],
                         ids=["sequential-vad", "batched"])
def test_nothing_is_transcribed_in_silence_or_noise(amanuensis, tiny_model, speech_with_silence,
                                                    mode):
    # Greedy and int8: what is asked here is where text is timed, which neither beam search nor
    # the weights' precision changes (the comparisons with faster-whisper above keep float32 and
    # its default beam of 5).
    got = ours(amanuensis, tiny_model, speech_with_silence.path, *mode, *cli.GREEDY_ARGS,
               "--word-timestamps", compute_type="int8")
    quiet = [speech_with_silence.silence, speech_with_silence.noise]
    assert got["segments"], "no speech transcribed at all"
    for segment in got["segments"]:
        timed = [(segment["start"], segment["end"], segment["text"])]
        timed += [(w["start"], w["end"], w["word"]) for w in segment["words"]]
        for start, end, text in timed:
            for quiet_start, quiet_end in quiet:
                # Word times may reach a little into the gap around speech (the VAD pads 0.4 s).
                overlap = min(end, quiet_end) - max(start, quiet_start)
                assert overlap <= 0.5, (
                    f"{text!r} timed {start:.2f}-{end:.2f} s inside the quiet stretch "
                    f"{quiet_start:.2f}-{quiet_end:.2f} s")
    words = " ".join(s["text"] for s in got["segments"])
    assert corpus_wer([(speech_with_silence.reference, words)]) < 0.15


@pytest.mark.parametrize("extra", [("--vad-filter",), ("--batch-size", "8")],
                         ids=["sequential-vad", "batched"])
def test_silence_only_is_an_empty_transcript(amanuensis, tiny_model, tmp_path, extra):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros(16000 * 45, dtype=np.float32))
    got = ours(amanuensis, tiny_model, path, *extra)
    assert got["segments"] == [] and got["text"] == ""
    assert got["duration"] == pytest.approx(45.0) and got["duration_after_vad"] == 0.0


@pytest.mark.parametrize("args, named", [
    (("--vad-threshold", "1.5"), "--vad-threshold"),
    (("--vad-min-silence-duration-ms", "-3"), "--vad-min-silence-duration-ms"),
    (("--batch-size", "-1"), "--batch-size"),
    (("--repetition-penalty", "0"), "--repetition-penalty"),
    (("--no-repeat-ngram-size", "-2"), "--no-repeat-ngram-size"),
])
def test_bad_long_form_options_are_usage_errors(amanuensis, tiny_model, jfk, args, named):
    run = cli.run(amanuensis, ["transcribe", "--model", tiny_model, *args, jfk])
    assert run.returncode == 2, run.describe()
    assert named in run.stderr


def test_repetition_controls_match_faster_whisper(amanuensis, tiny_model, dev_clips, cache_dir):
    clips = [c.path for c in dev_clips[:6]]
    options = {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3}

    def reference():
        model = fw_model(tiny_model)
        texts = []
        for clip in clips:
            segments, _ = model.transcribe(str(clip), language="en", beam_size=5, **options)
            texts.append("".join(s.text for s in segments))
        return texts

    want = cached(cache_dir, "repetition-tiny", reference)
    run = cli.run(amanuensis, cli.transcribe_args(
        tiny_model, clips, decoding=("--repetition-penalty", "1.3", "--no-repeat-ngram-size", "3"),
        extra=("--compute-type", "float32")))
    assert run.returncode == 0, run.describe()
    got = [r["text"] for r in cli.parse_json_lines(run.stdout, clips)]
    assert got == want
    plain = cached(cache_dir, "plain-tiny-6", lambda: [
        "".join(s.text for s in fw_model(tiny_model).transcribe(str(c), language="en")[0])
        for c in clips])
    assert plain != want, "the options changed nothing on these clips: the test cannot fail"
