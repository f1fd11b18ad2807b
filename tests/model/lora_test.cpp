// LoRA adapters against llama.cpp (shared ref/lora.json greedy continuations, the adapted rows
// of ref/perplexity.json) through the API and the CLI, and a corpus of malformed adapters that
// must be refused with a message naming the file and the tensor while the base keeps working.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "eval/perplexity.hpp"
#include "format/gguf_writer.hpp"
#include "quant/quant.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

constexpr float kCoinTossMargin = 1e-3f;

std::string model_path(const std::string& model) {
  const std::string dir = model.starts_with("synth-") ? "models/synthetic/" : "models/weights/";
  return test::shared(dir + model).string();
}
std::string adapter_path(const std::string& adapter) { return test::shared("models/adapters/" + adapter).string(); }

struct Entry {
  std::string model, lora;
  float scale;
  std::string prompt_name;
  std::vector<TokenId> prompt_ids, greedy_ids;
  std::vector<float> margins;
};

void PrintTo(const Entry& e, std::ostream* os) { *os << e.model << " + " << e.lora << " " << e.prompt_name; }

std::vector<Entry> load_entries() {
  std::ifstream in(test::shared("ref/lora.json"));
  std::vector<Entry> entries;
  for (const auto& e : nlohmann::json::parse(in)) {
    entries.push_back({e.at("model"), e.at("lora"), e.at("lora_scale"), e.at("prompt_name"), e.at("prompt_ids"),
                       e.at("greedy_ids"), e.at("top2_logit_margin")});
  }
  return entries;
}

