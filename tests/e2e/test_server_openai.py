"""`amanuensis serve` through the official `openai` Python client, and its other read endpoints.

The server runs tiny.en with one compute thread per worker, and the CLI runs with --threads 1, so
both do exactly the same arithmetic: the server's transcript must equal the CLI's, in every
response format (SubRip and WebVTT byte for byte).
"""

from __future__ import annotations

import http.client
import json
import re
import time

import openai
import pytest

import amanuensis_cli
from manifest import by_id
from server_process import ServerProcess


@pytest.fixture(scope="module")
def server(amanuensis, tiny_model, vad_model_env):  # vad_filter is among the fields tested
    with ServerProcess(amanuensis, tiny_model, "--workers", "2", "--threads", "1") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-checked", max_retries=0,
                         timeout=120)


def cli_output(amanuensis, model, clip, fmt: str) -> str:
    # The CLI's own defaults (beam 5, temperature fallback), as the server's.
    run = amanuensis_cli.run(amanuensis, ["transcribe", "--model", model, "--threads", "1",
                                          "--output-format", fmt, clip], timeout=300)
    assert run.returncode == 0, run.describe()
    return run.stdout


@pytest.fixture(scope="module")
def cli_jfk(amanuensis, tiny_model, jfk) -> dict:
    return {
        "text": json.loads(cli_output(amanuensis, tiny_model, jfk, "json"))["text"].strip(),
        "srt": cli_output(amanuensis, tiny_model, jfk, "srt"),
        "vtt": cli_output(amanuensis, tiny_model, jfk, "vtt"),
    }


def transcribe(client, path, **kwargs):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, **kwargs)


# --- every response format matches the CLI ------------------------------------------------------

def test_json(client, jfk, cli_jfk):
    result = transcribe(client, jfk)
    assert result.text == cli_jfk["text"]
    assert "country" in result.text


def test_text(client, jfk, cli_jfk):
    result = transcribe(client, jfk, response_format="text")
    assert isinstance(result, str)
    assert result.strip() == cli_jfk["text"]


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles(client, jfk, cli_jfk, fmt):
    result = transcribe(client, jfk, response_format=fmt)
    assert result == cli_jfk[fmt]


def test_verbose_json(client, jfk, cli_jfk):
    result = transcribe(client, jfk, response_format="verbose_json")
    assert result.text == cli_jfk["text"]
    assert result.language == "english"  # OpenAI names the language
    assert result.duration == pytest.approx(11.0, abs=0.05)
    assert result.segments, "verbose_json without segments"
    assert [s.id for s in result.segments] == list(range(len(result.segments)))
    for s in result.segments:
        assert 0 <= s.start < s.end <= result.duration + 0.5
        assert s.tokens and isinstance(s.avg_logprob, float)
    assert "".join(s.text for s in result.segments).strip() == cli_jfk["text"]


def test_word_timestamps(client, jfk):
    result = transcribe(client, jfk, response_format="verbose_json",
                        timestamp_granularities=["word", "segment"])
    assert result.words, "timestamp_granularities[]=word gave no words"
    assert result.segments
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(w.start <= w.end for w in result.words)
    assert "Americans" in "".join(w.word for w in result.words)


def test_faster_whisper_fields(client, jfk, cli_jfk):
    # Extra fields faster-whisper users know, sent as form fields.
    result = transcribe(client, jfk, extra_body={"beam_size": 1, "condition_on_previous_text": "false",
                                                 "vad_filter": "true", "hotwords": "Americans"})
    assert "country" in result.text


def test_temperature_and_prompt(client, jfk):
    result = transcribe(client, jfk, temperature=0.0, prompt="Inaugural address, 1961.",
                        language="en")
    assert "country" in result.text


# --- streaming ----------------------------------------------------------------------------------

def test_stream_with_openai_client(client, jfk, cli_jfk):
    with open(jfk, "rb") as f:
        stream = client.audio.transcriptions.create(model="whisper-1", file=f, stream=True)
        events = list(stream)
    types = [e.type for e in events]
    assert types[-1] == "transcript.text.done", types
    assert types.count("transcript.text.delta") >= 1
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas == events[-1].text == cli_jfk["text"]


