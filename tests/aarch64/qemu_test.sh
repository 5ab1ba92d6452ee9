#!/usr/bin/env bash
# The ARM64 build, run under qemu-user: the ctest entry aarch64_qemu (label aarch64, opt-in:
# scripts/test.sh leaves it out unless AMANUENSIS_TEST_AARCH64=1). It cross-builds the `aarch64`
# preset (build/aarch64: amanuensis and the gtest binaries), then
#
#   1. checks the path each emulated CPU gets: cortex-a57 neon, neoverse-n1 neon_dotprod,
#      max neon_i8mm (and that forcing a path the CPU lacks falls back);
#   2. runs the int8 tests once on -cpu max: every path (generic, neon, neon_dotprod, neon_i8mm)
#      bit for bit against the scalar reference, and its integer dot products exactly against
#      the generic path's (kernels_arm_test.cc); then the backend tests with each path forced in
#      turn (AMANUENSIS_CPU_ISA), the ARM kernel tests on a CPU without dotprod and i8mm (those
#      two skip with their names), the vector-op tests on every Highway ARM target, then most
#      other unit tests once, and service_tests and backends_tests;
#   3. transcribes jfk.wav with tiny.en (int8) on the best path and checks that the text equals
#      the x86 build's.
#
# This checks correctness, not speed: qemu runs integer SIMD at a fraction of the hardware's speed
# and every float operation in software. Exits 77 (ctest: skipped) when the cross toolchain, qemu
# or the arm64 libraries are missing (AMANUENSIS_AARCH64=1 scripts/setup.sh installs them). The
# cross build runs AMANUENSIS_BUILD_JOBS (default 2) compile jobs.
#
# Usage: tests/aarch64/qemu_test.sh X86_AMANUENSIS   (the host build's binary, for the transcript)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
x86_amanuensis=${1:?usage: $0 X86_AMANUENSIS}

skip() {
  echo "SKIPPED aarch64_qemu: $* (AMANUENSIS_AARCH64=1 scripts/setup.sh installs" \
    "g++-aarch64-linux-gnu, qemu-user and the arm64 libraries)"
  exit 77
}
fail() {
  echo "FAILED aarch64_qemu: $*" >&2
  exit 1
}
step() { printf '\n== %s (%d s so far)\n' "$*" "$SECONDS"; }

command -v aarch64-linux-gnu-g++ >/dev/null || skip "no aarch64 cross compiler (aarch64-linux-gnu-g++)"
command -v qemu-aarch64 >/dev/null || skip "no qemu-aarch64"
PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig \
  pkg-config --exists libavformat libavcodec libswresample libavutil openblas libhwy hiredis ||
  skip "the arm64 development libraries are missing"

step "cross-build: preset aarch64"
cmake --preset aarch64 >/dev/null
cmake --build --preset aarch64 -j "${AMANUENSIS_BUILD_JOBS:-2}" \
  --target amanuensis unit_tests service_tests backends_tests
bin=build/aarch64/amanuensis
tests=build/aarch64/tests/unit_tests
out=build/aarch64/qemu_test
mkdir -p "$out"