std::string entry_name(const testing::TestParamInfo<Entry>& info) {
  std::string name = info.param.lora.substr(0, info.param.lora.size() - 5) + "_" + info.param.prompt_name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// Token for token, except at a step where llama.cpp's own top-2 margin was a coin toss.
void compare(const Entry& entry, const std::vector<TokenId>& got) {
  for (size_t i = 0; i < entry.greedy_ids.size(); ++i) {
    if (i < got.size() && got[i] == entry.greedy_ids[i]) continue;
    EXPECT_LT(entry.margins[i], kCoinTossMargin)
        << entry.lora << " " << entry.prompt_name << ": step " << i << " gave " << (i < got.size() ? got[i] : -1)
        << ", llama.cpp " << entry.greedy_ids[i] << " with top-2 margin " << entry.margins[i];
    std::cout << fmt::format("[ diverged ] {} {} at step {} (llama.cpp margin {})\n", entry.lora,
                             entry.prompt_name, i, entry.margins[i]);
    return;
  }
}

std::vector<TokenId> greedy(const std::shared_ptr<const Model>& model, std::vector<AdapterUse> adapters,
                            std::span<const TokenId> prompt, int n) {
  Session session(model, {.context_length = 512, .threads = 2, .adapters = std::move(adapters)});
  GenerateOptions options;
  options.max_tokens = n;
  options.sampling.temperature = 0.0f;
  return session.generate(prompt, options).tokens;
}

class LoraReference : public testing::TestWithParam<Entry> {};

TEST_P(LoraReference, GreedyMatchesLlamaCpp) {
  const Entry& e = GetParam();
  const auto model = Model::load(model_path(e.model));
  const auto adapter = Adapter::load(adapter_path(e.lora), *model);
  compare(e, greedy(model, {{adapter, e.scale}}, e.prompt_ids, static_cast<int>(e.greedy_ids.size())));
}

INSTANTIATE_TEST_SUITE_P(Generation, LoraReference, testing::ValuesIn(load_entries()), entry_name);

TEST(LoraCli, RunWithLoraPrintsGreedyIds) {
  const Entry e = load_entries().at(1);
  std::vector<std::string> ids;
  for (TokenId id : e.prompt_ids) ids.push_back(std::to_string(id));
  const auto run = test::run_cli({"run", "-m", model_path(e.model), "--lora",
                                  fmt::format("{}:{}", adapter_path(e.lora), e.scale), "--prompt-ids",
                                  fmt::format("{}", fmt::join(ids, " ")), "-n", std::to_string(e.greedy_ids.size()),
                                  "--temp", "0", "--ids", "-t", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::istringstream out(run.out);
  std::vector<TokenId> got;
  for (TokenId id; out >> id;) got.push_back(id);
  compare(e, got);
}

TEST(LoraCli, RefusedAdapterIsAnError) {
  const std::string adapter = adapter_path("stories260K-lora-qvd-r8-f32.gguf");
  const std::string model = model_path("synth-qwen2-f16.gguf");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run", "-m", model, "--lora", adapter, "-p", "hi", "-n", "2"},
           {"chat", "-m", model, "--lora", adapter + ":0.5", "-n", "2"},
           {"perplexity", "-m", model, "--lora", adapter, "-f", test::shared("corpus/gpl-3.txt").string()}}) {
    const auto run = test::run_cli(args, "hello\n");
    EXPECT_EQ(run.exit_code, 1) << args[0];
    EXPECT_NE(run.err.find(adapter), std::string::npos) << args[0] << ": " << run.err;
    EXPECT_NE(run.err.find("architecture"), std::string::npos) << args[0] << ": " << run.err;
  }
}

TEST(LoraCli, BenchRecordsTheAdapters) {
  const std::string adapter = adapter_path("stories260K-lora-kogu-r4-f16.gguf");
  const auto run = test::run_cli({"bench", "-m", model_path("stories260K.gguf"), "--lora", adapter + ":0.5", "-p", "16",
                                  "-n", "4", "-t", "1", "-r", "1", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto rows = nlohmann::json::parse(run.out);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("lora").at(0).at("path"), adapter);
    EXPECT_EQ(row.at("lora").at(0).at("scale"), 0.5);
    EXPECT_TRUE(row.at("model_type").get<std::string>().ends_with("+ 1 LoRA")) << row.at("model_type");
  }
}

// A scale of 0 is the base model; two adapters at once differ from either alone.
TEST(Lora, ScalesAndStacking) {
  const auto model = Model::load(model_path("stories260K.gguf"));
  const auto qvd = Adapter::load(adapter_path("stories260K-lora-qvd-r8-f32.gguf"), *model);
  const auto kogu = Adapter::load(adapter_path("stories260K-lora-kogu-r4-f16.gguf"), *model);
  EXPECT_EQ(qvd->alpha(), 16.0f);
  EXPECT_EQ(qvd->tensor_pairs(), 15u);
  const std::vector<TokenId> prompt = {1, 403, 407, 261, 378};
  const auto base = greedy(model, {}, prompt, 24);
  EXPECT_EQ(greedy(model, {{qvd, 0.0f}}, prompt, 24), base);
  const auto one = greedy(model, {{qvd, 1.0f}}, prompt, 24);
  const auto both = greedy(model, {{qvd, 1.0f}, {kogu, 1.0f}}, prompt, 24);
  EXPECT_NE(one, base);
  EXPECT_NE(both, one);
}

// An adapter checked against one model is refused by a session on another of the same family.
TEST(Lora, SessionRefusesAnAdapterOfAnotherModel) {
  const auto stories = Model::load(model_path("stories260K.gguf"));
  const auto tiny = Model::load(model_path("llama-2-tiny-random.gguf"));
  const auto adapter = Adapter::load(adapter_path("stories260K-lora-qvd-r8-f32.gguf"), *stories);
  try {
    Session session(tiny, {.context_length = 64, .threads = 1, .adapters = {{adapter, 1.0f}}});
    ADD_FAILURE() << "the session accepted an adapter of another model";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("stories260K-lora-qvd-r8-f32.gguf"), std::string::npos) << error.what();
  }
}

TEST(LoraPerplexity, MatchesLlamaCpp) {
  std::ifstream in(test::shared("ref/perplexity.json"));
  const std::string row_name = "stories260K.gguf+stories260K-lora-qvd-r8-f32.gguf@1.0";
  for (const auto& row : nlohmann::json::parse(in)) {
    if (row.at("model") != row_name) continue;
    PerplexityOptions options;
    options.model = model_path("stories260K.gguf");
    options.adapters = {{adapter_path("stories260K-lora-qvd-r8-f32.gguf"), 1.0f}};
    options.text_file = test::shared("corpus/" + row.at("text").get<std::string>()).string();
    options.context = row.at("ctx");
    options.threads = 2;
    const PerplexityResult result = compute_perplexity(options);
    const double expected = row.at("ppl");
    EXPECT_EQ(result.chunks, row.at("chunks").get<int>());
    EXPECT_NEAR(result.ppl, expected, expected * 1e-3) << row_name;
    return;
  }
  FAIL() << row_name << " is not in ref/perplexity.json";
}

