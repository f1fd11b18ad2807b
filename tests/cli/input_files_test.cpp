// Every option that names an input file says what is wrong with a path that is not a regular
// file: a directory, a device, a missing file. None is read as empty text.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "test_support.hpp"

namespace bantam {
namespace {

struct BadPath {
  std::string path;
  std::string problem;
};

std::vector<BadPath> bad_paths() {
  const auto fifo = (test::temp_dir() / "fifo").string();
  EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);  // opening it must not wait for a writer
  return {{"/tmp", "is a directory"},
          {"/dev/null", "is not a regular file"},
          {fifo, "is not a regular file"},
          {(test::temp_dir() / "missing.gguf").string(), "does not exist"}};
}

TEST(InputFiles, EveryFileOptionNamesThePathAndTheProblem) {
  const std::string model = test::shared("models/weights/stories260K.gguf").string();
  const std::string messages = (test::temp_dir() / "messages.json").string();
  test::write_file(messages, R"([{"role": "user", "content": "hi"}])");
  for (const auto& [path, problem] : bad_paths()) {
    const std::vector<std::vector<std::string>> commands = {
        {"run", "-m", path, "-p", "x"},
        {"run", "-m", model, "-f", path},
        {"run", "-m", model, "-p", "x", "--lora", path},
        {"chat", "-m", path},
        {"inspect", path},
        {"tokenize", "-m", path, "-p", "x"},
        {"tokenize", "-m", model, "-f", path},
        {"perplexity", "-m", model, "-f", path},
        {"perplexity", "-m", path, "-f", messages},
        {"bench", "-m", path, "-p", "1", "-n", "1"},
        {"eval", "-m", model, "--tasks", path},
        {"template", "--template", path, "--messages", messages},
        {"template", "-m", model, "--messages", path},
    };
    for (const auto& args : commands) {
      std::string command;
      for (const auto& arg : args) command += arg + " ";
      SCOPED_TRACE(command);
      const auto r = test::run_cli(args, "hello\n");
      EXPECT_EQ(r.exit_code, 1) << r.out;
      const size_t error = r.err.find("bantam: error: ");
      ASSERT_NE(error, std::string::npos) << r.err;
      EXPECT_NE(r.err.find(path + ": " + problem, error), std::string::npos) << r.err;
    }
  }
}

}  // namespace
}  // namespace bantam
