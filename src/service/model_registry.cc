#include "service/model_registry.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "service/api_error.h"

namespace amanuensis::service {

namespace {

// The decoder counters /metrics reports, kept across unloads.
constexpr std::array<std::int64_t Timings::*, 5> kDecoderCounters = {
    &Timings::decoder_calls, &Timings::decoded_tokens, &Timings::batched_calls,
    &Timings::batched_requests, &Timings::batched_tokens};

std::uintmax_t size_on_disk(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    const auto size = std::filesystem::file_size(path, error);
    return error ? 0 : size;
  }
  std::uintmax_t total = 0;
  for (std::filesystem::directory_iterator it(path, error), end; !error && it != end;
       it.increment(error)) {
    std::error_code size_error;
    // file_size follows symlinks: setup.sh links model files from the venv.
    const auto size = std::filesystem::file_size(it->path(), size_error);
    if (!size_error) total += size;
  }
  return total;
}

ModelSummary summarize(const ModelSource& source, const Model& model) {
  return {source.name, source.path, size_on_disk(source.path), model.info(),
          model.backend_reports()};
}

ApiError not_found(std::string_view requested, const std::string& known) {
  return {404,
          "no model named '" + std::string(requested) + "' on this server (models: " + known +
              "; whisper-1 stands for the default)",
          "invalid_request_error", "model", "model_not_found"};
}

ApiError load_failed(const std::string& name, const std::string& why) {
  return {500, "model '" + name + "' failed to load: " + why, "server_error", "model",
          "model_load_failed"};
}

// Hands freed model memory back to the system, so that unloading lowers resident memory.
void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

struct ModelRegistry::Shared {
  struct Entry {
    ModelSource source;
    ModelState state = ModelState::kUnloaded;
    std::optional<Model> model{};
    std::optional<ModelSummary> summary{};
    std::string load_error{};
    int in_use = 0;
    std::uint64_t loads_finished = 0;  // load attempts ended, for those waiting on one
    Clock::time_point last_used = Clock::now();
  };

  Loader loader;
  Clock::duration ttl{};
  bool expires = false;
  std::size_t default_index = 0;
  mutable std::mutex mutex;
  std::condition_variable_any changed;  // a load ended, a lease was dropped, a model unloaded
  std::uint64_t changes = 0;            // counts those, for the TTL thread's wait
  std::vector<Entry> entries;           // fixed at construction: indices and names never change
  std::array<std::int64_t, kDecoderCounters.size()> retired_counters{};

  // Under `mutex`.
  void notify() {
    ++changes;
    changed.notify_all();
  }

  Entry& find(std::string_view name) {
    const auto found = std::ranges::find(
        entries, name, [](const Entry& e) -> const std::string& { return e.source.name; });
    if (found == entries.end()) throw not_found(name, known_names());
    return *found;
  }

  [[nodiscard]] std::string known_names() const {
    std::string known;
    for (const auto& entry : entries) known += (known.empty() ? "" : ", ") + entry.source.name;
    return known;
  }

  [[nodiscard]] ModelStatus status_of(const Entry& entry) const {
    return {.name = entry.source.name,
            .path = entry.source.path,
            .state = entry.state,
            .is_default = &entry == &entries[default_index],
            .in_use = entry.in_use,
            .summary = entry.summary,
            .load_error = entry.load_error};
  }

  // Makes `entry` resident, loading it here or waiting for the load under way. `lock` holds
  // `mutex`; it is released while the model loads.
  void make_resident(Entry& entry, std::unique_lock<std::mutex>& lock) {
    while (entry.state == ModelState::kLoading) {
      const auto attempt = entry.loads_finished;
      changed.wait(lock, [&] { return entry.loads_finished != attempt; });
      if (entry.state != ModelState::kLoaded && !entry.load_error.empty()) {
        throw load_failed(entry.source.name, entry.load_error);
      }
    }
    if (entry.state == ModelState::kLoaded) return;
    entry.state = ModelState::kLoading;
    lock.unlock();
    std::optional<Model> loaded;
    std::string error;
    try {
      loaded = loader(entry.source);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
    auto summary = loaded ? std::optional(summarize(entry.source, *loaded)) : std::nullopt;
    lock.lock();
    ++entry.loads_finished;
    entry.load_error = error;
    entry.state = loaded ? ModelState::kLoaded : ModelState::kUnloaded;
    entry.model = std::move(loaded);
    if (summary) entry.summary = std::move(summary);
    entry.last_used = Clock::now();
    notify();
    if (!entry.model) throw load_failed(entry.source.name, error);
  }

  // Takes the model out of `entry` (under the lock); the caller drops it outside.
  std::optional<Model> evict(Entry& entry) {
    std::optional<Model> model = std::move(entry.model);
    entry.model.reset();
    entry.state = ModelState::kUnloaded;
    if (model) {
      const auto timings = model->timings();
      for (std::size_t i = 0; i < kDecoderCounters.size(); ++i) {
        retired_counters[i] += timings.*kDecoderCounters[i];
      }
    }
    notify();
    return model;
  }

  void release(Entry& entry) {
    const std::lock_guard lock(mutex);
    --entry.in_use;
    entry.last_used = Clock::now();
    notify();
  }
};

// One lease's use of a model: counted from its creation to its destruction.
struct ModelRegistry::Hold {
  Hold(Model held, std::shared_ptr<Shared> registry, Shared::Entry& in)
      : model(std::move(held)), shared(std::move(registry)), entry(in) {}
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;
  ~Hold() { shared->release(entry); }

