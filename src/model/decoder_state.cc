// Decoder states: their self-attention caches, beam search's reordering of them, and what the
// model's backend is told about them (resident rows, the shared prompt).
#include <algorithm>
#include <mutex>

#include "model/whisper_model.h"

namespace amanuensis::model {

namespace {

// Gives `to` the layers and row capacity of `from` (rows left unset).
void size_like(const SequenceCache& from, SequenceCache& to) {
  to.keys.resize(from.keys.size());
  to.values.resize(from.values.size());
  for (std::size_t l = 0; l < from.keys.size(); ++l) {
    to.keys[l].resize(from.keys[l].size());
    to.values[l].resize(from.values[l].size());
  }
}

}  // namespace

void DecoderState::reorder(std::span<const int> order) {
  if (sequences.size() == 1 && order.size() > 1 && shared_length == 0 && length > 0) {
    // Every new sequence is a copy of the one: its rows become the shared ones, and stay its
    // resident rows (a device may hold them only there).
    shared = std::move(sequences[0]);
    shared_length = length;
    sequences.clear();
    sequences.resize(order.size());
    for (auto& sequence : sequences) size_like(shared, sequence);
    return;
  }
  std::vector<int> uses(sequences.size(), 0);
  for (const int source : order) ++uses[source];
  std::vector<SequenceCache> spare;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    if (uses[i] == 0) spare.push_back(std::move(sequences[i]));
  }
  const auto copy_filled = [&](const SequenceCache& from) {
    SequenceCache to;
    if (!spare.empty()) {
      to = std::move(spare.back());
      spare.pop_back();
    }
    size_like(from, to);
    const auto filled = static_cast<std::ptrdiff_t>(length - shared_length) * row_width;
    for (std::size_t l = 0; l < from.keys.size(); ++l) {
      std::copy(from.keys[l].begin(), from.keys[l].begin() + filled, to.keys[l].begin());
      std::copy(from.values[l].begin(), from.values[l].begin() + filled, to.values[l].begin());
    }
    if (on_copy) {
      on_copy(from, to, static_cast<std::size_t>(filled));
    } else {
      to.resident.reset();  // nobody to tell: its rows are read anew when it is next made resident
    }
    return to;
  };
  std::vector<SequenceCache> reordered;
  reordered.reserve(order.size());
  for (const int source : order) {
    // Copies come before the last use, which moves the original.
    if (--uses[source] == 0) {
      reordered.push_back(std::move(sequences[source]));
    } else {
      reordered.push_back(copy_filled(sequences[source]));
    }
  }
  sequences = std::move(reordered);
}

DecoderState WhisperModel::start_decoding(std::shared_ptr<const CrossAttentionCache> cross,
                                          int batch) const {
  const auto& w = weights_;
  const auto cache_size = static_cast<std::size_t>(w.n_text_ctx) * w.n_state;
  DecoderState state;
  state.cross = std::move(cross);
  state.row_width = w.n_state;
  state.sequences.resize(static_cast<std::size_t>(batch));
  for (auto& sequence : state.sequences) {
    sequence.keys.resize(w.decoder_layers.size());
    sequence.values.resize(w.decoder_layers.size());
    for (std::size_t l = 0; l < w.decoder_layers.size(); ++l) {
      sequence.keys[l].resize(cache_size);
      sequence.values[l].resize(cache_size);
    }
  }
  state.on_copy = [pool = std::weak_ptr<CachePool>(cache_pool_)](
                      const SequenceCache& from, SequenceCache& to, std::size_t floats) {
    const auto alive = pool.lock();
    if (alive == nullptr) return;
    if (!to.resident.held()) make_rows_resident(alive, to);
    const std::lock_guard lock(alive->mutex);
    if (alive->backend == nullptr) return;
    for (std::size_t l = 0; l < from.keys.size(); ++l) {
      alive->backend->copy_resident_rows(from.keys[l].data(), to.keys[l].data(), floats);
      alive->backend->copy_resident_rows(from.values[l].data(), to.values[l].data(), floats);
    }
  };
  return state;
}

ResidentRelease WhisperModel::release_through(const std::shared_ptr<CachePool>& pool,
                                              std::vector<const void*> buffers) {
  return ResidentRelease([pool = std::weak_ptr<CachePool>(pool), buffers = std::move(buffers)] {
    const auto alive = pool.lock();
    if (alive == nullptr) return;
    const std::lock_guard lock(alive->mutex);
    if (alive->backend == nullptr) return;
    for (const void* data : buffers) alive->backend->release_resident(data);
  });
}

void WhisperModel::make_rows_resident(const std::shared_ptr<CachePool>& pool,
                                      SequenceCache& sequence) {
  const std::lock_guard lock(pool->mutex);
  if (pool->backend == nullptr) return;
  std::vector<const void*> buffers;
  for (auto* layers : {&sequence.keys, &sequence.values}) {
    for (auto& layer : *layers) {
      pool->backend->make_resident_rows(layer.data(), layer.size());
      buffers.push_back(layer.data());
    }
  }
  sequence.resident = release_through(pool, std::move(buffers));
}

}  // namespace amanuensis::model
