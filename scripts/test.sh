#!/usr/bin/env bash
# Sets up and builds the ci preset (warnings as errors), then runs the whole test suite:
# unit tests (gtest) and the end-to-end suite (pytest against faster-whisper), through ctest.
# Extra arguments go to ctest, e.g. scripts/test.sh -R e2e --verbose
#
# The ARM64 build under qemu (ctest label aarch64, tests/aarch64/qemu_test.sh) is left out: it
# cross-builds a second tree and emulates it, longer than CI's budget. AMANUENSIS_TEST_AARCH64=1
# runs it too; `ctest --preset ci -L aarch64` runs it alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AMANUENSIS_PRESET=ci scripts/setup.sh
exclude=(-LE aarch64)
[[ ${AMANUENSIS_TEST_AARCH64:-0} == 1 ]] && exclude=()
exec ctest --preset ci "${exclude[@]}" "$@"
