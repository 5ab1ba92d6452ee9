"""The Python package `amanuensis` (python/) against faster-whisper, called the same way.

Both run in this process on base (float32, 2 threads), with the same arguments; results are
compared field by field: segment texts, times (0.12 s; word times 0.05 s), tokens' average
log-probability, language and its probability, info's durations. Covered: greedy and beam 5 with
word timestamps on 12 dev clips, vad_filter and clip_timestamps on a NumPy waveform with silence,
BatchedInferencePipeline, detect_language and empty audio, language detection over several windows,
token-id prompts, decode_audio(split_stereo=True), multilingual on code-switched speech. Then files=, revision and log_progress; behaviour: the generator is lazy and
streams, closing it stops the work, 4 threads share one model, memory stays flat over 120 calls,
bad arguments raise, and faster-whisper's README examples run with only the import changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

import python_package
from manifest import by_id

faster_whisper = pytest.importorskip("faster_whisper")

N_CLIPS = 6
SEGMENT_TIME_TOLERANCE = 0.12  # one or two timestamp tokens at a segment's edge
WORD_TIME_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def amanuensis_pkg(amanuensis):
    return python_package.import_amanuensis(amanuensis)


@pytest.fixture(scope="module")
def models(amanuensis_pkg, model_dirs):
    base = str(model_dirs["base"])
    return (amanuensis_pkg.WhisperModel(base, cpu_threads=2),
            faster_whisper.WhisperModel(base, cpu_threads=2))


@pytest.fixture(scope="module")
def clips(dev_clips):
    return [c.path for c in dev_clips[:N_CLIPS]]


def both(models, audio, pipeline=False, **kwargs):
    """(ours, fw): each a (segments as a list, info) of the same call."""
    results = []
    for model in models:
        if pipeline:
            module = sys.modules[type(model).__module__.split(".")[0]]
            model = module.BatchedInferencePipeline(model)
        segments, info = model.transcribe(audio, **kwargs)
        results.append((list(segments), info))
    return results


def assert_same(ours, fw, words=False, batched=False):
    (a, a_info), (f, f_info) = ours, fw
    assert [s.text for s in a] == [s.text for s in f]
    for x, y in zip(a, f):
        assert x.start == pytest.approx(y.start, abs=SEGMENT_TIME_TOLERANCE), x.text
        assert x.end == pytest.approx(y.end, abs=SEGMENT_TIME_TOLERANCE), x.text
        assert x.avg_logprob == pytest.approx(y.avg_logprob, abs=2e-3)
        assert x.no_speech_prob == pytest.approx(y.no_speech_prob, abs=2e-3)
        assert x.temperature == y.temperature
        assert x.id == y.id
        if words:
            assert [w.word for w in x.words] == [w.word for w in y.words]
            for v, w in zip(x.words, y.words):
                assert v.start == pytest.approx(w.start, abs=WORD_TIME_TOLERANCE), v.word
                assert v.end == pytest.approx(w.end, abs=WORD_TIME_TOLERANCE), v.word
                assert v.probability == pytest.approx(w.probability, abs=2e-2)
        else:
            assert x.words is None and y.words is None
    assert a_info.language == f_info.language
    assert a_info.language_probability == pytest.approx(f_info.language_probability, abs=1e-3)
    assert a_info.duration == pytest.approx(f_info.duration, abs=1e-6)
    assert a_info.duration_after_vad == pytest.approx(f_info.duration_after_vad, abs=1e-3)
    a_options, f_options = asdict(a_info.transcription_options), asdict(f_info.transcription_options)
    if batched:  # faster-whisper's pipeline reports its VAD spans here; we keep what was passed
        a_options.pop("clip_timestamps"), f_options.pop("clip_timestamps")
    assert a_options == f_options
    if f_info.all_language_probs:
        assert [c for c, _ in a_info.all_language_probs[:3]] == \
               [c for c, _ in f_info.all_language_probs[:3]]


# Greedy is opt-in (`slow`, CI leaves it out for time): beam 5 with word timestamps goes through
# the same binding and compares more, and the CLI's tests compare greedy transcripts on every clip.
@pytest.mark.parametrize("kwargs", [
    pytest.param({"beam_size": 1, "temperature": 0}, marks=pytest.mark.slow),
    {"beam_size": 5, "word_timestamps": True},
], ids=["greedy", "beam5-words"])
def test_dev_clips_match_faster_whisper(models, clips, kwargs):
    for clip in clips:
        assert_same(*both(models, str(clip), **kwargs), words=kwargs.get("word_timestamps", False))


@pytest.fixture(scope="module")
def speech_with_silence(amanuensis_pkg, clips):
    """Three clips with 3 s of digital silence between them, as a NumPy waveform."""
    gap = np.zeros(3 * 16000, dtype=np.float32)
    parts = []
    for clip in clips[1:4]:
        parts += [amanuensis_pkg.decode_audio(str(clip)), gap]
    return np.concatenate(parts)


def test_numpy_input_with_vad_filter_and_clip_timestamps(models, speech_with_silence):
    ours, fw = both(models, speech_with_silence, vad_filter=True,
                    vad_parameters={"min_silence_duration_ms": 500})
    assert_same(ours, fw)
    assert ours[1].duration_after_vad < ours[1].duration - 5
    assert ours[1].vad_options.min_silence_duration_ms == 500
    assert_same(*both(models, speech_with_silence, clip_timestamps="2,9.5", beam_size=1))
    assert_same(*both(models, speech_with_silence, clip_timestamps=[0, 8, 12.5], beam_size=1))


def test_batched_pipeline_matches_faster_whisper(models, speech_with_silence):
    ours, fw = both(models, speech_with_silence, pipeline=True, batch_size=4)
    assert_same(ours, fw, batched=True)
    assert ours[1].vad_options.max_speech_duration_s == 30
    ours, fw = both(models, speech_with_silence, pipeline=True, batch_size=2,
                    clip_timestamps=[{"start": 0.0, "end": 7.0}, {"start": 9.0, "end": 20.0}])
    assert [s.text for s in ours[0]] == [s.text for s in fw[0]]


def test_chunk_length_in_both_pipelines(amanuensis_pkg, model_dirs, speech_with_silence):
    """chunk_length: shorter windows in WhisperModel, shorter chunks in the batched pipeline.
    faster-whisper's feature extractor keeps a chunk_length once given (for every later call of
    that model), so these models are the test's own."""
    tiny = str(model_dirs["tiny.en"])
    models = (amanuensis_pkg.WhisperModel(tiny, cpu_threads=2),
              faster_whisper.WhisperModel(tiny, cpu_threads=2))
    audio = speech_with_silence[: 12 * 16000]
    ours, fw = both(models, audio, chunk_length=5, beam_size=1, temperature=0)
    fw_end = min(fw[0][-1].end, fw[1].duration)  # we never time past the end of the audio
    fw = ([*fw[0][:-1], replace(fw[0][-1], end=fw_end)], fw[1])
    assert_same(ours, fw)
    assert len(ours[0]) >= 2 and ours[0][1].start == 5.0  # the second window starts at 5 s
    ours, fw = both(models, speech_with_silence, pipeline=True, batch_size=4, chunk_length=8)
    assert_same(ours, fw, batched=True)
    assert ours[1].vad_options.max_speech_duration_s == 8
    with pytest.raises(ValueError, match="chunk_length"):
        list(models[0].transcribe(audio, chunk_length=31)[0])


