// `bantam pull hf://OWNER/REPO[:QUANT]`: the GGUF file chosen by its quantization tag from the
// Hub's file listing (GET /api/models/OWNER/REPO), against a loopback stand-in of the Hub.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "hub/huggingface.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;

const std::vector<std::string> kQwenFiles = {
    ".gitattributes", "README.md", "qwen2.5-0.5b-instruct-fp16.gguf", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-0.5b-instruct-q4_k_s.gguf", "qwen2.5-0.5b-instruct-q8_0.gguf", "qwen2.5-0.5b-instruct-iq4_xs.gguf"};

TEST(ChooseGgufFile, ATagPicksItsFileInAnyCase) {
  EXPECT_EQ(choose_gguf_file(kQwenFiles, "Q8_0", "o/r"), "qwen2.5-0.5b-instruct-q8_0.gguf");
  EXPECT_EQ(choose_gguf_file(kQwenFiles, "iq4_xs", "o/r"), "qwen2.5-0.5b-instruct-iq4_xs.gguf");
  EXPECT_EQ(choose_gguf_file(kQwenFiles, "Q4_K_S", "o/r"), "qwen2.5-0.5b-instruct-q4_k_s.gguf");
  // A tag is a whole part of the name: Q4_K is neither Q4_K_M nor Q4_K_S.
  EXPECT_THAT([] { choose_gguf_file(kQwenFiles, "Q4_K", "o/r"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("o/r has no GGUF file tagged Q4_K"),
                                         HasSubstr("qwen2.5-0.5b-instruct-q4_k_m.gguf"),
                                         Not(HasSubstr("README.md")))));
  // TheBloke's NAME.QUANT.gguf and files in folders.
  EXPECT_EQ(choose_gguf_file({"llama-2-7b.Q4_K_M.gguf", "llama-2-7b.Q5_K_M.gguf"}, "q5_k_m", "o/r"),
            "llama-2-7b.Q5_K_M.gguf");
  EXPECT_EQ(choose_gguf_file({"Q8_0/Model-Q8_0.gguf", "Q6_K/Model-Q6_K.gguf"}, "Q6_K", "o/r"), "Q6_K/Model-Q6_K.gguf");
}

TEST(ChooseGgufFile, NoTagPicksQ4KMThenTheOnlyFile) {
  EXPECT_EQ(choose_gguf_file(kQwenFiles, "", "o/r"), "qwen2.5-0.5b-instruct-q4_k_m.gguf");
  EXPECT_EQ(choose_gguf_file({"README.md", "mmproj-f16.gguf", "model-f16.gguf"}, "", "o/r"), "model-f16.gguf");
  EXPECT_THAT([] { choose_gguf_file({"a-Q8_0.gguf", "a-Q6_K.gguf"}, "", "o/r"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("o/r has 2 GGUF files and none tagged Q4_K_M"),
                                         HasSubstr("hf://o/r:QUANT"), HasSubstr("a-Q8_0.gguf, a-Q6_K.gguf"))));
}

TEST(ChooseGgufFile, NoneSeveralOrSplitAreErrorsNamingTheFiles) {
  EXPECT_THAT([] { choose_gguf_file({"README.md", "model.safetensors"}, "", "o/r"); },
              ThrowsMessage<Error>(HasSubstr("o/r has no GGUF file (its files: README.md, model.safetensors)")));
  EXPECT_THAT([] { choose_gguf_file({"a/m-Q8_0.gguf", "b/m-Q8_0.gguf"}, "q8_0", "o/r"); },
              ThrowsMessage<Error>(HasSubstr("the tag q8_0 matches 2 files in o/r: a/m-Q8_0.gguf, b/m-Q8_0.gguf")));
  EXPECT_THAT([] { choose_gguf_file({"m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"}, "Q8_0", "o/r"); },
              ThrowsMessage<Error>(HasSubstr("split into parts")));
}

TEST(HfAddress, TakesATagOrAFile) {
  const HfAddress tagged = parse_hf_address("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
  EXPECT_EQ(tagged.owner, "Qwen");
  EXPECT_EQ(tagged.repo, "Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(tagged.quant, "Q4_K_M");
  EXPECT_EQ(tagged.file, "");
  EXPECT_EQ(tagged.listing_url("https://hf.example/"), "https://hf.example/api/models/Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  const HfAddress bare = parse_hf_address("hf://o/r");
  EXPECT_EQ(bare.quant, "");
  EXPECT_EQ(bare.file, "");
  EXPECT_EQ(parse_hf_address("hf://o/r/m.gguf").file, "m.gguf");
  EXPECT_THAT([] { parse_hf_address("hf://o/r:Q4/../x"); }, ThrowsMessage<Error>(HasSubstr("is unsafe")));
  EXPECT_THAT([] { parse_hf_address("hf://o/r:"); }, ThrowsMessage<Error>(HasSubstr("quantization tag")));
  EXPECT_THAT([] { parse_hf_address("hf://o"); }, ThrowsMessage<Error>(HasSubstr("hf://OWNER/REPO[:QUANT]")));
}

// The Hub stand-in lists two quantizations of the repository, both served as stories260K.
class HubListing : public HuggingFace {
 protected:
  void SetUp() override {
    HuggingFace::SetUp();
    const fs::path files = root / "owner" / "repo" / "resolve" / "main";
    for (const char* name : {"tiny-Q8_0.gguf", "tiny-Q4_K_M.gguf"}) fs::create_symlink(stories(), files / name);
    list({".gitattributes", "README.md", "tiny-Q8_0.gguf", "tiny-Q4_K_M.gguf"});
    server->set_behavior("/owner/", {.headers = {{"ETag", "\"" + sha + "\""}}});
  }
  void list(const std::vector<std::string>& names) {
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& name : names) siblings.push_back({{"rfilename", name}});
    fs::create_directories(root / "api" / "models" / "owner");
    test::write_file(root / "api" / "models" / "owner" / "repo",
                     nlohmann::json{{"id", "owner/repo"}, {"siblings", siblings}}.dump());
  }
  test::RunResult pull(std::vector<std::string> args) {
    args.insert(args.begin(), "pull");
    args.insert(args.end(), {"--store", store_dir.string()});
    return test::run_cli(args);
  }
};

TEST_F(HubListing, PullsTheTaggedFileAndRemembersTheEndpoint) {
  auto r = pull({"hf://owner/repo:q8_0", "--hf-endpoint", server->url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("pulled tiny-Q8_0 (llama"));
  EXPECT_THAT(r.out, HasSubstr("from hf://owner/repo/tiny-Q8_0.gguf"));
  expect_active(store_dir, "tiny-Q8_0", sha.substr(0, 12), sha);
  EXPECT_EQ(server->requests().front().path, "/api/models/owner/repo");
  const auto config = nlohmann::json::parse(test::read_file(store_dir / "config.json"));
  EXPECT_EQ(config["hf_endpoint"], server->url());

  // No tag: Q4_K_M; no --hf-endpoint: the one remembered.
  r = pull({"hf://owner/repo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("pulled tiny-Q4_K_M"));
  expect_active(store_dir, "tiny-Q4_K_M", sha.substr(0, 12), sha);
}

TEST_F(HubListing, ATagMatchingNothingListsTheFiles) {
  const auto r = pull({"hf://owner/repo:IQ4_XS", "--hf-endpoint", server->url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("owner/repo has no GGUF file tagged IQ4_XS; its GGUF files: tiny-Q8_0.gguf, "
                               "tiny-Q4_K_M.gguf"));
  EXPECT_FALSE(fs::exists(store_dir / "config.json")) << "a failed pull remembers nothing";
}

TEST_F(HubListing, HostileOrMissingListingsAreRefused) {
  Store store = Store::open(store_dir);
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/nothing:Q8_0", server->url(), "", fast()); },
              ThrowsMessage<Error>(HasSubstr("no repository owner/nothing on the Hub")));
  list({"../../etc/passwd-Q8_0.gguf"});
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/repo:Q8_0", server->url(), "", fast()); },
              ThrowsMessage<Error>(HasSubstr("is unsafe")));
  test::write_file(root / "api" / "models" / "owner" / "repo", "{\"id\": \"owner/repo\"}");
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/repo:Q8_0", server->url(), "", fast()); },
              ThrowsMessage<Error>(HasSubstr("no \"siblings\" array")));
  EXPECT_TRUE(store.list().empty());
}

}  // namespace
}  // namespace bantam::hub::testing
