"""Batch jobs on Redis behind nginx: three `amanuensis serve` instances with in-process workers.

Redis and nginx are started here, on loopback ports, from the repo's deploy/ configuration. 100
jobs of dev clips are submitted through nginx; one instance is killed with SIGKILL while it holds
a job and Redis is restarted (append-only file, fsync always) mid-run. Every job must end done,
exactly once, with the transcript the CLI gives for the same clip and options.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import amanuensis_cli

REPO = Path(__file__).resolve().parents[2]
CLIPS = ["ps-cards-001", "ps-cards-003", "sr-english", "LJ002-0020", "LJ002-0035", "ps-goforward",
         "timit-LDC93S1", "LJ001-0008"]
JOB_COUNT = 100
OPTIONS = {"beam_size": "1", "temperature": "0", "response_format": "json"}
DEADLINE_SECONDS = 300
# int8 on the instances and in the single-process reference alike: what is tested is that jobs
# survive, each completed once with the transcript one process gives, not the float32 weights.
COMPUTE_TYPE = ("--compute-type", "int8")

pytestmark = pytest.mark.skipif(not (shutil.which("redis-server") and shutil.which("nginx")),
                                reason="redis-server and nginx are installed by scripts/setup.sh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


class Redis:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", str(REPO / "deploy" / "redis.conf"), "--port", str(self.port),
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", 10, "redis")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return result.stdout.strip()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


class Instance:
    def __init__(self, amanuensis: Path, model: Path, redis: Redis, log: Path):
        self.port = free_port()
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [str(amanuensis), "serve", "--model", str(model), "--port", str(self.port),
             "--workers", "1", "--threads", "1", "--redis", redis.url, "--job-workers", "1",
             "--visibility-timeout", "4", "--no-access-log", *COMPUTE_TYPE],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"instance on port {self.port} exited: see {self.log.name}")
        return http("GET", f"http://127.0.0.1:{self.port}/health", timeout=2)[0] == 200

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class Nginx:
    def __init__(self, instances: list[Instance], workdir: Path):
        self.port = free_port()
        # nginx's workers run as an unprivileged user when started as root: its prefix (temp files
        # for request bodies) must be reachable by them, which pytest's private tmp_path is not.
        self.dir = Path(tempfile.mkdtemp(prefix="amanuensis-nginx-"))
        self.dir.chmod(0o777)
        config = (REPO / "deploy" / "nginx.conf").read_text()
        servers = "".join(f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=5s;\n" for i in instances)
        config = re.sub(r"(    server 127\.0\.0\.1:800\d[^\n]*\n)+", servers, config)
        config = config.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{self.port};")
        (self.dir / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: http("GET", f"{self.url}/health", timeout=2)[0] == 200, 20, "nginx")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster(amanuensis, tiny_model, tmp_path):
    redis = Redis(tmp_path)
    instances = [Instance(amanuensis, tiny_model, redis, tmp_path / f"instance{i}.log") for i in range(3)]
    nginx = None
    try:
        wait_until(lambda: all(i.healthy() for i in instances), 60, "three healthy instances")
        nginx = Nginx(instances, tmp_path)
        yield redis, instances, nginx
    finally:
        if nginx:
            nginx.stop()
        for i in instances:
            i.stop()
        redis.process.kill()


def test_jobs_survive_a_killed_instance_and_a_redis_restart(cluster, amanuensis, tiny_model, manifest):
    redis, instances, nginx = cluster
    clips = {c.id: c.path for c in manifest if c.id in CLIPS}

    # The single-process transcript of every clip, with the jobs' options.
    paths = [clips[c] for c in CLIPS]
    cli = amanuensis_cli.run(amanuensis, ["transcribe", "--model", tiny_model, "--language", "en",
                                          "--beam-size", "1", "--temperature", "0", *COMPUTE_TYPE,
                                          "--output-format", "json", *paths])
    assert cli.returncode == 0, cli.describe()
    expected = {c: r["text"] for c, r in zip(CLIPS, amanuensis_cli.parse_json_lines(cli.stdout, paths))}

    jobs: dict[str, str] = {}  # job id -> clip
    for n in range(JOB_COUNT):
        clip = CLIPS[n % len(CLIPS)]
        body, content_type = multipart(OPTIONS, clips[clip].name, clips[clip].read_bytes())
        status, answer = http("POST", f"{nginx.url}/v1/jobs", body, {"Content-Type": content_type})
        assert status == 202, answer[:300]
        job = json.loads(answer)
        assert job["state"] == "queued"
        jobs[job["id"]] = clip

    def states() -> dict[str, str]:
        out = {}
        for job_id in jobs:
            status, answer = http("GET", f"{nginx.url}/v1/jobs/{job_id}")
            out[job_id] = json.loads(answer)["state"] if status == 200 else f"http {status}"
        return out

    # Kill an instance while its worker holds a job (a pending stream entry is its claim).
    victim = instances[0]
    consumer_prefix = f"-{victim.process.pid}-"

    def victim_holds_a_job() -> bool:
        pending = redis.cli("XPENDING", "amanuensis:stream", "workers", "-", "+", "100")
        return consumer_prefix in pending

    wait_until(victim_holds_a_job, 60, "the first instance to hold a job", interval=0.02)
    victim.stop(signal.SIGKILL)

    # Restart Redis mid-run: the append-only file brings back every job and claim.
    wait_until(lambda: sum(s == "done" for s in states().values()) >= JOB_COUNT // 3, DEADLINE_SECONDS,
               "a third of the jobs to finish")
    redis.stop()
    time.sleep(1.0)
    redis.start()

    final = wait_until(lambda: (s := states()) and all(v in ("done", "failed") for v in s.values()) and s,
                       DEADLINE_SECONDS, "every job to end", interval=1.0)
    not_done = {j: s for j, s in final.items() if s != "done"}
    assert not not_done, f"jobs not done: {not_done}"

    for job_id, clip in jobs.items():
        status, answer = http("GET", f"{nginx.url}/v1/jobs/{job_id}")
        result = json.loads(answer)
        assert result["result"]["text"].strip() == expected[clip].strip(), (job_id, clip)
        completions = redis.cli("HGET", f"amanuensis:job:{job_id}", "completions")
        assert completions == "1", f"{job_id} completed {completions} times"
    reclaimed = [j for j in jobs if int(redis.cli("HGET", f"amanuensis:job:{j}", "attempts") or 0) > 1]
    assert reclaimed, "no job was taken over from the killed instance"


def test_job_api_errors_and_cancel(cluster, manifest, tmp_path):
    redis, instances, nginx = cluster
    # The synchronous API works through nginx unchanged.
    clip = next(c for c in manifest if c.id == "sr-english")
    body, content_type = multipart({"model": "whisper-1", "response_format": "text"}, clip.path.name,
                                   clip.path.read_bytes())
    status, answer = http("POST", f"{nginx.url}/v1/audio/transcriptions", body, {"Content-Type": content_type})
    assert status == 200 and "three" in answer.decode().lower(), answer[:300]

    status, answer = http("GET", f"{nginx.url}/v1/jobs/job_doesnotexist")
    assert status == 404 and json.loads(answer)["error"]["message"]
    body, content_type = multipart({"path": "/etc/passwd"}, "", b"")
    body = body.replace(b'; filename=""', b"")  # a plain field, no upload
    status, answer = http("POST", f"{nginx.url}/v1/jobs", body, {"Content-Type": content_type})
    assert status in (400, 403), answer[:300]
    clip = next(c.path for c in manifest if c.id == "lj_longform_dev")
    body, content_type = multipart({"beam_size": "5"}, clip.name, clip.read_bytes())
    status, answer = http("POST", f"{nginx.url}/v1/jobs", body, {"Content-Type": content_type})
    job_id = json.loads(answer)["id"]
    status, answer = http("DELETE", f"{nginx.url}/v1/jobs/{job_id}")
    assert status == 200 and json.loads(answer)["state"] == "cancelled"
    status, answer = http("GET", f"{nginx.url}/v1/jobs/{job_id}")
    assert json.loads(answer)["state"] == "cancelled"
