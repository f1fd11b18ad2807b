// What a model will hold in memory (weights, a KV cache per sequence, scratch activations)
// against what the system has available, and what would fit when it does not. `serve` plans its
// slots with it; every Session checks its own cache before allocating it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bantam/bantam.hpp"

namespace bantam {

struct MemoryPlan {
  size_t weights = 0;
  size_t kv_per_slot = 0;
  size_t scratch = 0;
  int parallel = 1;
  int64_t context = 0;
  int max_batch = 1;
  KvCacheTypes kv_types = {};
  size_t draft_weights = 0;    // a speculative draft model's weights
  size_t draft_per_slot = 0;   // its KV cache and scratch activations, one of each per slot
  size_t total() const {
    return weights + draft_weights + (kv_per_slot + draft_per_slot) * static_cast<size_t>(parallel) + scratch;
  }
};

MemoryPlan plan_memory(const Model& model, int parallel, int64_t context, int max_batch,
                       KvCacheTypes kv_types = {});
// The plan with a speculative draft model beside the model: its weights, and a cache and
// scratch per slot (each slot's draft follows that slot's sequence).
MemoryPlan with_draft(MemoryPlan plan, const Model& draft);
std::string describe(const MemoryPlan& plan);
// MemAvailable from /proc/meminfo, in bytes; nullopt where it cannot be read.
std::optional<size_t> available_memory();
// Error naming the shortfall and what would fit: for one sequence the longest context, for
// several (`serve`) the --parallel and -c values.
void check_fits(const Model& model, const MemoryPlan& plan, size_t available);

}  // namespace bantam
