#include "model/hf_model_source.h"

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

std::unique_ptr<ModelSource> open_hf_model(const std::filesystem::path& model_dir) {
  throw Error(model_dir.string() + ": reading Hugging Face models is not built yet");
}

}  // namespace amanuensis::model
