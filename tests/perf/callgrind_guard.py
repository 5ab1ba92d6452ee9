"""Regression guard on the encoder's cost: callgrind's instruction count for one tiny.en window.

    python3 tests/perf/callgrind_guard.py ENCODE_WINDOW_BINARY MODEL_DIR [--update]

Runs encode_window under valgrind's callgrind, counting instructions only inside
WhisperModel::encode (model loading is left out), with the kernels pinned to their AVX2 paths
(valgrind has no AVX-512; AMANUENSIS_CPU_ISA=avx2, OPENBLAS_CORETYPE=Haswell) and one thread,
so that the count is the same on every x86-64 machine. Fails when the count exceeds the budget
in encode_tiny_budget.json by more than its tolerance; says so when it has dropped well below
(then lower the budget with --update, in the same change as the speed-up).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BUDGET_FILE = Path(__file__).resolve().with_name("encode_tiny_budget.json")


def count_instructions(binary: str, model_dir: str) -> int:
    env = dict(os.environ, AMANUENSIS_CPU_ISA="avx2", OPENBLAS_CORETYPE="Haswell", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
                   "--toggle-collect=amanuensis::model::WhisperModel::encode*", binary, model_dir, "1"]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"callgrind run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        text = out.read_text()
        match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
        if match is None:
            sys.exit("no instruction total in the callgrind output")
        return int(match.group(1))


def main() -> int:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, model_dir = sys.argv[1], sys.argv[2]
    count = count_instructions(binary, model_dir)
    budget = json.loads(BUDGET_FILE.read_text())
    if "--update" in sys.argv[3:]:
        budget["instructions"] = count
        BUDGET_FILE.write_text(json.dumps(budget, indent=2) + "\n")
        print(f"budget set to {count:,} instructions")
        return 0
    if budget["instructions"] <= 0:
        print(f"encode one tiny.en window: {count:,} instructions; no budget recorded yet "
              f"(record it with --update)")
        return 0
    limit = budget["instructions"] * (1 + budget["tolerance"])
    print(f"encode one tiny.en window: {count:,} instructions; budget {budget['instructions']:,} "
          f"+{budget['tolerance']:.0%} = {limit:,.0f}")
    if count > limit:
        print("FAIL: the encoder got more expensive than its budget", file=sys.stderr)
        return 1
    if count < budget["instructions"] * (1 - budget["tolerance"]):
        print("note: well under budget; lower it with --update so that the guard stays tight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
