// What a server serves at one time: the model (one version of it, when it comes from the store),
// its chat formatter, adapters and scheduler. Requests hold the ServedModel they started on, so a
// swap to a new version lets running requests finish on the old one.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bantam/bantam.hpp"
#include "hub/monitoring.hpp"
#include "hub/store.hpp"
#include "serve/adapters.hpp"
#include "serve/chat_format.hpp"
#include "runtime/scheduler.hpp"

namespace bantam::serve {

// A model of the store: NAME follows the active version, NAME:VERSION is pinned to one.
struct StoreModelRef {
  std::filesystem::path store_dir;
  std::string name;
  std::string pinned_version;  // empty: follow the active version
};

// `-m` as a store reference: nullopt for a file path (it contains '/' or ends in .gguf, as
// hub::resolve_model decides).
std::optional<StoreModelRef> store_model_ref(const std::string& model_arg, const std::filesystem::path& store_dir);

// A model file and, for a store model, its version and the shared lock keeping its blob.
struct LoadedModel {
  std::shared_ptr<const Model> model;
  std::string version;  // empty for a file
  std::optional<hub::ModelLease> lease;
};

// Loads VERSION of a store model (empty: the active one); Error when it is not installed.
LoadedModel load_store_model(const StoreModelRef& ref, const std::string& version = {});

struct ServedModel {
  explicit ServedModel(LoadedModel model) : loaded(std::move(model)) {}
  LoadedModel loaded;
  std::unique_ptr<ChatFormatter> formatter;
  std::unique_ptr<AdapterLibrary> adapters;
  std::unique_ptr<Scheduler> scheduler;  // null until the server's loader built it

  const Model& model() const { return *loaded.model; }
  const std::string& version() const { return loaded.version; }
};

// Per-version figures of the requests answered since the last take(), for hub::ServingRecorder.
class ServingWindows {
 public:
  struct Request {
    bool error = false;  // a 5xx answer
    double latency_ms = 0;
    std::optional<double> ttft_ms;
    std::optional<double> decode_tokens_per_s;
  };
  void add(const std::string& version, const Request& request);
  // The windows of every version that answered requests, emptied.
  std::map<std::string, hub::ServingWindow> take();

 private:
  std::mutex mutex_;
  std::map<std::string, std::vector<Request>> requests_;
};

}  // namespace bantam::serve
