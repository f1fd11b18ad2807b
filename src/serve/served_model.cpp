#include "serve/served_model.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace bantam::serve {

namespace {

// The value below which 95% of `values` lie (nearest rank); nullopt when there are none.
std::optional<double> p95(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

std::optional<StoreModelRef> store_model_ref(const std::string& model_arg, const std::filesystem::path& store_dir) {
  if (model_arg.find('/') != std::string::npos || (model_arg.size() > 5 && model_arg.ends_with(".gguf"))) {
    return std::nullopt;
  }
  StoreModelRef ref;
  ref.store_dir = store_dir;
  const size_t colon = model_arg.find(':');
  ref.name = model_arg.substr(0, colon);
  if (colon != std::string::npos) ref.pinned_version = model_arg.substr(colon + 1);
  return ref;
}

LoadedModel load_store_model(const StoreModelRef& ref, const std::string& version) {
  std::string wanted = version.empty() ? ref.pinned_version : version;
  if (wanted.empty()) {
    // Name the version explicitly, so the label and the file cannot disagree if it changes meanwhile.
    const auto installed = hub::Store::open(ref.store_dir).find(ref.name);
    if (!installed) {
      throw Error(fmt::format("no model named {} in {} (`bantam list` shows what is installed)", ref.name,
                              ref.store_dir.string()));
    }
    wanted = installed->active.version;
  }
  LoadedModel loaded;
  loaded.lease.emplace(hub::lease_model(ref.name + ":" + wanted, ref.store_dir));
  loaded.model = Model::load(loaded.lease->path.string());
  loaded.version = wanted;
  return loaded;
}

void ServingWindows::add(const std::string& version, const Request& request) {
  std::lock_guard lock(mutex_);
  requests_[version].push_back(request);
}

std::map<std::string, hub::ServingWindow> ServingWindows::take() {
  std::map<std::string, std::vector<Request>> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(requests_);
  }
  std::map<std::string, hub::ServingWindow> windows;
  for (const auto& [version, requests] : taken) {
    hub::ServingWindow& w = windows[version];
    std::vector<double> ttft, latency, rates;
    for (const Request& r : requests) {
      ++w.requests;
      if (r.error) ++w.errors;
      latency.push_back(r.latency_ms);
      if (r.ttft_ms) ttft.push_back(*r.ttft_ms);
      if (r.decode_tokens_per_s) rates.push_back(*r.decode_tokens_per_s);
    }
    w.ttft_ms_p95 = p95(ttft);
    w.latency_ms_p95 = p95(latency);
    if (!rates.empty()) {
      double sum = 0;
      for (double r : rates) sum += r;
      w.tokens_per_s = sum / static_cast<double>(rates.size());
    }
  }
  return windows;
}

}  // namespace bantam::serve
