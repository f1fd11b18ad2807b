#include "serve/memory_plan.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "runtime/batch_decode.hpp"

namespace bantam::serve {

namespace {

std::string mib(size_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

}  // namespace

MemoryPlan plan_memory(const Model& model, int parallel, int64_t context, int max_batch) {
  MemoryPlan plan;
  std::error_code ec;
  plan.weights = static_cast<size_t>(std::filesystem::file_size(model.info().path, ec));
  if (ec) plan.weights = 0;
  plan.kv_per_slot = BatchDecoder::kv_bytes_per_slot(model, context, max_batch);
  plan.scratch = BatchDecoder::scratch_bytes(model, max_batch);
  plan.parallel = parallel;
  plan.context = context;
  return plan;
}

std::string describe(const MemoryPlan& plan) {
  return fmt::format("memory plan: weights {}, KV cache {} per slot x {} slots ({} positions each), scratch {}; total {}",
                     mib(plan.weights), mib(plan.kv_per_slot), plan.parallel, plan.context, mib(plan.scratch),
                     mib(plan.total()));
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

void check_fits(const Model& model, const MemoryPlan& plan, size_t available, int max_batch) {
  if (plan.total() <= available) return;
  const size_t fixed = plan.weights + plan.scratch;
  std::string fits;
  if (fixed >= available) {
    fits = "not even the weights and scratch fit";
  } else {
    const size_t room = available - fixed;
    const size_t slots = plan.kv_per_slot > 0 ? room / plan.kv_per_slot : 0;
    // The longest context for the requested slot count, found by halving down from the plan.
    int64_t context = plan.context;
    while (context > 16 &&
           BatchDecoder::kv_bytes_per_slot(model, context, max_batch) * static_cast<size_t>(plan.parallel) > room) {
      context /= 2;
    }
    const bool context_fits =
        BatchDecoder::kv_bytes_per_slot(model, context, max_batch) * static_cast<size_t>(plan.parallel) <= room;
    fits = fmt::format("with -c {} at most --parallel {} fits", plan.context, slots);
    if (context_fits) fits += fmt::format("; with --parallel {}, -c {} fits", plan.parallel, context);
  }
  throw Error(fmt::format("--parallel {} with -c {} needs {} but only {} is available (MemAvailable): {}",
                          plan.parallel, plan.context, mib(plan.total()), mib(available), fits));
}

}  // namespace bantam::serve
