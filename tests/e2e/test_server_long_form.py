"""Long recordings through `amanuensis serve`: vad_filter, vad_parameters, batch_size and OpenAI's
chunking_strategy (through the official `openai` client, in the encodings it really sends), and
speaches' POST /v1/audio/speech/timestamps against faster-whisper's own VAD.

The server runs tiny.en with one compute thread per worker, as the CLI it is compared with.
"""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import numpy as np
import openai
import pytest

import amanuensis_cli
from manifest import by_id
from server_process import ServerProcess

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TIMESTAMPS = "/v1/audio/speech/timestamps"
RATE = 16000
SILENCE_SECONDS = 30.0
VAD_MODEL_VARIABLE = "AMANUENSIS_VAD_MODEL"
# speaches' defaults for /v1/audio/speech/timestamps.
SPEACHES_VAD = {"threshold": 0.75, "min_speech_duration_ms": 0,
                "max_speech_duration_s": float("inf"), "min_silence_duration_ms": 1000,
                "speech_pad_ms": 0}


# --- audio --------------------------------------------------------------------------------------

def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


class SilenceFile:
    """jfk (11 s), 30 s of digital silence, LJ001-0001 (9.7 s)."""

    def __init__(self, folder: Path, first: Path, second: Path):
        a, b = read_wav(first), read_wav(second)
        self.silence_start = len(a) / RATE
        self.silence_end = self.silence_start + SILENCE_SECONDS
        self.duration = self.silence_end + len(b) / RATE
        silence = np.zeros(int(SILENCE_SECONDS * RATE), dtype="<i2")
        self.path = write_wav(folder / "speech-silence-speech.wav", np.concatenate([a, silence, b]))


@pytest.fixture(scope="module")
def silence_file(tmp_path_factory, manifest) -> SilenceFile:
    return SilenceFile(tmp_path_factory.mktemp("long-form"), by_id(manifest, "jfk").path,
                       by_id(manifest, "LJ001-0001").path)


@pytest.fixture(scope="module")
def silence_only(tmp_path_factory) -> Path:
    return write_wav(tmp_path_factory.mktemp("silence") / "silence.wav",
                     np.zeros(40 * RATE, dtype="<i2"))


@pytest.fixture(scope="module")
def longform(manifest) -> Path:
    return by_id(manifest, "lj_longform_dev").path


# --- the server ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(amanuensis, tiny_model, vad_model_env):
    with ServerProcess(amanuensis, tiny_model, "--workers", "2", "--threads", "1") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-checked", max_retries=0,
                         timeout=300)


def transcribe(client, path: Path, **kwargs):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, **kwargs)


def verbose(client, path: Path, **extra_body):
    """verbose_json with segment timestamps, greedy (to keep the suite quick)."""
    kwargs = {k: extra_body.pop(k) for k in ("chunking_strategy",) if k in extra_body}
    return transcribe(client, path, response_format="verbose_json",
                      timestamp_granularities=["segment"], extra_body={"beam_size": 1, **extra_body},
                      **kwargs)


def segments_of(result) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in result.segments]


def error_of(status: int, body: bytes, param: str, *words: str, expected: int = 400) -> dict:
    assert status == expected, f"expected {expected}, got {status}: {body[:500]!r}"
    error = json.loads(body)["error"]
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error
    return error


# --- (a) vad_filter -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def with_vad(client, silence_file):
    return verbose(client, silence_file.path, vad_filter=True)


@pytest.fixture(scope="module")
def without_vad(client, silence_file):
    return verbose(client, silence_file.path)


def inside_silence(t: float, silence_file: SilenceFile, margin: float = 0.5) -> bool:
    """Deeper inside the silence than the VAD's 400 ms padding (and rounding) reach."""
    return silence_file.silence_start + margin < t < silence_file.silence_end - margin


def test_vad_filter_skips_the_silence(with_vad, without_vad, silence_file):
    assert with_vad.duration == pytest.approx(silence_file.duration, abs=0.05)
    assert with_vad.segments, with_vad
    # No timestamp lies inside the silence. (Times are restored span by span, as faster-whisper's
    # restore_speech_timestamps does, so a segment may start before the silence and end after it
    # when Whisper put its start a little before the join of the two speech spans.)
    for start, end, text in segments_of(with_vad):
        assert start < end, (start, end, text)
        assert not inside_silence(start, silence_file), (start, end, text)
        assert not inside_silence(end, silence_file), (start, end, text)
    text = with_vad.text.lower()
    assert "country" in text and "printing" in text, with_vad.text
    # Without the VAD, the window after the silence starts its segment inside it (at 30 s).
    assert any(inside_silence(s.start, silence_file) for s in without_vad.segments), \
        segments_of(without_vad)


