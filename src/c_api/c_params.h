// The C API's parameter structs, to and from the C++ library's options (amanuensis.h).
#pragma once

#include "amanuensis/amanuensis.h"
#include "amanuensis/amanuensis_c.h"

namespace amanuensis::c_api {

amanuensis_model_params default_model_params();
amanuensis_transcribe_params default_transcribe_params();
amanuensis_vad_params vad_params_of(const VadOptions& options);

// Throws Error naming the field for a value the C++ options cannot hold (a NULL array with a
// count, no temperatures, a tristate other than -1, 0 or 1, ...).
ModelOptions model_options(const char* path, const amanuensis_model_params& params);
TranscribeOptions transcribe_options(const amanuensis_transcribe_params& params);

}  // namespace amanuensis::c_api
