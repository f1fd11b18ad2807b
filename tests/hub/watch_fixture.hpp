// Shared pieces of the A/B gate and monitoring tests: a signed hub served on loopback that
// publishes versions of "tiny", a device store, and a small task set whose references are
// llama.cpp's greedy continuations of stories260K (ref/generation.json).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {

// A model with the stories vocab and random weights: a clearly worse candidate.
inline fs::path random_stories_vocab() { return test::shared("models/synthetic/synth-llama3-f16.gguf"); }
inline fs::path stories_q4() { return test::shared("models/weights/stories260K-Q4_0.gguf"); }

// One task per stories260K prompt of ref/generation.json; the reference is the first
// `reference_tokens` tokens of llama.cpp's greedy continuation, as text.
inline fs::path write_story_tasks(const fs::path& path, size_t reference_tokens = 24) {
  const auto cases = nlohmann::json::parse(test::read_file(test::shared("ref/generation.json")));
  const auto model = Model::load(stories().string());
  std::ofstream out(path);
  for (const auto& c : cases) {
    if (c["model"] != "stories260K.gguf") continue;
    auto ids = c["greedy_ids"].get<std::vector<TokenId>>();
    ids.resize(std::min(ids.size(), reference_tokens));
    std::string reference = model->detokenize(ids);
    reference.erase(0, reference.find_first_not_of(" \n"));
    reference.erase(reference.find_last_not_of(" \n") + 1);
    out << nlohmann::json{{"prompt", c["prompt"]}, {"reference", reference}}.dump() << "\n";
  }
  return path;
}

class ModelWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_dir = test::temp_dir() / "hub";
    keys = test::temp_dir() / "keys";
    store = (test::temp_dir() / "store").string();
    run_ok({"hub", "init", hub_dir.string(), "--keys", keys.string()});
    server = std::make_unique<test::LoopbackServer>(hub_dir);
    tasks = write_story_tasks(test::temp_dir() / "tasks.jsonl").string();
  }

  test::RunResult run_ok(const std::vector<std::string>& args) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << r.out << r.err;
    return r;
  }
  test::RunResult run_fail(const std::vector<std::string>& args) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << ::testing::PrintToString(args) << "\n" << r.out << r.err;
    return r;
  }
  void publish(const fs::path& gguf, const std::string& version) {
    run_ok({"hub", "add", hub_dir.string(), gguf.string(), "--name", "tiny", "--version", version, "--chunk-size",
            std::to_string(kTestChunk)});
    run_ok({"hub", "sign", hub_dir.string(), "--keys", keys.string()});
  }
  void pull(const std::string& spec) {
    run_ok({"pull", spec, "--hub", server->url(), "--trust", (hub_dir / "root.json").string(), "--store", store});
  }
  // Short answers and one pass keep each evaluation well under a second.
  std::vector<std::string> quick(std::vector<std::string> args) const {
    for (const char* a : {"--store", store.c_str(), "-n", "8", "--repeat", "1", "-t", "1"}) args.push_back(a);
    return args;
  }

  fs::path hub_dir, keys;
  std::string store, tasks;
  std::unique_ptr<test::LoopbackServer> server;
};

}  // namespace bantam::hub::testing
