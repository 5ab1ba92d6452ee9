"""Model formats: `amanuensis convert` between CTranslate2, Hugging Face and ggml, and transcripts
from every format (test_ggml_whisper_cpp.py has whisper.cpp read our ggml files).

- Float conversions of the real tiny.en weights (HF float32 and float16, ggml f16) give the same
  transcript as the CTranslate2 folder on a spread of dev clips (bench/formats.py: on every one),
  base's HF folder on a few; CTranslate2 -> HF -> CTranslate2 gives the same bytes.
- The HF folder has the weight names and layout Hugging Face's Whisper has: CTranslate2's own
  converter code (its WhisperLoader, shipped in the ctranslate2 wheel) reads it, and
  faster-whisper transcribes what that converter wrote, as it does the original.
- Sharded checkpoints, distil-whisper-like decoders with fewer layers, and broken folders.
"""

from __future__ import annotations

import json
import shutil
import struct
import types
from pathlib import Path

import numpy as np
import pytest

from amanuensis_cli import parse_json_lines, run, transcribe_args, transcribe_json


def convert(amanuensis: Path, model: Path, to: str, output: Path, quantize: str | None = None):
    args = ["convert", "--model", model, "--to", to, "--output", output]
    if quantize:
        args += ["--quantize", quantize]
    cli = run(amanuensis, args, timeout=300)
    assert cli.returncode == 0, cli.describe()
    return output


def texts(results: list[dict]) -> list[str]:
    return [r["text"] for r in results]


# --- safetensors in numpy, for making test folders -------------------------------------------

_NP = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    raw = path.read_bytes()
    (size,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8:8 + size])
    data = raw[8 + size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=_NP[entry["dtype"]]).reshape(
            entry["shape"])
    return tensors, header.get("__metadata__", {})


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[array.dtype]
        blob = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


@pytest.fixture(scope="module")
def formats_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("formats")


@pytest.fixture(scope="module")
def tiny_hf(amanuensis, model_dirs, formats_dir) -> Path:
    return convert(amanuensis, model_dirs["tiny.en"], "hf", formats_dir / "tiny-hf-f32", "float32")


def test_ct2_hf_ct2_round_trip_is_byte_exact(amanuensis, model_dirs, formats_dir):
    for name in ("tiny.en", "base"):
        direct = convert(amanuensis, model_dirs[name], "ct2", formats_dir / f"{name}-ct2")
        hf = convert(amanuensis, model_dirs[name], "hf", formats_dir / f"{name}-hf16", "float16")
        back = convert(amanuensis, hf, "ct2", formats_dir / f"{name}-hf16-ct2")
        assert (back / "model.bin").read_bytes() == (direct / "model.bin").read_bytes(), name
        for config in ("config.json", "vocabulary.json"):
            assert json.loads((back / config).read_text()) == json.loads(
                (direct / config).read_text()), (name, config)
        assert json.loads((direct / "config.json").read_text()) == json.loads(
            (model_dirs[name] / "config.json").read_text())


# Every dev clip is bench/formats.py's job (minutes); the suite takes a spread of them.
CLIPS_IN_SUITE = 5


