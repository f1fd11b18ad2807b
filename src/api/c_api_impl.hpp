// What the C API's translation units share: the handles behind the opaque types, and the guard
// that turns exceptions into a status and this thread's last error.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "bantam/bantam.h"
#include "bantam/bantam.hpp"
#include "bantam/error.hpp"

struct bantam_model {
  std::shared_ptr<const bantam::Model> model;
};

struct bantam_adapter {
  std::shared_ptr<const bantam::Adapter> adapter;
};

struct bantam_session {
  std::unique_ptr<bantam::Session> session;
};

namespace bantam::c_api {

// An error with the status the C caller sees.
class Failure : public Error {
 public:
  Failure(bantam_status status, const std::string& message) : Error(message), status_(status) {}
  bantam_status status() const { return status_; }

 private:
  bantam_status status_;
};

void set_last_error(bantam_status status, const std::string& message) noexcept;

// Runs body; on an exception records its message and status (`failed` for a plain bantam::Error)
// as this thread's last error. Returns the status recorded.
template <typename F>
bantam_status guarded(bantam_status failed, F&& body) noexcept {
  bantam_status status = BANTAM_OK;
  std::string message;
  try {
    body();
  } catch (const Failure& e) {
    status = e.status(), message = e.what();
  } catch (const Cancelled& e) {
    status = BANTAM_ERROR_CANCELLED, message = e.what();
  } catch (const std::bad_alloc&) {
    status = BANTAM_ERROR_OUT_OF_MEMORY, message = "out of memory";
  } catch (const Error& e) {
    status = failed, message = e.what();
  } catch (const std::exception& e) {
    status = BANTAM_ERROR_INTERNAL, message = e.what();
  } catch (...) {
    status = BANTAM_ERROR_INTERNAL, message = "unknown error";
  }
  set_last_error(status, message);
  return status;
}

// A count for C: n, or the negative status of a failure.
inline int32_t count_or_status(bantam_status status, int32_t n) { return status == BANTAM_OK ? n : status; }

template <typename T>
T& require(T* handle, const char* what) {
  if (!handle) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, std::string(what) + " is NULL");
  return *handle;
}

inline const char* require_text(const char* text, const char* what) {
  if (!text) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, std::string(what) + " is NULL");
  return text;
}

// A size-prefixed params struct: the caller's fields up to its struct_size over the defaults.
template <typename T>
T read_params(const T* given, T defaults, const char* what) {
  if (!given) return defaults;
  if (given->struct_size < sizeof(size_t)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, std::string(what) + ": struct_size is not set");
  }
  std::memcpy(static_cast<void*>(&defaults), given, std::min(given->struct_size, sizeof(T)));
  defaults.struct_size = sizeof(T);
  return defaults;
}

// Copies up to capacity items to out and returns how many there are, as a count for C.
template <typename T>
int32_t copy_out(std::span<const T> items, T* out, int32_t capacity) {
  if (capacity > 0 && !out) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "output buffer is NULL");
  std::copy_n(items.begin(), std::min<size_t>(items.size(), static_cast<size_t>(std::max(0, capacity))), out);
  return static_cast<int32_t>(items.size());
}

char* malloc_string(const std::string& text);
std::vector<ChatMessage> chat_messages(const bantam_chat_message* messages, int32_t n_messages);
ChatOptions chat_options(const char* tools_json, const char* template_source);

}  // namespace bantam::c_api
