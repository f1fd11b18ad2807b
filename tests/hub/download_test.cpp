// Downloads under bad conditions: corrupt chunks, cut connections, servers ignoring Range, a full
// disk, concurrent pulls, `bantam pull` killed at random moments, and hf:// addresses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fcntl.h>

#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "hub/huggingface.hpp"
#include "hub_fixture.hpp"

extern char** environ;

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;

class Download : public ::testing::Test {
 protected:
  void SetUp() override {
    v1 = hub.add(stories(), "tiny", "1.0");
    hub.sign();
    server = std::make_unique<test::LoopbackServer>(hub.dir);
    store_dir = test::temp_dir() / "store";
    trust = test::temp_dir() / "root.json";
    fs::copy_file(hub.dir / "root.json", trust);
  }

  std::vector<int64_t> blob_request_ranges() const {
    std::vector<int64_t> out;
    for (const auto& r : server->requests()) {
      if (r.path.starts_with("/blobs/")) out.push_back(r.range_start);
    }
    return out;
  }

  TestHub hub;
  ModelTarget v1;
  std::unique_ptr<test::LoopbackServer> server;
  fs::path store_dir, trust;
};

TEST_F(Download, CorruptChunkIsFetchedAgainAlone) {
  constexpr uint64_t bad_offset = 5 * kTestChunk + 100;
  auto corrupted = std::make_shared<bool>(false);
  server->set_tamper([corrupted](const std::string& path, uint64_t offset, std::string& data) {
    if (*corrupted || !path.starts_with("/blobs/") || offset > bad_offset) return;
    data[bad_offset - offset] ^= 0x55;
    *corrupted = true;
  });
  Store store = Store::open(store_dir);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  // The first request ran past chunk 5; the second restarts exactly at chunk 5.
  EXPECT_THAT(blob_request_ranges(), ::testing::ElementsAre(-1, static_cast<int64_t>(5 * kTestChunk)));
}

TEST_F(Download, CutConnectionResumesWithRange) {
  server->set_behavior("/blobs/", {.close_after = 300000, .once = true});
  Store store = Store::open(store_dir);
  try {
    pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
    ADD_FAILURE() << "a cut transfer was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("after 300000 of 1185376 bytes; run again to resume"));
  }
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(fs::file_size(store.partial_path(v1.sha256)), 300000u);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  EXPECT_THAT(blob_request_ranges(), ::testing::ElementsAre(-1, 300000));
  EXPECT_TRUE(files_in(store_dir / "partial").empty());
}

TEST_F(Download, ResumedPartialWithBadBytesKeepsOnlyGoodChunks) {
  Store store = Store::open(store_dir);
  // A partial file whose third chunk was damaged on disk.
  std::string bytes = read_text_file(stories()).substr(0, 4 * kTestChunk);
  bytes[2 * kTestChunk + 7] ^= 1;
  test::write_file(store.partial_path(v1.sha256), bytes);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  EXPECT_THAT(blob_request_ranges(), ::testing::ElementsAre(static_cast<int64_t>(2 * kTestChunk)));
}

TEST_F(Download, FullDiskFailsCleanlyAndKeepsTheOldModel) {
  Store store = Store::open(store_dir);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
  const auto v2 = hub.add(stories_q8(), "tiny", "1.1");
  hub.sign();
  ClientOptions options = fast_client(trust);
  uint64_t written = 0;
  options.fetch.write_hook = [&written](int fd, const void* data, size_t size, off_t offset) -> ssize_t {
    if (written + size > 150000) {
      errno = ENOSPC;
      return -1;
    }
    written += size;
    return ::pwrite(fd, data, size, offset);
  };
  try {
    pull_from_hub(store, server->url(), "tiny", "", options);
    ADD_FAILURE() << "a failed write was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("No space left on device"));
  }
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  EXPECT_TRUE(files_in(store_dir / "partial").empty());
  EXPECT_EQ(store.list().size(), 1u);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
  expect_active(store_dir, "tiny", "1.1", v2.sha256);
}

TEST_F(Download, ConcurrentPullsOfTheSameModelBothSucceed) {
  server->set_behavior("/blobs/", {.bytes_per_second = 4 << 20});
  std::vector<std::thread> pulls;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    pulls.emplace_back([&] {
      const auto r = test::run_cli({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store",
                                    store_dir.string()});
      if (r.exit_code == 0) ++ok;
      else ADD_FAILURE() << r.err;
    });
  }
  for (auto& t : pulls) t.join();
  EXPECT_EQ(ok, 3);
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  EXPECT_TRUE(files_in(store_dir / "partial").empty());
}

