// Opening the files a user names (models, prompts, templates, messages, text), with errors that
// say what is wrong with the path: "does not exist", "is a directory", "is not a regular file".
#pragma once

#include <string>

namespace bantam {

// A read-only descriptor (the caller closes it) of `path`, which must be a regular file.
// Never blocks on a FIFO. Error names the path and the problem.
int open_input_file(const std::string& path);
// Error as open_input_file when `path` cannot be read as a regular file.
void check_input_file(const std::string& path);
// The whole content of the regular file `path`.
std::string read_input_file(const std::string& path);

}  // namespace bantam
