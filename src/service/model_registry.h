// The models one `amanuensis serve` offers (--model, --models-dir), by name: each loads on first
// use, once however many requests ask at the same time, and may be unloaded again, by the API or
// after --model-ttl seconds unused. A request holds a lease on its model while it runs; a model
// with leases out is never unloaded by the TTL, and one unloaded by the API lives on in the
// requests that still hold it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::service {

// A model the server may load: its public name and where it lies (a folder or a file).
struct ModelSource {
  std::string name;
  std::filesystem::path path;
};

// The models of a configuration, in the order given; `default_index` names the one `whisper-1`
// and the other OpenAI names stand for.
struct ModelCatalog {
  std::vector<ModelSource> models;
  std::size_t default_index = 0;
};

// The catalog of --model PATH (repeatable, in order) and --models-dir DIR (every entry not
// starting with '.', sorted by name). The default is `default_name` when given, else the first
// --model, else the first name of the folder. Throws Error for a folder that does not exist or
// holds no model, two different models with one name, or an unknown `default_name`.
ModelCatalog find_models(const std::vector<std::filesystem::path>& model_paths,
                         const std::filesystem::path& models_dir, const std::string& default_name);

// The name a model at `path` goes by: its folder's or file's name.
std::string model_name_of(const std::filesystem::path& path);

// Whether `requested` is a name OpenAI clients send that stands for the default model: empty,
// whisper-1, gpt-4o-transcribe, gpt-4o-mini-transcribe or any other whisper-*.
bool is_default_model_alias(std::string_view requested);

enum class ModelState { kUnloaded, kLoading, kLoaded };
std::string_view model_state_name(ModelState state);

// What is known of a model once it has loaded (kept after it is unloaded).
struct ModelSummary {
  std::string name;
  std::filesystem::path path;
  std::uintmax_t size_bytes = 0;
  ModelInfo info;
  std::vector<BackendReport> backends;
};

// One model as the registry sees it now.
struct ModelStatus {
  std::string name;
  std::filesystem::path path;
  ModelState state = ModelState::kUnloaded;
  bool is_default = false;
  int in_use = 0;                       // leases out
  std::optional<ModelSummary> summary;  // after the first load
  std::string load_error;               // why the last load failed; empty when it did not
};

// A model held for one request; the model stays resident at least until the lease is dropped.
using ModelLease = std::shared_ptr<const Model>;

// A lease with the name the registry knows the model by (which requests may send as `model`).
struct NamedModel {
  std::string name;
  ModelLease lease;

  const Model& operator*() const { return *lease; }
  const Model* operator->() const { return lease.get(); }
};

class ModelRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  using Loader = std::function<Model(const ModelSource&)>;

  // `ttl`: a model unused for this long is unloaded; negative: never; zero: as soon as the last
  // lease is dropped.
  ModelRegistry(ModelCatalog catalog, Loader loader, std::chrono::duration<double> ttl);
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  [[nodiscard]] bool empty() const;
  [[nodiscard]] std::string default_name() const;

  // The model `requested` names: a model's own name, else an OpenAI alias for the default.
  // Throws ApiError 404 model_not_found.
  [[nodiscard]] std::string resolve(std::string_view requested) const;

  // The model named `name` (as resolve returns it), loading it first when it is not resident;
  // concurrent callers wait for the one load. Throws ApiError: 404 for an unknown name, 500
  // naming the model when it fails to load (a later call tries again).
  [[nodiscard]] ModelLease acquire(const std::string& name);

  // Loads (as acquire) or unloads `name`; returns its status afterwards. Unloading drops the
  // registry's reference: requests holding a lease finish on it, then its memory is freed.
  ModelStatus load(const std::string& name);
  ModelStatus unload(const std::string& name);

  [[nodiscard]] ModelStatus status(const std::string& name) const;
  [[nodiscard]] std::vector<ModelStatus> list() const;

  // The model if it is resident, without leasing it (for /status and metrics).
  [[nodiscard]] std::optional<Model> resident(const std::string& name) const;

  // Sum of `field` over every model's decoder counters, those of unloaded models included.
  [[nodiscard]] std::int64_t decoder_total(std::int64_t Timings::*field) const;

  struct Shared;  // the state leases and the TTL thread share
  struct Hold;    // what a lease holds

 private:
  void reap(const std::stop_token& stop);

  std::shared_ptr<Shared> shared_;
  std::jthread reaper_;  // last: it starts once the state exists; absent when ttl is negative
};

}  // namespace amanuensis::service
