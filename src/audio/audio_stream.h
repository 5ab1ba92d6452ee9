// Audio that arrives while it is recorded (`arecord ... | amanuensis listen`): read in pieces,
// each handed over as soon as it is decoded, so that live transcription sees speech within a
// fraction of a second of its arrival.
#pragma once

#include <memory>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::audio {

enum class LiveFormat {
  kPcm16,  // raw signed 16-bit little-endian, 16 kHz, mono: no header, nothing to probe
  kAuto,   // any container and codec FFmpeg reads (WAV from arecord, Ogg, MP3, ...)
};

class LiveAudioReader {
 public:
  // Reads from the file descriptor `fd` (not closed here). `source` names it in errors.
  // Throws Error when the input cannot be opened (kAuto: not a format FFmpeg recognises, or a
  // build without FFmpeg).
  static std::unique_ptr<LiveAudioReader> open(int fd, LiveFormat format, std::string source);

  LiveAudioReader() = default;
  LiveAudioReader(const LiveAudioReader&) = delete;
  LiveAudioReader& operator=(const LiveAudioReader&) = delete;
  virtual ~LiveAudioReader() = default;

  // Waits for more input and appends its 16 kHz mono samples to `out` (possibly none, when the
  // input held only a header or part of a sample). False at the end of the input, once
  // everything before it has been appended.
  virtual bool read(Waveform& out) = 0;
};

// kAuto's reader (audio_stream_ffmpeg.cc, or a stub in builds without FFmpeg).
std::unique_ptr<LiveAudioReader> open_ffmpeg_live_reader(int fd, std::string source);

}  // namespace amanuensis::audio
