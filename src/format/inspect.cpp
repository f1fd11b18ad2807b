#include "format/inspect.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace bantam {

using nlohmann::ordered_json;

std::string file_type_name(uint64_t file_type) {
  static const std::map<uint64_t, std::string> kNames = {
      {0, "F32"},      {1, "F16"},      {2, "Q4_0"},     {3, "Q4_1"},     {7, "Q8_0"},
      {8, "Q5_0"},     {9, "Q5_1"},     {10, "Q2_K"},    {11, "Q3_K_S"},  {12, "Q3_K_M"},
      {13, "Q3_K_L"},  {14, "Q4_K_S"},  {15, "Q4_K_M"},  {16, "Q5_K_S"},  {17, "Q5_K_M"},
      {18, "Q6_K"},    {19, "IQ2_XXS"}, {20, "IQ2_XS"},  {21, "Q2_K_S"},  {22, "IQ3_XS"},
      {23, "IQ3_XXS"}, {24, "IQ1_S"},   {25, "IQ4_NL"},  {26, "IQ3_S"},   {27, "IQ3_M"},
      {28, "IQ2_S"},   {29, "IQ2_M"},   {30, "IQ4_XS"},  {31, "IQ1_M"},   {32, "BF16"},
      {36, "TQ1_0"},   {37, "TQ2_0"},   {38, "MXFP4_MOE"}};
  const auto it = kNames.find(file_type);
  return it != kNames.end() ? it->second : fmt::format("unknown ({})", file_type);
}

std::string file_type_label(const gguf::File& file) {
  if (const auto ft = file.get_uint("general.file_type")) return file_type_name(*ft);
  std::map<GgmlType, uint64_t> bytes;
  for (const auto& t : file.tensors()) bytes[t.type] += t.nbytes;
  if (bytes.empty()) return "?";
  const auto most = std::max_element(bytes.begin(), bytes.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  return std::string(type_name(most->first));
}

ordered_json value_to_json(const gguf::Value& value, size_t max_items) {
  using gguf::ValueType;
  switch (value.type()) {
    case ValueType::STRING: return value.as_string();
    case ValueType::BOOL: return value.as_bool();
    case ValueType::FLOAT32: case ValueType::FLOAT64: return value.as_double();
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return value.as_int();
    case ValueType::ARRAY: {
      const auto& items = value.as_array();
      if (items.size() > max_items) {
        return ordered_json{{"array_of", gguf::value_type_name(value.element_type())},
                            {"length", items.size()}};
      }
      ordered_json out = ordered_json::array();
      for (const auto& item : items) out.push_back(value_to_json(item, max_items));
      return out;
    }
    default: return value.as_uint();
  }
}

namespace {

// What an adapter file adapts and what it costs: LoRA pairs share a rank per pair, and the
// runtime reads the tensors in place from the mapped file, so their bytes are its memory.
ordered_json adapter_summary(const gguf::File& file) {
  constexpr std::string_view kSuffixA = ".weight.lora_a";
  std::set<uint64_t> ranks;
  std::set<std::string> kinds;  // e.g. attn_q, ffn_down, output
  uint64_t pairs = 0, bytes = 0;
  for (const auto& t : file.tensors()) {
    bytes += t.nbytes;
    if (!t.name.ends_with(kSuffixA) || t.shape.size() < 2) continue;
    ++pairs;
    ranks.insert(t.shape[1]);
    std::string base = t.name.substr(0, t.name.size() - kSuffixA.size());
    if (base.starts_with("blk.")) base = base.substr(base.find('.', 4) + 1);
    kinds.insert(base);
  }
  const auto alpha = file.get_double("adapter.lora.alpha");
  return {{"adapter_type", file.get_string("adapter.type").value_or("")},
          {"alpha", alpha ? ordered_json(*alpha) : ordered_json(nullptr)},
          {"ranks", ranks},
          {"pairs", pairs},
          {"targets", kinds},
          {"memory_bytes", bytes}};
}

}  // namespace

ordered_json inspect_gguf(const gguf::File& file, const InspectOptions& options) {
  const std::string arch = file.architecture();
  const auto key = [&](std::string_view suffix) { return fmt::format("{}.{}", arch, suffix); };
  const auto number = [&](const std::string& k) -> ordered_json {
    const gguf::Value* v = file.find(k);
    if (v == nullptr) return nullptr;
    return value_to_json(*v, options.max_array_items);
  };

  ordered_json out;
  out["file"] = file.path();
  out["file_size"] = file.file_size();
  out["gguf_version"] = file.version();
  out["architecture"] = arch;
  out["name"] = file.get_string("general.name").value_or("");
  if (auto t = file.get_string("general.type")) out["type"] = *t;

  int64_t params = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> mix;  // type -> tensors, bytes
  for (const auto& t : file.tensors()) {
    params += t.n_elements();
    auto& [count, bytes] = mix[std::string(type_name(t.type))];
    ++count;
    bytes += t.nbytes;
  }
  out["parameters"] = params;
  out["tensor_count"] = file.tensors().size();
  if (auto ft = file.get_uint("general.file_type")) {
    out["file_type"] = file_type_name(*ft);
  } else {
    out["file_type"] = nullptr;
  }
  ordered_json quant = ordered_json::object();
  for (const auto& [type, cb] : mix) quant[type] = {{"tensors", cb.first}, {"bytes", cb.second}};
  out["quant_mix"] = quant;

  out["context_length"] = number(key("context_length"));
  out["embedding_length"] = number(key("embedding_length"));
  out["block_count"] = number(key("block_count"));
  out["feed_forward_length"] = number(key("feed_forward_length"));
  out["head_count"] = number(key("attention.head_count"));
  out["head_count_kv"] = number(key("attention.head_count_kv"));
  ordered_json head_dim = number(key("attention.key_length"));
  if (head_dim.is_null() && out["embedding_length"].is_number_unsigned() &&
      out["head_count"].is_number_unsigned() && out["head_count"].get<uint64_t>() > 0) {
    head_dim = out["embedding_length"].get<uint64_t>() / out["head_count"].get<uint64_t>();
  }
  out["head_dim"] = head_dim;
  out["rope"] = {{"freq_base", number(key("rope.freq_base"))},
                 {"dimension_count", number(key("rope.dimension_count"))},
                 {"scaling_type", number(key("rope.scaling.type"))},
                 {"scaling_factor", number(key("rope.scaling.factor"))}};
  out["sliding_window"] = number(key("attention.sliding_window"));

  const auto* tokens = file.find("tokenizer.ggml.tokens");
  out["vocab_size"] = tokens != nullptr && tokens->type() == gguf::ValueType::ARRAY
                          ? ordered_json(tokens->as_array().size())
                          : ordered_json(nullptr);
  out["tokenizer_model"] = number("tokenizer.ggml.model");
  out["tokenizer_pre"] = number("tokenizer.ggml.pre");
  out["chat_template"] = file.find("tokenizer.chat_template") != nullptr;

  ordered_json meta = ordered_json::object();
  for (const auto& [k, v] : file.metadata()) meta[k] = value_to_json(v, options.max_array_items);
  out["metadata"] = meta;

  if (out.value("type", "") == "adapter") out["adapter"] = adapter_summary(file);

  if (options.tensors) {
    ordered_json list = ordered_json::array();
    for (const auto& t : file.tensors()) {
      list.push_back({{"name", t.name},
                      {"type", type_name(t.type)},
                      {"shape", t.shape},
                      {"offset", file.data_offset() + t.offset},
                      {"bytes", t.nbytes}});
    }
    out["tensors"] = list;
  }
  return out;
}

namespace {
std::string plain(const ordered_json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("array_of")) {
    return fmt::format("[{} x {}]", v["length"].get<uint64_t>(), v["array_of"].get<std::string>());
  }
  // Metadata strings inside arrays need not be UTF-8; they are shown, not refused.
  return v.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}
}  // namespace

