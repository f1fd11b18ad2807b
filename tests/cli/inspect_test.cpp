// `bantam inspect` on every real GGUF in ../shared: succeeds, and its numbers agree with
// models/MANIFEST.md; legacy and invalid files fail with one clear line and exit code 1.
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// file name -> size in bytes, from the manifest tables ("| name | size | sha256 | ...").
std::map<std::string, uint64_t> manifest_sizes() {
  const std::string text = test::read_file(test::shared("models/MANIFEST.md"));
  std::map<std::string, uint64_t> sizes;
  const std::regex row(R"(^\| ([^|/ ]+\.gguf) \| (\d+) \| [0-9a-f]{64} \|)");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) sizes[m[1]] = std::stoull(m[2]);
  }
  return sizes;
}

json inspect(const fs::path& path) {
  const auto r = test::run_cli({"inspect", path.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << path << ": " << r.err;
  return json::parse(r.out);
}

std::vector<fs::path> ggufs_under(const std::string& folder) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(test::shared(folder))) {
    if (e.path().extension() == ".gguf") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(InspectCli, EveryRealGgufInspectsAndMatchesTheManifest) {
  const auto sizes = manifest_sizes();
  ASSERT_GE(sizes.size(), 14u);
  size_t checked_sizes = 0, files = 0;
  for (const std::string folder : {"models/weights", "models/vocab", "models/vocab-derived"}) {
    for (const auto& path : ggufs_under(folder)) {
      SCOPED_TRACE(path.string());
      const json s = inspect(path);
      ++files;
      EXPECT_EQ(s["file_size"].get<uint64_t>(), fs::file_size(path));
      if (auto it = sizes.find(path.filename().string()); it != sizes.end()) {
        EXPECT_EQ(s["file_size"].get<uint64_t>(), it->second);
        ++checked_sizes;
      }
      EXPECT_TRUE(s["vocab_size"].is_number());
    }
  }
  EXPECT_EQ(files, 19u);  // 5 weights, 12 vocab, 2 vocab-derived
  EXPECT_GE(checked_sizes, 13u);
}

// Facts stated in MANIFEST.md's "what" column.
TEST(InspectCli, ModelFactsAgreeWithTheManifest) {
  const json s = inspect(test::shared("models/weights/stories260K.gguf"));
  EXPECT_EQ(s["gguf_version"], 3);
  EXPECT_EQ(s["architecture"], "llama");
  EXPECT_EQ(s["parameters"], 292800);
  EXPECT_EQ(s["embedding_length"], 64);
  EXPECT_EQ(s["block_count"], 5);
  EXPECT_EQ(s["head_count"], 8);
  EXPECT_EQ(s["head_count_kv"], 4);
  EXPECT_EQ(s["head_dim"], 8);
  EXPECT_EQ(s["rope"]["dimension_count"], 8);
  EXPECT_EQ(s["feed_forward_length"], 172);
  EXPECT_EQ(s["context_length"], 2048);
  EXPECT_EQ(s["vocab_size"], 512);
  EXPECT_EQ(s["tokenizer_model"], "llama");
  EXPECT_EQ(s["quant_mix"].size(), 1u);
  EXPECT_TRUE(s["quant_mix"].contains("F32"));

  const json t = inspect(test::shared("models/weights/llama-2-tiny-random.gguf"));
  EXPECT_EQ(t["file_type"], "F16");
  EXPECT_EQ(t["embedding_length"], 8);
  EXPECT_EQ(t["block_count"], 1);
  EXPECT_EQ(t["head_count"], 2);
  EXPECT_EQ(t["feed_forward_length"], 32);
  EXPECT_EQ(t["context_length"], 4096);
  EXPECT_EQ(t["vocab_size"], 32000);
  EXPECT_TRUE(t["quant_mix"].contains("F16"));

  const std::map<std::string, std::pair<int, std::string>> vocabs = {
      {"ggml-vocab-llama-spm.gguf", {32000, "llama"}},   {"ggml-vocab-phi-3.gguf", {32064, "llama"}},
      {"ggml-vocab-gpt-2.gguf", {50257, "gpt2"}},        {"ggml-vocab-deepseek-llm.gguf", {102400, "gpt2"}},
      {"ggml-vocab-deepseek-coder.gguf", {32256, "gpt2"}}, {"ggml-vocab-falcon.gguf", {65024, "gpt2"}},
      {"ggml-vocab-mpt.gguf", {50432, "gpt2"}},          {"ggml-vocab-refact.gguf", {49216, "gpt2"}},
      {"ggml-vocab-starcoder.gguf", {49152, "gpt2"}},    {"ggml-vocab-bert-bge.gguf", {30522, "bert"}},
      {"ggml-vocab-baichuan.gguf", {64000, "llama"}},    {"ggml-vocab-gpt-neox.gguf", {50432, "gpt2"}},
  };
  for (const auto& [file, expected] : vocabs) {
    SCOPED_TRACE(file);
    const json v = inspect(test::shared("models/vocab/" + file));
    EXPECT_EQ(v["vocab_size"], expected.first);
    EXPECT_EQ(v["tokenizer_model"], expected.second);
    EXPECT_EQ(v["tensor_count"], 0);
  }
  const json phi = inspect(test::shared("models/vocab/ggml-vocab-phi-3.gguf"));
  EXPECT_EQ(phi["chat_template"], true);
  EXPECT_EQ(phi["architecture"], "phi3");
}

TEST(InspectCli, TensorListingAndTextOutput) {
  const auto path = test::shared("models/weights/stories260K.gguf");
  const auto r = test::run_cli({"inspect", path.string(), "--json", "--tensors"});
  ASSERT_EQ(r.exit_code, 0);
  const json s = json::parse(r.out);
  ASSERT_EQ(s["tensors"].size(), 48u);
  const json& first = s["tensors"][0];
  EXPECT_TRUE(first.contains("name") && first.contains("type") && first.contains("shape") &&
              first.contains("offset"));
  // Long arrays are summarized, not dumped.
  EXPECT_EQ(s["metadata"]["tokenizer.ggml.tokens"]["length"], 512);

  const auto text = test::run_cli({"inspect", path.string()});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("parameters           292800"), std::string::npos) << text.out;
  EXPECT_LT(text.out.size(), 4000u);
}

// Adapter files: what they adapt (as ../shared/README.md describes them) and their memory, which is
// the bytes of their tensors (the runtime reads them in place).
TEST(InspectCli, AdaptersReportTargetsRankAndMemory) {
  struct Case {
    std::string file;
    double alpha;
    int rank;
    std::vector<std::string> targets;
  };
  const Case cases[] = {{"stories260K-lora-qvd-r8-f32.gguf", 16, 8, {"attn_q", "attn_v", "ffn_down"}},
                        {"stories260K-lora-kogu-r4-f16.gguf", 4, 4, {"attn_k", "attn_output", "ffn_gate", "ffn_up"}}};
  for (const Case& c : cases) {
    const auto path = test::shared("models/adapters/" + c.file).string();
    const auto r = test::run_cli({"inspect", path, "--json", "--tensors"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json s = json::parse(r.out);
    const json& a = s.at("adapter");
    EXPECT_EQ(a["adapter_type"], "lora") << c.file;
    EXPECT_EQ(a["alpha"].get<double>(), c.alpha) << c.file;
    EXPECT_EQ(a["ranks"], json::array({c.rank})) << c.file;
    std::vector<std::string> targets = a["targets"];
    std::vector<std::string> want = c.targets;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(targets, want) << c.file;
    uint64_t bytes = 0;
    for (const auto& t : s["tensors"]) bytes += t["bytes"].get<uint64_t>();
    EXPECT_EQ(a["memory_bytes"].get<uint64_t>(), bytes) << c.file;
    EXPECT_EQ(a["pairs"].get<size_t>() * 2, s["tensors"].size()) << c.file;
    const auto text = test::run_cli({"inspect", path});
    EXPECT_NE(text.out.find("adapter memory       " + std::to_string(bytes) + " bytes"), std::string::npos) << text.out;
  }
  // A model is not an adapter.
  const auto model = test::run_cli({"inspect", test::shared("models/weights/stories260K.gguf").string(), "--json"});
  EXPECT_FALSE(json::parse(model.out).contains("adapter"));
}

TEST(InspectCli, LegacyAndInvalidFilesFailWithOneClearLine) {
  const std::map<std::string, std::string> expected = {
      {"models/legacy/TinyLLama-v0.ggmlv3.q4_0.bin", "unsupported legacy format"},
      {"models/legacy/tinyllamas-stories-260k-f32.gguf", "GGUF version 1"},
      {"models/invalid/tinyllamas-stories-260k-q8_0.gguf",
       "row of 172 elements is not a multiple of the Q8_0 block size 32"},
  };
  for (const auto& [file, needle] : expected) {
    SCOPED_TRACE(file);
    const auto r = test::run_cli({"inspect", test::shared(file).string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.signal, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("at byte"), std::string::npos) << r.err;
  }
  // Every file in those folders is covered.
  size_t n = 0;
  for (const std::string folder : {"models/legacy", "models/invalid"}) {
    for (const auto& e : fs::directory_iterator(test::shared(folder))) {
      (void)e;
      ++n;
    }
  }
  EXPECT_EQ(n, expected.size());
}

}  // namespace
}  // namespace bantam
