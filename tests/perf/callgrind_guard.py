"""Regression guard on the kernels' cost: callgrind's instruction counts for fixed workloads.

    python3 tests/perf/callgrind_guard.py PERF_WORKLOAD_BINARY [--update]

Runs perf_workload (tests/perf/perf_workload.cc) under valgrind's callgrind once per guarded
workload, counting instructions only inside the workload's function (setup left out), with one
thread and the kernels pinned to their AVX2 paths (valgrind has no AVX-512; AMANUENSIS_CPU_ISA=avx2
also caps Highway, and OPENBLAS_CORETYPE=Haswell), so that the counts are the same on every x86-64
machine with the same libraries:

  kernels         run_workload(): tiny.en-sized convolution product, one encoder layer over 256
                  positions, one beam-5 decoding step's attention and output projection, the
                  search's log-sum-exp (about 40 s)
  int8_gemm_avx2  run_int8_workload(): the int8 products alone on the avx2 path (int8_gemm_avx2.cc),
                  so that a regression there cannot hide inside the whole workload's tolerance

A full tiny.en encoder window takes over ten minutes under callgrind; these take well under one.

Fails when a count exceeds its budget in kernels_budget.json by more than the tolerance; says so
when one has dropped well below (then lower it with --update, in the same change as the
speed-up). The counts depend on the OpenBLAS and Highway builds too (Debian 12's here).
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
# name -> (perf_workload arguments, function callgrind counts inside)
WORKLOADS = {
    "kernels": ([], "run_workload"),
    "int8_gemm_avx2": (["int8"], "run_int8_workload"),
}


def count_instructions(binary: str, arguments: list[str], function: str) -> int:
    env = dict(os.environ, AMANUENSIS_CPU_ISA="avx2", OPENBLAS_CORETYPE="Haswell", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
                   f"--toggle-collect={function}", binary, *arguments]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"callgrind run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        if "int8 gemm avx2" not in result.stdout:
            sys.exit(f"the workload did not run the avx2 int8 path: {result.stdout.strip()}")
        text = out.read_text()
        match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
        if match is None:
            sys.exit("no instruction total in the callgrind output")
        return int(match.group(1))


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    update = "--update" in sys.argv[2:]
    budget = json.loads(BUDGET_FILE.read_text())
    tolerance = budget["tolerance"]
    failed = False
    for name, (arguments, function) in WORKLOADS.items():
        count = count_instructions(binary, arguments, function)
        entry = budget["workloads"].setdefault(name, {"instructions": 0})
        if update:
            entry["instructions"] = count
            print(f"{name}: budget set to {count:,} instructions")
            continue
        if entry["instructions"] <= 0:
            print(f"{name}: {count:,} instructions; no budget recorded yet (record it with --update)")
            continue
        limit = entry["instructions"] * (1 + tolerance)
        print(f"{name}: {count:,} instructions; budget {entry['instructions']:,} +{tolerance:.0%} = {limit:,.0f}")
        if count > limit:
            print(f"FAIL: {name} got more expensive than its budget", file=sys.stderr)
            failed = True
        elif count < entry["instructions"] * (1 - tolerance):
            print(f"note: {name} is well under budget; lower it with --update so that the guard stays tight")
    if update:
        BUDGET_FILE.write_text(json.dumps(budget, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
