#!/usr/bin/env bash
# Sets up and builds the ci preset (warnings as errors), then runs the whole test suite:
# unit tests (gtest) and the end-to-end suite (pytest against faster-whisper), through ctest.
# Extra arguments go to ctest, e.g. scripts/test.sh -R e2e --verbose
#
# The ARM64 build under qemu (ctest label aarch64, tests/aarch64/qemu_test.sh) is left out: it
# cross-builds a second tree and emulates it, longer than CI's budget. AMANUENSIS_TEST_AARCH64=1
# runs it too; `ctest --preset ci -L aarch64` runs it alone. Likewise the end-to-end tests marked
# slow (ctest label slow, the e2e_slow test): AMANUENSIS_TEST_SLOW=1 runs them too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The ARM64 test's packages only when it runs (AMANUENSIS_AARCH64=1: scripts/setup.sh).
AMANUENSIS_AARCH64=${AMANUENSIS_TEST_AARCH64:-0} AMANUENSIS_PRESET=ci scripts/setup.sh
labels=()
[[ ${AMANUENSIS_TEST_AARCH64:-0} == 1 ]] || labels+=(aarch64)
[[ ${AMANUENSIS_TEST_SLOW:-0} == 1 ]] || labels+=(slow)
exclude=()
((${#labels[@]})) && exclude=(-LE "$(IFS='|'; echo "${labels[*]}")")
exec ctest --preset ci "${exclude[@]}" "$@"
