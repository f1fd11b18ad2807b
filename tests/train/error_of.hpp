// The message of the bantam::Error a call throws: what the train tests compare with the errors
// they expect.
#pragma once

#include <functional>
#include <string>

#include "bantam/error.hpp"

namespace bantam::train {

// The message of the bantam::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace bantam::train
