"""The command line: usage errors, output formats, --output-dir, error reporting and `bench`.

Usage errors: usage text on stderr, exit code 2, nothing on stdout.
Other errors: "error: <message>" on stderr naming the problem, exit code 1, nothing on stdout.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import struct
from pathlib import Path

import pytest

import amanuensis_cli
import manifest as manifest_mod
from amanuensis_cli import CliRun
from wer import normalise, wer

JFK_WORDS = "ask not what your country can do for you ask what you can do for your country"


def cli(amanuensis, *args) -> CliRun:
    return amanuensis_cli.run(amanuensis, args, timeout=300)


def transcribe(amanuensis, model, fmt, *files, extra=()) -> CliRun:
    return cli(amanuensis, *amanuensis_cli.transcribe_args(model, files, fmt, "en", 2, extra))


@pytest.fixture(scope="module")
def jfk_json(amanuensis, tiny_model, jfk) -> dict:
    (result,), _ = amanuensis_cli.transcribe_json(amanuensis, tiny_model, [jfk])
    return result


# --- usage errors -------------------------------------------------------------------------------

def assert_usage_error(run: CliRun) -> None:
    assert run.returncode == 2, f"expected exit code 2 (usage error)\n{run.describe()}"
    assert run.stdout == "", f"usage error printed on stdout: {run.stdout[:500]!r}"
    assert "usage" in run.stderr.lower(), f"no usage text on stderr\n{run.describe()}"


def test_no_arguments(amanuensis):
    assert_usage_error(cli(amanuensis))


def test_unknown_option(amanuensis):
    assert_usage_error(cli(amanuensis, "--bogus"))


def test_unknown_transcribe_option(amanuensis, tiny_model, jfk):
    assert_usage_error(cli(amanuensis, "transcribe", "--model", tiny_model, "--bogus", jfk))


def test_transcribe_without_model(amanuensis, jfk):
    assert_usage_error(cli(amanuensis, "transcribe", jfk))


def test_transcribe_without_files(amanuensis, tiny_model):
    assert_usage_error(cli(amanuensis, "transcribe", "--model", tiny_model))


def test_unknown_output_format(amanuensis, tiny_model, jfk):
    assert_usage_error(cli(amanuensis, "transcribe", "--model", tiny_model,
                           "--output-format", "xml", jfk))


# --- output formats -----------------------------------------------------------------------------

def assert_ok(run: CliRun) -> None:
    assert run.returncode == 0, run.describe()


def test_json_lines(jfk_json, jfk):
    assert jfk_json["file"] == str(jfk)
    assert jfk_json["language"] == "en"
    assert abs(jfk_json["duration"] - 11.0) < 0.05
    assert JFK_WORDS in normalise(jfk_json["text"])
    segments = jfk_json["segments"]
    assert segments, "no segments"
    assert jfk_json["text"] == "".join(s["text"] for s in segments)
    for i, s in enumerate(segments, 1):
        assert s["id"] == i
        for key in ("seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                    "compression_ratio", "no_speech_prob"):
            assert key in s, f"segment {i} lacks {key!r}: {s}"
        assert 0 <= s["start"] <= s["end"]
        assert isinstance(s["tokens"], list) and all(isinstance(t, int) for t in s["tokens"])


def test_txt_is_only_the_transcript(amanuensis, tiny_model, jfk, jfk_json):
    run = transcribe(amanuensis, tiny_model, "txt", jfk)
    assert_ok(run)
    assert run.stdout.endswith("\n")
    # The text and nothing else: no progress, no timing, no file names.
    assert " ".join(run.stdout.split()) == " ".join(jfk_json["text"].split()), run.stdout


def _clock(h, m, s, ms) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _check_cues(cues: list[tuple[float, float, str]], segments: list[dict]) -> None:
    assert len(cues) == len(segments), f"{len(cues)} cues for {len(segments)} segments"
    previous_start = 0.0
    for (start, end, text), seg in zip(cues, segments):
        assert start <= end and start >= previous_start
        previous_start = start
        assert abs(start - seg["start"]) <= 0.0015 and abs(end - seg["end"]) <= 0.0015, (
            f"cue {start}-{end} vs segment {seg['start']}-{seg['end']}")
        assert " ".join(text.split()) == " ".join(seg["text"].split())


SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
VTT_TIME = r"(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})"


def test_srt(amanuensis, tiny_model, jfk, jfk_json):
    run = transcribe(amanuensis, tiny_model, "srt", jfk)
    assert_ok(run)
    blocks = re.split(r"\n[ \t]*\n", run.stdout.replace("\r\n", "\n").strip("\n"))
    cues = []
    for number, block in enumerate(blocks, 1):
        lines = block.split("\n")
        assert len(lines) >= 3, f"SRT block {number} is incomplete: {block!r}"
        assert lines[0] == str(number), f"SRT block {number} is numbered {lines[0]!r}"
        m = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", lines[1])
        assert m, f"bad SRT time line {lines[1]!r} (want 00:00:00,000 --> 00:00:11,000)"
        g = m.groups()
        cues.append((_clock(*g[:4]), _clock(*g[4:]), " ".join(lines[2:])))
    _check_cues(cues, jfk_json["segments"])


def test_vtt(amanuensis, tiny_model, jfk, jfk_json):
    run = transcribe(amanuensis, tiny_model, "vtt", jfk)
    assert_ok(run)
    text = run.stdout.replace("\r\n", "\n")
    assert text.startswith("WEBVTT"), f"VTT must begin with WEBVTT: {text[:100]!r}"
    blocks = re.split(r"\n[ \t]*\n", text.strip("\n"))
    assert blocks[0].split("\n")[0].startswith("WEBVTT")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        if not re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}.*", lines[0]):
            lines = lines[1:]  # optional cue identifier
        m = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}(?: .*)?", lines[0]) if lines else None
        assert m, f"bad VTT cue {block!r} (want 00:00.000 --> 00:11.000)"
        assert len(lines) >= 2, f"VTT cue without text: {block!r}"
        g = m.groups()
        cues.append((_clock(*g[:4]), _clock(*g[4:]), " ".join(lines[1:])))
    _check_cues(cues, jfk_json["segments"])


def test_output_dir_json(amanuensis, tiny_model, jfk, manifest, jfk_json, tmp_path):
    other = next(c.path for c in manifest if c.id == "ps-cards-001")
    out = tmp_path / "out"
    out.mkdir()
    run = transcribe(amanuensis, tiny_model, "json", jfk, other, extra=["--output-dir", str(out)])
    assert_ok(run)
    assert run.stdout == "", f"stdout must be empty with --output-dir: {run.stdout[:300]!r}"
    assert sorted(p.name for p in out.iterdir()) == ["jfk.json", "ps-cards-001.json"]
    written = json.loads((out / "jfk.json").read_text())
    assert written["text"] == jfk_json["text"]
    assert len(written["segments"]) == len(jfk_json["segments"])
    assert json.loads((out / "ps-cards-001.json").read_text())["file"] == str(other)


def test_output_dir_txt(amanuensis, tiny_model, jfk, jfk_json, tmp_path):
    run = transcribe(amanuensis, tiny_model, "txt", jfk, extra=["--output-dir", str(tmp_path)])
    assert_ok(run)
    assert run.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["jfk.txt"]
    written = (tmp_path / "jfk.txt").read_text()
    assert " ".join(written.split()) == " ".join(jfk_json["text"].split())


# --- errors -------------------------------------------------------------------------------------

NOT_FOUND = ("not found", "no such", "does not exist")


def assert_error(run: CliRun, keywords: tuple[str, ...], names: tuple[str, ...] = ()) -> None:
    assert run.returncode == 1, f"expected exit code 1 (error)\n{run.describe()}"
    assert run.stdout == "", f"error run printed on stdout: {run.stdout[:500]!r}"
    err = run.stderr.lower()
    assert "error:" in err, f"no 'error: <message>' on stderr\n{run.describe()}"
    assert any(k in err for k in keywords), (
        f"stderr does not name the problem (want one of {keywords})\n{run.describe()}")
    for name in names:
        assert name.lower() in err, f"stderr does not name {name!r}\n{run.describe()}"


def test_missing_audio_file(amanuensis, tiny_model, tmp_path):
    run = transcribe(amanuensis, tiny_model, "json", tmp_path / "missing.wav")
    assert_error(run, NOT_FOUND, ("missing.wav",))


def test_empty_audio_file(amanuensis, tiny_model, tmp_path):
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    assert_error(transcribe(amanuensis, tiny_model, "json", zero), ("empty",), ("zero.wav",))


def test_random_bytes_audio_file(amanuensis, tiny_model, tmp_path):
    junk = tmp_path / "x.wav"
    junk.write_bytes(random.Random(1234).randbytes(64 * 1024))
    run = transcribe(amanuensis, tiny_model, "json", junk)
    assert_error(run, ("decode", "invalid", "audio", "format", "unsupported"), ("x.wav",))


@pytest.fixture
def model_copy(tiny_model, tmp_path) -> Path:
    """A copy of models/tiny.en in tmp_path (model.bin a symlink to the real one)."""
    d = tmp_path / "model"
    d.mkdir()
    for f in tiny_model.iterdir():
        if f.name == "model.bin":
            (d / f.name).symlink_to(f.resolve())
        else:
            shutil.copyfile(f, d / f.name)
    return d


def test_missing_model_folder(amanuensis, tmp_path, jfk):
    run = transcribe(amanuensis, tmp_path / "absent-model", "json", jfk)
    assert_error(run, NOT_FOUND, ("absent-model",))


def test_model_folder_without_model_bin(amanuensis, model_copy, jfk):
    (model_copy / "model.bin").unlink()
    assert_error(transcribe(amanuensis, model_copy, "json", jfk), ("model.bin",))


def test_truncated_model_bin(amanuensis, model_copy, jfk):
    real = (model_copy / "model.bin").resolve()
    (model_copy / "model.bin").unlink()
    with open(real, "rb") as src:
        (model_copy / "model.bin").write_bytes(src.read(1 << 20))
    run = transcribe(amanuensis, model_copy, "json", jfk)
    assert_error(run, ("truncated", "unexpected end", "too short"))


def test_model_bin_of_another_kind(amanuensis, model_copy, jfk):
    (model_copy / "model.bin").unlink()
    name = b"TransformerSpec\0"
    header = (struct.pack("<I", 6) + struct.pack("<H", len(name)) + name
              + struct.pack("<I", 1)     # spec revision
              + struct.pack("<I", 0)     # variables
              + struct.pack("<I", 0))    # aliases
    (model_copy / "model.bin").write_bytes(header)
    run = transcribe(amanuensis, model_copy, "json", jfk)
    assert_error(run, ("whisper", "transformerspec"))


def test_missing_config(amanuensis, model_copy, jfk):
    (model_copy / "config.json").unlink()
    assert_error(transcribe(amanuensis, model_copy, "json", jfk), ("config",))


def test_missing_vocabulary(amanuensis, model_copy, jfk):
    for f in model_copy.glob("vocabulary.*"):
        f.unlink()
    assert_error(transcribe(amanuensis, model_copy, "json", jfk), ("vocabulary",))


# --- amanuensis bench ---------------------------------------------------------------------------

def test_bench_json(amanuensis, tiny_model, manifest, jfk):
    run = cli(amanuensis, "bench", "--json", "--model", tiny_model, "--compute-type", "int8",
              "--threads", "2", "--beam-size", "1", jfk)
    assert_ok(run)
    out = json.loads(run.stdout)  # one JSON object, nothing else on stdout
    assert out["engine"] == "amanuensis"
    assert isinstance(out["backend"], str) and out["backend"]
    assert out["load_seconds"] > 0
    assert out["encoder_seconds"] > 0 and out["decoder_seconds"] > 0 and out["decoder_calls"] > 0
    (f,) = out["files"]
    assert f["path"] == str(jfk)
    assert abs(f["audio_seconds"] - 11.0) < 0.05
    assert 0 < f["first_segment_seconds"] <= f["wall_seconds"]
    assert f["tokens"] > 0 and f["segments"] > 0
    assert 0 <= f["duration_after_vad"] <= f["audio_seconds"] + 0.01
    reference = manifest_mod.by_id(manifest, "jfk").reference
    assert wer(reference, f["text"]) <= 0.1, f"text {f['text']!r} vs reference {reference!r}"
    assert out["options"] == {"compute_type": "int8", "threads": 2, "device": "auto",
                              "beam_size": 1, "language": "en", "vad_filter": None,
                              "batch_size": 0, "without_timestamps": None,
                              "word_timestamps": False}


@pytest.mark.parametrize("flags, expected", [
    (["--vad-filter", "--batch-size", "4"], {"vad_filter": True, "batch_size": 4}),
    (["--vad-filter=false", "--without-timestamps", "--word-timestamps"],
     {"vad_filter": False, "without_timestamps": True, "word_timestamps": True}),
    (["--vad-filter=true", "--without-timestamps=false"],
     {"vad_filter": True, "without_timestamps": False}),
])
def test_bench_mode_options_reach_the_json(amanuensis, tiny_model, jfk, flags, expected):
    run = cli(amanuensis, "bench", "--json", "--model", tiny_model, "--threads", "2",
              "--beam-size", "1", *flags, jfk)
    assert_ok(run)
    out = json.loads(run.stdout)
    assert {key: out["options"][key] for key in expected} == expected
    (f,) = out["files"]
    assert f["segments"] > 0 and f["text"].strip()


@pytest.mark.parametrize("flags", [["--vad-filter=maybe"], ["--without-timestamps=sometimes"],
                                   ["--batch-size", "257"], ["--batch-size", "-1"]])
def test_bench_bad_mode_options(amanuensis, tiny_model, jfk, flags):
    assert_usage_error(cli(amanuensis, "bench", "--model", tiny_model, *flags, jfk))


def test_bench_table(amanuensis, tiny_model, jfk):
    run = cli(amanuensis, "bench", "--model", tiny_model, "--threads", "2", "--beam-size", "1", jfk)
    assert_ok(run)
    assert "RTF" in run.stdout and "jfk.wav" in run.stdout and "encoder" in run.stdout, run.stdout


def test_bench_missing_audio_file(amanuensis, tiny_model, tmp_path):
    run = cli(amanuensis, "bench", "--json", "--model", tiny_model, tmp_path / "missing.wav")
    assert_error(run, NOT_FOUND, ("missing.wav",))


def test_bench_without_files(amanuensis, tiny_model):
    assert_usage_error(cli(amanuensis, "bench", "--model", tiny_model))
