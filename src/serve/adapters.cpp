#include "serve/adapters.hpp"

#include <bit>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "model/lora.hpp"
#include "serve/api_error.hpp"

namespace bantam::serve {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxChosen = 16;
constexpr size_t kCachedSets = 32;

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool valid_scale(double scale) { return std::isfinite(scale) && std::abs(scale) <= kMaxAdapterScale; }

std::string printable(std::string_view text) {
  // Request text echoed in an error stays short and valid JSON.
  return json(std::string(text.substr(0, kMaxNameBytes))).dump(-1, ' ', true, json::error_handler_t::replace);
}

}  // namespace

AdapterSpec parse_adapter_spec(const std::string& spec) {
  AdapterSpec out;
  std::string rest = spec;
  // NAME=FILE: the part before '=' must be a name (a path with '=' in it stays a path).
  if (const size_t eq = spec.find('='); eq != std::string::npos && valid_name(std::string_view(spec).substr(0, eq))) {
    out.name = spec.substr(0, eq);
    rest = spec.substr(eq + 1);
  } else if (eq == 0) {
    throw Error(fmt::format("--lora {}: the adapter name before '=' is empty", spec));
  }
  out.path = rest;
  if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    const std::string scale_text = rest.substr(colon + 1);
    char* end = nullptr;
    const float scale = std::strtof(scale_text.c_str(), &end);
    // A colon without a number after it belongs to the path.
    if (!scale_text.empty() && end == scale_text.c_str() + scale_text.size()) {
      if (!valid_scale(scale)) {
        throw Error(fmt::format("--lora {}: the scale must be a finite number within ±{}", spec, kMaxAdapterScale));
      }
      out.path = rest.substr(0, colon);
      out.scale = scale;
    }
  }
  if (out.path.empty()) throw Error(fmt::format("--lora {}: no adapter file given", spec));
  return out;
}

AdapterLibrary::AdapterLibrary(std::shared_ptr<const Model> model, const std::vector<AdapterSpec>& specs)
    : model_(std::move(model)) {
  for (const AdapterSpec& spec : specs) {
    std::shared_ptr<const Adapter> adapter;
    try {
      adapter = Adapter::load(spec.path, *model_);
    } catch (const std::exception& e) {
      throw Error(fmt::format("adapter {} refused: {}", spec.path, e.what()));
    }
    if (spec.name.empty()) {
      always_.emplace_back(std::move(adapter), spec.scale);
      continue;
    }
    if (!valid_name(spec.name)) {
      throw Error(fmt::format("adapter name '{}' ({}): use letters, digits, '.', '_' or '-'", spec.name, spec.path));
    }
    if (!by_name_.emplace(spec.name, std::move(adapter)).second) {
      throw Error(fmt::format("adapter name '{}' is given twice (--lora)", spec.name));
    }
    named_.push_back(spec);
  }
}

AdapterLibrary::~AdapterLibrary() = default;

