// Audio decoding lives behind the public decode_audio_file / decode_audio_bytes declared in
// <amanuensis/amanuensis.h>; this header holds the module's limits and a variant of
// decode_audio_bytes whose limit can be lowered, so that tests reach it without hours of audio.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::audio {

// Longest audio accepted, so that a hostile file cannot make us allocate without bound.
inline constexpr double kMaxDurationSeconds = 6.0 * 3600.0;

// decode_audio_bytes, refusing audio longer than `max_duration_seconds`.
Waveform decode_audio_bytes(std::span<const std::uint8_t> bytes, double max_duration_seconds);

// A RIFF WAV file (16 kHz, 16-bit PCM or 32-bit float, any channel count mixed to mono), as a build
// without FFmpeg reads its input. Errors name `source`.
Waveform decode_wav(std::span<const std::uint8_t> bytes, double max_duration_seconds,
                    const std::string& source);

}  // namespace amanuensis::audio