// Adapters written from the valid rank-8 F32 one with one thing changed each: malformed ones are
// refused, a quantized lora_a is used as stored.
class AdapterFiles : public testing::Test {
 protected:
  using Edit = std::function<void(gguf::Writer&)>;

  static void SetUpTestSuite() {
    model_ = Model::load(model_path("stories260K.gguf"));
    source_ = std::make_unique<gguf::File>(gguf::File::open(adapter_path("stories260K-lora-qvd-r8-f32.gguf")));
  }
  static void TearDownTestSuite() {
    source_.reset();
    model_.reset();
  }

  // The source adapter with `rename` applied to tensor names (empty: dropped) and `edit` after.
  static gguf::Writer variant(const std::function<std::string(const std::string&)>& rename, const Edit& edit) {
    gguf::Writer writer;
    writer.copy_metadata(*source_);
    for (const gguf::TensorInfo& info : source_->tensors()) {
      const std::string name = rename ? rename(info.name) : info.name;
      if (!name.empty()) writer.add_tensor_view(name, info.type, info.shape, source_->tensor_data(info));
    }
    if (edit) edit(writer);
    return writer;
  }

  // Loading `writer`'s file fails with a message naming the file and holding each of `fragments`;
  // the base model then still generates as before.
  void expect_refused(const std::string& file_name, const gguf::Writer& writer,
                      const std::vector<std::string>& fragments) {
    const std::string path = (test::temp_dir() / file_name).string();
    writer.write(path);
    expect_refused_path(path, fragments);
  }
  void expect_refused_path(const std::string& path, const std::vector<std::string>& fragments) {
    const std::vector<TokenId> prompt = {1, 403, 407, 261, 378};
    const auto before = greedy(model_, {}, prompt, 8);
    try {
      Adapter::load(path, *model_);
      ADD_FAILURE() << path << " was accepted";
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
    EXPECT_EQ(greedy(model_, {}, prompt, 8), before);
  }

  static std::vector<uint8_t> zeros_f32(int64_t n) { return std::vector<uint8_t>(static_cast<size_t>(n) * 4, 0); }

  static inline std::shared_ptr<const Model> model_;
  static inline std::unique_ptr<gguf::File> source_;
};

TEST_F(AdapterFiles, NotALora) {
  expect_refused("ia3.gguf", variant({}, [](gguf::Writer& w) { w.set("adapter.type", gguf::Value::string("ia3")); }),
                 {"not a LoRA", "ia3"});
}

TEST_F(AdapterFiles, NotAnAdapter) {
  expect_refused("model.gguf", variant({}, [](gguf::Writer& w) { w.set("general.type", gguf::Value::string("model")); }),
                 {"not an adapter"});
}

TEST_F(AdapterFiles, ArchitectureDiffers) {
  expect_refused("qwen2.gguf",
                 variant({}, [](gguf::Writer& w) { w.set("general.architecture", gguf::Value::string("qwen2")); }),
                 {"architecture", "qwen2", "llama"});
}

TEST_F(AdapterFiles, UnknownTarget) {
  const auto rename = [](const std::string& name) {
    return name.starts_with("blk.0.attn_q.") ? "blk.9" + name.substr(5) : name;
  };
  expect_refused("unknown.gguf", variant(rename, {}), {"blk.9.attn_q.weight", "no matrix"});
}

TEST_F(AdapterFiles, NotALoraTensor) {
  const auto rename = [](const std::string& name) {
    return name == "blk.0.attn_q.weight.lora_a" ? std::string("blk.0.attn_q.weight.lora_c") : name;
  };
  expect_refused("lora_c.gguf", variant(rename, {}), {"blk.0.attn_q.weight.lora_c"});
}

TEST_F(AdapterFiles, MissingPartner) {
  const auto drop = [](const std::string& name) { return name == "blk.1.attn_v.weight.lora_b" ? "" : name; };
  expect_refused("partner.gguf", variant(drop, {}), {"blk.1.attn_v.weight.lora_a", "blk.1.attn_v.weight.lora_b", "missing"});
}

TEST_F(AdapterFiles, ShapeMismatch) {
  // lora_a reads 32 inputs where attn_q takes 64.
  const auto rename = [](const std::string& name) { return name == "blk.2.attn_q.weight.lora_a" ? "" : name; };
  expect_refused("shape.gguf", variant(rename, [](gguf::Writer& w) {
                   w.add_tensor("blk.2.attn_q.weight.lora_a", GgmlType::F32, {32, 8}, zeros_f32(32 * 8));
                 }),
                 {"blk.2.attn_q.weight.lora_a", "[32, 8]", "does not fit"});
}

TEST_F(AdapterFiles, RankMismatch) {
  const auto rename = [](const std::string& name) { return name == "blk.3.ffn_down.weight.lora_b" ? "" : name; };
  expect_refused("rank.gguf", variant(rename, [](gguf::Writer& w) {
                   w.add_tensor("blk.3.ffn_down.weight.lora_b", GgmlType::F32, {4, 64}, zeros_f32(4 * 64));
                 }),
                 {"blk.3.ffn_down.weight.lora_b", "rank 4", "rank 8"});
}

// A quantized lora_a is used in its stored type: the logits stay close to the F32 adapter's.
// (Those of whole Q8_0 blocks: ffn_down's lora_a rows of 172 stay F32.)
TEST_F(AdapterFiles, QuantizedLoraAIsAccepted) {
  const auto quantizable = [](const std::string& name) {
    return name.ends_with(".lora_a") && source_->find_tensor(name)->shape[0] % 32 == 0;
  };
  const auto quantize = [&](gguf::Writer& w) {
    for (const gguf::TensorInfo& info : source_->tensors()) {
      if (!quantizable(info.name)) continue;
      std::vector<uint8_t> blocks(row_bytes(GgmlType::Q8_0, info.shape[0]) * static_cast<size_t>(info.shape[1]));
      const auto* values = reinterpret_cast<const float*>(source_->tensor_data(info).data());
      const size_t row = row_bytes(GgmlType::Q8_0, info.shape[0]);
      for (int64_t r = 0; r < info.shape[1]; ++r) {
        quant::quantize_row(GgmlType::Q8_0, values + r * info.shape[0], blocks.data() + r * row, info.shape[0]);
      }
      w.add_tensor(info.name, GgmlType::Q8_0, info.shape, std::move(blocks));
    }
  };
  const auto keep_rest = [&](const std::string& name) { return quantizable(name) ? std::string() : name; };
  const std::string path = (test::temp_dir() / "q8-a.gguf").string();
  variant(keep_rest, quantize).write(path);
  const auto q8 = Adapter::load(path, *model_);
  const auto f32 = Adapter::load(source_->path(), *model_);
  const std::vector<TokenId> prompt = {1, 403, 407, 261, 378};
  Session with_q8(model_, {.context_length = 64, .threads = 1, .adapters = {{q8, 1.0f}}});
  Session with_f32(model_, {.context_length = 64, .threads = 1, .adapters = {{f32, 1.0f}}});
  Session base(model_, {.context_length = 64, .threads = 1});
  const auto a = with_q8.evaluate(prompt), b = with_f32.evaluate(prompt), c = base.evaluate(prompt);
  double q8_error = 0, adapter_effect = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    q8_error = std::max(q8_error, std::fabs(static_cast<double>(a[i]) - b[i]));
    adapter_effect = std::max(adapter_effect, std::fabs(static_cast<double>(b[i]) - c[i]));
  }
  EXPECT_GT(adapter_effect, 0.1);
  EXPECT_LT(q8_error, adapter_effect * 0.05) << "quantizing lora_a moved the logits by " << q8_error;
}

TEST_F(AdapterFiles, Truncated) {
  const std::vector<uint8_t> bytes = variant({}, {}).to_bytes();
  for (const size_t size : {bytes.size() / 2, bytes.size() - 1, size_t{40}}) {
    const std::string path = (test::temp_dir() / fmt::format("truncated-{}.gguf", size)).string();
    test::write_file(path, std::string(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)));
    expect_refused_path(path, {});
  }
}

}  // namespace
}  // namespace bantam
