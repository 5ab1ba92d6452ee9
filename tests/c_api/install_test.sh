#!/usr/bin/env bash
# Installs the build into a fresh prefix and builds the C API test against what was installed,
# twice, as other projects would: with pkg-config, and with CMake's find_package(Amanuensis). Each
# program then transcribes, aborts and reports errors (tests/c_api/c_api_test.c).
#
# usage: install_test.sh BUILD_DIR MODELS_DIR JFK_WAV
set -euo pipefail
build=$1 models=$2 wav=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libamanuensis.so' | head -1)")
test -x "$prefix/bin/amanuensis"
test -f "$prefix/include/amanuensis/amanuensis_c.h"
if [[ -e "$prefix/include/amanuensis/amanuensis.h" ]]; then
  echo "the C++ header was installed; only the C API is public" >&2
  exit 1
fi

echo "== pkg-config"
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs amanuensis)
echo "pkg-config --cflags --libs amanuensis: $flags"
# shellcheck disable=SC2086  # the flags are words
cc -std=c11 -Wall -Wextra -Werror -o "$work/with_pkg_config" "$here/c_api_test.c" $flags -lm
LD_LIBRARY_PATH="$libdir" "$work/with_pkg_config" "$models" "$wav"

echo "== CMake find_package(Amanuensis)"
cmake -S "$here/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer" "$models" "$wav"  # CMake links with the library's path as RUNPATH
