// What `bantam serve` will hold in memory (weights, a KV cache per slot, scratch activations)
// against what the system has available, and what would fit when it does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bantam/bantam.hpp"

namespace bantam::serve {

struct MemoryPlan {
  size_t weights = 0;
  size_t kv_per_slot = 0;
  size_t scratch = 0;
  int parallel = 1;
  int64_t context = 0;
  size_t total() const { return weights + kv_per_slot * static_cast<size_t>(parallel) + scratch; }
};

MemoryPlan plan_memory(const Model& model, int parallel, int64_t context, int max_batch);
std::string describe(const MemoryPlan& plan);
// MemAvailable from /proc/meminfo, in bytes; nullopt where it cannot be read.
std::optional<size_t> available_memory();
// Error naming the shortfall and the --parallel / -c values that would fit.
void check_fits(const Model& model, const MemoryPlan& plan, size_t available, int max_batch);

}  // namespace bantam::serve
