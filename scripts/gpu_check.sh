#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine (the `device` tool), in two halves.
#
#   scripts/gpu_check.sh bundle   here: builds build/gpu (CUDA on; no FFmpeg, OpenCL or XRT, whose
#                                 libraries that machine lacks) and fills .gpu/ with the binaries,
#                                 the few shared libraries they need, tiny.en as int8 and two
#                                 16 kHz WAVs: under the 64 MiB that travels with a call.
#   scripts/gpu_check.sh run      there (carry .gpu): GPU inventory, `devices`, every backend
#                                 test (CUDA ops against the CPU, CUDA transcripts), the CUDA ops
#                                 under compute-sanitizer, and CPU-vs-CUDA transcripts with times.
#                                 Logs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle() {
  grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >>.git/info/exclude
  cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG" \
    -DAMANUENSIS_WITH_FFMPEG=OFF -DAMANUENSIS_WITH_OPENCL=OFF -DAMANUENSIS_WITH_XRT=OFF \
    -DAMANUENSIS_WITH_CUDA=ON "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--as-needed" >/dev/null
  ninja -C build/gpu amanuensis tests/backends_tests
  rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/models .gpu/audio
  cp build/gpu/amanuensis build/gpu/tests/backends_tests .gpu/bin/
  strip .gpu/bin/*
  # Every shared library but the C and C++ runtimes, which that machine has in newer versions.
  ldd .gpu/bin/* | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl|librt)[.-]' |
    xargs -r cp -L -t .gpu/lib/
  build/gpu/amanuensis convert --model models/tiny.en --to ct2 --quantize int8 --output .gpu/models/tiny.en
  cp ../shared/audio/jfk.wav .gpu/audio/
  python3 - <<'PY'  # the first 2 minutes of the long test file (16 kHz mono)
import wave
with wave.open(".cache/long10.wav") as source, wave.open(".gpu/audio/long120.wav", "wb") as out:
    assert source.getframerate() == 16000 and source.getnchannels() == 1
    out.setparams(source.getparams())
    out.writeframes(source.readframes(120 * 16000))
PY
  du -sh .gpu .gpu/*
}

run() {
  local out=${OUT:-/tmp/gpu_out}
  mkdir -p "$out"
  # The binaries were built for /work/main and ../shared (tests read models and audio there).
  if [[ ! -e /work/main/.gpu ]]; then mkdir -p /work && ln -sfn "$PWD" /work/main; fi
  if [[ ! -e /work/shared/audio ]]; then mkdir -p /work/shared && ln -sfn "$PWD/.gpu/audio" /work/shared/audio; fi
  [[ -e models ]] || ln -sfn "$PWD/.gpu/models" models
  local cublas
  cublas=$(find /usr/local/cuda/ /usr/local/cuda*/ /opt /usr/lib -name 'libcublas.so.1[0-9]*' 2>/dev/null | head -1)
  export LD_LIBRARY_PATH="$PWD/.gpu/lib:$(dirname "${cublas:-/nonexistent}")"
  local bin=.gpu/bin
  echo "== GPU"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  echo "== cuBLAS: ${cublas:-not found}"
  echo "== devices"; "$bin/amanuensis" devices || true
  echo "== backend tests"
  timeout 200 "$bin/backends_tests" 2>&1 | tee "$out/backends_tests.log" | grep -E '^\[ *(FAILED|PASSED|SKIPPED) |tests ran|cuda \]|Failure|Expected|Which is|rror' | head -80 || true
  echo "cuda tests that passed: $(grep -c -E '^\[ +OK \] .*([Cc]uda)' "$out/backends_tests.log" || true)"
  echo "== CUDA ops under compute-sanitizer (memcheck)"
  timeout 120 compute-sanitizer --tool memcheck --print-limit 20 "$bin/backends_tests" --gtest_filter='*cuda*:*Cuda*' \
    >"$out/sanitizer.log" 2>&1 || true
  grep -E 'ERROR SUMMARY|Invalid|PASSED|FAILED' "$out/sanitizer.log" | head -20 || true
  echo "== transcripts: cpu (all cores) against cuda, beam 5"
  for type in int8 float32; do
    for file in jfk.wav long120.wav; do
      for device in cpu cuda; do
        TIMEFORMAT="$type $device $file: %R s wall (whole process)"
        time ("$bin/amanuensis" transcribe --model models/tiny.en --device "$device" --compute-type "$type" \
          --beam-size 5 --output-format json --output-dir "/tmp/gpujson/$device-$type" ".gpu/audio/$file" 2>&1 | tail -1 || true)
      done
      python3 - "/tmp/gpujson/cpu-$type/${file%.wav}.json" "/tmp/gpujson/cuda-$type/${file%.wav}.json" <<'PY' || true
import json, sys
a, b = (" ".join(s["text"] for s in json.load(open(p))["segments"]) for p in sys.argv[1:])
print("same text" if a == b else f"TEXT DIFFERS\ncpu : {a[:300]}\ncuda: {b[:300]}")
PY
    done
  done
  echo "== bench (cuda, beam 5, then batch 8)"
  "$bin/amanuensis" bench --model models/tiny.en --device cuda .gpu/audio/long120.wav 2>&1 | tail -4 || true
  "$bin/amanuensis" bench --model models/tiny.en --device cuda --batch-size 8 .gpu/audio/long120.wav 2>&1 | tail -4 || true
}

case "${1:-}" in
  bundle) bundle ;;
  run) run ;;
  *) echo "usage: $0 bundle|run" >&2; exit 2 ;;
esac
