#include "hub/metadata.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/json_input.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

const json& field(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) {
    throw Error(fmt::format("{}: missing field '{}'", where, key));
  }
  return obj.at(key);
}

uint64_t get_u64(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  throw Error(fmt::format("{}: field '{}' must be a non-negative integer", where, key));
}

std::string get_string(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) throw Error(fmt::format("{}: field '{}' must be a string", where, key));
  return v.get<std::string>();
}

std::string get_sha256(const json& obj, const char* key, const std::string& where) {
  std::string hex = get_string(obj, key, where);
  if (!is_sha256_hex(hex)) {
    throw Error(fmt::format("{}: field '{}' is not a lowercase hex SHA-256", where, key));
  }
  return hex;
}

void check_type(const json& signed_part, const char* type, const std::string& where) {
  if (get_string(signed_part, "_type", where) != type) {
    throw Error(fmt::format("{}: _type is not '{}'", where, type));
  }
}

json meta_ref_json(const MetaFileRef& ref) {
  return json{{"version", ref.version}, {"length", ref.length}, {"hashes", {{"sha256", ref.sha256}}}};
}

MetaFileRef parse_meta_ref(const json& signed_part, const char* file, const std::string& where) {
  const json& meta = field(signed_part, "meta", where);
  const std::string ref_where = fmt::format("{} meta[{}]", where, file);
  const json& ref = field(meta, file, ref_where);
  MetaFileRef out;
  out.version = get_u64(ref, "version", ref_where);
  out.length = get_u64(ref, "length", ref_where);
  out.sha256 = get_sha256(field(ref, "hashes", ref_where), "sha256", ref_where);
  return out;
}

// Splits into runs of digits and runs of other characters, dropping separators.
std::vector<std::string_view> version_tokens(std::string_view v) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < v.size()) {
    if (v[i] == '.' || v[i] == '-' || v[i] == '+' || v[i] == '_') {
      ++i;
      continue;
    }
    const bool digit = std::isdigit(static_cast<unsigned char>(v[i])) != 0;
    size_t j = i;
    while (j < v.size() && v[j] != '.' && v[j] != '-' && v[j] != '+' && v[j] != '_' &&
           (std::isdigit(static_cast<unsigned char>(v[j])) != 0) == digit) {
      ++j;
    }
    tokens.push_back(v.substr(i, j - i));
    i = j;
  }
  return tokens;
}

}  // namespace

bool is_role_name(std::string_view role) {
  return std::find(std::begin(kRoleNames), std::end(kRoleNames), role) != std::end(kRoleNames);
}

std::string format_time(TimePoint t) {
  const std::time_t seconds = t.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

TimePoint parse_time(std::string_view text, const std::string& where) {
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    throw Error(fmt::format("{}: '{}' is not a UTC time like 2026-07-26T12:00:00Z", where, s));
  }
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

TimePoint now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string unsafe_name_reason(std::string_view component) {
  if (component.empty()) return "it is empty";
  if (component.size() > 128) return "it is longer than 128 characters";
  for (const char c : component) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\') return "it contains a path separator";
    if (u < 0x20 || u == 0x7f) return "it contains a control character";
    if (!(std::isalnum(u) || c == '.' || c == '_' || c == '-' || c == '+')) {
      return fmt::format("it contains '{}' (allowed: letters, digits, . _ - +)", c);
    }
  }
  if (component.find("..") != std::string_view::npos) return "it contains '..'";
  if (component.front() == '.' || component.front() == '-') {
    return "it starts with '.' or '-'";
  }
  return "";
}

void check_safe_name(std::string_view component, const std::string& what) {
  const std::string reason = unsafe_name_reason(component);
  if (!reason.empty()) {
    // Printed with control characters escaped so a hostile name cannot forge terminal output.
    throw Error(fmt::format("{} {} is unsafe: {}", what, json(std::string(component)).dump(
                                                              -1, ' ', true, json::error_handler_t::replace),
                            reason));
  }
}