pid_t spawn_quiet(const std::vector<std::string>& args) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const std::string exe = test::cli_path().string();
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start bantam");
  return pid;
}

// Everything `list` shows is a complete, verified model.
void expect_listed_models_verified(const fs::path& store_dir) {
  const auto r = test::run_cli({"list", "--store", store_dir.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& m : nlohmann::json::parse(r.out)) {
    const fs::path blob = store_dir / "blobs" / "sha256" / m["sha256"].get<std::string>();
    ASSERT_TRUE(fs::exists(blob));
    EXPECT_EQ(sha256_file(blob), m["sha256"]);
    EXPECT_NO_THROW(gguf::File::open(blob.string()));
  }
}

TEST_F(Download, KilledPullsNeverLeaveAHalfModel) {
  // ~0.3 s per full download, so most kills land mid-transfer.
  server->set_behavior("/blobs/", {.bytes_per_second = 4 << 20});
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_ms(0, 350);
  const std::vector<std::string> pull{"pull", "tiny", "--hub", server->url(), "--trust", trust.string(),
                                      "--store", store_dir.string()};
  int completed = 0;
  for (int i = 0; i < 20; ++i) {
    const pid_t pid = spawn_quiet(pull);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    expect_listed_models_verified(store_dir);
    if (Store::open(store_dir).find("tiny")) {
      ++completed;
      ASSERT_EQ(test::run_cli({"rm", "tiny", "--store", store_dir.string()}).exit_code, 0);
    }
  }
  EXPECT_LT(completed, 20) << "no kill landed before the end of a pull";
  server->clear_behaviors();
  const auto r = test::run_cli(pull);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_active(store_dir, "tiny", "1.0", v1.sha256);
  EXPECT_TRUE(files_in(store_dir / "partial").empty());
  EXPECT_EQ(files_in(store_dir / "blobs" / "sha256").size(), 1u);
}

TEST_F(HuggingFace, PullsAndVerifiesAgainstTheEtag) {
  server->set_behavior("/owner/", {.headers = {{"ETag", "\"" + sha + "\""}}});
  const auto r = test::run_cli({"pull", "hf://owner/repo/stories260K.gguf", "--hf-endpoint", server->url(), "--store",
                                store_dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("pulled stories260K (llama"));
  expect_active(store_dir, "stories260K", sha.substr(0, 12), sha);
  EXPECT_THAT(test::run_cli({"update", "--store", store_dir.string()}).out,
              HasSubstr("stories260K came from hf://owner/repo/stories260K.gguf; pull it again"));
}

TEST_F(HuggingFace, FollowsTheRedirectWithTheLinkedEtag) {
  // Like the Hub: the resolve URL redirects to a CDN and carries X-Linked-Etag/-Size itself.
  server->set_behavior("/owner/", {.redirect_to = "/cdn/blob",
                                   .headers = {{"X-Linked-Etag", "\"" + sha + "\""},
                                               {"X-Linked-Size", std::to_string(fs::file_size(stories()))}}});
  fs::create_directories(root / "cdn");
  fs::create_symlink(stories(), root / "cdn" / "blob");
  Store store = Store::open(store_dir);
  const auto installed = pull_from_hf(store, "hf://owner/repo/stories260K.gguf", server->url(), "story", fast());
  EXPECT_EQ(installed.name, "story");
  expect_active(store_dir, "story", sha.substr(0, 12), sha);
}

TEST_F(HuggingFace, WrongOrMissingHashIsRefused) {
  Store store = Store::open(store_dir);
  server->set_behavior("/owner/", {.headers = {{"ETag", "\"" + std::string(64, 'a') + "\""}}});
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/repo/stories260K.gguf", server->url(), "", fast()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("does not match its signed SHA-256")));
  server->set_behavior("/owner/", {.headers = {{"ETag", "\"0123abcd\""}}});
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/repo/stories260K.gguf", server->url(), "", fast()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("publishes no SHA-256")));
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/../stories260K.gguf", server->url(), "", fast()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("is unsafe")));
  EXPECT_THAT([&] { pull_from_hf(store, "hf://owner/repo/missing.gguf", server->url(), "", fast()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not found on the Hub")));
  EXPECT_TRUE(store.list().empty());
  EXPECT_TRUE(files_in(store_dir / "blobs" / "sha256").empty());
}

}  // namespace
}  // namespace bantam::hub::testing
