// Helpers shared by tests: where the shared data is, running the CLI, temp files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bantam::test {

// ../shared beside the checkout; fails the test run loudly when it is missing.
std::filesystem::path shared_dir();
std::filesystem::path shared(const std::string& relative);  // shared_dir() / relative, must exist
std::filesystem::path cli_path();

struct RunResult {
  int exit_code = -1;     // -1 if killed by a signal
  int signal = 0;
  long max_rss_kb = 0;  // the child's peak resident set, as /usr/bin/time -v reports it
  std::string out;
  std::string err;
};
// Runs the bantam CLI with args (no shell), optional stdin text, and captures output.
RunResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

// A fresh empty folder under the system temp dir, removed at process exit.
std::filesystem::path temp_dir();

std::string read_file(const std::filesystem::path& path);
// Empty when `path` is well-formed XML (checked by python3's xml.dom.minidom), else the parser's complaint.
std::string xml_error(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& data);

}  // namespace bantam::test
