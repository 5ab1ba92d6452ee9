// Growing device copies of host rows that only grow (kernels::Backend::make_resident_rows): a
// decoder's self-attention cache, one per beam and layer. Each row crosses the bus once, when an
// op first reads it; a beam duplicated by beam search copies its rows on the device.
#pragma once

#include <cstddef>
#include <map>
#include <optional>

#include "backends/opencl/opencl_kept.h"
#include "backends/opencl/opencl_runtime.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::backends::opencl {

// Not thread-safe: the backend calls it under its own lock.
class RowMirrors {
 public:
  // `data` holds `capacity` floats, appended to; a new mirror holds none of them yet.
  void add(const float* data, std::size_t capacity);
  // Forgets the mirror of `data`, if any; the device memory goes once queued work is done.
  void remove(const void* data);

  // The device copy of data[0, floats), after sending what it did not yet hold; nullptr when
  // `data` has no mirror or `floats` exceeds its capacity (the caller then sends the rows).
  // Throws DeviceError when rows that were only on the device are lost (a failed copy).
  cl_mem sync(cl_context context, cl_command_queue queue, const float* data, std::size_t floats,
              kernels::TrafficCounter& traffic);

  // Where rows [to, to + floats) of a mirror are to be written on the device by the caller, who
  // appends them after the rows the mirror holds (rows before `to` it lacks are sent first):
  // from then on they exist only there (the host copy is stale). nullopt when `to` lies in no
  // mirror.
  std::optional<DevicePlace> append(cl_context context, cl_command_queue queue, const float* to,
                                    std::size_t floats, std::size_t ld,
                                    kernels::TrafficCounter& traffic);
  // Whether `data` has a mirror with room for `floats` floats.
  [[nodiscard]] bool holds(const void* data, std::size_t floats) const;
  // Whether the mirror of `data` holds rows the host copy lacks.
  [[nodiscard]] bool ahead_of_host(const void* data) const;

  // The host copied from[0, floats) over to[0, floats): `to`'s mirror copies from `from`'s on the
  // device what that one holds of it. Never throws; after a failure `to` holds nothing, and its
  // rows are sent again when next read (or, when `from`'s were ahead of the host, are lost).
  void copy(cl_context context, cl_command_queue queue, const float* from, const float* to,
            std::size_t floats) noexcept;

 private:
  struct Mirror {
    Memory memory;  // made on first use
    std::size_t capacity = 0;
    std::size_t valid = 0;  // floats [0, valid) are on the device
    bool ahead = false;     // some of them only there (append): the host's are stale
    bool lost = false;      // such rows were lost: the rows can no longer be had
  };
  static void allocate(cl_context context, Mirror& mirror);

  std::map<const void*, Mirror> mirrors_;
};

}  // namespace amanuensis::backends::opencl
