// LoRA adapters of a server: named adapters loaded at start (`--lora NAME=FILE[:SCALE]`) that each
// request may choose, and unnamed ones (`--lora FILE[:SCALE]`) applied to every request. A
// request's choice becomes one LoraSet, built once per distinct choice and shared by the requests
// making it; the base weights and the batch stay shared.
#pragma once

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"

namespace bantam {
class LoraSet;
}

namespace bantam::serve {

struct AdapterSpec {
  std::string name;  // empty: applied to every request
  std::string path;
  float scale = 1.0f;
};

// "NAME=FILE[:SCALE]" or "FILE[:SCALE]"; Error for an empty name or file, a bad name or scale.
AdapterSpec parse_adapter_spec(const std::string& spec);

// Scales a request may give (and --lora may set): finite and within this magnitude.
inline constexpr float kMaxAdapterScale = 16.0f;

struct AdapterChoice {
  std::string name;
  float scale = 1.0f;
};

// The adapters one request runs with, and the LoraSet doing so (null: the base model alone).
struct AdapterSelection {
  std::vector<AdapterChoice> chosen;  // by the request, in its order
  std::shared_ptr<const LoraSet> lora;
  std::string key;  // equal keys: the same adapters at the same scales in the same order
  bool by_model_id = false;  // the request named them in "model" as BASE+NAME
};

class AdapterLibrary {
 public:
  // Loads every spec's file against `model`: Error naming the file when it is refused.
  AdapterLibrary(std::shared_ptr<const Model> model, const std::vector<AdapterSpec>& specs);
  ~AdapterLibrary();

  // Named adapters, in the order given at start, with their default scales.
  const std::vector<AdapterSpec>& named() const { return named_; }

  // The request's choice from "model" (BASE+NAME[+NAME...], BASE being `base_id`) and
  // "bantam": {"adapters": [{"name": N, "scale": S}, ...]} of `body`: ApiError 400 naming the
  // field for unknown names, bad scales and malformed values. Thread-safe.
  AdapterSelection select(const nlohmann::json& body, const std::string& base_id);

  // Names of BASE+NAME model ids: nullopt when `model_id` is not of that form.
  static std::optional<std::vector<std::string>> names_in_model_id(const std::string& model_id,
                                                                   const std::string& base_id);

 private:
  std::shared_ptr<const LoraSet> lora_set(const std::vector<AdapterChoice>& chosen, const std::string& key);

  std::shared_ptr<const Model> model_;
  std::vector<AdapterSpec> named_;
  std::map<std::string, std::shared_ptr<const Adapter>> by_name_;
  std::vector<std::pair<std::shared_ptr<const Adapter>, float>> always_;  // unnamed, in order

  // Sets built for recent choices, most recent first; requests still running keep theirs alive.
  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<const LoraSet>>> cache_;
};

}  // namespace bantam::serve
