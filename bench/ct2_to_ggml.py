"""Convert a CTranslate2 Whisper model folder into whisper.cpp's legacy ggml weights.

    .venv/bin/python bench/ct2_to_ggml.py models/base .cache/ggml/base-f16.bin [--type f16|q8_0|f32]

Reads DIR/model.bin (CTranslate2 binary, versions 5 and 6, as src/model/ct2_model_file.cc parses
it: variables with name, shape, dtype and data, then aliases; float32/float16/bfloat16, or int8
with a per-row `<name>_scale`, value = q / scale) and DIR/vocabulary.{json,txt}, and writes the
file that whisper.cpp's whisper_model_load() reads, in the layout of whisper.cpp's
models/convert-pt-to-ggml.py:

    magic 0x67676d6c, 11 int32 hparams (n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
    n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype),
    mel filters (int32 n_mel, int32 n_fft, float32[n_mel*n_fft]),
    vocab (int32 count, then per token int32 length + raw bytes; ordinary tokens only, the
    special ones are synthesised by the loader), then per tensor: int32 n_dims, name length,
    type; int32 ne[n_dims] (innermost first); name; data.

Types as whisper.cpp's own converter writes them: 2-D (and the 3-D conv) weights float16, 1-D
tensors, conv biases and positional embeddings float32 (--type f32: everything float32, as its
converter's use-f32 option, ftype 0; whisper.cpp 1.8.5's CPU backend aborts on such a file with
GGML_ASSERT(src0->type == GGML_TYPE_F16), so wcpp_runner.py does not use it). With --type q8_0
the 2-D weights are quantized to Q8_0 instead (blocks of 32: fp16 scale + 32 int8), as
whisper.cpp's quantize tool does (same skip list; the conv weights stay float16), and ftype is
7 (+ 2*1000 quant version).

Only numpy is needed (the mel filterbank is computed here: librosa's slaney mel, 80 or 128 bins,
as openai-whisper's mel_filters.npz).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np

GGML_MAGIC = 0x67676D6C
GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0 = 0, 1, 8
GGML_FTYPE_ALL_F32, GGML_FTYPE_MOSTLY_F16, GGML_FTYPE_MOSTLY_Q8_0 = 0, 1, 7
GGML_QNT_VERSION, GGML_QNT_VERSION_FACTOR = 2, 1000
QK8_0 = 32
WEIGHT_TYPES = ("f16", "f32", "q8_0")

# CTranslate2 DType ids (src/model/ct2_model_file.h).
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


# ---------------------------------------------------------------------------------------------
# CTranslate2 reading


class Ct2Model:
    def __init__(self, path: Path):
        self.path = path
        self.raw = np.memmap(path, dtype=np.uint8, mode="r")
        self.variables: dict[str, tuple[list[int], int, int, int]] = {}  # shape, dtype, off, nbytes
        buf = self.raw
        off = 0

        def take(fmt: str):
            nonlocal off
            size = struct.calcsize(fmt)
            if off + size > len(buf):
                raise ValueError(f"{path}: truncated at byte {off}")
            value = struct.unpack_from(fmt, buf, off)
            off += size
            return value[0]

        def string() -> str:
            nonlocal off
            n = take("<H")
            text = bytes(buf[off:off + n])
            off += n
            if not text.endswith(b"\0"):
                raise ValueError(f"{path}: string not NUL-terminated at byte {off}")
            return text[:-1].decode("utf-8")

        self.version = take("<I")
        if self.version not in (5, 6):
            raise ValueError(f"{path}: not a CTranslate2 model of version 5 or 6 ({self.version})")
        self.spec = string()
        self.revision = take("<I")
        for _ in range(take("<I")):
            name = string()
            rank = take("<B")
            shape = [take("<I") for _ in range(rank)]
            dtype = take("<B")
            nbytes = take("<I")
            if dtype not in _CT2_DTYPES:
                raise ValueError(f"{path}: {name} has unknown dtype id {dtype}")
            self.variables[name] = (shape, dtype, off, nbytes)
            off += nbytes
        self.aliases = {}
        for _ in range(take("<I")):
            alias, target = string(), string()
            self.aliases[alias] = target
        if off != len(buf):
            raise ValueError(f"{path}: {len(buf) - off} unexpected bytes after the aliases")

    def has(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.variables

    def array(self, name: str) -> np.ndarray:
        """The variable as stored (no widening), shaped."""
        shape, dtype, off, nbytes = self.variables[self.aliases.get(name, name)]
        data = self.raw[off:off + nbytes]
        if _CT2_DTYPES[dtype] == "bfloat16":
            wide = data.view(np.uint16).astype(np.uint32) << 16
            return wide.view(np.float32).reshape(shape)
        return data.view(_CT2_DTYPES[dtype]).reshape(shape)

    def float(self, name: str) -> np.ndarray:
        """The variable widened to float32 (int8 dequantized with its per-row scale)."""
        value = self.array(name)
        if value.dtype == np.int8:
            if not self.has(name + "_scale"):
                raise ValueError(f"{self.path}: int8 variable {name} has no {name}_scale")
            scale = self.float(name + "_scale").reshape(-1)
            if value.ndim != 2 or scale.size != value.shape[0]:
                raise ValueError(f"{self.path}: {name}_scale does not match {name}'s rows")
            return value.astype(np.float32) / scale[:, None]
        return np.asarray(value, dtype=np.float32)

    def scalar(self, name: str) -> int:
        return int(np.asarray(self.array(name)).reshape(-1)[0])


# ---------------------------------------------------------------------------------------------
# Mel filterbank: librosa.filters.mel(sr=16000, n_fft=400, n_mels=N) (slaney scale and norm)


def _hz_to_mel(freqs):
    freqs = np.asanyarray(freqs, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freqs / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(freqs >= min_log_hz,
                    min_log_mel + np.log(np.maximum(freqs, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels):
    mels = np.asanyarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def mel_filters(n_mels: int = 80, sr: int = 16000, n_fft: int = 400) -> np.ndarray:
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


# ---------------------------------------------------------------------------------------------
# Vocabulary: byte-level BPE strings back to raw bytes


def _bytes_to_unicode() -> dict[int, str]:
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def read_vocabulary(model_dir: Path) -> list[str]:
    if (model_dir / "vocabulary.json").exists():
        with open(model_dir / "vocabulary.json", encoding="utf-8") as f:
            return json.load(f)
    if (model_dir / "vocabulary.txt").exists():
        with open(model_dir / "vocabulary.txt", encoding="utf-8", newline="") as f:
            text = f.read()
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines
    if (model_dir / "tokenizer.json").exists():
        with open(model_dir / "tokenizer.json", encoding="utf-8") as f:
            tok = json.load(f)
        ids = dict(tok["model"]["vocab"])
        for added in tok.get("added_tokens", []):
            ids[added["content"]] = added["id"]
        vocab = [""] * (max(ids.values()) + 1)
        for token, i in ids.items():
            vocab[i] = token
        return vocab
    raise FileNotFoundError(f"{model_dir}: no vocabulary.json, vocabulary.txt or tokenizer.json")


def ordinary_tokens(vocab: list[str]) -> list[bytes]:
    """The BPE tokens before <|endoftext|>, as raw bytes (what whisper.cpp's vocab section holds)."""
    eot = vocab.index("<|endoftext|>")
    decoder = {c: b for b, c in _bytes_to_unicode().items()}
    out = []
    for i, token in enumerate(vocab[:eot]):
        try:
            out.append(bytes(decoder[c] for c in token))
        except KeyError as exc:
            raise ValueError(f"token {i} {token!r} is not byte-level BPE") from exc
    return out


# ---------------------------------------------------------------------------------------------
# Tensor mapping


def whisper_tensors(m: Ct2Model):
    """Yield (whisper.cpp name, float32 array in OpenAI layout)."""
    yield "encoder.positional_embedding", m.float("encoder/position_encodings/encodings")
    for i in (1, 2):
        yield f"encoder.conv{i}.weight", m.float(f"encoder/conv{i}/weight")
        yield f"encoder.conv{i}.bias", m.float(f"encoder/conv{i}/bias")
    n_audio_layer = _count_layers(m, "encoder")
    n_text_layer = _count_layers(m, "decoder")

    def qkv(prefix, out_prefix):
        w = m.float(f"{prefix}/linear_0/weight")
        b = m.float(f"{prefix}/linear_0/bias")
        wq, wk, wv = np.split(w, 3, axis=0)
        bq, _bk, bv = np.split(b, 3)  # whisper has no key bias; CTranslate2 stores zeros
        yield f"{out_prefix}.query.weight", wq
        yield f"{out_prefix}.query.bias", bq
        yield f"{out_prefix}.key.weight", wk
        yield f"{out_prefix}.value.weight", wv
        yield f"{out_prefix}.value.bias", bv
        yield f"{out_prefix}.out.weight", m.float(f"{prefix}/linear_1/weight")
        yield f"{out_prefix}.out.bias", m.float(f"{prefix}/linear_1/bias")

    def norm(prefix, out_prefix):
        yield f"{out_prefix}.weight", m.float(f"{prefix}/gamma")
        yield f"{out_prefix}.bias", m.float(f"{prefix}/beta")

    def ffn(prefix, out_prefix):
        yield from norm(f"{prefix}/layer_norm", f"{out_prefix}.mlp_ln")
        yield f"{out_prefix}.mlp.0.weight", m.float(f"{prefix}/linear_0/weight")
        yield f"{out_prefix}.mlp.0.bias", m.float(f"{prefix}/linear_0/bias")
        yield f"{out_prefix}.mlp.2.weight", m.float(f"{prefix}/linear_1/weight")
        yield f"{out_prefix}.mlp.2.bias", m.float(f"{prefix}/linear_1/bias")

    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        yield from norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        yield from qkv(f"{src}/self_attention", f"{dst}.attn")
        yield from ffn(f"{src}/ffn", dst)
    yield from norm("encoder/layer_norm", "encoder.ln_post")

    yield "decoder.positional_embedding", m.float("decoder/position_encodings/encodings")
    yield "decoder.token_embedding.weight", m.float("decoder/embeddings/weight")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        yield from norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        yield from qkv(f"{src}/self_attention", f"{dst}.attn")
        # cross attention: linear_0 = query, linear_1 = fused key/value, linear_2 = out
        att = f"{src}/attention"
        yield from norm(f"{att}/layer_norm", f"{dst}.cross_attn_ln")
        yield f"{dst}.cross_attn.query.weight", m.float(f"{att}/linear_0/weight")
        yield f"{dst}.cross_attn.query.bias", m.float(f"{att}/linear_0/bias")
        wk, wv = np.split(m.float(f"{att}/linear_1/weight"), 2, axis=0)
        _bk, bv = np.split(m.float(f"{att}/linear_1/bias"), 2)
        yield f"{dst}.cross_attn.key.weight", wk
        yield f"{dst}.cross_attn.value.weight", wv
        yield f"{dst}.cross_attn.value.bias", bv
        yield f"{dst}.cross_attn.out.weight", m.float(f"{att}/linear_2/weight")
        yield f"{dst}.cross_attn.out.bias", m.float(f"{att}/linear_2/bias")
        yield from ffn(f"{src}/ffn", dst)
    yield from norm("decoder/layer_norm", "decoder.ln")


def _count_layers(m: Ct2Model, side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    found = {int(g.group(1)) for name in m.variables if (g := pattern.match(name))}
    return max(found) + 1 if found else 0


_F32_NAMES = {"encoder.conv1.bias", "encoder.conv2.bias",
              "encoder.positional_embedding", "decoder.positional_embedding"}


def quantize_q8_0(x: np.ndarray) -> bytes:
    """ggml's quantize_row_q8_0_ref over a row-major 2-D float32 array."""
    blocks = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK8_0)
    amax = np.abs(blocks).max(axis=1)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    scaled = blocks * inv[:, None]
    q = np.trunc(scaled + np.copysign(0.5, scaled)).astype(np.int8)  # roundf: half away from 0
    out = np.empty(len(blocks), dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


# ---------------------------------------------------------------------------------------------


def convert(model_dir: Path, out_path: Path, wtype: str = "f16", log=None) -> Path:
    model_dir, out_path = Path(model_dir), Path(out_path)
    if wtype not in WEIGHT_TYPES:
        raise ValueError(f"unsupported weight type {wtype} ({', '.join(WEIGHT_TYPES)})")
    m = Ct2Model(model_dir / "model.bin")
    if m.spec != "WhisperSpec":
        raise ValueError(f"{model_dir}: spec {m.spec}, not WhisperSpec")

    conv1 = m.array("encoder/conv1/weight")
    n_audio_state, n_mels = conv1.shape[0], conv1.shape[1]
    n_vocab, n_text_state = m.array("decoder/embeddings/weight").shape
    hparams = [
        n_vocab,
        m.array("encoder/position_encodings/encodings").shape[0],  # n_audio_ctx
        n_audio_state,
        m.scalar("encoder/num_heads"),
        _count_layers(m, "encoder"),
        m.array("decoder/position_encodings/encodings").shape[0],  # n_text_ctx
        n_text_state,
        m.scalar("decoder/num_heads"),
        _count_layers(m, "decoder"),
        n_mels,
        {"f32": GGML_FTYPE_ALL_F32, "f16": GGML_FTYPE_MOSTLY_F16,
         "q8_0": GGML_FTYPE_MOSTLY_Q8_0 + GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR}[wtype],
    ]
    tokens = ordinary_tokens(read_vocabulary(model_dir))
    filters = mel_filters(n_mels)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + f".tmp{os.getpid()}")
    n_tensors = 0
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        f.write(struct.pack("<11i", *hparams))
        f.write(struct.pack("<ii", *filters.shape))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(tokens)))
        for token in tokens:
            f.write(struct.pack("<i", len(token)))
            f.write(token)
        for name, data in whisper_tensors(m):
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                data = data.reshape(data.shape[0], 1)
            n_dims = data.ndim
            if n_dims < 2 or name in _F32_NAMES or wtype == "f32":
                ttype, payload = GGML_TYPE_F32, data.astype("<f4").tobytes()
            elif wtype == "q8_0" and n_dims == 2 and data.shape[1] % QK8_0 == 0:
                ttype, payload = GGML_TYPE_Q8_0, quantize_q8_0(data)
            else:
                ttype, payload = GGML_TYPE_F16, data.astype("<f2").tobytes()
            encoded = name.encode("utf-8")
            f.write(struct.pack("<iii", n_dims, len(encoded), ttype))
            f.write(struct.pack(f"<{n_dims}i", *reversed(data.shape)))
            f.write(encoded)
            f.write(payload)
            n_tensors += 1
    os.replace(tmp, out_path)
    if log:
        print(f"ct2_to_ggml: {model_dir} -> {out_path} ({wtype}, hparams {hparams}, "
              f"{len(tokens)} vocab tokens, {n_tensors} tensors, "
              f"{out_path.stat().st_size / 2**20:.1f} MiB)", file=log)
    return out_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="CTranslate2 Whisper folder (model.bin, vocabulary)")
    parser.add_argument("output", type=Path, help="ggml .bin to write")
    parser.add_argument("--type", choices=WEIGHT_TYPES, default="f16")
    args = parser.parse_args()
    convert(args.model_dir, args.output, args.type, log=sys.stderr)


if __name__ == "__main__":
    main()
