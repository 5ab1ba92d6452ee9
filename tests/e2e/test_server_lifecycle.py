"""Concurrency and lifecycle of `amanuensis serve`: a full queue answers 429 with Retry-After, a
client that hangs up cancels its work, SIGTERM lets requests in progress finish, and --api-key
guards everything but /health."""

from __future__ import annotations

import json
import socket
import threading
import time

import openai
import pytest

from manifest import by_id
from server_process import ServerProcess, encode_multipart

TRANSCRIPTIONS = "/v1/audio/transcriptions"


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def open_upload(server, clip, fields=()) -> socket.socket:
    """Sends a whole transcription request on a raw socket and returns it, unanswered."""
    body, content_type = encode_multipart(list(fields), [("file", clip.name, clip.read_bytes())])
    sock = socket.create_connection((server.host, server.port), timeout=120)
    sock.sendall((f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return sock


@pytest.fixture(scope="module")
def long_clip(manifest):
    return by_id(manifest, "lj_longform_dev").path


@pytest.fixture(scope="module")
def one_worker(amanuensis, tiny_model):
    with ServerProcess(amanuensis, tiny_model, "--workers", "1", "--max-queue", "0") as s:
        yield s


def test_full_queue_answers_429(one_worker, long_clip, jfk):
    server = one_worker
    busy = open_upload(server, long_clip)
    try:
        wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 1, 30, "the worker to start")
        status, headers, body = server.post_form(TRANSCRIPTIONS, [],
                                                 [("file", "jfk.wav", jfk.read_bytes())])
        assert status == 429, body
        assert int(headers["retry-after"]) >= 1
        error = json.loads(body)["error"]
        assert error["type"] == "rate_limit_error" and "--max-queue" in error["message"]
        assert server.request("GET", "/health")[0] == 200  # health is never queued
    finally:
        busy.close()
    wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 0, 30, "the worker to be freed")


def test_client_disconnect_cancels_the_work(one_worker, long_clip):
    server = one_worker
    before = server.metrics().get('amanuensis_transcriptions_cancelled_total{reason="client_gone"}', 0)
    sock = open_upload(server, long_clip)
    wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 1, 30, "the worker to start")
    started = time.monotonic()
    sock.close()
    # Transcribing the 138 s clip takes far longer than the cancellation may.
    wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 0, 15, "the work to stop")
    assert time.monotonic() - started < 15
    after = server.metrics()['amanuensis_transcriptions_cancelled_total{reason="client_gone"}']
    assert after == before + 1
    assert server.metrics()["amanuensis_requests_in_flight"] == 0


def test_stream_disconnect_cancels_the_work(one_worker, long_clip):
    server = one_worker
    sock = open_upload(server, long_clip, [("stream", "true"), ("beam_size", "1")])
    data = b""
    while b"transcript.text.delta" not in data:  # the stream has begun
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    sock.close()
    wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 0, 15, "the work to stop")


def test_sigterm_finishes_requests_in_progress(amanuensis, tiny_model, jfk):
    server = ServerProcess(amanuensis, tiny_model, "--workers", "2").start()
    try:
        results = {}

        def plain():
            results["plain"] = server.post_form(TRANSCRIPTIONS, [], [("file", "jfk.wav", jfk.read_bytes())])

        def streamed():
            results["stream"] = server.post_form(TRANSCRIPTIONS, [("stream", "true")],
                                                 [("file", "jfk.wav", jfk.read_bytes())])

        threads = [threading.Thread(target=plain), threading.Thread(target=streamed)]
        for t in threads:
            t.start()
        wait_for(lambda: server.metrics()["amanuensis_workers_busy"] == 2, 30, "both requests to start")
        server.proc.send_signal(15)
        # Stop accepting at once...
        wait_for(lambda: not can_connect(server), 5, "the listening socket to close")
        for t in threads:
            t.join(timeout=120)
        # ...but finish what was in progress.
        status, _, body = results["plain"]
        assert status == 200, body
        assert "country" in json.loads(body)["text"]
        status, headers, body = results["stream"]
        assert status == 200, body
        assert b"transcript.text.done" in body
        server.proc.wait(timeout=30)
        assert server.proc.returncode == 0
        assert "serve: stopped" in server.log()
    finally:
        server.stop()


def can_connect(server) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=1).close()
        return True
    except OSError:
        return False


def test_api_key(amanuensis, tiny_model, jfk):
    with ServerProcess(amanuensis, tiny_model, "--api-key", "s3cret") as server:
        assert server.request("GET", "/health")[0] == 200  # stays open for probes
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, _, body = server.request("GET", "/v1/models", headers=headers)
            assert status == 401, body
            assert json.loads(body)["error"]["code"] == "invalid_api_key"
        status, _, body = server.post_form(TRANSCRIPTIONS, [], [("file", "jfk.wav", jfk.read_bytes())])
        assert status == 401, body
        assert server.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret"})[0] == 200

        client = openai.OpenAI(base_url=server.url + "/v1", api_key="s3cret", max_retries=0)
        with open(jfk, "rb") as f:
            assert "country" in client.audio.transcriptions.create(
                model="whisper-1", file=f, extra_body={"beam_size": 1}).text
        wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError), open(jfk, "rb") as f:
            wrong.audio.transcriptions.create(model="whisper-1", file=f)
        assert server.alive()


def test_api_key_from_environment(amanuensis, tiny_model):
    with ServerProcess(amanuensis, tiny_model, env={"AMANUENSIS_API_KEY": "from-env"}) as server:
        assert server.request("GET", "/status")[0] == 401
        assert server.request("GET", "/status", headers={"Authorization": "Bearer from-env"})[0] == 200
