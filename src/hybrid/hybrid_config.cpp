#include "hybrid/hybrid_config.hpp"

#include <set>

#include <fmt/format.h>

#include "format/json_input.hpp"

namespace bantam::hybrid {

namespace {

using nlohmann::json;

// Reads keys of one object, refusing the ones nobody asked for.
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) throw Error(fmt::format("{}: must be a JSON object", where_));
  }
  const json* get(const std::string& key) {
    seen_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string name(const std::string& key) const { return fmt::format("{}.{}", where_, key); }

  void string(const std::string& key, std::string& out) {
    if (const json* v = get(key)) {
      if (!v->is_string()) throw Error(fmt::format("{}: must be a string", name(key)));
      out = v->get<std::string>();
    }
  }
  void boolean(const std::string& key, bool& out) {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) throw Error(fmt::format("{}: must be true or false", name(key)));
      out = v->get<bool>();
    }
  }
  void number(const std::string& key, double& out, double lo, double hi) {
    if (const json* v = get(key)) {
      if (!v->is_number()) throw Error(fmt::format("{}: must be a number", name(key)));
      const double x = v->get<double>();
      if (!(x >= lo && x <= hi)) throw Error(fmt::format("{}: {} is not between {} and {}", name(key), x, lo, hi));
      out = x;
    }
  }
  void integer(const std::string& key, int64_t& out, int64_t lo, int64_t hi) {
    if (const json* v = get(key)) {
      if (!v->is_number_integer()) throw Error(fmt::format("{}: must be an integer", name(key)));
      const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)
                            ? hi + 1
                            : v->get<int64_t>();
      if (x < lo || x > hi) throw Error(fmt::format("{}: {} is not between {} and {}", name(key), v->dump(), lo, hi));
      out = x;
    }
  }
  void milliseconds(const std::string& key, std::chrono::milliseconds& out) {
    int64_t value = out.count();
    integer(key, value, 0, int64_t{24} * 3600 * 1000);
    out = std::chrono::milliseconds(value);
  }
  // Every key must have been asked for.
  void finish() const {
    for (const auto& [key, value] : object_.items())
      if (!seen_.count(key)) throw Error(fmt::format("{}: unknown key", name(key)));
  }

 private:
  const json& object_;
  std::string where_;
  std::set<std::string> seen_;
};

}  // namespace

