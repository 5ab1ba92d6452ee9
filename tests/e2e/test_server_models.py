"""Several models in one `amanuensis serve` (--models-dir, --default-model, --model-ttl).

The models folder holds links to models/tiny.en and models/base; tiny.en is the default. Each
request's `model` field chooses its model, so concurrent requests to both get their own model's
transcript, the CLI's for that model (same arithmetic: --threads 1, int8 on both sides). A model
unused for --model-ttl seconds is unloaded, which the server's resident memory shows, and the
next request loads it again. /v1/models lists the models with their state; POST
/v1/models/{id}/load and DELETE /v1/models/{id} load and unload one. A live session decodes with
the model its URL names and holds it while open. Batch jobs run on the model they were submitted
for, in the server's own workers and in a standalone `amanuensis worker` with several models.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from websockets.sync.client import connect

import amanuensis_cli
import realtime_client as rt
from manifest import by_id
from server_process import ServerProcess

TTL_SECONDS = 2
COMMON = ("--compute-type", "int8", "--threads", "1")
TRANSCRIPTIONS = "/v1/audio/transcriptions"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, model_dirs) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name in ("tiny.en", "base"):
        (folder / name).symlink_to(model_dirs[name].resolve(), target_is_directory=True)
    (folder / ".hidden").mkdir()  # skipped
    return folder


@pytest.fixture(scope="module")
def server(amanuensis, models_dir, vad_model_env):  # live sessions need the VAD
    with ServerProcess(amanuensis, None, "--models-dir", models_dir, "--default-model", "tiny.en",
                       "--model-ttl", str(TTL_SECONDS), "--workers", "4", *COMMON) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-checked", max_retries=0,
                         timeout=120)


@pytest.fixture(scope="module")
def clip(manifest) -> Path:
    # Long enough for tiny.en and base to disagree ("concern" / "concerned").
    return by_id(manifest, "LJ001-0001").path


@pytest.fixture(scope="module")
def expected(amanuensis, model_dirs, clip) -> dict[str, str]:
    """Each model's transcript of the clip from the CLI (the server's defaults: beam 5)."""
    texts = {}
    for name in ("tiny.en", "base"):
        run = amanuensis_cli.run(amanuensis, ["transcribe", "--model", model_dirs[name], *COMMON,
                                              "--output-format", "json", clip], timeout=120)
        assert run.returncode == 0, run.describe()
        texts[name] = json.loads(run.stdout)["text"].strip()
    assert texts["tiny.en"] != texts["base"], "the clip must tell the models apart"
    return texts


def transcribe(client, clip: Path, model: str) -> str:
    with open(clip, "rb") as f:
        return client.audio.transcriptions.create(model=model, file=f).text


def get_json(server, path: str, method: str = "GET") -> tuple[int, dict]:
    status, _, body = server.request(method, path)
    return status, json.loads(body)


def states(server) -> dict[str, str]:
    status, body = get_json(server, "/v1/models")
    assert status == 200, body
    return {m["id"]: m.get("state") for m in body["data"]}


def wait_for_state(server, model: str, state: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while states(server)[model] != state:
        assert time.monotonic() < deadline, f"{model} never became {state}: {states(server)}"
        time.sleep(0.1)


# --- choosing a model ---------------------------------------------------------------------------

def test_concurrent_requests_get_their_own_model(client, clip, expected):
    names = ["tiny.en", "base"] * 3
    with ThreadPoolExecutor(len(names)) as pool:
        texts = list(pool.map(lambda name: transcribe(client, clip, name), names))
    for name, text in zip(names, texts):
        assert text == expected[name], name


def test_openai_names_mean_the_default_model(client, server, clip, expected):
    for alias in ("whisper-1", "gpt-4o-transcribe"):
        assert transcribe(client, clip, alias) == expected["tiny.en"], alias
    status, _, body = server.post_form(TRANSCRIPTIONS, [], [("file", clip.name, clip.read_bytes())])
    assert status == 200, body
    assert json.loads(body)["text"] == expected["tiny.en"]


def test_unknown_model_is_openai_404(client, server, clip):
    status, _, body = server.post_form(TRANSCRIPTIONS, [("model", "large-v9")],
                                       [("file", clip.name, clip.read_bytes())])
    assert status == 404, body
    error = json.loads(body)["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error", "model", "model_not_found")
    assert "large-v9" in error["message"]
    with pytest.raises(openai.NotFoundError) as raised:
        transcribe(client, clip, "large-v9")
    assert raised.value.code == "model_not_found"
    for method, path in (("GET", "/v1/models/large-v9"), ("DELETE", "/v1/models/large-v9"),
                         ("POST", "/v1/models/large-v9/load")):
        status, body = get_json(server, path, method)
        assert (status, body["error"]["code"]) == (404, "model_not_found"), (method, path)


# --- listing, loading and unloading -------------------------------------------------------------

def test_models_are_listed_with_their_state(server):
    status, body = get_json(server, "/v1/models")
    assert status == 200
    by_name = {m["id"]: m for m in body["data"]}
    assert set(by_name) == {"whisper-1", "tiny.en", "base"}  # .hidden is no model
    assert by_name["whisper-1"]["alias_of"] == "tiny.en"
    assert by_name["tiny.en"]["default"] and not by_name["base"]["default"]
    for entry in by_name.values():
        assert entry["object"] == "model"
        assert entry["state"] in ("loaded", "loading", "unloaded")
    status, one = get_json(server, "/v1/models/base")
    assert status == 200 and one["id"] == "base" and one["state"] in ("loaded", "unloaded")


def test_load_and_unload_through_the_api(server):
    status, entry = get_json(server, "/v1/models/base/load", "POST")
    assert (status, entry["id"], entry["state"]) == (200, "base", "loaded")
    assert states(server)["base"] == "loaded"
    assert server.metrics()['amanuensis_model_loaded{model="base"}'] == 1
    status, entry = get_json(server, "/v1/models/base", "DELETE")
    assert (status, entry["id"], entry["state"]) == (200, "base", "unloaded")
    assert states(server)["base"] == "unloaded"
    assert server.metrics()['amanuensis_model_loaded{model="base"}'] == 0
    # The default model may be unloaded too; the next request loads it again.
    status, entry = get_json(server, "/v1/models/tiny.en", "DELETE")
    assert (status, entry["state"]) == (200, "unloaded")
    status, _ = get_json(server, "/health")
    assert status == 200


def test_ttl_unload_frees_memory_and_the_next_request_reloads(client, server, clip, expected):
    assert transcribe(client, clip, "base") == expected["base"]
    loaded_rss = server.rss_bytes()
    wait_for_state(server, "base", "unloaded", timeout=TTL_SECONDS + 10)
    time.sleep(0.2)  # the TTL thread trims freed memory right after it unloads
    unloaded_rss = server.rss_bytes()
    print(f"\nRSS after a base request: {loaded_rss / MiB:.0f} MiB; "
          f"after the TTL unloaded it: {unloaded_rss / MiB:.0f} MiB")
    assert loaded_rss - unloaded_rss > 60 * MiB, (loaded_rss, unloaded_rss)
    assert transcribe(client, clip, "base") == expected["base"]
    assert states(server)["base"] == "loaded"


def test_status_and_metrics_name_the_models(server):
    status, body = get_json(server, "/status")
    assert status == 200
    assert body["model"]["name"] == "tiny.en"
    assert {m["id"] for m in body["models"]} == {"tiny.en", "base"}
    samples = server.metrics()
    assert samples['amanuensis_model_requests_total{model="base"}'] >= 1
    assert samples['amanuensis_model_requests_total{model="tiny.en"}'] >= 1
    assert 'amanuensis_model_loaded{model="tiny.en"}' in samples
    assert samples['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",status="200"}'] >= 1


def test_realtime_session_decodes_with_the_model_its_url_names(server):
    url = f"ws://{server.host}:{server.port}/v1/realtime?intent=transcription&model=base"
    with connect(url, subprotocols=["realtime"], open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        _, base = get_json(server, "/v1/models/base")
        assert (base["state"], base["in_use"]) == ("loaded", 1)  # held while the session lives
        ws.send(json.dumps(rt.session_update(model="tiny.en")))
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error" and "'base'" in event["error"]["message"], event
        ws.send(json.dumps(rt.session_update(model="base")))
        assert json.loads(ws.recv(timeout=10))["type"] == "session.updated"
    deadline = time.monotonic() + 10
    while get_json(server, "/v1/models/base")[1]["in_use"] != 0:
        assert time.monotonic() < deadline, "the closed session still holds base"
        time.sleep(0.05)


# --- start-up errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "empty", "default"])
def test_bad_models_dir_is_a_clear_startup_error(amanuensis, tmp_path, models_dir, case):
    args = {"missing": ["--models-dir", tmp_path / "nothing"],
            "empty": ["--models-dir", tmp_path],
            "default": ["--models-dir", models_dir, "--default-model", "large"]}[case]
    run = subprocess.run([amanuensis, "serve", "--port", "0", *map(str, args)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    words = {"missing": "no such folder", "empty": "holds no model", "default": "'large'"}[case]
    assert words in run.stderr, run.stderr


# --- batch jobs carry their model ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(folder: Path):
    """A throwaway redis-server on a free loopback port; yields its URL."""
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                              "no", "--dir", str(folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        redis.terminate()
        redis.wait(timeout=10)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_jobs_run_on_the_model_they_name(amanuensis, models_dir, tmp_path, clip, expected):
    with redis_server(tmp_path) as url:
        with ServerProcess(amanuensis, None, "--models-dir", models_dir, "--default-model",
                           "tiny.en", "--redis", url, "--job-workers", "1", *COMMON) as server:
            jobs = submit_jobs(server, clip, ("base", "whisper-1"))
            results = {model: wait_for_job(server, job) for model, job in jobs.items()}
            assert results["base"]["model"] == "base"
            assert results["base"]["result"]["text"] == expected["base"]
            assert results["whisper-1"]["model"] == "tiny.en"  # resolved at submission
            assert results["whisper-1"]["result"]["text"] == expected["tiny.en"]
            status, _, body = server.post_form("/v1/jobs", [("model", "large-v9")],
                                               [("file", clip.name, clip.read_bytes())])
            assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found"


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_standalone_worker_runs_each_job_on_its_model(amanuensis, models_dir, tmp_path, clip,
                                                      expected):
    """`amanuensis worker` with two --model: the server takes the jobs (no workers of its own),
    the worker runs each on the model it was submitted for."""
    log = (tmp_path / "worker.log").open("w+")
    worker = None
    with redis_server(tmp_path) as url:
        try:
            with ServerProcess(amanuensis, None, "--models-dir", models_dir, "--default-model",
                               "tiny.en", "--redis", url, "--job-workers", "0", *COMMON) as server:
                worker = subprocess.Popen(
                    [str(amanuensis), "worker", "--model", str(models_dir / "tiny.en"), "--model",
                     str(models_dir / "base"), "--redis", url, *COMMON],
                    stdout=subprocess.DEVNULL, stderr=log)
                jobs = submit_jobs(server, clip, ("base", "whisper-1"))
                results = {model: wait_for_job(server, job) for model, job in jobs.items()}
                assert results["base"]["result"]["text"] == expected["base"]
                assert results["whisper-1"]["result"]["text"] == expected["tiny.en"]
                worker.terminate()
                assert worker.wait(timeout=30) == 0
                log.seek(0)
                assert "models tiny.en, base (default tiny.en)" in log.read()
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()


def test_worker_without_a_model_is_a_usage_error(amanuensis):
    run = amanuensis_cli.run(amanuensis, ["worker", "--redis", "redis://127.0.0.1:1"], timeout=30)
    assert run.returncode != 0
    assert "worker needs a model" in run.stderr, run.stderr


def submit_jobs(server, clip: Path, models: tuple[str, ...]) -> dict[str, str]:
    """Posts a job for `clip` per model name; returns each one's id."""
    jobs = {}
    for model in models:
        status, _, body = server.post_form("/v1/jobs", [("model", model)],
                                           [("file", clip.name, clip.read_bytes())])
        assert status == 202, body
        jobs[model] = json.loads(body)["id"]
    return jobs


def wait_for_job(server, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = get_json(server, f"/v1/jobs/{job_id}")
        assert status == 200, body
        if body["state"] in ("done", "failed"):
            assert body["state"] == "done", body
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
