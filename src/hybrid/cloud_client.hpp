// The client for a cloud model behind any OpenAI-compatible POST /v1/chat/completions: libcurl with
// TLS verification, connect and total timeouts, the API key read from an environment variable,
// retries with backoff only while nothing has been streamed to the caller, and server-sent events
// passed through as they arrive. Every failure (429, 5xx, timeouts, unparsable answers) is a
// CloudError, which the router turns into a local fallback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"

namespace bantam::hybrid {

struct CloudOptions {
  // Which OpenAI API the client calls: POST .../v1/chat/completions or .../v1/moderations.
  enum class Api { ChatCompletions, Moderations };
  Api api = Api::ChatCompletions;
  // The server's base URL (the API's path is appended unless it already ends so).
  std::string url;
  std::string model;        // replaces the request's "model"; empty: keep it
  std::string api_key_env;  // environment variable holding the key; empty: no Authorization header
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{120000};
  int max_attempts = 3;
  std::chrono::milliseconds backoff{250};  // doubled after each failed attempt
};

class CloudError : public Error {
 public:
  CloudError(const std::string& message, int status, bool streamed)
      : Error(message), status_(status), streamed_(streamed) {}
  int status() const { return status_; }      // HTTP status, 0 when none came
  bool streamed() const { return streamed_; }  // events already reached the caller
 private:
  int status_;
  bool streamed_;
};

struct CloudStats {
  int attempts = 0;
  int64_t bytes_sent = 0;  // request bodies over all attempts
};

class CloudClient {
 public:
  // Throws bantam::Error when the URL is not http(s) or the key's variable is named but unset.
  explicit CloudClient(CloudOptions options);

  // A non-streaming completion: the parsed response object.
  nlohmann::json complete(nlohmann::json request, CloudStats* stats = nullptr) const;
  // A streaming completion ("stream": true is set): on_event gets each event's data (the text of a
  // chunk object; "[DONE]" is not passed). Returning false from on_event stops the stream.
  void stream(nlohmann::json request, const std::function<bool(const std::string& data)>& on_event,
              CloudStats* stats = nullptr) const;

  // Api::Moderations: whether the endpoint flags the text ({"input": text} -> results[0].flagged).
  bool flagged(const std::string& text, CloudStats* stats = nullptr) const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  void run(const std::string& body, bool streaming,
           const std::function<bool(const std::string& data)>& on_event, std::string* whole,
           CloudStats* stats) const;
  void attempt(const std::string& body, bool streaming,
               const std::function<bool(const std::string& data)>& on_event, std::string* whole,
               bool* delivered) const;

  CloudOptions options_;
  std::string endpoint_;
  std::string api_key_;
};

}  // namespace bantam::hybrid