def test_detect_language_and_empty_audio(models, amanuensis_pkg, clips):
    ours, fw = models
    audio = amanuensis_pkg.decode_audio(str(clips[0]))
    a, f = ours.detect_language(audio), fw.detect_language(audio)
    assert a[0] == f[0] and a[1] == pytest.approx(f[1], abs=1e-3)
    assert [c for c, _ in a[2][:5]] == [c for c, _ in f[2][:5]]
    assert ours.supported_languages == fw.supported_languages
    empty = np.zeros(0, dtype=np.float32)
    (a_segments, a_info), (f_segments, f_info) = both(models, empty, language="en")
    assert a_segments == f_segments == []
    assert a_info.duration == f_info.duration == 0


def test_file_object_and_errors(models, amanuensis_pkg, clips):
    ours, _ = models
    with open(clips[0], "rb") as f:
        segments, _ = ours.transcribe(f, beam_size=1)
        assert list(segments)
    with pytest.raises(ValueError, match="beam_size"):
        ours.transcribe(str(clips[0]), beam_size=0)
    with pytest.raises(ValueError, match="threshold"):
        ours.transcribe(str(clips[0]), vad_filter=True, vad_parameters={"threshold": 3})
    with pytest.raises(TypeError):
        ours.transcribe(str(clips[0]), vad_filter=True, vad_parameters={"no_such_option": 1})
    with pytest.raises(ValueError, match="mel bands"):
        ours.detect_language(features=np.zeros((3, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="cannot decode"):
        ours.transcribe("/no/such/file.wav")
    with pytest.raises(RuntimeError, match="downloads nothing"):
        amanuensis_pkg.WhisperModel("large-v3", download_root="/nonexistent")
    with pytest.raises(ValueError, match="Invalid model size"):
        amanuensis_pkg.WhisperModel("enormous")
    tiny = str(Path(__file__).resolve().parents[2] / "models" / "tiny.en")
    with pytest.raises(ValueError, match="the cpu backend has one device"):
        amanuensis_pkg.WhisperModel(tiny, device="cpu", device_index=1)
    with pytest.raises(NotImplementedError, match="device_index"):
        amanuensis_pkg.WhisperModel(tiny, device_index=[0, 1])
    with pytest.raises(ValueError, match="device_index"):
        amanuensis_pkg.WhisperModel(tiny, device_index=-1)
    assert amanuensis_pkg.WhisperModel(tiny, device="cpu", device_index=[0]).model.multilingual \
        is False


def write_stereo_wav(path: Path, left: np.ndarray, right: np.ndarray, rate: int = 22050):
    """A 16-bit stereo WAV at `rate` (resampled by interpolation) of two 16 kHz waveforms."""
    import wave

    n = min(len(left), len(right))
    at = np.arange(0, n, 16000 / rate)
    frames = np.stack([np.interp(at, np.arange(n), c[:n]) for c in (left, right)], axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())


def test_decode_audio_split_stereo(amanuensis_pkg, manifest, jfk, tmp_path):
    from faster_whisper.audio import decode_audio as fw_decode_audio

    decode = amanuensis_pkg.decode_audio
    stereo = tmp_path / "stereo.wav"
    write_stereo_wav(stereo, decode(str(by_id(manifest, "leopard-de").path)), decode(str(jfk)))
    mono_mp3 = jfk.with_suffix(".mp3")
    for source in (stereo, mono_mp3):
        left, right = decode(str(source), split_stereo=True)
        fw_left, fw_right = fw_decode_audio(str(source), split_stereo=True)
        assert left.dtype == np.float32 and left.shape == fw_left.shape == right.shape
        # Resampling 22.05 kHz to 16 kHz, PyAV's frames and ours round a few samples differently.
        assert np.abs(left - fw_left).max() < 1e-4 and np.abs(right - fw_right).max() < 1e-4
        with open(source, "rb") as f:
            from_bytes = decode(f, split_stereo=True)
        assert all(np.array_equal(a, b) for a, b in zip(from_bytes, (left, right)))
    left, right = decode(str(stereo), split_stereo=True)
    assert np.abs(left - right).max() > 0.5  # two different recordings
    assert np.array_equal(*decode(str(mono_mp3), split_stereo=True))  # mono: both the same


@pytest.fixture(scope="module")
def three_windows(amanuensis_pkg, manifest):
    """German speech in the first 30-second window, Spanish in the second and third."""
    decode = amanuensis_pkg.decode_audio

    def window(clip_id, seconds=30):
        speech = decode(str(by_id(manifest, clip_id).path))
        return np.concatenate([speech, np.zeros(seconds * 16000 - len(speech), np.float32)])

    return np.concatenate([window("leopard-de"), window("leopard-es"), window("leopard-es", 20)])


@pytest.mark.parametrize("segments,threshold,expected", [
    (3, 0.5, "de"),  # the first window is sure enough
    (3, 1.0, "es"),  # none is: Spanish leads two windows to one
    (2, 1.0, "de"),  # a tie: the language seen first
], ids=["first-sure", "majority", "tie"])
def test_language_detection_over_several_windows(models, three_windows, segments, threshold,
                                                 expected):
    ours, fw = models
    options = dict(language_detection_segments=segments, language_detection_threshold=threshold)
    a, f = ours.detect_language(three_windows, **options), fw.detect_language(three_windows, **options)
    assert a[0] == f[0] == expected
    assert a[1] == pytest.approx(f[1], abs=1e-3)
    assert [c for c, _ in a[2][:3]] == [c for c, _ in f[2][:3]]
    features = fw.feature_extractor(three_windows)  # faster-whisper's log-mel, [80, frames]
    a, f = ours.detect_language(features=features, **options), fw.detect_language(features=features,
                                                                                   **options)
    assert a[0] == f[0] == expected and a[1] == pytest.approx(f[1], abs=1e-3)
    assert [c for c, _ in a[2][:3]] == [c for c, _ in f[2][:3]]
    if expected != "es":
        return  # transcribe() detects by the same code; once is enough (the majority case)
    (_, a_info), (_, f_info) = both(models, three_windows, beam_size=1, max_new_tokens=8, **options)
    assert a_info.language == f_info.language == expected
    assert a_info.language_probability == pytest.approx(f_info.language_probability, abs=1e-3)
    assert [c for c, _ in a_info.all_language_probs[:3]] == \
           [c for c, _ in f_info.all_language_probs[:3]]


CODE_SWITCHED = ["jfk", "leopard-de", "leopard-es", "leopard-ja", "ds-ru"]


@pytest.fixture(scope="module")
def code_switched(amanuensis_pkg, manifest):
    """English, German, Spanish, Japanese and Russian speech, each opening a 30-second window."""
    blocks = []
    for clip_id in CODE_SWITCHED:
        speech = amanuensis_pkg.decode_audio(str(by_id(manifest, clip_id).path))
        blocks.append(np.concatenate([speech, np.zeros(30 * 16000 - len(speech), np.float32)]))
    return np.concatenate(blocks)


def test_multilingual_decodes_each_window_in_its_language(models, code_switched, manifest):
    """Each window is decoded as if it were alone: its language, no prompt across a change, and
    its features floored by its own loudest frame. So the joined file's segments are faster-
    whisper's for each 30-second block transcribed by itself. (faster-whisper's own multilingual
    run floors every window by the loudest frame of the whole file, and changes the Russian.)"""
    ours, fw = models
    # Without the previous text as prompt: where the language changes we drop it (the model
    # copies or translates text in another language), where faster-whisper keeps it.
    ours_result = both((ours,), code_switched, multilingual=True, beam_size=5,
                       condition_on_previous_text=False)[0]
    segments = ours_result[0]
    block = 30 * 16000
    alone = []
    for i in range(len(code_switched) // block):
        fw_segments, _ = fw.transcribe(code_switched[i * block:(i + 1) * block], beam_size=5,
                                       condition_on_previous_text=False)
        alone += [(s, 30 * i) for s in fw_segments]
    assert [s.text for s in segments] == [s.text for s, _ in alone]
    for x, (y, offset) in zip(segments, alone):
        assert x.start == pytest.approx(y.start + offset, abs=SEGMENT_TIME_TOLERANCE), x.text
        assert x.end == pytest.approx(y.end + offset, abs=SEGMENT_TIME_TOLERANCE), x.text
        assert x.avg_logprob == pytest.approx(y.avg_logprob, abs=2e-3)
        assert x.no_speech_prob == pytest.approx(y.no_speech_prob, abs=2e-3)
        assert x.temperature == y.temperature
    expected = [by_id(manifest, c).language for c in CODE_SWITCHED]
    assert [s.language for s in segments if s.start % 30 < 1] == expected
    assert all(s.language == expected[int(s.start // 30)] for s in segments)
    assert ours_result[1].transcription_options.multilingual is True
    with_prompt, _ = ours.transcribe(code_switched, multilingual=True, beam_size=1)
    assert [s.language for s in with_prompt if s.start % 30 < 1] == expected
    # The batched pipeline: each chunk in its own language. (faster-whisper's pipeline gathers
    # all five clips' speech into one 30-second chunk, decoded in one language: ours cuts chunks
    # at long gaps, so there is no like-for-like comparison here.)
    pipeline = sys.modules[type(ours).__module__.split(".")[0]].BatchedInferencePipeline(ours)
    batched, _ = pipeline.transcribe(code_switched, multilingual=True, batch_size=4)
    batched = list(batched)
    assert [s.language for s in batched if s.start % 30 < 1.5] == expected
    # Without multilingual, segments carry no language (faster-whisper's fields only).
    plain, _ = ours.transcribe(code_switched[: 30 * 16000], beam_size=1)
    assert [s.language for s in plain] == [None]


def test_vad_filter_times_each_segment_within_its_speech(models, code_switched, amanuensis_pkg):
    """Speech runs apart by long silences are windows of their own, whose times come in 10 and
    20 ms steps: a segment starting at a run's first frame, or ending in the window's padding
    past the run, is still timed inside that run's speech, not across the removed silence."""
    from amanuensis.vad import VadOptions, get_speech_timestamps

    ours, _ = models
    spans = [(s["start"] / 16000, s["end"] / 16000)
             for s in get_speech_timestamps(code_switched, VadOptions())]
    segments, _ = ours.transcribe(code_switched, multilingual=True, vad_filter=True, beam_size=1)
    segments = list(segments)
    assert len(segments) >= len(CODE_SWITCHED)
    for s in segments:
        assert any(a - 0.1 <= s.start and s.end <= b + 0.1 for a, b in spans), (s, spans)


def test_multilingual_on_an_english_only_model_is_off(tiny, jfk, caplog):
    with caplog.at_level("WARNING", logger="amanuensis"):
        segments, info = tiny.transcribe(str(jfk), multilingual=True, beam_size=1)
        texts = [s.text for s in segments]
    assert texts and info.transcription_options.multilingual is False
    assert "English-only" in caplog.text


def test_initial_prompt_as_token_ids(models, jfk):
    ours, _ = models
    ids = ours.hf_tokenizer.encode(" Kennedy's inaugural address, 1961.")
    ours_result, fw_result = both(models, str(jfk), initial_prompt=ids, beam_size=1, language="en")
    assert_same(ours_result, fw_result)
    as_text, _ = both(models, str(jfk), initial_prompt="Kennedy's inaugural address, 1961.",
                      beam_size=1, language="en")
    assert [s.tokens for s in ours_result[0]] == [s.tokens for s in as_text[0]]
    with pytest.raises(ValueError, match="token ids must be between"):
        list(ours.transcribe(str(jfk), initial_prompt=[10**7], language="en")[0])


def test_files_revision_and_log_progress(amanuensis_pkg, model_dirs, tiny, jfk, capfd):
    folder = Path(model_dirs["tiny.en"])
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    # faster-whisper's files=: bytes or binary file objects, by file name.
    files = {n: (open(folder / n, "rb") if i % 2 else (folder / n).read_bytes())
             for i, n in enumerate(names)}
    in_memory = amanuensis_pkg.WhisperModel("tiny-in-memory", files=files, cpu_threads=2,
                                            compute_type="int8")
    assert in_memory.model_path == "tiny-in-memory"
    texts = [s.text for s in in_memory.transcribe(str(jfk), beam_size=1)[0]]
    assert texts == [s.text for s in tiny.transcribe(str(jfk), beam_size=1)[0]]
    with pytest.raises(ValueError, match="plain file name"):
        amanuensis_pkg.WhisperModel("x", files={"../model.bin": b""})
    with pytest.raises(ValueError, match="files="):
        amanuensis_pkg.WhisperModel("x", files={"model.bin": b"not a model"})
    # A revision can only be honoured by a folder (faster-whisper ignores it there too).
    with pytest.raises(ValueError, match="revision"):
        amanuensis_pkg.WhisperModel("tiny.en", revision="main")
    amanuensis_pkg.WhisperModel(str(folder), revision="main", use_auth_token="token")

    capfd.readouterr()
    segments, info = tiny.transcribe(str(jfk), beam_size=1, log_progress=True)
    assert [s.text for s in segments] == texts
    bar = capfd.readouterr().err
    assert "100%" in bar and f"{info.duration}/{info.duration}" in bar and "seconds" in bar


@pytest.fixture(scope="module")
def tiny(amanuensis_pkg, model_dirs):
    # int8: the tests that use it check the API's behaviour (laziness, threads, memory over 200
    # calls), not transcripts against faster-whisper, so they take the fastest path.
    return amanuensis_pkg.WhisperModel(str(model_dirs["tiny.en"]), cpu_threads=2,
                                       compute_type="int8")


@pytest.fixture(scope="module")
def long_waveform(amanuensis_pkg, clips):
    """About 100 s: every clip twice, with a second of silence after each (four windows)."""
    gap = np.zeros(16000, dtype=np.float32)
    parts = []
    for clip in clips + clips:
        parts += [amanuensis_pkg.decode_audio(str(clip)), gap]
    return np.concatenate(parts)


def test_generator_is_lazy_streams_and_stops(tiny, long_waveform):
    start = time.monotonic()
    segments, _ = tiny.transcribe(long_waveform, beam_size=5)
    returned = time.monotonic() - start
    time.sleep(1.0)  # were windows decoded before iteration, the first segment would be ready
    first_wait = time.monotonic()
    first = next(segments)
    to_first = time.monotonic() - first_wait
    rest = list(segments)
    total = time.monotonic() - first_wait
    assert first.start < 30 and rest and rest[-1].end > 60
    assert to_first < 0.6 * total, (to_first, total)  # streamed: the first window alone
    assert to_first > 0.05, "a window was decoded before the generator was iterated"
    assert returned < total
    # Closing early stops the work at once.
    segments, _ = tiny.transcribe(long_waveform, beam_size=5)
    next(segments)
    closing = time.monotonic()
    segments.close()
    assert time.monotonic() - closing < 1.0


def test_four_threads_share_one_model(tiny, clips):
    want = {}
    for clip in clips[:4]:
        want[clip] = [s.text for s in tiny.transcribe(str(clip), beam_size=5)[0]]
    got = {}
    errors = []

    def work(clip):
        try:
            got[clip] = [s.text for s in tiny.transcribe(str(clip), beam_size=5)[0]]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in clips[:4]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == want


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_memory_stays_flat_over_120_calls(tiny, amanuensis_pkg, clips):
    audio = amanuensis_pkg.decode_audio(str(clips[1]))[: 3 * 16000]
    for _ in range(20):
        list(tiny.transcribe(audio, beam_size=1, temperature=0)[0])
    before = rss_mib()
    for _ in range(120):
        list(tiny.transcribe(audio, beam_size=1, temperature=0)[0])
    grown = rss_mib() - before
    # Flat: under 100 KiB a call on average.
    assert grown < 12, f"RSS grew by {grown:.1f} MiB over 120 calls"


def test_faster_whisper_readme_examples_run_with_the_import_changed(amanuensis, model_dirs, jfk,
                                                                    tmp_path):
    """tests/e2e/python_examples: faster-whisper's README usage, `from faster_whisper` changed
    to `from amanuensis`; the model size is one found through $AMANUENSIS_MODELS."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(python_package.package_dir(amanuensis))
    env["AMANUENSIS_MODELS"] = str(Path(model_dirs["base"]).parent)
    examples = sorted((Path(__file__).parent / "python_examples").glob("*.py"))
    assert len(examples) >= 3
    for example in examples:
        result = subprocess.run([sys.executable, str(example), str(jfk)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{example.name}: {result.stderr[-2000:]}"
        assert "country" in result.stdout, result.stdout


def test_tokenizer_matches_faster_whisper(models, amanuensis_pkg, model_dirs, clips):
    import tokenizers
    from amanuensis.tokenizer import Tokenizer
    from faster_whisper.tokenizer import Tokenizer as FwTokenizer

    ours_model, fw_model = models
    hf = tokenizers.Tokenizer.from_file(str(Path(model_dirs["base"]) / "tokenizer.json"))
    segments, _ = ours_model.transcribe(str(clips[0]), beam_size=1)
    transcript_tokens = [t for s in segments for t in s.tokens]
    for language in ("en", "ja"):
        ours = Tokenizer(ours_model.hf_tokenizer, ours_model.model.is_multilingual,
                         task="transcribe", language=language)
        fw = FwTokenizer(hf, fw_model.model.is_multilingual, task="transcribe", language=language)
        for name in ("transcribe", "translate", "sot", "sot_lm", "sot_prev", "eot",
                     "no_timestamps", "no_speech", "timestamp_begin", "sot_sequence",
                     "non_speech_tokens", "language", "language_code"):
            assert getattr(ours, name) == getattr(fw, name), name
        for text in (" Hello, world!", " naïve café — 東京タワー", "it's 3.5 km (approx.)"):
            assert ours.encode(text) == fw.encode(text), text
            assert ours.decode(fw.encode(text)) == fw.decode(fw.encode(text)), text
        tokens = transcript_tokens + fw.encode(" 東京タワー")
        assert ours.decode_with_timestamps(tokens) == fw.decode_with_timestamps(tokens)
        assert ours.split_to_word_tokens(tokens) == fw.split_to_word_tokens(tokens)
    with pytest.raises(ValueError, match="language code"):
        Tokenizer(ours_model.hf_tokenizer, True, task="transcribe", language="xx")


CTRL_C_SCRIPT = r"""
import sys, time
import numpy as np
from amanuensis import WhisperModel, decode_audio
model = WhisperModel(sys.argv[1], cpu_threads=2)
clip = decode_audio(sys.argv[2])
audio = np.concatenate([clip, np.zeros(16000, np.float32)] * 12)  # about 2.5 minutes
segments, _ = model.transcribe(audio, beam_size=5, condition_on_previous_text=False)
try:
    for segment in segments:
        print("segment", flush=True)  # then waits in the engine for the next window
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
"""


def test_ctrl_c_stops_a_transcription(amanuensis, model_dirs, jfk):
    import signal

    env = dict(os.environ, PYTHONPATH=str(python_package.package_dir(amanuensis)))
    process = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, str(model_dirs["tiny.en"]),
                                str(jfk)], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "segment"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("interrupted")]
    assert process.returncode == 0 and lines, out
    assert float(lines[0].split()[1]) - sent < 1.5, "Ctrl-C took too long to stop the work"


def test_keywords_favour_words_in_both_pipelines(amanuensis_pkg, models, manifest):
    """keywords= (ours; faster-whisper has no such option): "clubs" where base writes "clothes",
    as a "word:weight" text, a dict, in the batched pipeline too; a bad weight is a ValueError."""
    ours = models[0]
    clip = str(by_id(manifest, "ps-cards-001").path)
    text = lambda segments: "".join(s.text for s in segments).lower()
    assert "clubs" not in text(ours.transcribe(clip)[0])
    assert "clubs" in text(ours.transcribe(clip, keywords="Gutenberg,clubs:3")[0])
    assert "clubs" in text(ours.transcribe(clip, keywords={"clubs": 3.0})[0])
    batched = amanuensis_pkg.BatchedInferencePipeline(ours)
    assert "clubs" in text(batched.transcribe(clip, keywords={"clubs": 3.0})[0])
    with pytest.raises(ValueError, match="keywords"):
        ours.transcribe(clip, keywords="clubs:0")