void apply_hybrid_config(const json& config, HybridOptions& options, const std::string& where) {
  Fields top(config, where);
  RouterConfig& router = options.router;
  std::string policy, consent, sensitive;
  top.string("route_policy", policy);
  top.string("cloud_consent", consent);
  top.string("sensitive", sensitive);
  if (!policy.empty()) router.policy = parse_policy(policy);
  if (!consent.empty()) router.consent = parse_consent(consent);
  if (!sensitive.empty()) router.sensitive = parse_sensitive(sensitive);
  const auto read_cloud = [](const json& object, const std::string& where, CloudOptions& cloud) {
    Fields c(object, where);
    c.string("url", cloud.url);
    c.string("model", cloud.model);
    c.string("key_env", cloud.api_key_env);
    c.milliseconds("connect_timeout_ms", cloud.connect_timeout);
    c.milliseconds("timeout_ms", cloud.total_timeout);
    c.milliseconds("backoff_ms", cloud.backoff);
    int64_t attempts = cloud.max_attempts;
    c.integer("attempts", attempts, 1, 10);
    cloud.max_attempts = static_cast<int>(attempts);
    c.finish();
    if (cloud.url.empty()) throw Error(fmt::format("{}.url: is required", where));
  };
  if (const json* cloud = top.get("cloud")) read_cloud(*cloud, top.name("cloud"), options.cloud);
  // Several endpoints in the order they are tried; the first is the primary unless "cloud" named one.
  if (const json* clouds = top.get("clouds")) {
    if (!clouds->is_array() || clouds->empty())
      throw Error(fmt::format("{}: must be a non-empty array of endpoints", top.name("clouds")));
    for (size_t i = 0; i < clouds->size(); ++i) {
      CloudOptions endpoint;
      read_cloud((*clouds)[i], fmt::format("{}[{}]", top.name("clouds"), i), endpoint);
      if (options.cloud.url.empty()) {
        options.cloud = endpoint;
      } else {
        options.more_clouds.push_back(endpoint);
      }
    }
  }
  if (const json* aliases = top.get("cloud_aliases")) {
    if (!aliases->is_array()) throw Error(fmt::format("{}: must be an array of strings", top.name("cloud_aliases")));
    router.cloud_aliases.clear();
    for (const json& alias : *aliases) {
      if (!alias.is_string()) throw Error(fmt::format("{}: must be an array of strings", top.name("cloud_aliases")));
      router.cloud_aliases.push_back(alias.get<std::string>());
    }
  }
  if (const json* thresholds = top.get("thresholds")) {
    Fields t(*thresholds, top.name("thresholds"));
    constexpr double kHuge = 1e9;
    t.number("min_mean_logprob", router.min_mean_logprob, -kHuge, 0);
    t.number("min_token_logprob", router.min_token_logprob, -kHuge, 0);
    t.number("max_mean_entropy", router.max_mean_entropy, 0, kHuge);
    t.number("latency_budget_ms", router.latency_budget_ms, 0, kHuge);
    t.finish();
  }
  if (const json* breaker = top.get("breaker")) {
    Fields b(*breaker, top.name("breaker"));
    int64_t threshold = options.breaker_threshold;
    b.integer("threshold", threshold, 1, 1000);
    options.breaker_threshold = static_cast<int>(threshold);
    b.milliseconds("cool_down_ms", options.breaker_cool_down);
    b.finish();
  }
  if (const json* patterns = top.get("redact_patterns")) {
    if (!patterns->is_object())
      throw Error(fmt::format("{}: must be an object of LABEL: regex", top.name("redact_patterns")));
    for (const auto& [label, regex] : patterns->items()) {
      if (!regex.is_string()) throw Error(fmt::format("{}.{}: must be a string", top.name("redact_patterns"), label));
      options.extra_patterns.push_back(parse_extra_pattern(label + "=" + regex.get<std::string>()));
    }
  }
  if (const json* safety = top.get("safety")) {
    Fields f(*safety, top.name("safety"));
    if (const json* rules = f.get("rules")) {
      if (!rules->is_array()) throw Error(fmt::format("{}: must be an array", f.name("rules")));
      for (size_t i = 0; i < rules->size(); ++i) {
        Fields r((*rules)[i], fmt::format("{}[{}]", f.name("rules"), i));
        std::string action, name, pattern;
        r.string("action", action);
        r.string("name", name);
        r.string("pattern", pattern);
        r.finish();
        options.safety_rules.push_back(parse_safety_rule(action + ":" + name + "=" + pattern));
      }
    }
    if (const json* moderation = f.get("moderation")) {
      Fields m(*moderation, f.name("moderation"));
      m.string("url", options.moderation.url);
      m.string("model", options.moderation.model);
      m.string("key_env", options.moderation.api_key_env);
      m.milliseconds("timeout_ms", options.moderation.total_timeout);
      m.finish();
    }
    f.finish();
  }
  top.string("audit_log", options.audit_path);
  top.boolean("audit_prompts", options.audit_prompts);
  top.finish();
}

void load_hybrid_config(const std::string& path, HybridOptions& options) {
  json config;
  try {
    config = read_json_file(path);
  } catch (const Error& e) {
    throw Error(fmt::format("hybrid config {}", e.what()));
  }
  apply_hybrid_config(config, options, path);
}

void check_hybrid_options(const HybridOptions& options) {
  const RouterConfig& r = options.router;
  if (r.policy != Policy::LocalOnly && r.consent != Consent::Never && options.cloud.url.empty())
    throw Error(fmt::format("route policy {} sends requests to a cloud, but no --cloud-url is set", to_string(r.policy)));
}

std::string describe(const HybridOptions& options) {
  const RouterConfig& r = options.router;
  const char* consent = r.consent == Consent::Never ? "never" : r.consent == Consent::Ask ? "ask" : "always";
  const char* sensitive = r.sensitive == SensitiveHandling::Redact      ? "redact"
                          : r.sensitive == SensitiveHandling::KeepLocal ? "keep-local"
                                                                        : "block";
  if (r.policy == Policy::LocalOnly || r.consent == Consent::Never)
    return fmt::format("routing {} (consent {}): nothing leaves this device", to_string(r.policy), consent);
  return fmt::format("routing {}, cloud {} (consent {}, sensitive data: {})", to_string(r.policy), options.cloud.url,
                     consent, sensitive);
}

}  // namespace bantam::hybrid
