// Which models a server offers (--model, --models-dir, --default-model) and what names stand for
// the default one.
#include <algorithm>
#include <array>
#include <system_error>

#include "service/model_registry.h"

namespace amanuensis::service {

namespace {

// Names OpenAI clients send for a transcription model, beyond any whisper-*.
constexpr std::array<std::string_view, 2> kOpenAiModelNames = {"gpt-4o-transcribe",
                                                               "gpt-4o-mini-transcribe"};

// The entries of `folder` that are models: folders and regular files (links followed), hidden
// names skipped, sorted by name.
std::vector<ModelSource> models_in(const std::filesystem::path& folder) {
  std::error_code error;
  if (!std::filesystem::is_directory(folder, error)) {
    throw Error("--models-dir " + folder.string() + ": no such folder");
  }
  std::vector<ModelSource> found;
  for (std::filesystem::directory_iterator it(folder, error), end; !error && it != end;
       it.increment(error)) {
    const auto name = it->path().filename().string();
    if (name.empty() || name.front() == '.') continue;
    std::error_code kind_error;
    if (it->is_directory(kind_error) || it->is_regular_file(kind_error)) {
      found.push_back({name, it->path()});
    }
  }
  if (error) throw Error("--models-dir " + folder.string() + ": " + error.message());
  if (found.empty()) {
    throw Error("--models-dir " + folder.string() +
                " holds no model (expected a folder or file per model)");
  }
  std::ranges::sort(found, {}, &ModelSource::name);
  return found;
}

// Adds `source` unless a model of that name is there already: the same path is the same model,
// another path under the same name is an error.
void add_model(std::vector<ModelSource>& models, ModelSource source) {
  const auto same_name = std::ranges::find(models, source.name, &ModelSource::name);
  if (same_name == models.end()) {
    models.push_back(std::move(source));
    return;
  }
  std::error_code error;
  if (std::filesystem::equivalent(same_name->path, source.path, error)) return;
  throw Error("two models are named '" + source.name + "': " + same_name->path.string() + " and " +
              source.path.string() + " (models are named after their folder or file)");
}

}  // namespace

std::string model_name_of(const std::filesystem::path& path) {
  auto name = path.filename().string();
  if (name.empty()) name = path.parent_path().filename().string();  // a trailing '/'
  return name;
}

bool is_default_model_alias(std::string_view requested) {
  return requested.empty() || requested.starts_with("whisper-") ||
         std::ranges::find(kOpenAiModelNames, requested) != kOpenAiModelNames.end();
}

ModelCatalog find_models(const std::vector<std::filesystem::path>& model_paths,
                         const std::filesystem::path& models_dir, const std::string& default_name) {
  ModelCatalog catalog;
  for (const auto& path : model_paths) add_model(catalog.models, {model_name_of(path), path});
  if (!models_dir.empty()) {
    for (auto& source : models_in(models_dir)) add_model(catalog.models, std::move(source));
  }
  if (!default_name.empty()) {
    const auto found = std::ranges::find(catalog.models, default_name, &ModelSource::name);
    if (found == catalog.models.end()) {
      std::string known;
      for (const auto& model : catalog.models) known += (known.empty() ? "" : ", ") + model.name;
      throw Error("--default-model '" + default_name + "' is not one of the models (" + known +
                  ")");
    }
    catalog.default_index = static_cast<std::size_t>(found - catalog.models.begin());
  }
  return catalog;
}

std::string_view model_state_name(ModelState state) {
  switch (state) {
    case ModelState::kUnloaded:
      return "unloaded";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kLoaded:
      return "loaded";
  }
  return "unloaded";
}

}  // namespace amanuensis::service
