"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import platform
from pathlib import Path

# The instruction-set flags that decide which kernels run (and which faster-whisper runs).
FLAGS_OF_NOTE = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
                 "asimddp", "i8mm")


def cpu_name() -> str:
    """The CPU's model name, family, model and the flags of note from /proc/cpuinfo, e.g.
    "AMD EPYC (family 25 model 17; avx2 fma f16c avx512f avx512_vnni avx512_bf16)"; the
    platform's processor string where there is no /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in fields:
            fields[key] = value.strip()
    name = fields.get("model name") or fields.get("CPU part") or platform.processor() or "unknown"
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    details = []
    if "cpu family" in fields and "model" in fields:
        details.append(f"family {fields['cpu family']} model {fields['model']}")
    noted = [f for f in FLAGS_OF_NOTE if f in flags]
    if noted:
        details.append(" ".join(noted))
    return f"{name} ({'; '.join(details)})" if details else name
