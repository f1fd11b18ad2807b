// Python's str algorithms that several built-ins share: split, splitlines, replace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bantam::jinja {

class Renderer;

// str.split / str.rsplit: on `sep`, or on runs of whitespace when `sep` is null; at most
// `maxsplit` splits when it is >= 0. Error for an empty separator.
std::vector<std::string> python_split(const std::string& text, const std::string* sep,
                                      int64_t maxsplit, bool from_right);
std::vector<std::string> python_splitlines(const std::string& text);
// str.replace, `count` < 0 meaning all; an empty `old` inserts `replacement` between characters.
std::string python_replace(const std::string& text, const std::string& old,
                           const std::string& replacement, int64_t count, Renderer& renderer);

}  // namespace bantam::jinja
