// The one error type of bantam: what went wrong and where (file, offset, tensor, key, field).
#pragma once

#include <stdexcept>
#include <string>

namespace bantam {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A caller's callback asked to stop (a load progress callback returned false).
class Cancelled : public Error {
 public:
  using Error::Error;
};

}  // namespace bantam