std::optional<std::vector<std::string>> AdapterLibrary::names_in_model_id(const std::string& model_id,
                                                                          const std::string& base_id) {
  if (model_id.size() <= base_id.size() || !model_id.starts_with(base_id) || model_id[base_id.size()] != '+') {
    return std::nullopt;
  }
  std::vector<std::string> names;
  size_t start = base_id.size() + 1;
  for (;;) {
    const size_t plus = model_id.find('+', start);
    names.push_back(model_id.substr(start, plus == std::string::npos ? std::string::npos : plus - start));
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return names;
}

AdapterSelection AdapterLibrary::select(const json& body, const std::string& base_id) {
  AdapterSelection selection;
  const auto add = [&](const std::string& name, std::optional<double> scale, const char* param) {
    const auto known = std::find_if(named_.begin(), named_.end(), [&](const AdapterSpec& s) { return s.name == name; });
    if (known == named_.end()) {
      std::string available;
      for (const AdapterSpec& s : named_) available += (available.empty() ? "" : ", ") + s.name;
      throw ApiError(400,
                     fmt::format("no adapter named {} on this server ({})", printable(name),
                                 available.empty() ? "it serves none" : "adapters: " + available),
                     param, "adapter_not_found");
    }
    for (const AdapterChoice& c : selection.chosen) {
      if (c.name == name) throw ApiError(400, fmt::format("adapter '{}' is chosen twice", name), param, "invalid_value");
    }
    if (selection.chosen.size() >= kMaxChosen) {
      throw ApiError(400, fmt::format("at most {} adapters per request", kMaxChosen), param, "invalid_value");
    }
    selection.chosen.push_back({name, scale ? static_cast<float>(*scale) : known->scale});
  };

  if (body.contains("model") && body["model"].is_string()) {
    if (const auto names = names_in_model_id(body["model"].get<std::string>(), base_id)) {
      for (const std::string& name : *names) {
        if (name.empty()) {
          throw ApiError(400, fmt::format("model {}: an adapter name between '+' signs is empty",
                                          printable(body["model"].get<std::string>())),
                         "model", "invalid_value");
        }
        add(name, std::nullopt, "model");
      }
      selection.by_model_id = true;
    }
  }
  if (body.contains("bantam") && body["bantam"].is_object() && body["bantam"].contains("adapters")) {
    const json& list = body["bantam"]["adapters"];
    const char* param = "bantam.adapters";
    if (!list.is_array()) throw ApiError(400, "'bantam.adapters' must be an array of {\"name\", \"scale\"}", param, "invalid_type");
    for (size_t i = 0; i < list.size(); ++i) {
      const json& item = list[i];
      if (item.is_string()) {
        add(item.get<std::string>(), std::nullopt, param);
        continue;
      }
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        throw ApiError(400, fmt::format("'bantam.adapters[{}]' must be an object with a string \"name\"", i), param,
                       "invalid_type");
      }
      for (const auto& [key, value] : item.items()) {
        if (key != "name" && key != "scale") {
          throw ApiError(400, fmt::format("'bantam.adapters[{}]' has an unknown field {}", i, printable(key)), param,
                         "invalid_value");
        }
      }
      std::optional<double> scale;
      if (item.contains("scale")) {
        const json& s = item["scale"];
        if (!s.is_number()) {
          throw ApiError(400, fmt::format("'bantam.adapters[{}].scale' must be a number", i), param, "invalid_type");
        }
        if (!valid_scale(s.get<double>())) {
          throw ApiError(400,
                         fmt::format("'bantam.adapters[{}].scale' is {}; it must be between -{} and {}", i, s.dump(),
                                     kMaxAdapterScale, kMaxAdapterScale),
                         param, "invalid_value");
        }
        scale = s.get<double>();
      }
      add(item["name"].get<std::string>(), scale, param);
    }
  }
  if (selection.chosen.empty() && always_.empty()) return selection;
  for (const AdapterChoice& c : selection.chosen) {
    selection.key += fmt::format("{}@{:08x};", c.name, std::bit_cast<uint32_t>(c.scale));
  }
  selection.lora = lora_set(selection.chosen, selection.key);
  return selection;
}

std::shared_ptr<const LoraSet> AdapterLibrary::lora_set(const std::vector<AdapterChoice>& chosen,
                                                        const std::string& key) {
  std::lock_guard lock(mutex_);
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->first != key) continue;
    cache_.splice(cache_.begin(), cache_, it);
    return cache_.front().second;
  }
  auto set = std::make_shared<LoraSet>();
  const Weights& weights = model_->impl().weights;
  for (const auto& [adapter, scale] : always_) set->add(adapter->impl().lora, scale, weights);
  for (const AdapterChoice& c : chosen) set->add(by_name_.at(c.name)->impl().lora, c.scale, weights);
  cache_.emplace_front(key, set);
  if (cache_.size() > kCachedSets) cache_.pop_back();
  return set;
}

}  // namespace bantam::serve
