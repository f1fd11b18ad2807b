#include "runtime/memory_plan.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "model/kv_cache.hpp"
#include "runtime/batch_decode.hpp"

namespace bantam {

namespace {

std::string mib(size_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

size_t kv_bytes(const Model& model, const MemoryPlan& plan, int64_t context) {
  return BatchDecoder::kv_bytes_per_slot(model, context, plan.max_batch, plan.kv_types) *
         static_cast<size_t>(plan.parallel);
}

// The longest context up to the plan's whose caches fit in `room` (0 when not even one position).
int64_t longest_context(const Model& model, const MemoryPlan& plan, size_t room) {
  int64_t low = 0, high = plan.context;  // the cache grows with the context
  while (low < high) {
    const int64_t mid = low + (high - low + 1) / 2;
    if (kv_bytes(model, plan, mid) <= room) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}

}  // namespace

MemoryPlan plan_memory(const Model& model, int parallel, int64_t context, int max_batch, KvCacheTypes kv_types) {
  MemoryPlan plan;
  std::error_code ec;
  plan.weights = static_cast<size_t>(std::filesystem::file_size(model.info().path, ec));
  if (ec) plan.weights = 0;
  plan.kv_per_slot = BatchDecoder::kv_bytes_per_slot(model, context, max_batch, kv_types);
  plan.scratch = BatchDecoder::scratch_bytes(model, max_batch);
  plan.parallel = parallel;
  plan.context = context;
  plan.max_batch = max_batch;
  plan.kv_types = kv_types;
  return plan;
}

MemoryPlan with_draft(MemoryPlan plan, const Model& draft) {
  const MemoryPlan own = plan_memory(draft, 1, plan.context, plan.max_batch, plan.kv_types);
  plan.draft_weights = own.weights;
  plan.draft_per_slot = own.kv_per_slot + own.scratch;
  return plan;
}

std::string describe(const MemoryPlan& plan) {
  const std::string draft = plan.draft_weights + plan.draft_per_slot == 0
                                ? std::string()
                                : fmt::format(", draft model {} plus {} per slot", mib(plan.draft_weights),
                                              mib(plan.draft_per_slot));
  return fmt::format("memory plan: weights {}, KV cache {} per slot x {} slots ({} positions each, {} keys, {} "
                     "values), scratch {}{}; total {}",
                     mib(plan.weights), mib(plan.kv_per_slot), plan.parallel, plan.context,
                     kv_cache_type_name(plan.kv_types.keys), kv_cache_type_name(plan.kv_types.values),
                     mib(plan.scratch), draft, mib(plan.total()));
}

std::optional<size_t> available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("MemAvailable:")) continue;
    std::istringstream fields(line.substr(13));
    size_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

void check_fits(const Model& model, const MemoryPlan& plan, size_t available) {
  if (plan.total() <= available) return;
  const size_t fixed = plan.weights + plan.draft_weights + plan.scratch;
  const size_t room = fixed < available ? available - fixed : 0;
  const int64_t context = longest_context(model, plan, room);
  const std::string shortfall =
      fmt::format("needs {} (weights {}, KV cache {}, scratch {}) but only {} is available (MemAvailable)",
                  mib(plan.total()), mib(plan.weights), mib(kv_bytes(model, plan, plan.context)),
                  mib(plan.scratch), mib(available));
  if (plan.parallel == 1) {
    throw Error(fmt::format("a context of {} tokens {}: {}", plan.context, shortfall,
                            context > 0 ? fmt::format("the longest context that fits is {}", context)
                                        : std::string("not even the weights and scratch fit")));
  }
  std::string fits = "not even the weights and scratch fit";
  if (fixed < available) {
    const size_t per_slot = plan.kv_per_slot + plan.draft_per_slot;
    const size_t slots = per_slot > 0 ? room / per_slot : 0;
    fits = fmt::format("with -c {} at most --parallel {} fits", plan.context, slots);
    if (context > 0) fits += fmt::format("; with --parallel {}, -c {} fits", plan.parallel, context);
  }
  throw Error(fmt::format("--parallel {} with -c {} {}: {}", plan.parallel, plan.context, shortfall, fits));
}

}  // namespace bantam
