#!/usr/bin/env python3
"""Load generator for `amanuensis serve`: throughput and latency at a given concurrency.

Two ways to run it (loopback only; every run is bounded in requests and in time):

  # against a running server
  bench/server_load.py --url http://127.0.0.1:8000 --requests 200 --concurrency 8 CLIP.wav...

  # start a server, measure at several concurrencies, stop it: the closing-note table
  bench/server_load.py --binary build/release/amanuensis --model models/tiny.en \
      --workers 2 --concurrency 1 2 8 --requests 40 CLIP.wav...

Each request POSTs one clip (round-robin) to /v1/audio/transcriptions (response_format=json) over
a keep-alive connection per client thread. A 429 is counted as "rejected" (the server's
deliberate answer to a full queue), anything else that is not a 200 as "failed". Throughput is
audio hours transcribed per wall-clock hour. Standard library only.

--json prints one JSON object per concurrency level instead of the table (the test suite reads it).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

MAX_REQUESTS = 5000
LISTENING = re.compile(r"listening on http://([^:\s]+):(\d+)")


@dataclass
class Clip:
    path: Path
    seconds: float
    body: bytes = b""
    content_type: str = ""


@dataclass
class Result:
    concurrency: int
    requests: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    audio_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        pct = (lambda p: lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))] if lat else None)
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "rejected_429": self.rejected,
            "failed": self.failed,
            "wall_seconds": round(self.wall_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
            "audio_hours_per_hour": round(self.audio_seconds / self.wall_seconds, 2)
            if self.wall_seconds > 0 else 0.0,
            "requests_per_second": round(self.ok / self.wall_seconds, 3) if self.wall_seconds else 0.0,
            "latency_p50": round(statistics.median(lat), 3) if lat else None,
            "latency_p95": round(pct(0.95), 3) if lat else None,
            "latency_max": round(lat[-1], 3) if lat else None,
            "errors": self.errors[:5],
        }


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def encode(clip: Path, fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{clip.name}\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    out += clip.read_bytes() + b"\r\n" + f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def run_load(host: str, port: int, clips: list[Clip], requests: int, concurrency: int,
             timeout: float, max_seconds: float, api_key: str | None) -> Result:
    result = Result(concurrency)
    lock = threading.Lock()
    next_index = [0]
    started = time.monotonic()
    stop_at = started + max_seconds

    def take() -> int | None:
        with lock:
            if next_index[0] >= requests or time.monotonic() > stop_at:
                return None
            next_index[0] += 1
            return next_index[0] - 1

    def client() -> None:
        conn: http.client.HTTPConnection | None = None
        while (index := take()) is not None:
            clip = clips[index % len(clips)]
            headers = {"Content-Type": clip.content_type}
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request("POST", "/v1/audio/transcriptions", body=clip.body, headers=headers)
                response = conn.getresponse()
                body = response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, body = -1, repr(e).encode()
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - t0
            with lock:
                result.requests += 1
                if status == 200:
                    result.ok += 1
                    result.audio_seconds += clip.seconds
                    result.latencies.append(elapsed)
                elif status == 429:
                    result.rejected += 1
                else:
                    result.failed += 1
                    result.errors.append(f"{status}: {body[:200]!r}")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max_seconds + timeout + 10)
    result.wall_seconds = time.monotonic() - started
    return result


class Server:
    """A server this script starts (--binary): port 0, wait for /health, SIGTERM at the end."""

    def __init__(self, binary: str, model: str, extra: list[str]):
        self.log = tempfile.NamedTemporaryFile(prefix="server-load-", suffix=".log")
        self.proc = subprocess.Popen(
            [binary, "serve", "--model", model, "--host", "127.0.0.1", "--port", "0",
             "--no-access-log", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        self.port = 0
        while not self.port:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start:\n" + Path(self.log.name).read_text())
            match = LISTENING.search(Path(self.log.name).read_text())
            if match:
                self.port = int(match.group(2))
            time.sleep(0.02)
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server never became ready")
            time.sleep(0.05)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path, help="WAV clips, sent round-robin")
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--binary", help="start this amanuensis binary instead")
    parser.add_argument("--model", help="model folder for --binary")
    parser.add_argument("--workers", type=int, default=2, help="--workers for --binary")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra argument for the started server (repeatable)")
    parser.add_argument("--requests", type=int, default=40, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--warmup", type=int, default=2, help="requests before measuring")
    parser.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                        help="extra form field for every request (e.g. beam_size=1)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per request")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="stop issuing requests after this long, per level")
    parser.add_argument("--api-key")
    parser.add_argument("--json", action="store_true", help="one JSON object per level")
    args = parser.parse_args()

    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}")
    if bool(args.url) == bool(args.binary):
        parser.error("give --url or --binary (with --model)")
    fields = [tuple(f.split("=", 1)) for f in args.field]
    clips = []
    for path in args.clips:
        clip = Clip(path, wav_seconds(path))
        clip.body, clip.content_type = encode(path, fields)
        clips.append(clip)

    server = None
    if args.binary:
        if not args.model:
            parser.error("--binary needs --model")
        server = Server(args.binary, args.model, ["--workers", str(args.workers), *args.server_arg])
        host, port = "127.0.0.1", server.port
    else:
        parsed = urlparse(args.url)
        host, port = parsed.hostname or "", parsed.port or 80
        if not is_loopback(host):
            parser.error("this load generator only targets loopback addresses")

    try:
        if args.warmup:
            run_load(host, port, clips, args.warmup, 1, args.timeout, args.max_seconds, args.api_key)
        rows = []
        for concurrency in args.concurrency:
            summary = run_load(host, port, clips, args.requests, concurrency, args.timeout,
                               args.max_seconds, args.api_key).summary()
            if server:
                summary["server_rss_mb"] = round(server.rss_mb(), 1)
            rows.append(summary)
            if args.json:
                print(json.dumps(summary), flush=True)
    finally:
        if server:
            server.stop()

    if not args.json:
        audio = sum(c.seconds for c in clips) / len(clips)
        print(f"{len(clips)} clips, mean {audio:.2f} s of audio; {args.requests} requests per level;"
              f" host CPU: {socket.gethostname()}")
        print("| concurrency | ok | 429 | failed | audio h / h | req/s | p50 s | p95 s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['concurrency']} | {r['ok']} | {r['rejected_429']} | {r['failed']} | "
                  f"{r['audio_hours_per_hour']} | {r['requests_per_second']} | "
                  f"{r['latency_p50']} | {r['latency_p95']} |")
    return 0 if all(r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
