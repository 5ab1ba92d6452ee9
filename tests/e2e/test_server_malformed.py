"""Malformed input to `amanuensis serve`: each gets the right status and an OpenAI-style error that
names the problem, and the server stays healthy (checked after every test)."""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time

import pytest

from manifest import by_id
from server_process import ServerProcess, encode_multipart

TRANSCRIPTIONS = "/v1/audio/transcriptions"
ONE_HOUR = 3600
LIMIT_MB = 25


@pytest.fixture(scope="module")
def server(amanuensis, tiny_model):
    with ServerProcess(amanuensis, tiny_model, "--workers", "2", "--max-upload-mb", str(LIMIT_MB)) as s:
        yield s


@pytest.fixture(autouse=True)
def still_healthy(request):
    yield
    if "server" in request.fixturenames:
        server = request.getfixturevalue("server")
        assert server.alive(), "the server died:\n" + server.log()[-3000:]
        status, _, body = server.request("GET", "/health", timeout=10)
        assert status == 200, body


@pytest.fixture(scope="module")
def short_clip(manifest) -> bytes:
    return by_id(manifest, "ps-cards-001").path.read_bytes()


def wav_header(data_bytes: int, rate: int = 16000, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", data_bytes))


def silent_wav(seconds: int) -> bytes:
    data = seconds * 16000 * 2
    return wav_header(data) + bytes(data)


def error_of(status: int, body: bytes, expected_status: int, *words: str) -> dict:
    assert status == expected_status, f"expected {expected_status}, got {status}: {body[:500]!r}"
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    for word in words:
        assert word.lower() in error["message"].lower(), error
    return error


def read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Reads one HTTP response (Content-Length bodies only) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data[:300]!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def send_until_answered(server, head: bytes, body: bytes, chunk: int = 1 << 20,
                        timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """Sends a request the way curl does: stops sending the body as soon as the server has
    answered (an early 413, say), then reads the answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(head)
        for offset in range(0, len(body), chunk):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(body[offset:offset + chunk])
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_response(sock, timeout)


def raw(server, data: bytes, half_close: bool = False, timeout: float = 30):
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock, timeout)


def post_bytes(server, body: bytes, content_type: str, path: str = TRANSCRIPTIONS):
    return server.request("POST", path, body, {"Content-Type": content_type})


# --- the upload itself --------------------------------------------------------------------------

def test_truncated_multipart(server, short_clip):
    body, content_type = encode_multipart([("model", "whisper-1")], [("file", "a.wav", short_clip)])
    status, _, answer = post_bytes(server, body[: len(body) * 2 // 3], content_type)
    error_of(status, answer, 400, "truncated")


def test_body_shorter_than_declared(server, short_clip):
    body, content_type = encode_multipart([], [("file", "a.wav", short_clip)])
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body) + 1000}\r\n\r\n").encode()
    status, _, answer = raw(server, head + body, half_close=True)
    error_of(status, answer, 400, "ended early")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain",
                                          "application/x-www-form-urlencoded", "audio/wav"])
def test_wrong_content_type(server, content_type):
    status, _, answer = post_bytes(server, b'{"file": "x"}', content_type)
    error_of(status, answer, 400, "multipart/form-data")


def test_no_content_type(server):
    status, _, answer = server.request("POST", TRANSCRIPTIONS, b"abc")
    error_of(status, answer, 400, "multipart/form-data")


def test_no_body(server):
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n").encode()
    start = time.monotonic()
    status, _, answer = raw(server, head)
    error_of(status, answer, 400, "no body")
    assert time.monotonic() - start < 5


def test_multipart_without_boundary(server):
    status, _, answer = post_bytes(server, b"--x\r\n\r\n--x--\r\n", "multipart/form-data")
    error_of(status, answer, 400, "boundary")


def test_boundary_not_in_body(server, short_clip):
    body, _ = encode_multipart([], [("file", "a.wav", short_clip)])
    status, _, answer = post_bytes(server, body, "multipart/form-data; boundary=something-else")
    error_of(status, answer, 400, "never occurs")


def test_part_without_name(server):
    body = (b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n")
    status, _, answer = post_bytes(server, body, "multipart/form-data; boundary=b")
    error_of(status, answer, 400, "no field name")


def test_too_many_parts(server):
    body, content_type = encode_multipart([(f"field{i}", "x") for i in range(300)])
    status, _, answer = post_bytes(server, body, content_type)
    error_of(status, answer, 400, "more than 256 parts")


def test_missing_file(server):
    body, content_type = encode_multipart([("model", "whisper-1")])
    status, _, answer = post_bytes(server, body, content_type)
    assert error_of(status, answer, 400, "no audio file")["param"] == "file"


def test_two_files(server, short_clip):
    body, content_type = encode_multipart([], [("file", "a.wav", short_clip), ("file", "b.wav", short_clip)])
    status, _, answer = post_bytes(server, body, content_type)
    error_of(status, answer, 400, "more than one file")


def test_empty_file(server):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [], [("file", "empty.wav", b"")])
    error = error_of(status, answer, 400, "empty", "0 bytes")
    assert error["param"] == "file"


def test_random_bytes_named_wav(server):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [], [("file", "noise.wav", os.urandom(64 * 1024))])
    error = error_of(status, answer, 400, "noise.wav", "not audio")
    assert error["code"] == "invalid_audio"


def test_text_file(server):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [], [("file", "notes.txt", b"hello\n" * 100)])
    error_of(status, answer, 400, "not a recognised audio")


def test_wav_header_without_samples(server):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [], [("file", "hollow.wav", wav_header(0))])
    error_of(status, answer, 400, "hollow.wav")


def test_wav_cut_short(server, short_clip):
    # A header that promises more than the file holds: what is there is transcribed.
    status, _, answer = server.post_form(TRANSCRIPTIONS, [("beam_size", "1")],
                                         [("file", "cut.wav", short_clip[: len(short_clip) // 2])])
    assert status == 200, answer


def test_one_hour_of_silence_is_over_the_upload_limit(server):
    audio = silent_wav(ONE_HOUR)  # 115 MB: OpenAI's 25 MB limit refuses it too
    body, content_type = encode_multipart([], [("file", "silence.wav", audio)])
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    start = time.monotonic()
    status, headers, answer = send_until_answered(server, head, body)
    error_of(status, answer, 413, "larger than", "25.0 MB")
    assert headers.get("connection") == "close"
    assert time.monotonic() - start < 10


def test_one_hour_of_silence_within_a_larger_limit_times_out(amanuensis, tiny_model):
    """With room for it, an hour of audio takes longer than --request-timeout: 504, the work is
    cancelled, and the server carries on."""
    audio = silent_wav(ONE_HOUR)
    with ServerProcess(amanuensis, tiny_model, "--workers", "1", "--max-upload-mb", "200",
                       "--request-timeout", "3") as big:
        start = time.monotonic()
        status, _, answer = big.post_form(TRANSCRIPTIONS, [], [("file", "silence.wav", audio)],
                                          timeout=60)
        error = error_of(status, answer, 504, "request timeout")
        assert error["type"] == "server_error"
        assert time.monotonic() - start < 15
        del audio
        deadline = time.monotonic() + 60
        while big.metrics()["amanuensis_workers_busy"] != 0:
            assert time.monotonic() < deadline, "the timed-out transcription kept its worker"
            time.sleep(0.2)
        assert big.metrics()['amanuensis_transcriptions_cancelled_total{reason="timeout"}'] == 1
        assert big.request("GET", "/health")[0] == 200


def test_declared_two_gigabytes(server):
    body, content_type = encode_multipart([], [("file", "huge.wav", wav_header(2**31))])
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {2**31}\r\n\r\n").encode()
    start = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head + body)  # a few bytes of the promised 2 GB
        status, headers, answer = read_response(sock)
    error = error_of(status, answer, 413, "2147483648 bytes", "--max-upload-mb")
    assert error["code"] == "file_too_large"
    assert time.monotonic() - start < 5, "the server waited for the 2 GB"


def test_chunked_upload_over_the_limit(server):
    content_type = "multipart/form-data; boundary=b"
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    piece = os.urandom(1 << 20)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    status, _, answer = send_until_answered(server, head, chunk * (LIMIT_MB + 5), chunk=len(chunk))
    error_of(status, answer, 413, "larger than")


def test_expect_continue_refused_before_the_body(server):
    head = (f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {100 * 2**20}\r\nExpect: 100-continue\r\n\r\n").encode()
    status, _, answer = raw(server, head)
    # The server answers before the body and closes: when the closing races the client's read, the
    # kernel may drop the body after the status line (a reset), so only the status is certain.
    if answer:
        error_of(status, answer, 413, "larger than")
    else:
        assert status == 413


# --- option values ------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,param,words", [
    ("temperature", "hot", "temperature", ["invalid temperature", "number"]),
    ("temperature", "1.5", "temperature", ["from 0 to 1"]),
    ("temperature", "nan", "temperature", ["invalid temperature"]),
    ("beam_size", "0", "beam_size", ["from 1 to 64"]),
    ("beam_size", "2.5", "beam_size", ["integer"]),
    ("best_of", "99999999999999999999", "best_of", ["integer"]),
    ("response_format", "xml", "response_format", ["json, text, srt, verbose_json, vtt"]),
    ("language", "klingon", "language", ["unknown language"]),
    ("language", "de", "language", ["English-only"]),
    ("timestamp_granularities[]", "char", "timestamp_granularities[]", ["segment or word"]),
    ("timestamp_granularities[]", "word", "timestamp_granularities[]", ["verbose_json"]),
    ("stream", "maybe", "stream", ["true or false"]),
    ("no_speech_threshold", "2", "no_speech_threshold", ["from 0 to 1"]),
    ("word_timestamps", "yes please", "word_timestamps", ["true or false"]),
    ("max_new_tokens", "0", "max_new_tokens", ["from 1"]),
])
def test_bad_option(server, short_clip, field, value, param, words):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [(field, value)],
                                         [("file", "a.wav", short_clip)])
    error = error_of(status, answer, 400, *words)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_unknown_model(server, short_clip):
    # whisper-* names stand for the default model; other unknown names are OpenAI's 404.
    status, _, answer = server.post_form(TRANSCRIPTIONS, [("model", "large-v9")],
                                         [("file", "a.wav", short_clip)])
    error = error_of(status, answer, 404, "no model named 'large-v9'")
    assert (error["param"], error["code"]) == ("model", "model_not_found")
    assert error["type"] == "invalid_request_error"


def test_repeated_field(server, short_clip):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [("language", "en"), ("language", "en")],
                                         [("file", "a.wav", short_clip)])
    error_of(status, answer, 400, "more than once")


def test_prompt_too_long(server, short_clip):
    status, _, answer = server.post_form(TRANSCRIPTIONS, [("prompt", "x" * 70_000)],
                                         [("file", "a.wav", short_clip)])
    error_of(status, answer, 400, "longer than")


def test_binary_field_values(server, short_clip):
    body, content_type = encode_multipart([], [("file", "a.wav", short_clip)])
    junk = b"--amanuensis-test-boundary-7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\n\xff\xfe\x00\r\n"
    status, _, answer = post_bytes(server, junk + body, content_type)
    error_of(status, answer, 400, "unknown language")


# --- HTTP itself --------------------------------------------------------------------------------

def test_garbage_request_line(server):
    status, headers, answer = raw(server, b"GARBAGE\r\n\r\n")
    error_of(status, answer, 400, "could not be parsed")
    assert headers.get("connection") == "close"


def test_header_too_long(server):
    status, headers, answer = raw(server, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    error_of(status, answer, 400, "could not be parsed")
    assert headers.get("connection") == "close"


def test_unknown_route(server):
    status, _, answer = server.request("GET", "/v1/audio/nothing")
    error_of(status, answer, 404, "no route")


def test_get_on_upload_route(server):
    status, _, _ = server.request("GET", TRANSCRIPTIONS)
    assert status == 404


def test_many_garbage_connections(server):
    """Connections that send half a request and vanish must not tie the server up."""
    for i in range(50):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(os.urandom(100 + i) if i % 2 else b"POST /v1/audio/transcriptions HTTP/1.1\r\n")
    status, _, _ = server.request("GET", "/health", timeout=5)
    assert status == 200
