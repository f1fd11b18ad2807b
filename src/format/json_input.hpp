// JSON from outside the program (request bodies, hub metadata, config and task files, cloud
// answers), parsed with a nesting-depth limit and a size cap. nlohmann's parser itself is
// iterative, but copying, comparing, dumping and walking a document recurse once per level, so a
// few hundred KB of "[[[[..." would overflow the stack there; the limit stops it at parse time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"

namespace bantam {

struct JsonLimits {
  size_t max_depth = 128;         // open objects and arrays at once
  size_t max_bytes = 16u << 20;  // of text
};

// A refused document: the message names the source, what is wrong and where; path() is where in
// the document ("messages[0].content"; empty at the top level), for callers that answer per field.
class JsonInputError : public Error {
 public:
  JsonInputError(const std::string& message, std::string path) : Error(message), path_(std::move(path)) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `source` names the text in errors ("request body", a file name). Json is nlohmann::json or
// nlohmann::ordered_json.
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits = {});

// Reads and parses a file, refusing one larger than limits.max_bytes before holding all of it.
template <class Json = nlohmann::json>
Json read_json_file(const std::filesystem::path& path, const JsonLimits& limits = {});

extern template nlohmann::json parse_json(std::string_view, const std::string&, const JsonLimits&);
extern template nlohmann::ordered_json parse_json(std::string_view, const std::string&, const JsonLimits&);
extern template nlohmann::json read_json_file(const std::filesystem::path&, const JsonLimits&);
extern template nlohmann::ordered_json read_json_file(const std::filesystem::path&, const JsonLimits&);

}  // namespace bantam
