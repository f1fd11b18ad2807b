// An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <stdexcept>
#include <string>

namespace bantam::serve {

struct ApiError : std::runtime_error {
  ApiError(int status_in, std::string message, std::string param_in = {}, std::string code_in = {},
           std::string type_in = {})
      : std::runtime_error(std::move(message)), status(status_in), param(std::move(param_in)),
        code(std::move(code_in)), type(type_in.empty() ? default_type(status_in) : std::move(type_in)) {}

  static std::string default_type(int status) {
    switch (status) {
      case 401: return "authentication_error";
      case 404: return "not_found_error";
      case 503: return "server_overloaded";
      default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
  }

  int status;
  std::string param;
  std::string code;
  std::string type;
};

}  // namespace bantam::serve
