// The one error type of bantam: what went wrong and where (file, offset, tensor, key, field).
#pragma once

#include <stdexcept>
#include <string>

#include "bantam/export.h"

namespace bantam {

class BANTAM_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A caller's callback asked to stop (a load progress callback returned false).
class BANTAM_API Cancelled : public Error {
 public:
  using Error::Error;
};

}  // namespace bantam
