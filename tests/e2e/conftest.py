"""End-to-end suite: the real `amanuensis` binary on real speech, against faster-whisper.

Run by ctest from the repo root as
    .venv/bin/python -m pytest -q tests/e2e --amanuensis=PATH --log-mel-tool=PATH
Nothing is skipped: a missing binary, model folder or audio file fails the tests that need it.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest

import manifest as manifest_mod
import report

REPO_ROOT = manifest_mod.REPO_ROOT
MODEL_NAMES = manifest_mod.MODEL_NAMES


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: opt-in, left out of CI for time (ctest label slow: the e2e_slow test, "
        "which scripts/test.sh runs with AMANUENSIS_TEST_SLOW=1)")


def pytest_addoption(parser):
    group = parser.getgroup("amanuensis")
    group.addoption("--amanuensis", metavar="PATH",
                    help="the amanuensis CLI binary (default: build/release/amanuensis)")
    group.addoption("--log-mel-tool", metavar="PATH",
                    help="the log_mel_tool binary (default: build/release/tests/log_mel_tool)")


def _binary(config, option: str, default: Path) -> Path:
    value = config.getoption(option)
    path = Path(value) if value else default
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and path.stat().st_mode & 0o111):
        pytest.fail(f"{option.replace('_', '-')}: executable not found at {path} "
                    "(build it: scripts/setup.sh)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def amanuensis(pytestconfig) -> Path:
    return _binary(pytestconfig, "amanuensis", REPO_ROOT / "build/release/amanuensis")


@pytest.fixture(scope="session")
def log_mel_tool(pytestconfig) -> Path:
    return _binary(pytestconfig, "log_mel_tool", REPO_ROOT / "build/release/tests/log_mel_tool")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    d = manifest_mod.SHARED_AUDIO
    if not d.is_dir():
        pytest.fail(f"shared audio folder not found: {d}", pytrace=False)
    return d


@pytest.fixture(scope="session")
def manifest(audio_dir) -> list[manifest_mod.Clip]:
    clips = manifest_mod.load_manifest(audio_dir)
    missing = [str(c.path) for c in clips if not c.path.is_file()]
    if missing:
        pytest.fail(f"audio files listed in manifest.tsv are missing: {missing}", pytrace=False)
    return clips


@pytest.fixture(scope="session")
def dev_clips(manifest) -> list[manifest_mod.Clip]:
    return manifest_mod.dev_subset(manifest)


@pytest.fixture(scope="session")
def jfk(manifest) -> Path:
    return manifest_mod.by_id(manifest, "jfk").path


def _model_dir(name: str) -> Path:
    d = REPO_ROOT / "models" / name
    for f in ("model.bin", "config.json"):
        if not (d / f).is_file():
            pytest.fail(f"model folder {d} is incomplete ({f} missing): run scripts/setup.sh",
                        pytrace=False)
    return d


@pytest.fixture(scope="session")
def model_dirs() -> dict[str, Path]:
    return {name: _model_dir(name) for name in MODEL_NAMES}


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return _model_dir("tiny.en")


VAD_MODEL_VARIABLE = "AMANUENSIS_VAD_MODEL"


@pytest.fixture(scope="session")
def vad_model_env(amanuensis, jfk):
    """The VAD model for the binaries that tests start: the one built in, or, in a build made
    without models/silero_vad_v6.onnx, faster-whisper's own copy (the same file) through
    $AMANUENSIS_VAD_MODEL, with a warning. An $AMANUENSIS_VAD_MODEL already set is kept."""
    if os.environ.get(VAD_MODEL_VARIABLE):
        yield
        return
    probe = subprocess.run([str(amanuensis), "vad", str(jfk)], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
    if probe.returncode == 0:
        yield
        return
    import faster_whisper.utils

    path = Path(faster_whisper.utils.get_assets_path()) / "silero_vad_v6.onnx"
    warnings.warn(f"{amanuensis} has no VAD model built in ({probe.stderr.strip()}); "
                  f"using {path} through ${VAD_MODEL_VARIABLE}")
    os.environ[VAD_MODEL_VARIABLE] = str(path)
    yield
    os.environ.pop(VAD_MODEL_VARIABLE, None)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    d = REPO_ROOT / "build" / "e2e-cache"
    d.mkdir(parents=True, exist_ok=True)
    return d


def pytest_terminal_summary(terminalreporter):
    if report.SUMMARY_LINES:
        terminalreporter.section("amanuensis vs faster-whisper")
        for line in report.SUMMARY_LINES:
            terminalreporter.write_line(line)
