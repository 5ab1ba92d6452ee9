#!/usr/bin/env bash
# Lint: clang-format (every tracked C/C++ file must be formatted) and clang-tidy (.clang-tidy: the
# checks and the naming rules) over every source file the build compiles, warnings as errors.
# ctest runs it as the `lint` test (label lint) in the CI preset.
#
#   scripts/lint.sh [BUILD_DIR]   (default build/release; needs its compile_commands.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/release}
status=0

mapfile -t formatted < <(git ls-files '*.c' '*.cc' '*.h' '*.cpp' '*.hpp' | grep -v '^third_party/')
if ! clang-format --dry-run --Werror "${formatted[@]}"; then
  echo "lint: clang-format: files above are not formatted (clang-format -i FILE)" >&2
  status=1
fi

[[ -f $build/compile_commands.json ]] || { echo "lint: no $build/compile_commands.json" >&2; exit 1; }
# The sources this build compiles, ours only (src/ and python/src/, not tests' fetched or
# generated files), CUDA
# kernels left out (clang-tidy cannot compile them with nvcc's flags).
mapfile -t sources < <(python3 - "$build/compile_commands.json" <<'PY'
import json, os, sys
roots = (os.getcwd() + "/src/", os.getcwd() + "/python/src/")
print("\n".join(sorted({e["file"] for e in json.load(open(sys.argv[1]))
                        if os.path.realpath(e["file"]).startswith(roots)
                        and not e["file"].endswith(".cu")})))
PY
)
# The pinned clang-tidy in .venv (scripts/requirements.txt; scripts/setup.sh installs it). Any
# warning in the log fails the run. -Werror as in the ci preset, so that clang's own diagnostics
# (which gcc, the compiler, does not have) fail every build directory's lint alike, not only CI's.
tidy_bin=$PWD/.venv/bin
[[ -x $tidy_bin/clang-tidy && -f $tidy_bin/run-clang-tidy.py ]] ||
  { echo "lint: no clang-tidy in .venv (scripts/setup.sh installs it)" >&2; exit 1; }
"$tidy_bin/python" "$tidy_bin/run-clang-tidy.py" -clang-tidy-binary "$tidy_bin/clang-tidy" \
  -extra-arg=-Werror -p "$build" -quiet -j "$(nproc)" "${sources[@]}" >"$build/clang-tidy.log" 2>&1 || true
if grep -qE '(warning|error): ' "$build/clang-tidy.log"; then
  grep -E '(warning|error): ' "$build/clang-tidy.log" | sort -u | head -100 >&2 || true
  echo "lint: clang-tidy found the problems above (whole log: $build/clang-tidy.log)" >&2
  status=1
fi
((status == 0)) && echo "lint: clang-format and clang-tidy clean (${#formatted[@]} files formatted, ${#sources[@]} tidied)"
exit $status