int compare_versions(std::string_view a, std::string_view b) {
  const auto ta = version_tokens(a), tb = version_tokens(b);
  for (size_t i = 0; i < std::min(ta.size(), tb.size()); ++i) {
    std::string_view x = ta[i], y = tb[i];
    const bool nx = std::isdigit(static_cast<unsigned char>(x[0])) != 0;
    const bool ny = std::isdigit(static_cast<unsigned char>(y[0])) != 0;
    if (nx && ny) {
      while (x.size() > 1 && x[0] == '0') x.remove_prefix(1);
      while (y.size() > 1 && y[0] == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    } else if (nx != ny) {
      return nx ? 1 : -1;  // 2.0.1 (number) is newer than 2.0-rc1 (word)
    }
    if (const int c = x.compare(y); c != 0) return c < 0 ? -1 : 1;
  }
  if (ta.size() == tb.size()) return 0;
  // A longer version is newer when the extra token is a number (1.0.1 > 1.0), older when it is a
  // word (1.0-rc1 < 1.0).
  const auto& longer = ta.size() > tb.size() ? ta : tb;
  const bool numeric = std::isdigit(static_cast<unsigned char>(longer[std::min(ta.size(), tb.size())][0])) != 0;
  const int sign = ta.size() > tb.size() ? 1 : -1;
  return numeric ? sign : -sign;
}

std::vector<PublicKey> RootMeta::keys_for(std::string_view role_name) const {
  std::vector<PublicKey> out;
  for (const auto& id : role(role_name).keyids) {
    if (auto it = keys.find(id); it != keys.end()) out.push_back(it->second);
  }
  return out;
}

const RoleKeys& RootMeta::role(std::string_view role_name) const {
  const auto it = roles.find(std::string(role_name));
  if (it == roles.end()) throw Error(fmt::format("root.json: no role '{}'", role_name));
  return it->second;
}

json RootMeta::to_json() const {
  json keys_json = json::object();
  for (const auto& [id, key] : keys) keys_json[id] = key.to_json();
  json roles_json = json::object();
  for (const auto& [name, r] : roles) roles_json[name] = {{"keyids", r.keyids}, {"threshold", r.threshold}};
  return json{{"_type", "root"},        {"spec_version", "1.0"},
              {"version", version},      {"expires", format_time(expires)},
              {"consistent_snapshot", true}, {"keys", keys_json},
              {"roles", roles_json}};
}

RootMeta RootMeta::from_json(const json& s) {
  const std::string where = "root.json";
  check_type(s, "root", where);
  RootMeta root;
  root.version = get_u64(s, "version", where);
  root.expires = parse_time(get_string(s, "expires", where), where + " expires");
  const json& keys = field(s, "keys", where);
  if (!keys.is_object()) throw Error(where + ": 'keys' must be an object");
  for (const auto& [id, value] : keys.items()) {
    PublicKey key = PublicKey::from_json(value, fmt::format("{} keys[{}]", where, id));
    if (key.id != id) throw Error(fmt::format("{}: key id {} does not match its key", where, id));
    root.keys.emplace(id, key);
  }
  const json& roles = field(s, "roles", where);
  for (const auto role_name : kRoleNames) {
    const std::string role_where = fmt::format("{} roles[{}]", where, role_name);
    const json& r = field(roles, std::string(role_name).c_str(), role_where);
    RoleKeys role_keys;
    role_keys.threshold = get_u64(r, "threshold", role_where);
    const json& ids = field(r, "keyids", role_where);
    if (!ids.is_array()) throw Error(role_where + ": 'keyids' must be an array");
    for (const auto& id : ids) {
      if (!id.is_string() || !root.keys.contains(id.get<std::string>())) {
        throw Error(fmt::format("{}: key id {} is not among the root's keys", role_where, id.dump()));
      }
      role_keys.keyids.push_back(id.get<std::string>());
    }
    if (role_keys.threshold < 1 || role_keys.threshold > role_keys.keyids.size()) {
      throw Error(fmt::format("{}: threshold {} with {} keys", role_where, role_keys.threshold,
                              role_keys.keyids.size()));
    }
    root.roles.emplace(role_name, std::move(role_keys));
  }
  return root;
}

json TimestampMeta::to_json() const {
  return json{{"_type", "timestamp"},
              {"spec_version", "1.0"},
              {"version", version},
              {"expires", format_time(expires)},
              {"meta", {{"snapshot.json", meta_ref_json(snapshot)}}}};
}

TimestampMeta TimestampMeta::from_json(const json& s) {
  const std::string where = "timestamp.json";
  check_type(s, "timestamp", where);
  TimestampMeta t;
  t.version = get_u64(s, "version", where);
  t.expires = parse_time(get_string(s, "expires", where), where + " expires");
  t.snapshot = parse_meta_ref(s, "snapshot.json", where);
  return t;
}

json SnapshotMeta::to_json() const {
  return json{{"_type", "snapshot"},
              {"spec_version", "1.0"},
              {"version", version},
              {"expires", format_time(expires)},
              {"meta", {{"targets.json", meta_ref_json(targets)}}}};
}

SnapshotMeta SnapshotMeta::from_json(const json& s) {
  const std::string where = "snapshot.json";
  check_type(s, "snapshot", where);
  SnapshotMeta m;
  m.version = get_u64(s, "version", where);
  m.expires = parse_time(get_string(s, "expires", where), where + " expires");
  m.targets = parse_meta_ref(s, "targets.json", where);
  return m;
}

json ModelTarget::to_json() const {
  return json{{"name", name},
              {"version", version},
              {"sha256", sha256},
              {"size", size},
              {"gguf_type", gguf_type},
              {"architecture", architecture},
              {"min_bantam_version", min_bantam_version},
              {"rollout", rollout},
              {"notes", notes},
              {"chunk_size", chunk_size},
              {"chunks", chunks}};
}

ModelTarget ModelTarget::from_json(const json& v, const std::string& where) {
  ModelTarget t;
  t.name = get_string(v, "name", where);
  check_safe_name(t.name, where + " model name");
  t.version = get_string(v, "version", where);
  check_safe_name(t.version, fmt::format("{} version of {}", where, t.name));
  const std::string at = fmt::format("{} model {}", where, t.label());
  t.sha256 = get_sha256(v, "sha256", at);
  t.size = get_u64(v, "size", at);
  t.gguf_type = get_string(v, "gguf_type", at);
  t.architecture = get_string(v, "architecture", at);
  t.min_bantam_version = get_string(v, "min_bantam_version", at);
  t.rollout = get_u64(v, "rollout", at);
  if (t.rollout > 100) throw Error(fmt::format("{}: rollout {} is over 100%", at, t.rollout));
  t.notes = get_string(v, "notes", at);
  t.chunk_size = get_u64(v, "chunk_size", at);
  if (t.chunk_size < 1024 || t.chunk_size > (uint64_t{1} << 30)) {
    throw Error(fmt::format("{}: chunk_size {} is outside 1 KiB..1 GiB", at, t.chunk_size));
  }
  if (t.size == 0) throw Error(at + ": size is 0");
  const json& chunks = field(v, "chunks", at);
  if (!chunks.is_array()) throw Error(at + ": 'chunks' must be an array");
  for (const auto& c : chunks) {
    if (!c.is_string() || !is_sha256_hex(c.get<std::string>())) {
      throw Error(at + ": 'chunks' must hold lowercase hex SHA-256 strings");
    }
    t.chunks.push_back(c.get<std::string>());
  }
  const uint64_t expected = (t.size + t.chunk_size - 1) / t.chunk_size;
  if (t.chunks.size() != expected) {
    throw Error(fmt::format("{}: {} chunk hashes for {} bytes in {}-byte chunks (expected {})", at,
                            t.chunks.size(), t.size, t.chunk_size, expected));
  }
  return t;
}

const ModelTarget* TargetsMeta::find(std::string_view name, std::string_view version) const {
  for (const auto& m : models) {
    if (m.name == name && m.version == version) return &m;
  }
  return nullptr;
}

json TargetsMeta::to_json() const {
  json list = json::array();
  for (const auto& m : models) list.push_back(m.to_json());
  return json{{"_type", "targets"},
              {"spec_version", "1.0"},
              {"version", version},
              {"expires", format_time(expires)},
              {"models", list}};
}

TargetsMeta TargetsMeta::from_json(const json& s) {
  const std::string where = "targets.json";
  check_type(s, "targets", where);
  TargetsMeta t;
  t.version = get_u64(s, "version", where);
  t.expires = parse_time(get_string(s, "expires", where), where + " expires");
  const json& models = field(s, "models", where);
  if (!models.is_array()) throw Error(where + ": 'models' must be an array");
  for (size_t i = 0; i < models.size(); ++i) {
    ModelTarget m = ModelTarget::from_json(models[i], fmt::format("{} models[{}]", where, i));
    if (t.find(m.name, m.version) != nullptr) {
      throw Error(fmt::format("{}: {} is listed twice", where, m.label()));
    }
    t.models.push_back(std::move(m));
  }
  return t;
}

std::string dominant_tensor_type(const gguf::File& file) {
  std::map<std::string, uint64_t> bytes;
  for (const auto& t : file.tensors()) bytes[std::string(type_name(t.type))] += t.nbytes;
  std::string best;
  uint64_t most = 0;
  for (const auto& [name, n] : bytes) {
    if (n > most) best = name, most = n;
  }
  return best;
}

json parse_metadata_text(std::string_view text, const std::string& file) {
  json doc = parse_json(text, file);
  if (!doc.is_object() || !doc.contains("signed") || !doc["signed"].is_object() ||
      !doc.contains("signatures") || !doc["signatures"].is_array()) {
    throw Error(fmt::format("{}: expected {{\"signed\": {{...}}, \"signatures\": [...]}}", file));
  }
  return doc;
}

}  // namespace bantam::hub