# The int8 path `amanuensis devices` reports for the cpu backend: "      int8_gemm:     <path>".
path_on() {  # path_on QEMU_CPU [VAR=VALUE...]
  local cpu=$1
  shift
  env "$@" qemu-aarch64 -cpu "$cpu" "$bin" devices 2>/dev/null |
    sed -n 's/^ *int8_gemm: *\([a-z0-9_]*\).*/\1/p'
}
step "path detection"
for pair in cortex-a57:neon neoverse-n1:neon_dotprod max:neon_i8mm; do
  cpu=${pair%%:*} want=${pair#*:}
  got=$(path_on "$cpu")
  echo "qemu -cpu $cpu: $got"
  [[ $got == "$want" ]] || fail "qemu -cpu $cpu runs path '$got', expected $want"
done
got=$(path_on cortex-a57 AMANUENSIS_CPU_ISA=neon_i8mm)
[[ $got == neon ]] || fail "AMANUENSIS_CPU_ISA=neon_i8mm on cortex-a57 gave '$got', expected neon"
echo "qemu -cpu cortex-a57, AMANUENSIS_CPU_ISA=neon_i8mm: $got (the CPU lacks i8mm)"

# The int8 tests run every path whatever the path in use (they are parameterised over the paths),
# so once; the backend tests follow the path in use, so once per path. The vector ops and
# attention follow Highway's own dispatch, over every target the CPU has whatever the path: they
# run at three SVE vector lengths, which between them give every ARM target Highway builds (NEON,
# SVE, SVE2, SVE_256, SVE2_128). The rest run once, less what is slow under qemu and checked
# elsewhere: whole transcriptions and decoder steps on real weights (the transcript below),
# attention at encoder size (the same kernel at smaller sizes runs on every target), FFmpeg's
# compressed formats and damaged input (FFmpeg's code, the same on every CPU).
int8='*Int8*:CpuIsa*'
per_path='*BackendTest*:CpuIsa*'
per_target='VectorOps.*:VectorTargets.*:FlashAttention.MatchesDoubleReferenceOnEveryTarget'
slow='ConcurrentTranscriptions.*:Weights/DecodeBatchTest.*:FlashAttention.*:Jfk/CompressedFormatTest.*'
slow+=':AudioDecoderTest.SurvivesRandomAndDamagedInput'
run_tests() {  # run_tests QEMU_CPU FILTER [VAR=VALUE...]
  local cpu=$1 filter=$2
  shift 2
  env "$@" qemu-aarch64 -cpu "$cpu" "$tests" --gtest_brief=1 --gtest_filter="$filter" |
    grep -vE '^Running main|^Note: Google Test filter'
}
step "int8 tests, every path, exact against the generic path (qemu -cpu max)"
# In full, not brief: each path's test must say OK, not SKIPPED (-cpu max has every extension).
qemu-aarch64 -cpu max "$tests" --gtest_filter="$int8" >"$out/int8.log" 2>&1 ||
  { cat "$out/int8.log"; fail "int8 tests failed"; }
grep -E '^\[ *(OK|SKIPPED) *\] Paths/|^\[ *(PASSED|SKIPPED) *\] [0-9]' "$out/int8.log"
for path in generic neon neon_dotprod neon_i8mm; do
  for suite in Int8ExactTest.IntegerDotProductsEqualTheGenericPath \
    Int8PathTest.GemmEqualsScalarReferenceBitForBit; do
    grep -q "^\[       OK \] Paths/$suite/$path " "$out/int8.log" ||
      fail "Paths/$suite/$path did not pass under -cpu max"
  done
done
for path in generic neon neon_dotprod neon_i8mm; do
  step "unit tests $per_path with AMANUENSIS_CPU_ISA=$path (qemu -cpu max)"
  run_tests max "$per_path" AMANUENSIS_CPU_ISA="$path"
done
step "ARM kernel tests on a CPU without dotprod and i8mm (qemu -cpu cortex-a57)"
run_tests cortex-a57 '*Int8Exact*:CpuIsaArm*'
for bytes in 64 32 16; do
  step "vector ops and attention, every Highway target, SVE vectors of $((bytes * 8)) bits"
  run_tests "max,sve-default-vector-length=$bytes" "$per_target"
done
step "the other unit tests (qemu -cpu max, best path)"
run_tests max "-$int8:$per_path:$per_target:$slow"
for binary in service_tests backends_tests; do  # their many skips (absent devices) go to a log
  step "$binary (qemu -cpu max)"
  if qemu-aarch64 -cpu max "build/aarch64/tests/$binary" --gtest_brief=1 >"$out/$binary.log" 2>&1
  then
    grep -E '^\[(==========|  PASSED  |  SKIPPED )\]' "$out/$binary.log"
  else
    cat "$out/$binary.log"
    fail "$binary failed"
  fi
done

step "transcript: tiny.en int8, jfk.wav"
args=(transcribe --model models/tiny.en --compute-type int8 --threads 2 ../shared/audio/jfk.wav)
"$x86_amanuensis" "${args[@]}" >"$out/jfk.x86.txt" 2>/dev/null
qemu-aarch64 -cpu max "$bin" "${args[@]}" >"$out/jfk.aarch64.txt"
cat "$out/jfk.aarch64.txt"
[[ -s $out/jfk.x86.txt ]] || fail "the x86 transcript is empty"
diff -u "$out/jfk.x86.txt" "$out/jfk.aarch64.txt" || fail "the aarch64 transcript differs from x86's"
echo "aarch64 transcript equals x86's"
step "aarch64_qemu passed"