def test_logprobs_match_the_cli(client, amanuensis, tiny_model, jfk):
    """include[]=logprobs: every text token with its log-probability, in json, verbose_json and
    the streamed deltas, equal to a `--logprobs` CLI run's."""
    run = amanuensis_cli.run(amanuensis, ["transcribe", "--model", tiny_model, "--threads", "1",
                                          "--output-format", "json", "--logprobs", str(jfk)],
                             timeout=300)
    assert run.returncode == 0, run.describe()
    cli = json.loads(run.stdout)["logprobs"]
    assert len(cli) >= 20 and all(p["logprob"] <= 0 for p in cli)
    assert "".join(p["token"] for p in cli).strip() == json.loads(run.stdout)["text"].strip()
    assert all(bytes(p["bytes"]).decode() == p["token"] for p in cli)

    def same(logprobs):
        got = [(p.token, p.bytes, p.logprob) for p in logprobs]
        assert [g[:2] for g in got] == [(p["token"], p["bytes"]) for p in cli]
        assert max(abs(g[2] - p["logprob"]) for g, p in zip(got, cli)) < 1e-3

    same(transcribe(client, jfk, include=["logprobs"]).logprobs)
    verbose = transcribe(client, jfk, include=["logprobs"], response_format="verbose_json")
    same([openai.types.audio.transcription.Logprob(**p) for p in verbose.model_extra["logprobs"]])
    with open(jfk, "rb") as f:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True,
                                                         include=["logprobs"]))
    same([p for e in events if e.type == "transcript.text.delta" for p in e.logprobs])
    same(events[-1].logprobs)
    assert transcribe(client, jfk).model_extra.get("logprobs") is None  # only when asked
    with pytest.raises(openai.BadRequestError, match="include"):
        transcribe(client, jfk, include=["logprobs"], response_format="text")
    with pytest.raises(openai.BadRequestError, match="include"):
        transcribe(client, jfk, include=["everything"])


def test_stream_delivers_first_segment_early(server, manifest):
    """The long clip's first segment arrives well before its transcript is complete."""
    clip = by_id(manifest, "lj_longform_dev").path
    body, content_type = encode_form(clip, [("stream", "true"), ("beam_size", "1")])
    conn = http.client.HTTPConnection(server.host, server.port, timeout=300)
    start = time.monotonic()
    conn.request("POST", "/v1/audio/transcriptions", body=body,
                 headers={"Content-Type": content_type})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    assert response.getheader("Content-Type") == "text/event-stream"
    arrivals = []  # (seconds since the request, event)
    buffer = b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            assert raw.startswith(b"data: "), raw
            arrivals.append((time.monotonic() - start, json.loads(raw[6:])))
    conn.close()
    kinds = [e["type"] for _, e in arrivals]
    assert kinds[-1] == "transcript.text.done", kinds
    deltas = [(t, e) for t, e in arrivals if e["type"] == "transcript.text.delta"]
    assert len(deltas) >= 5, kinds
    first, done = deltas[0][0], arrivals[-1][0]
    assert first < 0.5 * done, f"first segment at {first:.2f} s, transcript done at {done:.2f} s"
    assert deltas[0][1]["start"] == 0.0
    assert "".join(e["delta"] for _, e in deltas) == arrivals[-1][1]["text"]
    assert "Printing" in deltas[0][1]["delta"]


def encode_form(path, fields):
    from server_process import encode_multipart
    return encode_multipart(fields, [("file", path.name, path.read_bytes())])


# --- errors through the client ------------------------------------------------------------------

def test_unknown_model(client, jfk):
    # OpenAI's own names (gpt-4o-transcribe, whisper-*) stand for the default model; any other
    # name this server does not have is OpenAI's 404.
    with pytest.raises(openai.NotFoundError) as error, open(jfk, "rb") as f:
        client.audio.transcriptions.create(model="large-v9", file=f)
    assert error.value.status_code == 404
    assert error.value.code == "model_not_found"
    assert "no model named 'large-v9'" in error.value.message


# The client marks the translations endpoint deprecated; the server still has to serve it.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_needs_multilingual_model(client, jfk):
    with pytest.raises(openai.BadRequestError) as error, open(jfk, "rb") as f:
        client.audio.translations.create(model="whisper-1", file=f)
    assert "English-only" in error.value.message


# --- the other endpoints ------------------------------------------------------------------------

def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["whisper-1", "tiny.en"]
    assert client.models.retrieve("tiny.en").id == "tiny.en"


def test_legacy_transcribe(server, jfk, cli_jfk):
    status, _, body = server.post_form("/transcribe", [("beam_size", "5")],
                                       [("file", "jfk.wav", jfk.read_bytes())])
    assert status == 200, body
    result = json.loads(body)
    assert result["text"] == cli_jfk["text"]
    assert result["language"] == "en"
    assert result["duration"] == pytest.approx(11.0, abs=0.05)
    assert result["mode"] == server.json_request("GET", "/status")[1]["backend"]["mode"]
    assert result["processing_time"] > 0
    assert result["real_time_factor"] == pytest.approx(result["processing_time"] / result["duration"],
                                                       rel=0.01, abs=1e-3)
    assert all(s["start"] < s["end"] for s in result["segments"])


def test_legacy_transcribe_raw_body(server, manifest):
    clip = by_id(manifest, "ps-cards-001").path
    status, _, body = server.request("POST", "/transcribe?beam_size=1", clip.read_bytes(),
                                     {"Content-Type": "audio/wav"})
    assert status == 200, body
    assert "clubs" in json.loads(body)["text"].lower()


