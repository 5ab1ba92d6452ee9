"""Compute backends end to end: `amanuensis devices`, the OpenCL backend's transcripts against the
CPU's, and falling back when a backend fails at initialisation or in the middle of a request
(forced with AMANUENSIS_FAIL_BACKEND), seen in the transcript, on standard error, in `devices`
and in the server's /status.

OpenCL runs here on PoCL, the CPU OpenCL driver (pocl-opencl-icd, installed by scripts/setup.sh):
slow, so these tests use tiny.en, greedy decoding and short clips.
"""

from __future__ import annotations

import json
import os

import pytest

import amanuensis_cli
from manifest import by_id
from server_process import ServerProcess

BACKENDS_IN_AUTO_ORDER = ["npu", "cuda", "opencl", "cpu"]
# Short dev clips (about 25 s of speech together), so that PoCL keeps the test near a minute.
OPENCL_CLIPS = ["jfk", "ps-cards-001", "ps-cards-002", "ps-cards-003", "sr-english"]


def run(binary, args, env_extra=None, timeout=600):
    """amanuensis_cli.run with extra environment variables (the CLI helper takes none)."""
    saved = {k: os.environ.get(k) for k in (env_extra or {})}
    saved.setdefault("AMANUENSIS_DEVICE", os.environ.get("AMANUENSIS_DEVICE"))
    os.environ.pop("AMANUENSIS_DEVICE", None)
    os.environ.update(env_extra or {})
    try:
        return amanuensis_cli.run(binary, args, timeout=timeout)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def devices(binary, *args, env_extra=None) -> dict:
    result = run(binary, ["devices", "--json", *args], env_extra)
    assert result.returncode == 0, result.describe()
    return json.loads(result.stdout)


def by_name(listing: dict) -> dict:
    return {b["name"]: b for b in listing["backends"]}


def transcribe(binary, model, files, device, env_extra=None, extra=()):
    args = amanuensis_cli.transcribe_args(model, files, "json", threads=2,
                                          extra=["--device", device, *extra])
    result = run(binary, args, env_extra)
    assert result.returncode == 0, result.describe()
    return amanuensis_cli.parse_json_lines(result.stdout, files), result


@pytest.fixture(scope="module")
def opencl_clips(manifest):
    return [by_id(manifest, cid).path for cid in OPENCL_CLIPS]


@pytest.fixture(scope="module")
def opencl_present(amanuensis):
    opencl = by_name(devices(amanuensis))["opencl"]
    if not opencl["available"]:
        pytest.fail("the OpenCL backend is unavailable here: " + opencl["reason"] +
                    " (scripts/setup.sh installs pocl-opencl-icd and libclblast-dev)", pytrace=False)
    return opencl


@pytest.fixture(scope="module")
def cpu_results(amanuensis, tiny_model, opencl_clips):
    return transcribe(amanuensis, tiny_model, opencl_clips, "cpu")[0]


def test_devices_lists_every_backend_with_reasons(amanuensis):
    listing = devices(amanuensis)
    assert [b["name"] for b in listing["backends"]] == BACKENDS_IN_AUTO_ORDER
    chosen = [b["name"] for b in listing["backends"] if b["selected"]]
    assert chosen == [listing["selected"]]
    for backend in listing["backends"]:
        assert backend["reason"], backend
        if backend["selected"]:
            assert backend["available"]
    cpu = by_name(listing)["cpu"]
    assert cpu["available"]
    for key in ("name", "memory", "compute_units", "kernels", "cpu_paths", "int8_gemm", "float_gemm",
                "vector_ops", "attention"):
        assert cpu["details"].get(key), cpu

    text = run(amanuensis, ["devices"])
    assert text.returncode == 0, text.describe()
    assert f"selects: {listing['selected']}" in text.stdout
    for name in BACKENDS_IN_AUTO_ORDER:
        assert f" {name} " in text.stdout


