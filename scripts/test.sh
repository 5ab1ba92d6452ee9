#!/usr/bin/env bash
# Sets up and builds the ci preset (warnings as errors), then runs the whole test suite:
# unit tests (gtest) and the end-to-end suite (pytest against faster-whisper), through ctest.
# Extra arguments go to ctest, e.g. scripts/test.sh -R e2e --verbose
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AMANUENSIS_PRESET=ci scripts/setup.sh
exec ctest --preset ci "$@"