def test_status(server):
    status, body = server.json_request("GET", "/status")
    assert status == 200
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"])
    assert body["status"] == "ready"
    backend = body["backend"]
    chain = backend["fallback_chain"]
    assert [b["backend"] for b in chain if b["chosen"]] == [backend["mode"]]
    assert chain[-1]["backend"] == "cpu" and chain[-1]["available"]  # the fallback of last resort
    assert all(isinstance(b["reason"], str) and b["reason"] for b in chain), chain
    assert body["device"]["cpu"]["logical_cores"] >= 1
    assert body["device"]["memory"]["total_bytes"] > 0
    assert body["model"]["name"] == "tiny.en"
    assert body["model"]["size_bytes"] > 30_000_000
    assert body["model"]["multilingual"] is False
    assert body["workers"] == {"count": 2, "busy": body["workers"]["busy"], "threads_per_worker": 1}
    assert body["queue"]["max"] == 16
    assert body["uptime_seconds"] > 0


def test_metrics(server, client, jfk):
    transcribe(client, jfk, extra_body={"beam_size": 1})
    samples = server.metrics()
    assert samples['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",status="200"}'] >= 1
    assert samples["amanuensis_audio_seconds_total"] >= 11.0
    assert samples["amanuensis_real_time_factor_count"] >= 1
    assert 'amanuensis_http_request_duration_seconds_bucket{endpoint="/v1/audio/transcriptions",le="+Inf"}' in samples
    assert samples["amanuensis_queue_depth"] == 0
    assert samples["process_cpu_seconds_total"] > 0
    assert samples["process_resident_memory_bytes"] > 10_000_000
    assert "amanuensis_workers_busy" in samples


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_with_multilingual_model(amanuensis, model_dirs, manifest):
    clip = by_id(manifest, "leopard-de").path
    with ServerProcess(amanuensis, model_dirs["base"], "--workers", "1") as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        with open(clip, "rb") as f:
            result = client.audio.translations.create(model="whisper-1", file=f,
                                                      response_format="verbose_json",
                                                      extra_body={"beam_size": 1})
        assert result.task == "translate"
        assert result.language == "german"
        words = set(re.findall(r"[a-z]+", result.text.lower()))
        assert words & {"the", "room", "was", "used", "as", "a", "portal"}, result.text
        with open(clip, "rb") as f:
            german = client.audio.transcriptions.create(model="base", file=f, language="de",
                                                        extra_body={"beam_size": 1})
        assert german.text != result.text


def test_multilingual_segments_carry_their_language(amanuensis, model_dirs, manifest, tmp_path):
    """multilingual=true: German then Spanish, each opening a 30-second window; each segment of
    verbose_json carries its language. An English-only model refuses the field."""
    import wave

    import numpy as np
    from faster_whisper.audio import decode_audio

    blocks = []
    for clip_id in ("leopard-de", "leopard-es"):
        speech = decode_audio(str(by_id(manifest, clip_id).path))
        blocks.append(np.concatenate([speech, np.zeros(30 * 16000 - len(speech), np.float32)]))
    path = tmp_path / "de_es.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.concatenate(blocks) * 32767).astype("<i2").tobytes())
    with ServerProcess(amanuensis, model_dirs["base"], "--workers", "1") as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        with open(path, "rb") as f:
            result = client.audio.transcriptions.create(
                model="whisper-1", file=f, response_format="verbose_json",
                extra_body={"beam_size": 1, "multilingual": "true"})
        languages = [(s.start // 30, s.model_extra["language"]) for s in result.segments]
        assert languages and dict(languages) == {0: "de", 1: "es"}, languages
        with open(path, "rb") as f:
            plain = client.audio.transcriptions.create(
                model="whisper-1", file=f, response_format="verbose_json",
                extra_body={"beam_size": 1})
        assert all("language" not in (s.model_extra or {}) for s in plain.segments)
        # languages[]: detection chooses among these only (German is not one of them).
        with open(path, "rb") as f:
            limited = client.audio.transcriptions.create(
                model="whisper-1", file=f, response_format="verbose_json",
                extra_body={"beam_size": 1, "languages": ["en", "es"]})
        assert limited.language == "english", limited.language
        with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="languages"):
            client.audio.transcriptions.create(model="whisper-1", file=f,
                                               extra_body={"languages": ["en", "klingon"]})
    with ServerProcess(amanuensis, model_dirs["tiny.en"], "--workers", "1") as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="English-only"):
            client.audio.transcriptions.create(model="whisper-1", file=f,
                                               extra_body={"multilingual": "true"})


def test_keywords_field_favours_words_and_checks_weights(amanuensis, model_dirs, manifest):
    """keywords[] (OpenAI's field, each "word:weight"): base writes "10 of clothes" on this clip,
    "ten of clubs" with the keyword; a bad weight is a 400 naming the field."""
    path = by_id(manifest, "ps-cards-001").path
    with ServerProcess(amanuensis, model_dirs["base"], "--workers", "1") as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        with open(path, "rb") as f:
            plain = client.audio.transcriptions.create(model="whisper-1", file=f)
        with open(path, "rb") as f:
            biased = client.audio.transcriptions.create(
                model="whisper-1", file=f, extra_body={"keywords": ["Gutenberg", "clubs:3"]})
        assert "clubs" not in plain.text and "clubs" in biased.text, (plain.text, biased.text)
        with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="keywords"):
            client.audio.transcriptions.create(model="whisper-1", file=f,
                                               extra_body={"keywords": ["clubs:many"]})

