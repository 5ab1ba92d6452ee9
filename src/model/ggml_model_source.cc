#include "model/ggml_model_source.h"

#include "amanuensis/amanuensis.h"
#include "model/model_writers.h"

namespace amanuensis::model {

std::unique_ptr<ModelSource> open_ggml_model(const std::filesystem::path& path) {
  throw Error(path.string() + ": reading ggml models is not built yet");
}

void write_ggml_model(const ModelSource& /*source*/, const std::filesystem::path& file,
                      std::string_view /*type*/) {
  throw Error(file.string() + ": writing ggml models is not built yet");
}

}  // namespace amanuensis::model
