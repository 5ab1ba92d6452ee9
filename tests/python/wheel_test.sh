#!/usr/bin/env bash
# Builds the wheel as a user would (`pip wheel .`, scikit-build-core through pyproject.toml), installs
# it into a fresh venv that has nothing else but numpy, and transcribes jfk.wav with the installed
# package from outside the repository, through faster-whisper's example code with the import
# changed.
#
# usage: wheel_test.sh VENV_PYTHON MODEL_DIR JFK_WAV
set -euo pipefail
venv_python=$1 model=$(realpath "$2") wav=$(realpath "$3")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start=$SECONDS
# No build isolation: the project venv has scikit-build-core and nanobind (scripts/requirements.txt).
# The device backends are left out to keep CI's time: this checks the packaging, and the backend
# tests check CUDA and OpenCL.
"$venv_python" -m pip wheel "$repo" --no-deps --no-build-isolation -q -w "$work/dist" \
  -C cmake.define.AMANUENSIS_WITH_CUDA=OFF -C cmake.define.AMANUENSIS_WITH_OPENCL=OFF
wheel=$(ls "$work"/dist/amanuensis-*.whl)
echo "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1)) in $((SECONDS - start)) s"

base_python=$("$venv_python" -c 'import sys; print(sys._base_executable)')
"$base_python" -m venv "$work/fresh"
"$work/fresh/bin/pip" install -q --disable-pip-version-check "$wheel"
"$work/fresh/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -i -E '^(amanuensis|numpy) '

cd "$work"
"$work/fresh/bin/python" - "$model" "$wav" <<'PY'
import sys

from amanuensis import WhisperModel

model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8")
segments, info = model.transcribe(sys.argv[2], beam_size=5)
print("Detected language '%s' with probability %f" % (info.language, info.language_probability))
text = ""
for segment in segments:
    print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text))
    text += segment.text
assert "ask not what your country can do for you" in text, text
import amanuensis
assert "fresh" in amanuensis.__file__, amanuensis.__file__  # the installed copy, not the repository's
print("the installed wheel transcribes")
PY
