"""Regression guard on the kernels' cost: callgrind's instruction count for a fixed workload.

    python3 tests/perf/callgrind_guard.py PERF_WORKLOAD_BINARY [--update]

Runs perf_workload (tests/perf/perf_workload.cc: tiny.en-sized convolution product, one encoder
layer over 256 positions, one beam-5 decoding step's attention and output projection, the
search's log-sum-exp) under valgrind's callgrind, counting instructions only inside
run_workload() (setup left out), with the kernels pinned to their AVX2 paths (valgrind has no
AVX-512; AMANUENSIS_CPU_ISA=avx2, OPENBLAS_CORETYPE=Haswell) and one thread, so that the count is
the same on every x86-64 machine with the same libraries. A full tiny.en encoder window takes
over ten minutes under callgrind; this takes well under one.

Fails when the count exceeds the budget in kernels_budget.json by more than its tolerance; says
so when it has dropped well below (then lower the budget with --update, in the same change as
the speed-up). The count depends on the OpenBLAS and Highway builds too (Debian 12's here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BUDGET_FILE = Path(__file__).resolve().with_name("kernels_budget.json")


def count_instructions(binary: str) -> int:
    env = dict(os.environ, AMANUENSIS_CPU_ISA="avx2", OPENBLAS_CORETYPE="Haswell", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
                   "--toggle-collect=run_workload", binary]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"callgrind run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        text = out.read_text()
        match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
        if match is None:
            sys.exit("no instruction total in the callgrind output")
        return int(match.group(1))


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    count = count_instructions(binary)
    budget = json.loads(BUDGET_FILE.read_text())
    if "--update" in sys.argv[2:]:
        budget["instructions"] = count
        BUDGET_FILE.write_text(json.dumps(budget, indent=2) + "\n")
        print(f"budget set to {count:,} instructions")
        return 0
    if budget["instructions"] <= 0:
        print(f"kernel workload: {count:,} instructions; no budget recorded yet (record it with --update)")
        return 0
    limit = budget["instructions"] * (1 + budget["tolerance"])
    print(f"kernel workload: {count:,} instructions; budget {budget['instructions']:,} "
          f"+{budget['tolerance']:.0%} = {limit:,.0f}")
    if count > limit:
        print("FAIL: the kernels got more expensive than their budget", file=sys.stderr)
        return 1
    if count < budget["instructions"] * (1 - budget["tolerance"]):
        print("note: well under budget; lower it with --update so that the guard stays tight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
