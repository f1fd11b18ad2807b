// Model::load takes a path, a caller's buffer or a file descriptor, and gives the same model from
// each; store names are not core's business (the CLI resolves them, see tests/hub).
#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "bantam/bantam.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string stories() { return test::shared("models/weights/stories260K.gguf").string(); }

std::vector<float> first_logits(const std::shared_ptr<const Model>& model) {
  Session session(model, {.context_length = 64, .threads = 1});
  return session.evaluate_last(model->tokenize("Once upon a time"));
}

TEST(LoadSources, BufferGivesTheSameModelAsThePathEvenMisaligned) {
  const auto from_path = Model::load(stories());
  const std::string bytes = test::read_file(stories());
  // One byte in: tensor data is then not aligned as in a mapping, which the kernels must accept.
  std::vector<uint8_t> storage(bytes.size() + 1);
  std::memcpy(storage.data() + 1, bytes.data(), bytes.size());
  const auto from_buffer =
      Model::load_from_memory(std::span<const uint8_t>(storage.data() + 1, bytes.size()), "stories-in-memory");
  EXPECT_EQ(from_buffer->info().path, "stories-in-memory");
  EXPECT_EQ(from_buffer->info().n_vocab, from_path->info().n_vocab);
  EXPECT_EQ(first_logits(from_buffer), first_logits(from_path));
}

TEST(LoadSources, FileDescriptorMayBeClosedAfterLoading) {
  const int fd = ::open(stories().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const auto from_fd = Model::load_from_fd(fd, "stories-fd");
  ::close(fd);
  EXPECT_EQ(from_fd->info().path, "stories-fd");
  EXPECT_EQ(first_logits(from_fd), first_logits(Model::load(stories())));
}

TEST(LoadSources, BadSourcesAreClearErrors) {
  EXPECT_THAT([] { Model::load_from_fd(-1, "nothing"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("nothing: cannot stat")));
  const int dir = ::open(test::temp_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  EXPECT_THAT([dir] { Model::load_from_fd(dir, "a-folder"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("a-folder: is not a regular file")));
  ::close(dir);
  const std::vector<uint8_t> junk = {'G', 'G', 'U'};
  EXPECT_THAT([&] { Model::load_from_memory(junk, "junk"); }, ::testing::ThrowsMessage<Error>(HasSubstr("junk")));
}

TEST(LoadSources, NamesOfInstalledModelsAreNotResolvedByTheLibrary) {
  // `tiny` could be a store name; the library reads only files (and never opens the store).
  EXPECT_THAT([] { Model::load("tiny-model-name-not-a-file"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("tiny-model-name-not-a-file: does not exist")));
}

}  // namespace
}  // namespace bantam