  Model model;
  std::shared_ptr<Shared> shared;
  Shared::Entry& entry;
};

ModelRegistry::ModelRegistry(ModelCatalog catalog, Loader loader, std::chrono::duration<double> ttl)
    : shared_(std::make_shared<Shared>()) {
  shared_->loader = std::move(loader);
  shared_->expires = ttl.count() >= 0;
  shared_->ttl = std::chrono::duration_cast<Clock::duration>(std::max(ttl, ttl.zero()));
  shared_->default_index = catalog.default_index;
  for (auto& source : catalog.models) shared_->entries.push_back({.source = std::move(source)});
  if (shared_->expires && !shared_->entries.empty()) {
    reaper_ = std::jthread([this](const std::stop_token& stop) { reap(stop); });
  }
}

ModelRegistry::~ModelRegistry() {
  if (reaper_.joinable()) {
    reaper_.request_stop();
    reaper_.join();
  }
}

bool ModelRegistry::empty() const { return shared_->entries.empty(); }

std::string ModelRegistry::default_name() const {
  if (empty()) return {};
  return shared_->entries[shared_->default_index].source.name;
}

std::string ModelRegistry::resolve(std::string_view requested) const {
  for (const auto& entry : shared_->entries) {
    if (entry.source.name == requested) return entry.source.name;
  }
  if (!empty() && is_default_model_alias(requested)) return default_name();
  throw not_found(requested, shared_->known_names());
}

ModelLease ModelRegistry::acquire(const std::string& name) {
  std::unique_lock lock(shared_->mutex);
  auto& entry = shared_->find(name);
  shared_->make_resident(entry, lock);
  ++entry.in_use;
  // The lease points at the model inside its hold, which counts the use down when the last copy
  // goes (and keeps the shared state alive: a lease may outlive the registry's owner).
  auto hold = std::make_shared<const Hold>(*entry.model, shared_, entry);
  return {hold, &hold->model};
}

ModelStatus ModelRegistry::load(const std::string& name) {
  std::unique_lock lock(shared_->mutex);
  auto& entry = shared_->find(name);
  shared_->make_resident(entry, lock);
  return shared_->status_of(entry);
}

ModelStatus ModelRegistry::unload(const std::string& name) {
  std::optional<Model> dropped;
  ModelStatus status;
  {
    std::unique_lock lock(shared_->mutex);
    auto& entry = shared_->find(name);
    // A load under way finishes first: unloading means "not resident afterwards".
    shared_->changed.wait(lock, [&] { return entry.state != ModelState::kLoading; });
    dropped = shared_->evict(entry);
    status = shared_->status_of(entry);
  }
  if (dropped) {
    dropped.reset();
    release_free_memory();
  }
  return status;
}

ModelStatus ModelRegistry::status(const std::string& name) const {
  const std::lock_guard lock(shared_->mutex);
  return shared_->status_of(shared_->find(name));
}

std::vector<ModelStatus> ModelRegistry::list() const {
  const std::lock_guard lock(shared_->mutex);
  std::vector<ModelStatus> all;
  for (const auto& entry : shared_->entries) all.push_back(shared_->status_of(entry));
  return all;
}

std::optional<Model> ModelRegistry::resident(const std::string& name) const {
  const std::lock_guard lock(shared_->mutex);
  return shared_->find(name).model;
}

std::int64_t ModelRegistry::decoder_total(std::int64_t Timings::*field) const {
  const std::lock_guard lock(shared_->mutex);
  const auto slot = std::ranges::find(kDecoderCounters, field) - kDecoderCounters.begin();
  std::int64_t total = slot < static_cast<std::ptrdiff_t>(kDecoderCounters.size())
                           ? shared_->retired_counters[static_cast<std::size_t>(slot)]
                           : 0;
  for (const auto& entry : shared_->entries) {
    if (entry.model) total += entry.model->timings().*field;
  }
  return total;
}

// The TTL thread: unloads every resident model without leases whose last use is `ttl` old, and
// sleeps until the next one could be.
void ModelRegistry::reap(const std::stop_token& stop) {
  auto& shared = *shared_;
  std::unique_lock lock(shared.mutex);
  while (!stop.stop_requested()) {
    const auto now = Clock::now();
    auto next = Clock::time_point::max();
    std::vector<Model> expired;
    for (auto& entry : shared.entries) {
      if (entry.state != ModelState::kLoaded || entry.in_use > 0) continue;
      const auto due = entry.last_used + shared.ttl;
      if (due <= now) {
        expired.push_back(*shared.evict(entry));
      } else {
        next = std::min(next, due);
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      expired.clear();  // frees the weights unless a request still holds them
      release_free_memory();
      lock.lock();
      continue;  // the state may have changed meanwhile
    }
    const auto seen = shared.changes;
    const auto changed = [&] { return shared.changes != seen; };
    if (next == Clock::time_point::max()) {
      shared.changed.wait(lock, stop, changed);
    } else {
      shared.changed.wait_until(lock, stop, next, changed);
    }
  }
}

}  // namespace amanuensis::service