std::string format_inspect_text(const ordered_json& s) {
  std::string out;
  const auto line = [&](std::string_view label, const std::string& value) {
    out += fmt::format("{:<20} {}\n", label, value);
  };
  line("file", plain(s["file"]));
  line("file size", fmt::format("{} bytes ({:.2f} MiB)", s["file_size"].get<uint64_t>(),
                                s["file_size"].get<uint64_t>() / 1048576.0));
  line("gguf version", plain(s["gguf_version"]));
  line("architecture", plain(s["architecture"]));
  if (!s["name"].get<std::string>().empty()) line("name", plain(s["name"]));
  if (s.contains("type")) line("type", plain(s["type"]));
  line("parameters", plain(s["parameters"]));
  line("file type", plain(s["file_type"]));
  std::string mix;
  for (const auto& [type, cb] : s["quant_mix"].items()) {
    mix += fmt::format("{}{}: {} tensors, {} bytes", mix.empty() ? "" : "; ", type,
                       cb["tensors"].get<uint64_t>(), cb["bytes"].get<uint64_t>());
  }
  line("tensors", fmt::format("{} ({})", plain(s["tensor_count"]), mix.empty() ? "none" : mix));
  line("context length", plain(s["context_length"]));
  line("embedding length", plain(s["embedding_length"]));
  line("layers", plain(s["block_count"]));
  line("feed forward", plain(s["feed_forward_length"]));
  line("heads", plain(s["head_count"]));
  line("kv heads", plain(s["head_count_kv"]));
  line("head dim", plain(s["head_dim"]));
  line("rope", fmt::format("freq_base {}, dims {}, scaling {} x{}", plain(s["rope"]["freq_base"]),
                           plain(s["rope"]["dimension_count"]), plain(s["rope"]["scaling_type"]),
                           plain(s["rope"]["scaling_factor"])));
  if (!s["sliding_window"].is_null()) line("sliding window", plain(s["sliding_window"]));
  line("vocab size", plain(s["vocab_size"]));
  line("tokenizer", fmt::format("{} (pre: {})", plain(s["tokenizer_model"]),
                                plain(s["tokenizer_pre"])));
  line("chat template", s["chat_template"].get<bool>() ? "yes" : "no");
  if (s.contains("adapter")) {
    const auto& a = s["adapter"];
    std::string targets, ranks;
    for (const auto& t : a["targets"]) targets += (targets.empty() ? "" : ", ") + t.get<std::string>();
    for (const auto& r : a["ranks"]) ranks += (ranks.empty() ? "" : "/") + r.dump();
    line("adapter", fmt::format("{}, alpha {}, rank {}, {} pairs on {}", plain(a["adapter_type"]), plain(a["alpha"]),
                                ranks.empty() ? "-" : ranks, a["pairs"].get<uint64_t>(),
                                targets.empty() ? "-" : targets));
    line("adapter memory", fmt::format("{} bytes ({:.2f} MiB), read in place from the file",
                                       a["memory_bytes"].get<uint64_t>(),
                                       a["memory_bytes"].get<uint64_t>() / 1048576.0));
  }
  if (s.contains("tensors")) {
    out += "\n";
    for (const auto& t : s["tensors"]) {
      out += fmt::format("{:<40} {:<8} {:<24} offset {:>12} {:>12} bytes\n",
                         t["name"].get<std::string>(), t["type"].get<std::string>(),
                         t["shape"].dump(), t["offset"].get<uint64_t>(), t["bytes"].get<uint64_t>());
    }
  }
  return out;
}

}  // namespace bantam
