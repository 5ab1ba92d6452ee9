"""Runs the real `amanuensis serve` binary on a free loopback port, for the server tests.

    with ServerProcess(binary, model_dir, "--workers", "2") as server:
        requests go to server.url ...

The server is started with --port 0 (the kernel picks a free port, so parallel runs never
collide) and its "listening on" log line says which; then /health is polled until the model is
loaded. stop() (also on leaving the `with`) sends SIGTERM, waits, and kills as a last resort, so a
failing test never leaves a server behind. The server's standard error goes to a log file whose
tail is shown when it fails to start.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

LISTENING = re.compile(r"listening on http://([^:\s]+):(\d+)")


class ServerError(RuntimeError):
    pass


class ServerProcess:
    def __init__(self, binary: Path, model: Path | None, *args: str | Path,
                 env: dict[str, str] | None = None):
        """`model` None: `args` name the models (--models-dir DIR, --model DIR ...)."""
        self.binary = Path(binary)
        self.argv = [str(self.binary), "serve", *(["--model", str(model)] if model else []),
                     "--host", "127.0.0.1", "--port", "0", *[str(a) for a in args]]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._log = tempfile.NamedTemporaryFile(prefix="amanuensis-serve-", suffix=".log",
                                                delete=False)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        env = dict(os.environ)
        env.pop("AMANUENSIS_API_KEY", None)  # only what the test passes
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        deadline = time.monotonic() + timeout
        while not self.port:
            self._check_alive()
            match = LISTENING.search(self.log())
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
            elif time.monotonic() > deadline:
                self._fail("did not report its port")
            else:
                time.sleep(0.02)
        while True:
            self._check_alive()
            try:
                status, _, _ = self.request("GET", "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._fail("/health never answered 200")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    # --- inspection -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ServerError("VmRSS missing from /proc status")

    def metrics(self) -> dict[str, float]:
        """GET /metrics as {"name{labels}": value}."""
        status, _, body = self.request("GET", "/metrics")
        if status != 200:
            raise ServerError(f"/metrics answered {status}")
        samples = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    # --- requests -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def post_form(self, path: str, fields: Sequence[tuple[str, str]] = (),
                  files: Sequence[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None,
                  timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
        body, content_type = encode_multipart(fields, files)
        return self.request("POST", path, body, {"Content-Type": content_type, **(headers or {})},
                            timeout)

    def json_request(self, *args, **kwargs) -> tuple[int, dict]:
        status, _, body = self.request(*args, **kwargs)
        return status, json.loads(body)

    # --- internals ------------------------------------------------------------------------------

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            self._fail(f"exited with code {self.proc.returncode}")

    def _fail(self, what: str) -> None:
        self.stop(timeout=5)
        tail = "\n".join(self.log().splitlines()[-30:])
        raise ServerError(f"{' '.join(self.argv)}: {what}\n--- server log (tail) ---\n{tail}")


def encode_multipart(fields: Sequence[tuple[str, str]] = (),
                     files: Sequence[tuple[str, str, bytes]] = (),
                     boundary: str = "amanuensis-test-boundary-7MA4YWxkTrZu0gW") -> tuple[bytes, str]:
    """multipart/form-data body and its Content-Type; files are (field, filename, bytes)."""
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