def test_without_vad_is_accepted(without_vad, silence_file):
    assert without_vad.duration == pytest.approx(silence_file.duration, abs=0.05)
    assert "country" in without_vad.text.lower()


def test_vad_metrics_and_legacy_duration_after_vad(server, silence_file, with_vad):
    status, _, body = server.post_form("/transcribe", [("vad_filter", "true"), ("beam_size", "1")],
                                       [("file", "s.wav", silence_file.path.read_bytes())])
    assert status == 200, body
    result = json.loads(body)
    assert result["duration"] == pytest.approx(silence_file.duration, abs=0.05)
    # The 30 s of silence, less the padding around the speech, were left out.
    removed = result["duration"] - result["duration_after_vad"]
    assert SILENCE_SECONDS - 2 < removed <= SILENCE_SECONDS + 0.05, result
    assert server.metrics()["amanuensis_vad_removed_seconds_total"] >= 2 * (SILENCE_SECONDS - 2)
    status, body = server.json_request("GET", "/status")
    assert body["vad"] == {"model": "silero_vad_v6", "available": True, "reason": "loaded"}


# --- (c) chunking_strategy through the SDK ------------------------------------------------------

def test_chunking_strategy_auto_is_vad_filter(client, silence_file, with_vad, without_vad):
    auto = verbose(client, silence_file.path, chunking_strategy="auto")
    assert segments_of(auto) == segments_of(with_vad)
    assert auto.text == with_vad.text
    # ... which changes what is transcribed: the segments around the silence move.
    assert segments_of(with_vad) != segments_of(without_vad)


def test_chunking_strategy_server_vad_is_vad_parameters(client, silence_file):
    settings = {"threshold": 0.6, "prefix_padding_ms": 100, "silence_duration_ms": 500}
    server_vad = verbose(client, silence_file.path,
                         chunking_strategy={"type": "server_vad", **settings})
    # The SDK sends the dict as bracketed fields; vad_parameters in extra_body travels the same way.
    same = verbose(client, silence_file.path, vad_filter=True,
                   vad_parameters={"threshold": 0.6, "speech_pad_ms": 100,
                                   "min_silence_duration_ms": 500})
    assert segments_of(server_vad) == segments_of(same)
    # And as one JSON field, as curl users send it.
    as_json = verbose(client, silence_file.path,
                      chunking_strategy=json.dumps({"type": "server_vad", **settings}))
    assert segments_of(as_json) == segments_of(same)
    # The settings are used: OpenAI's defaults (0.5, 300 ms, 200 ms) cut other speech.
    default = verbose(client, silence_file.path, chunking_strategy={"type": "server_vad"})
    assert default.segments
    assert segments_of(server_vad) != segments_of(default)


def test_chunking_strategy_streams(client, silence_file, with_vad):
    with open(silence_file.path, "rb") as f:
        events = list(client.audio.transcriptions.create(
            model="whisper-1", file=f, stream=True, chunking_strategy="auto",
            extra_body={"beam_size": 1}))
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == with_vad.text
    assert "".join(e.delta for e in events[:-1]) == with_vad.text


# --- (b) batch_size: the server's batched pipeline is the CLI's ----------------------------------

def cli_json(amanuensis, model: Path, audio: Path, *flags: str) -> dict:
    run = amanuensis_cli.run(amanuensis, ["transcribe", "--model", model, "--threads", "1",
                                          *flags, "--output-format", "json", audio], timeout=600)
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def test_batch_size_matches_the_cli(client, amanuensis, tiny_model, longform, vad_model_env):
    cli = cli_json(amanuensis, tiny_model, longform, "--batch-size", "8")
    served = transcribe(client, longform, response_format="verbose_json",
                        extra_body={"batch_size": 8})
    assert served.text == cli["text"].strip()
    assert len(served.text.split()) > 200  # the whole 138 s, not a piece
    assert [(s.start, s.end) for s in served.segments] == \
        [(s["start"], s["end"]) for s in cli["segments"]]


