#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang (AddressSanitizer + UndefinedBehavior-
# Sanitizer) and runs each for a bounded time from a seed corpus this script writes. Any crash,
# sanitizer report, leak or input that takes over --timeout seconds fails the run (exit 1), and
# libFuzzer leaves the input as crash-*/leak-*/timeout-* in the build folder.
#
#   tests/fuzz/run.sh [--seconds N] [--build-dir DIR] [TARGET...]
#
# Targets: multipart_fuzz (Content-Type + body -> multipart parser -> form options, VAD fields),
# audio_decoder_fuzz (bytes -> decode_audio_bytes and the WAV reader decode_wav), http_request_fuzz (connection bytes -> the
# whole HTTP path of `amanuensis serve`, no socket), onnx_reader_fuzz (bytes -> the VAD's ONNX
# reader -> the Silero VAD loader), realtime_event_fuzz (a realtime client event -> its parser; then
# lines of it as the messages of a whole transcription session), safetensors_fuzz (bytes -> the
# Hugging Face checkpoint reader), ggml_model_fuzz (bytes as a whisper.cpp model file ->
# open_ggml_model, its tensors, vocabulary and configuration). ctest runs this as the `fuzz`
# test. Needs clang++ with
# libFuzzer (Debian: clang, libclang-rt-14-dev; scripts/setup.sh installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER_TARGET=30
BUILD=$ROOT/build/fuzz
TARGETS=()
while (($#)); do
  case $1 in
    --seconds) SECONDS_PER_TARGET=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
((${#TARGETS[@]})) || TARGETS=(multipart_fuzz audio_decoder_fuzz http_request_fuzz onnx_reader_fuzz
                                realtime_event_fuzz safetensors_fuzz ggml_model_fuzz)

BUILD=$(realpath -m "$BUILD")  # the targets run from inside it

CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p "$BUILD"
log() { printf 'fuzz: %s\n' "$*" >&2; }

# Line tables only: sanitizer reports still name file and line, and the ASan build of the service's
# Beast sources compiles about a fifth faster than with full debug information.
CXXFLAGS=(-std=c++20 -O1 -gline-tables-only -fno-omit-frame-pointer
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
          -I"$ROOT/include" -I"$ROOT/src" -I"$ROOT/tests")

# http_request_fuzz compiles the service (and the job store it uses, when there is one) but not
# the engine: the service reaches the engine only through amanuensis.h, whose entry points the
# target stubs. server.cc, the process lifecycle, is left out.
service_sources() {
  local f
  for f in "$ROOT"/src/service/*.cc "$ROOT"/src/jobs/*.cc "$ROOT/src/formats/transcript_formats.cc"; do
    # Not the process (server.cc), nor the live sessions, which need the realtime library and
    # the engine; a WebSocket upgrade cannot come through the fuzz target's in-memory path
    # anyway (realtime_event_fuzz covers their events).
    case $(basename "$f") in server.cc | live_sessions.cc | routes_realtime.cc) continue ;; esac
    [[ -f $f ]] && printf '%s\n' "$f"
  done
  return 0
}

# Every source is compiled once into $BUILD/obj (targets share the service's files), on all cores,
# and again only when it or a header changed. Compile flags are the same for every target: the
# pkg-config flags of all the libraries any target links.
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags libavformat libavcodec libswresample libavutil \
  libhwy 2>/dev/null; pkg-config --cflags hiredis 2>/dev/null || true)"
printf '%s\n' "${CXXFLAGS[@]}" "${PKG_CFLAGS[@]}" >"$BUILD/cxxflags"
HEADERS_STAMP=$BUILD/headers.stamp
newest_header=$(find "$ROOT/include" "$ROOT/src" "$ROOT/tests/support" -name '*.h' -printf '%T@\n' |
  sort -n | tail -n 1)
touch -d "@${newest_header%.*}" "$HEADERS_STAMP"
[[ ${BASH_SOURCE[0]} -nt $HEADERS_STAMP ]] && touch -r "${BASH_SOURCE[0]}" "$HEADERS_STAMP"

compile_one() {  # compile_one SOURCE OBJECT (run by xargs, one per core)
  local flags
  mapfile -t flags <"$BUILD/cxxflags"
  "$CXX" "${flags[@]}" -c "$1" -o "$2"
}
export -f compile_one
export CXX BUILD

build() {  # build NAME SOURCES...; links with ${LINK[@]}; compiles only what changed
  local name=$1; shift
  local out=$BUILD/$name src obj relink=0
  local objects=() stale=()
  mkdir -p "$BUILD/obj"
  for src in "$@"; do
    if [[ $src == *.o ]]; then objects+=("$src"); continue; fi
    obj=${src#"$ROOT"/}
    obj=$BUILD/obj/${obj//\//_}.o
    objects+=("$obj")
    [[ -f $obj && ! $src -nt $obj && ! $HEADERS_STAMP -nt $obj ]] || stale+=("$src" "$obj")
  done
  if ((${#stale[@]})); then
    log "compiling $((${#stale[@]} / 2)) sources for $name"
    printf '%s\n' "${stale[@]}" | xargs -d '\n' -n 2 -P "$(nproc)" "$BASH" -c 'compile_one "$@"' _ ||
      { echo "fuzz: compiling $name failed" >&2; exit 1; }
  fi
  [[ -x $out ]] || relink=1
  for obj in "${objects[@]}"; do [[ $obj -nt $out ]] && relink=1; done
  ((relink)) || return 0
  log "linking $name"
  "$CXX" "${CXXFLAGS[@]}" "${objects[@]}" "${LINK[@]}" -o "$out"
}

# --- seeds --------------------------------------------------------------------------------------
write_multipart_seeds() {
  local dir=$1
  mkdir -p "$dir"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVEfmt data\r\n--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b\r\nContent-Disposition: form-data; name="response_format"\r\n\r\nverbose_json\r\n--b\r\nContent-Disposition: form-data; name="timestamp_granularities[]"\r\n\r\nword\r\n--b--\r\n' >"$dir/openai"
  printf 'multipart/form-data; boundary="quoted boundary"\npreamble\r\n--quoted boundary\r\nContent-Disposition: form-data; name=file; filename*=UTF-8'"''"'na%%C3%%AFve.wav\r\n\r\nxyz\r\n--quoted boundary\r\nContent-Disposition: form-data; name="temperature"\r\n\r\n0.2,0.4\r\n--quoted boundary\r\nContent-Disposition: form-data; name="language"\r\n\r\nde\r\n--quoted boundary--\r\nepilogue' >"$dir/quoted"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="audio"; filename="x"\r\n\r\n\x00\x01\r\n--b\r\nContent-Disposition: form-data; name="task"\r\n\r\ntranslate\r\n--b\r\nContent-Disposition: form-data; name="beam_size"\r\n\r\n5\r\n--b\r\nContent-Disposition: form-data; name="suppress_tokens"\r\n\r\n[-1, 50, 51]\r\n--b\r\nContent-Disposition: form-data; name="clip_timestamps"\r\n\r\n0,5.5\r\n--b\r\nContent-Disposition: form-data; name="no_speech_threshold"\r\n\r\nnone\r\n--b--\r\n' >"$dir/legacy"
  # Issue 17's fields: per-window language, the languages to choose from, token logprobs.
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc\r\n--b\r\nContent-Disposition: form-data; name="multilingual"\r\n\r\ntrue\r\n--b\r\nContent-Disposition: form-data; name="languages[]"\r\n\r\nde,es\r\n--b\r\nContent-Disposition: form-data; name="include[]"\r\n\r\nlogprobs\r\n--b\r\nContent-Disposition: form-data; name="language_detection_segments"\r\n\r\n2\r\n--b\r\nContent-Disposition: form-data; name="keywords[]"\r\n\r\nGutenberg:2,Caxton\r\n--b--\r\n' >"$dir/languages"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc\r\n--b\r\nContent-Disposition: form-data; name="stream"\r\n\r\ntrue\r\n--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nHello \\"world\\"\r\n--b--\r\n' >"$dir/stream"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc\r\n--b' >"$dir/truncated"
  printf 'application/json\n{"file": 1}' >"$dir/json"
  # Long recordings: the VAD's settings as one JSON field and as bracketed keys (the openai SDK's
  # encoding), chunking_strategy both ways, batch_size, the repetition controls, and the fields
  # of /v1/audio/speech/timestamps.
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name="vad_filter"\r\n\r\ntrue\r\n--b\r\nContent-Disposition: form-data; name="vad_parameters"\r\n\r\n{"threshold": 0.6, "neg_threshold": null, "min_speech_duration_ms": 250, "max_speech_duration_s": "inf", "min_silence_duration_ms": 500, "speech_pad_ms": 100}\r\n--b\r\nContent-Disposition: form-data; name="batch_size"\r\n\r\n8\r\n--b--\r\n' >"$dir/vad_json"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name="vad_parameters[threshold]"\r\n\r\n0.3\r\n--b\r\nContent-Disposition: form-data; name="vad_parameters[max_speech_duration_s]"\r\n\r\ninf\r\n--b\r\nContent-Disposition: form-data; name="repetition_penalty"\r\n\r\n1.2\r\n--b\r\nContent-Disposition: form-data; name="no_repeat_ngram_size"\r\n\r\n3\r\n--b--\r\n' >"$dir/vad_brackets"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="chunking_strategy[type]"\r\n\r\nserver_vad\r\n--b\r\nContent-Disposition: form-data; name="chunking_strategy[threshold]"\r\n\r\n0.6\r\n--b\r\nContent-Disposition: form-data; name="chunking_strategy[prefix_padding_ms]"\r\n\r\n100\r\n--b\r\nContent-Disposition: form-data; name="chunking_strategy[silence_duration_ms]"\r\n\r\n500\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b--\r\n' >"$dir/chunking_brackets"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="chunking_strategy"\r\n\r\n{"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b--\r\n' >"$dir/chunking_json"
  printf 'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="chunking_strategy"\r\n\r\nauto\r\n--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nsilero_vad_v6\r\n--b\r\nContent-Disposition: form-data; name="threshold"\r\n\r\n0.75\r\n--b\r\nContent-Disposition: form-data; name="neg_threshold"\r\n\r\nNone\r\n--b\r\nContent-Disposition: form-data; name="speech_pad_ms"\r\n\r\n30\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b--\r\n' >"$dir/timestamps"
}

write_multipart_dictionary() {
  cat >"$1" <<'EOF'
"--"
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
"--b"
"--b--"
"\x0d\x0a--b"
"multipart/form-data"
"boundary="
"Content-Disposition: form-data; "
"Content-Type: "
"name=\"file\""
"filename=\""
"filename*=UTF-8''"
"name=\"model\""
"name=\"language\""
"name=\"temperature\""
"name=\"response_format\""
"name=\"timestamp_granularities[]\""
"name=\"stream\""
"name=\"beam_size\""
"name=\"word_timestamps\""
"name=\"max_new_tokens\""
"name=\"task\""
"verbose_json"
"whisper-1"
"true"
"none"
"nan"
"1e309"
"-1"
"name=\"vad_filter\""
"name=\"vad_parameters\""
"name=\"vad_parameters["
"name=\"chunking_strategy\""
"name=\"chunking_strategy["
"name=\"batch_size\""
"name=\"chunk_length\""
"name=\"repetition_penalty\""
"name=\"no_repeat_ngram_size\""
"name=\"multilingual\""
"name=\"language_detection_segments\""
"name=\"language_detection_threshold\""
"name=\"languages[]\""
"name=\"include[]\""
"name=\"keywords[]\""
"name=\"keywords\""
"Gutenberg:2,Caxton"
"logprobs"
"de,es"
"name=\"clip_timestamps\""
"name=\"threshold\""
"name=\"neg_threshold\""
"name=\"min_speech_duration_ms\""
"name=\"max_speech_duration_s\""
"name=\"min_silence_duration_ms\""
"name=\"speech_pad_ms\""
"threshold]\""
"neg_threshold]\""
"min_speech_duration_ms]\""
"max_speech_duration_s]\""
"min_silence_duration_ms]\""
"speech_pad_ms]\""
"type]\""
"prefix_padding_ms]\""
"silence_duration_ms]\""
"{\"threshold\": 0.5}"
"{\"type\": \"server_vad\"}"
"\"threshold\":"
"\"neg_threshold\":"
"\"min_silence_duration_ms\":"
"\"max_speech_duration_s\":"
"\"speech_pad_ms\":"
"\"type\":"
"\"server_vad\""
"\"prefix_padding_ms\":"
"\"silence_duration_ms\":"
"auto"
"server_vad"
"silero_vad_v6"
"inf"
"null"
"[["
"{"
"}"
EOF
}

write_http_seeds() {
  local dir=$1
  mkdir -p "$dir"
  # The first byte picks the server: even, no API key; odd, --api-key k3y.
  printf '\x00GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /status HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n' >"$dir/gets"
  printf '\x01GET /v1/models HTTP/1.1\r\nAuthorization: Bearer k3y\r\n\r\nGET /v1/models/whisper-1 HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n' >"$dir/auth"
  local form='--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name="stream"\r\n\r\ntrue\r\n--b--\r\n'
  local length
  length=$(printf "%b" "$form" | wc -c)
  { printf '\x00POST /v1/audio/transcriptions HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %s\r\n\r\n' "$length"
    printf "%b" "$form"; } >"$dir/upload"
  printf '\x00POST /transcribe?language=en&beam_size=1 HTTP/1.1\r\nContent-Type: audio/wav\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nRIFF\r\n0\r\n\r\n' >"$dir/chunked"
  printf '\x00POST /v1/audio/translations HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n' >"$dir/expect"
  printf '\x00POST /v1/audio/transcriptions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Encoding: gzip\r\n\r\n{}' >"$dir/json"
  local vad_form='--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name="chunking_strategy[type]"\r\n\r\nserver_vad\r\n--b\r\nContent-Disposition: form-data; name="vad_parameters"\r\n\r\n{"threshold": 0.6}\r\n--b--\r\n'
  length=$(printf "%b" "$vad_form" | wc -c)
  { printf '\x00POST /v1/audio/transcriptions HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %s\r\n\r\n' "$length"
    printf "%b" "$vad_form"; } >"$dir/vad_upload"
  local timestamps_form='--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name="threshold"\r\n\r\n0.5\r\n--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nsilero_vad_v6\r\n--b--\r\n'
  length=$(printf "%b" "$timestamps_form" | wc -c)
  { printf '\x00POST /v1/audio/speech/timestamps HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %s\r\n\r\n' "$length"
    printf "%b" "$timestamps_form"; } >"$dir/timestamps"
}

write_http_dictionary() {
  cat >"$1" <<'EOF'
"GET "
"POST "
" HTTP/1.1\x0d\x0a"
"\x0d\x0a"
"Host: "
"Content-Length: "
"Content-Type: "
"Transfer-Encoding: chunked"
"Content-Encoding: gzip"
"Connection: close"
"Expect: 100-continue"
"Authorization: Bearer k3y"
"Range: bytes="
"multipart/form-data; boundary=b"
"/v1/audio/transcriptions"
"/v1/audio/translations"
"/v1/audio/speech/timestamps"
"/transcribe"
"/health"
"/status"
"/metrics"
"/v1/models/"
"Content-Disposition: form-data; name=\"file\"; filename=\"a\""
"--b"
"--b--"
EOF
}

write_audio_seeds() {
  local dir=$1
  mkdir -p "$dir"
  # A 16 kHz mono 16-bit WAV of 1600 samples (0.1 s).
  { printf 'RIFF\x84\x0c\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x80\x0c\x00\x00'
    head -c 3200 /dev/zero | tr '\0' '\100'; } >"$dir/tiny.wav"
  # The first bytes of real files in each container the dev set has, when the set is there.
  local shared=$ROOT/../shared/audio
  for f in jfk.wav jfk.mp3 jfk.flac jfk.ogg jfk.m4a; do
    [[ -f $shared/$f ]] && head -c 16384 "$shared/$f" >"$dir/$f"
  done
  return 0
}

write_onnx_seeds() {
  local dir=$1
  mkdir -p "$dir"
  # ModelProto{ir_version 8, graph{initializer{dims 2, FLOAT, name "w", raw_data [1.0, 2.0]}}}.
  printf '\x08\x08\x3a\x13\x2a\x11\x08\x02\x10\x01\x42\x01w\x4a\x08\x00\x00\x80\x3f\x00\x00\x00\x40' >"$dir/tiny.onnx"
  # The same with packed dims, float_data, an int64 tensor, a skipped node and doc string.
  printf '\x08\x08\x12\x04test\x3a\x30\x0a\x06\x0a\x01x\x12\x01y\x2a\x13\x0a\x02\x01\x02\x10\x01\x22\x08\x00\x00\x80\x3f\x00\x00\x00\x40\x42\x01f\x2a\x11\x08\x01\x10\x07\x42\x01s\x4a\x08\xff\xff\xff\xff\xff\xff\xff\xff' >"$dir/mixed.onnx"
  # The start of the real model (its nodes and first weights), when there is one.
  local model
  for model in "$ROOT/models/silero_vad_v6.onnx" \
    "$ROOT"/.venv/lib/python3*/site-packages/faster_whisper/assets/silero_vad_v6.onnx; do
    if [[ -f $model ]]; then head -c 65536 "$model" >"$dir/silero_head.onnx"; break; fi
  done
  return 0
}

write_safetensors_seeds() {
  local dir=$1 header
  mkdir -p "$dir"
  # Two tensors (F16 [2], F32 [1, 1]) and metadata, the header padded to 8 bytes.
  header='{"__metadata__":{"format":"pt"},"a.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}'
  while (((${#header} % 8) != 0)); do header+=' '; done
  { printf "$(printf '\\x%02x' $((${#header} & 255)) $((${#header} >> 8)) 0 0 0 0 0 0)"
    printf '%s' "$header"; printf '\x00\x3c\x00\x40\x00\x00\x80\x3f'; } >"$dir/two.safetensors"
  return 0
}

write_realtime_seeds() {
  local dir=$1
  mkdir -p "$dir"
  printf '%s\n' '{"type": "session.update", "event_id": "e1", "session": {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "whisper-1", "language": "en", "prompt": "x", "keywords": ["Caxton", "Gutenberg:2"]}, "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}, "noise_reduction": null}}, "include": ["item.input_audio_transcription.logprobs"]}}' \
    '{"type": "input_audio_buffer.append", "audio": "'"$(head -c 9600 /dev/zero | tr '\0' '\177' | base64 -w0)"'"}' \
    '{"type": "input_audio_buffer.append", "audio": "'"$(head -c 9600 /dev/zero | base64 -w0)"'"}' \
    '{"type": "input_audio_buffer.commit"}' >"$dir/ga"
  printf '%s\n' '{"type": "transcription_session.update", "session": {"input_audio_format": "g711_ulaw", "turn_detection": null, "input_audio_transcription": {"model": "whisper-1"}}}' \
    '{"type": "input_audio_buffer.append", "audio": "'"$(head -c 4000 /dev/zero | tr '\0' '\020' | base64 -w0)"'"}' \
    '{"type": "input_audio_buffer.commit", "event_id": "c"}' '{"type": "input_audio_buffer.clear"}' \
    '{"type": "input_audio_buffer.append", "audio": "AB$="}' '{"type": "nope"}' 'not json' >"$dir/beta"
}

write_realtime_dictionary() {
  cat >"$1" <<'EOF2'
"\"type\": "
"\"session.update\""
"\"transcription_session.update\""
"\"input_audio_buffer.append\""
"\"input_audio_buffer.commit\""
"\"input_audio_buffer.clear\""
"\"audio\": "
"\"keywords\": "
"\"Gutenberg:2\""
"\"session\": "
"\"input\": "
"\"format\": "
"\"audio/pcm\""
"\"audio/pcmu\""
"\"audio/pcma\""
"\"rate\": 24000"
"\"turn_detection\": "
"\"server_vad\""
"\"threshold\": "
"\"prefix_padding_ms\": "
"\"silence_duration_ms\": "
"\"transcription\": "
"\"include\": "
"\"input_audio_format\": "
"\"pcm16\""
"\"g711_ulaw\""
"null"
"f39/f39/"
"=="
"\x0a"
EOF2
}

write_ggml_seeds() {
  local dir=$1
  mkdir -p "$dir"
  # i32 little-endian words, from decimal.
  words() { local w; for w in "$@"; do printf '%08x' $((w & 0xFFFFFFFF)) | sed 's/\(..\)\(..\)\(..\)\(..\)/\\x\4\\x\3\\x\2\\x\1/'; done; }
  local magic=1734831468  # "ggml"
  # tiny.en's header, no mel filters, and a vocabulary cut short after two tokens.
  printf "$(words $magic 51864 1500 384 6 4 448 384 6 4 80 1 0 0 50256 1 33 2)" >"$dir/header"
  printf '"ab' >>"$dir/header"
  # a small model's header (width 32, one layer each side, q5_0) and a first tensor record.
  printf "$(words $magic 51865 3 32 2 1 2 32 2 1 80 2008 1 2 0 1 0 1 28 0 32 3)encoder.positional_embedding" >"$dir/tensor"
  return 0
}

# --- build and run ------------------------------------------------------------------------------
# run_target TARGET CORPUS SEEDS EXTRA...: fuzzes one built target, leaving $BUILD/TARGET.failed
# if it fails. Started in the background, as many at once as there are cores (each is one
# process), while the next target builds.
run_target() {
  local target=$1 corpus=$2 seeds=$3
  shift 3
  # Inputs that once failed (tests/fuzz/regressions/TARGET, committed) run first, every time.
  local regressions=()
  [[ -d $ROOT/tests/fuzz/regressions/$target ]] && regressions=("$ROOT/tests/fuzz/regressions/$target")
  log "running $target for ${SECONDS_PER_TARGET}s"
  if (cd "$BUILD" && "./$target" "$corpus" "$seeds" "${regressions[@]}" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 "$@" 2>"$BUILD/$target.log"); then
    log "$target: no crash ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/$target.log" | grep -o '[0-9]*$') runs)"
  else
    touch "$BUILD/$target.failed"
    log "$target FAILED; tail of $BUILD/$target.log:"
    tail -40 "$BUILD/$target.log" >&2
  fi
}
status=0
rm -f "$BUILD"/*.failed
for target in "${TARGETS[@]}"; do
  seeds=$BUILD/seeds/$target
  corpus=$BUILD/corpus/$target
  mkdir -p "$corpus"
  extra=()
  case $target in
    multipart_fuzz)
      LINK=()
      build multipart_fuzz "$ROOT/tests/fuzz/multipart_fuzz.cc" "$ROOT/src/service/multipart.cc" \
        "$ROOT/src/service/form_options.cc" "$ROOT/src/service/form_values.cc" \
        "$ROOT/src/service/vad_fields.cc" "$ROOT/src/service/api_error.cc" \
        "$ROOT/src/service/model_catalog.cc" "$ROOT/src/formats/transcript_formats.cc" \
        "$ROOT/src/vad/vad_defaults.cc" "$ROOT/src/util/keywords.cc" "$ROOT/src/util/languages.cc"
      write_multipart_seeds "$seeds"
      write_multipart_dictionary "$BUILD/multipart.dict"
      extra=(-dict="$BUILD/multipart.dict" -max_len=8192)
      ;;
    audio_decoder_fuzz)
      read -r -a LINK <<<"$(pkg-config --cflags --libs libavformat libavcodec libswresample libavutil)"
      build audio_decoder_fuzz "$ROOT/tests/fuzz/audio_decoder_fuzz.cc" "$ROOT/src/audio/audio_decoder.cc" \
        "$ROOT/src/audio/ffmpeg_input.cc" \
        "$ROOT/src/audio/wav_decoder.cc"
      write_audio_seeds "$seeds"
      extra=(-max_len=65536)
      ;;
    http_request_fuzz)
      # Boost (Beast, Asio) is header-only; hiredis for the job store, when there is one.
      packages=()
      compgen -G "$ROOT/src/jobs/*.cc" >/dev/null && packages+=(hiredis)
      read -r -a LINK <<<"$( ((${#packages[@]})) && pkg-config --cflags --libs "${packages[@]}") -pthread"
      mapfile -t sources < <(service_sources)
      build http_request_fuzz "$ROOT/tests/fuzz/http_request_fuzz.cc" "${sources[@]}" \
        "$ROOT/src/vad/vad_defaults.cc" "$ROOT/src/util/keywords.cc" "$ROOT/src/util/languages.cc"
      write_http_seeds "$seeds"
      write_http_dictionary "$BUILD/http.dict"
      extra=(-dict="$BUILD/http.dict" -max_len=16384)
      ;;
    onnx_reader_fuzz)
      # Highway's kernels are compiled on their own: for the baseline instruction set only, and
      # under AddressSanitizer alone (with UBSan too this one file takes a minute to compile).
      kernels=$BUILD/vad_kernels.o
      if [[ ! $kernels -nt $ROOT/src/vad/vad_kernels.cc || ! $kernels -nt $ROOT/src/vad/vad_kernels.h ]]; then
        log "building vad_kernels.o"
        "$CXX" -std=c++20 -O1 -g -fsanitize=address -DHWY_COMPILE_ONLY_STATIC=1 -I"$ROOT/include" \
          -I"$ROOT/src" -c "$ROOT/src/vad/vad_kernels.cc" -o "$kernels"
      fi
      read -r -a LINK <<<"$(pkg-config --libs libhwy)"
      build onnx_reader_fuzz "$ROOT/tests/fuzz/onnx_reader_fuzz.cc" "$ROOT/src/vad/onnx_reader.cc" \
        "$ROOT/src/vad/silero_vad.cc" "$kernels"
      write_onnx_seeds "$seeds"
      extra=(-max_len=65536)
      ;;
    realtime_event_fuzz)
      LINK=(-pthread)
      build realtime_event_fuzz "$ROOT/tests/fuzz/realtime_event_fuzz.cc" "$ROOT"/src/realtime/*.cc \
        "$ROOT/src/util/keywords.cc"
      write_realtime_seeds "$seeds"
      write_realtime_dictionary "$BUILD/realtime.dict"
      extra=(-dict="$BUILD/realtime.dict" -max_len=65536)
      ;;
    safetensors_fuzz)
      LINK=()
      build safetensors_fuzz "$ROOT/tests/fuzz/safetensors_fuzz.cc" "$ROOT/src/model/safetensors_file.cc" \
        "$ROOT/src/model/ct2_model_file.cc" "$ROOT/src/util/mapped_file.cc"
      write_safetensors_seeds "$seeds"
      extra=(-max_len=4096)
      ;;
    ggml_model_fuzz)
      LINK=()
      build ggml_model_fuzz "$ROOT/tests/fuzz/ggml_model_fuzz.cc" \
        "$ROOT"/src/model/{ggml_model_source,ggml_layout,ggml_blocks,ggml_vocabulary}.cc \
        "$ROOT"/src/model/{tensor_values,tokenizer,model_source,ct2_model_source,ct2_model_file}.cc \
        "$ROOT"/src/model/{hf_model_source,safetensors_file,vocabulary_files}.cc \
        "$ROOT/src/util/mapped_file.cc" "$ROOT/src/util/languages.cc"
      write_ggml_seeds "$seeds"
      extra=(-max_len=65536)
      ;;
    *) echo "fuzz: unknown target $target" >&2; exit 2 ;;
  esac
  while (($(jobs -rp | wc -l) >= $(nproc))); do wait -n || true; done
  run_target "$target" "$corpus" "$seeds" "${extra[@]}" &
done
wait
failed=("$BUILD"/*.failed)
[[ -e ${failed[0]} ]] && status=1
if ((status == 0)); then
  echo "fuzz: ${#TARGETS[@]} passed, 0 failed"
else
  echo "fuzz: some targets failed"
fi
exit $status
