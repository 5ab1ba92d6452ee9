// faster-whisper's keyword arguments (as a dict from python/amanuensis/transcribe.py) to the C++
// library's options, and results back to dicts the Python side turns into its dataclasses.
#pragma once

#include <nanobind/nanobind.h>

#include "amanuensis/amanuensis.h"

namespace amanuensis::python {

// Every key must be known; a value of the wrong type or out of range raises naming the key.
TranscribeOptions transcribe_options(const nanobind::dict& kwargs);
VadOptions vad_options(const nanobind::dict& kwargs);

nanobind::dict segment_dict(const Segment& segment);
nanobind::dict info_dict(const Transcription& info);

}  // namespace amanuensis::python