def test_float_formats_transcribe_dev_clips_identically(amanuensis, model_dirs, dev_clips,
                                                        formats_dir, tiny_hf):
    files = [c.path for c in dev_clips[:: max(1, len(dev_clips) // CLIPS_IN_SUITE)]]
    reference, _ = transcribe_json(amanuensis, model_dirs["tiny.en"], files)
    hf16 = formats_dir / "tiny.en-hf16"
    if not hf16.exists():
        convert(amanuensis, model_dirs["tiny.en"], "hf", hf16, "float16")
    ggml16 = convert(amanuensis, model_dirs["tiny.en"], "ggml", formats_dir / "tiny.en-f16.bin",
                     "f16")
    for model in (tiny_hf, hf16, ggml16):
        results, _ = transcribe_json(amanuensis, model, files)
        assert texts(results) == texts(reference), model
        assert [r["segments"] for r in results] == [r["segments"] for r in reference], model
    # base (multilingual, its own language detection) on a few clips.
    base_hf = convert(amanuensis, model_dirs["base"], "hf", formats_dir / "base-hf32", "float32")
    few = files[:2]
    expected, _ = transcribe_json(amanuensis, model_dirs["base"], few)
    got, _ = transcribe_json(amanuensis, base_hf, few)
    assert texts(got) == texts(expected)


def _ctranslate2_whisper_loader():
    """CTranslate2's converter module, importable without torch and transformers installed."""
    module = pytest.importorskip("ctranslate2.converters.transformers")
    if not hasattr(module, "transformers"):
        # The loader only asks whether a layer is transformers' GPT-2 Conv1D; none of ours is.
        module.transformers = types.SimpleNamespace(Conv1D=type("Conv1D", (), {}))
    return module


class _Module(types.SimpleNamespace):
    pass


def _module_tree(tensors: dict[str, np.ndarray], used: set[str]):
    """The nested modules a transformers Whisper model has, from its checkpoint's names."""

    root = _Module()
    for name, array in tensors.items():
        parts = name.split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if part.isdigit():
                node = node[int(part)]
                continue
            if not hasattr(node, part):
                setattr(node, part, [] if nxt.isdigit() else _Module())
            child = getattr(node, part)
            if isinstance(child, list) and nxt.isdigit():
                while len(child) <= int(nxt):
                    child.append(_Module())
            node = child
        setattr(node, parts[-1], array)
        used.add(name)
    return root


def test_hf_layout_is_what_ctranslate2s_converter_reads(tiny_hf, model_dirs, formats_dir, jfk):
    loader_module = _ctranslate2_whisper_loader()
    tensors, metadata = read_safetensors(tiny_hf / "model.safetensors")
    assert metadata.get("format") == "pt"
    config = json.loads((tiny_hf / "config.json").read_text())
    generation = json.loads((tiny_hf / "generation_config.json").read_text())
    names: set[str] = set()
    tree = _module_tree(tensors, names)
    assert set(vars(tree)) == {"model"}, "every weight sits under model."
    model = tree
    model.config = types.SimpleNamespace(**config)
    model.generation_config = types.SimpleNamespace(**generation)
    model.proj_out = _Module(weight=model.model.decoder.embed_tokens.weight)  # tied, not saved
    model.name_or_path = str(tiny_hf)

    loader = loader_module.WhisperLoader()
    spec = loader.get_model_spec(model)
    loader.set_config(spec.config, model, None)
    tokens = (model_dirs["tiny.en"] / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization="float16")
    out = formats_dir / "tiny-via-ct2-converter"
    out.mkdir()
    spec.save(str(out))
    shutil.copy(tiny_hf / "tokenizer.json", out / "tokenizer.json")

    faster_whisper = pytest.importorskip("faster_whisper")
    results = []
    for folder in (model_dirs["tiny.en"], out):
        whisper = faster_whisper.WhisperModel(str(folder), device="cpu", compute_type="float32")
        segments, _ = whisper.transcribe(str(jfk), beam_size=1, language="en")
        results.append(" ".join(s.text.strip() for s in segments))
    assert results[0] == results[1]
    assert "ask not what your country can do for you" in results[0]


def test_sharded_checkpoint_loads(amanuensis, tiny_hf, formats_dir, jfk):
    tensors, _ = read_safetensors(tiny_hf / "model.safetensors")
    sharded = formats_dir / "tiny-sharded"
    sharded.mkdir()
    for name in ("config.json", "generation_config.json", "tokenizer.json",
                 "preprocessor_config.json"):
        shutil.copy(tiny_hf / name, sharded / name)
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for file, part in halves.items():
        write_safetensors(sharded / file, {n: tensors[n] for n in part})
        weight_map.update({n: file for n in part})
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    expected, _ = transcribe_json(amanuensis, tiny_hf, [jfk])
    got, _ = transcribe_json(amanuensis, sharded, [jfk])
    assert texts(got) == texts(expected)


@pytest.mark.parametrize("variant", ["2-decoder-layers", "128-mel-bins"])
def test_other_shapes_load_and_run(amanuensis, tiny_hf, formats_dir, jfk, variant):
    """distil-whisper keeps the encoder and two decoder layers; large-v3 has 128 mel bins. Made
    from tiny.en's weights, such folders load and run (their text is not the point)."""
    tensors, _ = read_safetensors(tiny_hf / "model.safetensors")
    config = json.loads((tiny_hf / "config.json").read_text())
    generation = json.loads((tiny_hf / "generation_config.json").read_text())
    if variant == "2-decoder-layers":
        tensors = {n: a for n, a in tensors.items()
                   if not any(n.startswith(f"model.decoder.layers.{i}.") for i in (2, 3))}
        config["decoder_layers"] = 2
        generation["alignment_heads"] = [[1, 0], [1, 1]]
    else:
        conv1 = tensors["model.encoder.conv1.weight"]
        wider = np.zeros((conv1.shape[0], 128, 3), dtype=conv1.dtype)
        wider[:, :80, :] = conv1
        tensors = {**tensors, "model.encoder.conv1.weight": wider}
        config["num_mel_bins"] = 128
    folder = formats_dir / f"tiny-{variant}"
    folder.mkdir()
    write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").write_text(json.dumps(generation))
    shutil.copy(tiny_hf / "tokenizer.json", folder / "tokenizer.json")
    cli = run(amanuensis, transcribe_args(folder, [jfk], "json",
                                          extra=["--word-timestamps", "--max-new-tokens", "20"]))
    assert cli.returncode == 0, cli.describe()
    (result,) = parse_json_lines(cli.stdout, [jfk])
    assert result["duration"] == pytest.approx(11.0, abs=0.1)


@pytest.mark.parametrize("damage", ["truncated", "missing-config", "missing-tensor",
                                    "bad-header", "missing-shard"])
def test_broken_hf_folders_name_the_file(amanuensis, tiny_hf, formats_dir, jfk, damage):
    broken = formats_dir / f"broken-{damage}"
    shutil.copytree(tiny_hf, broken)
    weights = broken / "model.safetensors"
    expected = "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "missing-config":
        (broken / "config.json").unlink()
        expected = "config.json"
    elif damage == "missing-tensor":
        tensors, _ = read_safetensors(weights)
        del tensors["model.decoder.layers.1.fc2.weight"]
        write_safetensors(weights, tensors)
        expected = "decoder.layers.1.fc2.weight"
    elif damage == "bad-header":
        raw = bytearray(weights.read_bytes())
        raw[8:12] = b"\xff\xfe{["
        weights.write_bytes(bytes(raw))
    else:
        weights.unlink()
        (broken / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"model.encoder.conv1.weight": "model-00001.safetensors"}}))
        expected = "model-00001.safetensors"
    cli = run(amanuensis, transcribe_args(broken, [jfk], "json"))
    assert cli.returncode == 1, cli.describe()
    assert expected in cli.stderr and "error:" in cli.stderr, cli.stderr


def test_convert_refuses_bad_requests(amanuensis, model_dirs, formats_dir):
    tiny = model_dirs["tiny.en"]
    cases = [
        (["--to", "onnx", "--output", formats_dir / "x1"], "--to"),
        (["--to", "hf", "--quantize", "q5_0", "--output", formats_dir / "x2"], "q5_0"),
        (["--to", "ct2", "--output", tiny], "already exists"),
    ]
    for extra, expected in cases:
        cli = run(amanuensis, ["convert", "--model", tiny, *extra])
        assert cli.returncode in (1, 2), cli.describe()
        assert expected in cli.stderr, cli.stderr
    cli = run(amanuensis, ["convert", "--model", formats_dir / "nothing-here", "--to", "hf",
                           "--output", formats_dir / "x3"])
    assert cli.returncode == 1 and "not found" in cli.stderr, cli.describe()
    assert not (formats_dir / "x2").exists() and not (formats_dir / "x3").exists()