def test_forced_cpu_path_is_named_and_a_path_the_cpu_lacks_is_an_error(amanuensis):
    """AMANUENSIS_CPU_ISA forces the int8 path (and caps Highway); a name the CPU cannot run, or
    that no build has, says so on stderr and the best path is used."""
    cpu = by_name(devices(amanuensis, env_extra={"AMANUENSIS_CPU_ISA": "generic"}))["cpu"]
    assert cpu["details"]["int8_gemm"] == "generic", cpu
    paths = cpu["details"]["cpu_paths"].split(", ")
    if "avx2" in paths:
        cpu = by_name(devices(amanuensis, env_extra={"AMANUENSIS_CPU_ISA": "avx2"}))["cpu"]
        assert cpu["details"]["int8_gemm"] == "avx2", cpu
        assert cpu["details"]["vector_ops"] == "Highway AVX2", cpu
        assert cpu["details"]["encoder_attention"] == "int16 vpmaddwd", cpu
    result = run(amanuensis, ["devices", "--json"], {"AMANUENSIS_CPU_ISA": "avx9000"})
    assert result.returncode == 0, result.describe()
    assert "error: AMANUENSIS_CPU_ISA=avx9000" in result.stderr
    assert by_name(json.loads(result.stdout))["cpu"]["details"]["int8_gemm"] == paths[-1]


def test_devices_shows_opencl_details_and_why_auto_passes_over_a_cpu_device(amanuensis, opencl_present):
    details = opencl_present["details"]
    for key in ("name", "type", "platform", "memory", "compute_units", "driver", "self_test"):
        assert details.get(key), opencl_present
    if details["type"] == "cpu":
        assert "auto passes over it" in opencl_present["reason"]
    listing = devices(amanuensis, "--device", "opencl")
    assert listing["selected"] == "opencl"


def test_unknown_device_is_an_error(amanuensis, tiny_model, jfk):
    result = run(amanuensis, amanuensis_cli.transcribe_args(tiny_model, [jfk], extra=["--device", "tpu"]))
    assert result.returncode == 1
    assert "unknown device 'tpu'" in result.stderr


def test_device_index_names_a_device_of_the_backend(amanuensis, tiny_model, jfk, cpu_results,
                                                    opencl_present):
    """--device-index (faster-whisper's device_index): an index the backend lacks is that
    backend failing (the CPU takes over and says why); the cpu backend has device 0 only."""
    result = run(amanuensis, amanuensis_cli.transcribe_args(
        tiny_model, [jfk], extra=["--device", "cpu", "--device-index", "1"]))
    assert result.returncode == 1
    assert "device_index 1: the cpu backend has one device, index 0" in result.stderr
    results, cli = transcribe(amanuensis, tiny_model, [jfk], "opencl", extra=["--device-index", "7"])
    assert results[0]["text"] == cpu_results[0]["text"]
    assert "no OpenCL device 7 (device_index counts from 0; there is" in cli.stderr
    assert "computing on cpu instead of the requested opencl" in cli.stderr


def test_opencl_transcripts_equal_the_cpus(amanuensis, tiny_model, opencl_clips, cpu_results, opencl_present):
    results, cli = transcribe(amanuensis, tiny_model, opencl_clips, "opencl")
    assert "computing on opencl" in cli.stderr
    for got, want in zip(results, cpu_results):
        assert got["text"] == want["text"], got["file"]
        assert [(s["start"], s["end"], s["text"]) for s in got["segments"]] == \
               [(s["start"], s["end"], s["text"]) for s in want["segments"]], got["file"]


def test_init_failure_falls_back_to_the_cpu(amanuensis, tiny_model, jfk, cpu_results, opencl_present):
    env = {"AMANUENSIS_FAIL_BACKEND": "opencl:init"}
    results, cli = transcribe(amanuensis, tiny_model, [jfk], "opencl", env)
    assert results[0]["text"] == cpu_results[0]["text"]
    assert "backend opencl not used: forced failure at init (AMANUENSIS_FAIL_BACKEND=opencl:init)" in cli.stderr
    assert "computing on cpu instead of the requested opencl" in cli.stderr

    listing = devices(amanuensis, "--device", "opencl", env_extra=env)
    opencl = by_name(listing)["opencl"]
    assert not opencl["available"] and not opencl["selected"]
    assert "forced failure at init" in opencl["reason"]
    assert listing["selected"] == "cpu"
    assert "fallback" in by_name(listing)["cpu"]["reason"]


def test_failure_mid_request_reruns_it_on_the_cpu(amanuensis, tiny_model, jfk, cpu_results, opencl_present):
    # Call 200 is well into the decoder of the first window.
    results, cli = transcribe(amanuensis, tiny_model, [jfk], "opencl", {"AMANUENSIS_FAIL_BACKEND": "opencl:run:200"})
    assert results[0]["text"] == cpu_results[0]["text"]
    assert [s["text"] for s in results[0]["segments"]] == [s["text"] for s in cpu_results[0]["segments"]]
    assert "backend opencl failed during a request: forced failure at run" in cli.stderr
    assert "running the request again on cpu" in cli.stderr


