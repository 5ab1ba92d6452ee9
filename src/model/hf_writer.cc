#include "amanuensis/amanuensis.h"
#include "model/model_writers.h"

namespace amanuensis::model {

void write_hf_model(const ModelSource& /*source*/, const std::filesystem::path& dir,
                    std::string_view /*type*/) {
  throw Error(dir.string() + ": writing Hugging Face models is not built yet");
}

}  // namespace amanuensis::model