@pytest.mark.parametrize("field, flag, value", [
    ("repetition_penalty", "--repetition-penalty", "1.3"),
    ("no_repeat_ngram_size", "--no-repeat-ngram-size", "2"),
])
def test_repetition_controls_match_the_cli(client, amanuensis, tiny_model, jfk, field, flag, value):
    cli = cli_json(amanuensis, tiny_model, jfk, "--beam-size", "1", flag, value)
    served = transcribe(client, jfk, extra_body={"beam_size": 1, field: value})
    assert served.text == cli["text"].strip()
    # Each changes this clip's transcript, so the option reached the decoder.
    assert served.text != transcribe(client, jfk, extra_body={"beam_size": 1}).text


# --- (f) silence only ---------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [{"vad_filter": True}, {"chunking_strategy": "auto"},
                                    {"batch_size": 8}])
def test_silence_only_gives_empty_text(client, silence_only, fields):
    result = verbose(client, silence_only, **fields)
    assert result.text == ""
    assert result.segments == []
    assert result.duration == pytest.approx(40.0)


# --- (d) /v1/audio/speech/timestamps against faster-whisper -------------------------------------

def faster_whisper_spans(path: Path, **options) -> list[dict]:
    from faster_whisper.audio import decode_audio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(decode_audio(str(path)), VadOptions(**options))
    return [{"start": s["start"] // 16, "end": s["end"] // 16} for s in spans]  # speaches' ms


def assert_same_spans(got: list[dict], want: list[dict], tolerance_ms: int = 32):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert set(g) == {"start", "end"} and all(isinstance(v, int) for v in g.values()), g
        assert abs(g["start"] - w["start"]) <= tolerance_ms, (got, want)
        assert abs(g["end"] - w["end"]) <= tolerance_ms, (got, want)


@pytest.mark.parametrize("clip", ["jfk", "silence_file"])
def test_speech_timestamps_match_faster_whisper(server, jfk, silence_file, clip):
    path = jfk if clip == "jfk" else silence_file.path
    status, _, body = server.post_form(TIMESTAMPS, [], [("file", path.name, path.read_bytes())])
    assert status == 200, body
    got = json.loads(body)
    assert_same_spans(got, faster_whisper_spans(path, **SPEACHES_VAD))
    assert got, "no speech found"
    if clip == "silence_file":
        start, end = silence_file.silence_start * 1000, silence_file.silence_end * 1000
        assert all(s["end"] <= start or s["start"] >= end for s in got), got


def test_speech_timestamps_fields(server, silence_file):
    fields = {"model": "silero_vad_v6", "threshold": "0.5", "neg_threshold": "0.3",
              "min_speech_duration_ms": "250", "max_speech_duration_s": "5",
              "min_silence_duration_ms": "300", "speech_pad_ms": "200"}
    status, _, body = server.post_form(TIMESTAMPS, list(fields.items()),
                                       [("file", "a.wav", silence_file.path.read_bytes())])
    assert status == 200, body
    want = faster_whisper_spans(silence_file.path, threshold=0.5, neg_threshold=0.3,
                                min_speech_duration_ms=250, max_speech_duration_s=5,
                                min_silence_duration_ms=300, speech_pad_ms=200)
    assert_same_spans(json.loads(body), want)
    assert len(want) > 3  # max_speech_duration_s split the speech


def test_speech_timestamps_of_silence(server, silence_only):
    status, _, body = server.post_form(TIMESTAMPS, [],
                                       [("file", "s.wav", silence_only.read_bytes())])
    assert (status, json.loads(body)) == (200, [])
    samples = server.metrics()
    assert samples[f'amanuensis_http_requests_total{{endpoint="{TIMESTAMPS}",status="200"}}'] >= 1


def test_speech_timestamps_errors(server, jfk):
    audio = [("file", "jfk.wav", jfk.read_bytes())]
    error_of(*server.post_form(TIMESTAMPS, [("threshold", "1.5")], audio)[::2], "threshold",
             "threshold must be between 0 and 1")
    error = error_of(*server.post_form(TIMESTAMPS, [("model", "silero_vad_v5")], audio)[::2],
                     "model", "silero_vad_v6")
    assert error["code"] == "model_not_found"
    error_of(*server.post_form(TIMESTAMPS, [("model", "silero_vad_v6")], [])[::2], "file")
    bad = error_of(*server.post_form(TIMESTAMPS, [], [("file", "x.wav", os.urandom(4000))])[::2],
                   "file", "not audio")
    assert bad["code"] == "invalid_audio"
    status, _, body = server.request("POST", TIMESTAMPS, b"{}", {"Content-Type": "application/json"})
    assert status == 400, body


# --- (e) bad values: 400 naming the field, over real HTTP and through the SDK ---------------------

@pytest.mark.parametrize("fields, param, words", [
    ([("vad_parameters", '{"threshold": 2}')], "vad_parameters",
     ["vad_parameters.threshold must be between 0 and 1"]),
    ([("vad_parameters", '{"min_silence": 5}')], "vad_parameters",
     ["vad_parameters.min_silence", "not a VAD setting"]),
    ([("vad_parameters", "[1]")], "vad_parameters", ["JSON object"]),
    ([("vad_parameters[speech_pad_ms]", "-1")], "vad_parameters", ["vad_parameters.speech_pad_ms"]),
    ([("vad_filter", "perhaps")], "vad_filter", ["true or false"]),
    ([("batch_size", "300")], "batch_size", ["from 0 to 256"]),
    ([("batch_size", "-1")], "batch_size", ["from 0 to 256"]),
    ([("repetition_penalty", "0")], "repetition_penalty", ["above 0"]),
    ([("no_repeat_ngram_size", "-2")], "no_repeat_ngram_size", ["from 0"]),
    ([("chunking_strategy", "manual")], "chunking_strategy", ['"auto"']),
    ([("chunking_strategy", '{"type": "semantic_vad"}')], "chunking_strategy",
     ["chunking_strategy.type"]),
    ([("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "x")],
     "chunking_strategy", ["chunking_strategy.threshold"]),
    ([("chunking_strategy", "auto"), ("vad_filter", "false")], "chunking_strategy",
     ["vad_filter"]),
])
def test_bad_values_over_http(server, jfk, fields, param, words):
    for path in (TRANSCRIPTIONS, "/transcribe"):
        status, _, body = server.post_form(path, fields, [("file", "jfk.wav", jfk.read_bytes())])
        error_of(status, body, param, *words)


def test_bad_values_through_the_sdk(client, jfk):
    with pytest.raises(openai.BadRequestError) as error:
        transcribe(client, jfk, chunking_strategy={"type": "server_vad", "threshold": 2})
    assert error.value.param == "chunking_strategy"
    assert "chunking_strategy.threshold must be between 0 and 1" in error.value.message
    with pytest.raises(openai.BadRequestError) as error:
        transcribe(client, jfk, extra_body={"vad_parameters": {"threshold": "high"}})
    assert error.value.param == "vad_parameters"
    with pytest.raises(openai.BadRequestError) as error:
        transcribe(client, jfk, extra_body={"batch_size": 1000})
    assert error.value.param == "batch_size"


# --- a server without a VAD model refuses what needs one -----------------------------------------

def test_without_a_vad_model(amanuensis, tiny_model, jfk, tmp_path):
    missing = tmp_path / "no-such-silero_vad_v6.onnx"
    with ServerProcess(amanuensis, tiny_model, "--workers", "1",
                       env={VAD_MODEL_VARIABLE: str(missing)}) as server:
        assert "warning" in server.log() and str(missing) in server.log()
        audio = [("file", "jfk.wav", jfk.read_bytes())]
        for fields in ([("vad_filter", "true")], [("chunking_strategy", "auto")],
                       [("batch_size", "8")]):
            status, _, body = server.post_form(TRANSCRIPTIONS, fields, audio)
            assert status == 501, body
            assert json.loads(body)["error"]["code"] == "vad_unavailable"
        status, _, body = server.post_form(TIMESTAMPS, [], audio)
        assert status == 501, body
        # Batched without the VAD, and everything else, still work.
        status, _, body = server.post_form(TRANSCRIPTIONS, [("batch_size", "8"),
                                                            ("vad_filter", "false")], audio)
        assert status == 200 and "country" in json.loads(body)["text"], body
        status, body = server.json_request("GET", "/status")
        assert body["vad"]["available"] is False and str(missing) in body["vad"]["reason"]