def test_status_reports_the_backend_and_run_time_failures(amanuensis, tiny_model, jfk, opencl_present):
    env = {"AMANUENSIS_FAIL_BACKEND": "opencl:run:200"}
    with ServerProcess(amanuensis, tiny_model, "--workers", "1", "--threads", "2", "--device", "opencl",
                       env=env) as server:
        status, before = server.json_request("GET", "/status")
        assert status == 200
        backend = before["backend"]
        assert backend["mode"] == "opencl"
        chain = {b["backend"]: b for b in backend["fallback_chain"]}
        assert [b["backend"] for b in backend["fallback_chain"]] == BACKENDS_IN_AUTO_ORDER
        assert chain["opencl"]["chosen"] and chain["opencl"]["details"]["run_failures"] == "0"

        code, _, body = server.post_form("/transcribe", [("beam_size", "1"), ("temperature", "0")],
                                         [("file", "jfk.wav", jfk.read_bytes())])
        assert code == 200, body
        assert "fellow Americans" in json.loads(body)["text"]

        after = {b["backend"]: b for b in server.json_request("GET", "/status")[1]["backend"]["fallback_chain"]}
        details = after["opencl"]["details"]
        assert details["run_failures"] == "1"
        assert details["requests_retried_on_cpu"] == "1"
        assert "AMANUENSIS_FAIL_BACKEND=opencl:run" in details["last_failure"]
        assert "backend opencl failed during a request" in server.log()


def bench_json(binary, model, audio, device):
    result = run(binary, ["bench", "--model", str(model), "--device", device, "--json",
                          "--beam-size", "5", "--language", "en", "--threads", "2", str(audio)])
    assert result.returncode == 0, result.describe()
    return json.loads(result.stdout.strip().splitlines()[-1])


TINY_VOCABULARY = 51864  # tiny.en's logits per row, float32


def test_bench_reports_device_traffic_per_decoder_step(amanuensis, tiny_model, jfk,
                                                       opencl_present):
    """`bench --json` on a device backend reports its bus traffic and waits per decoder step
    (issue 18's counters); on the CPU there is no device block."""
    on_device = bench_json(amanuensis, tiny_model, jfk, "opencl")
    traffic, steps = on_device["device"], on_device["decoder_calls"]
    assert steps > 0
    # Every step brings back at least one row of logits, and waits for it.
    assert traffic["device_to_host_bytes_per_decoder_step"] >= TINY_VOCABULARY * 4
    assert traffic["syncs_per_decoder_step"] >= 1
    assert traffic["host_to_device_bytes_per_decoder_step"] > 0
    assert traffic["decoder_syncs"] == pytest.approx(traffic["syncs_per_decoder_step"] * steps)
    print(f"\nopencl, tiny.en, beam 5, jfk: {traffic['syncs_per_decoder_step']:.1f} syncs, "
          f"{traffic['host_to_device_bytes_per_decoder_step'] / 1024:.0f} KiB up, "
          f"{traffic['device_to_host_bytes_per_decoder_step'] / 1024:.0f} KiB down per step")
    assert "device" not in bench_json(amanuensis, tiny_model, jfk, "cpu")


def test_a_decoder_step_syncs_once_and_moves_little(amanuensis, model_dirs, jfk, opencl_present):
    """Issue 18's bounds on PoCL with base and beam 5: at most 2 synchronisations, 64 KiB up and
    1.1 MiB down per decoder step. A step's activations stay on the device, its new cache rows are
    appended there, and only the logits come back; the transcript is still the CPU's."""
    on_device = bench_json(amanuensis, model_dirs["base"], jfk, "opencl")
    traffic = on_device["device"]
    print(f"\nopencl, base, beam 5, jfk: {traffic['syncs_per_decoder_step']:.2f} syncs, "
          f"{traffic['host_to_device_bytes_per_decoder_step'] / 1024:.1f} KiB up, "
          f"{traffic['device_to_host_bytes_per_decoder_step'] / 1024:.0f} KiB down per step")
    assert traffic["syncs_per_decoder_step"] <= 2
    assert traffic["host_to_device_bytes_per_decoder_step"] <= 64 * 1024
    assert traffic["device_to_host_bytes_per_decoder_step"] <= 1.1 * 2**20
    on_cpu = bench_json(amanuensis, model_dirs["base"], jfk, "cpu")
    assert [f["text"] for f in on_device["files"]] == [f["text"] for f in on_cpu["files"]]
