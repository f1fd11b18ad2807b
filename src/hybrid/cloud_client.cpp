#include "hybrid/cloud_client.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "format/json_input.hpp"
#include "net/http_client.hpp"

namespace bantam::hybrid {

namespace {

constexpr size_t kMaxBodyBytes = 64u << 20;  // a larger answer is garbage, not a completion
constexpr JsonLimits kAnswerLimits{.max_bytes = kMaxBodyBytes};

// A cloud answer or event as JSON, or nothing when it is not JSON within the limits.
std::optional<nlohmann::json> answer_json(std::string_view text) {
  try {
    return parse_json(text, "the cloud's answer", kAnswerLimits);
  } catch (const JsonInputError&) {
    return std::nullopt;
  }
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What one transfer collects; the body callback feeds it.
struct CloudStream {
  const net::HttpTransfer* http = nullptr;
  bool streaming = false;
  const std::function<bool(const std::string&)>* on_event = nullptr;
  std::string raw;      // the body when not streaming, or when the status is not 200
  std::string pending;  // stream text not yet split into events
  bool delivered = false;
  bool done = false;     // "[DONE]" seen
  bool stopped = false;  // the caller asked to stop
  std::string garbage;   // why the stream is unusable

  // Handles one event's lines; false stops the transfer.
  bool event(std::string_view text) {
    std::string data;
    bool any = false;
    size_t at = 0;
    while (at <= text.size()) {
      size_t end = text.find('\n', at);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(at, end - at);
      if (line.substr(0, 5) == "data:") {
        std::string_view value = line.substr(5);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        if (any) data += '\n';
        data.append(value);
        any = true;
      }
      at = end + 1;
    }
    if (!any) return true;  // comments and keep-alives
    if (data == "[DONE]") {
      done = true;
      return true;
    }
    if (done || !answer_json(data)) {
      garbage = fmt::format("an event is not JSON: {}", data.substr(0, 200));
      return false;
    }
    delivered = true;
    if (!(*on_event)(data)) {
      stopped = true;
      return false;
    }
    return true;
  }

  bool feed(const char* data, size_t size) {
    if (!streaming || http->status() != 200) {
      if (raw.size() + size > kMaxBodyBytes) {
        garbage = "the answer is too large";
        return false;
      }
      raw.append(data, size);
      return true;
    }
    for (size_t i = 0; i < size; ++i)
      if (data[i] != '\r') pending += data[i];
    size_t split;
    while ((split = pending.find("\n\n")) != std::string::npos) {
      std::string text = pending.substr(0, split);
      pending.erase(0, split + 2);
      if (!event(text)) return false;
    }
    if (pending.size() > kMaxBodyBytes) {
      garbage = "an event is too large";
      return false;
    }
    return true;
  }
};

bool retryable(const CloudError& error) {
  if (error.streamed()) return false;
  int status = error.status();
  return status == 0 || status == 200 || status == 408 || status == 429 || status >= 500;
}

}  // namespace

CloudClient::CloudClient(CloudOptions options) : options_(std::move(options)) {
  if (options_.url.rfind("http://", 0) != 0 && options_.url.rfind("https://", 0) != 0)
    throw Error(fmt::format("cloud url '{}' must start with http:// or https://", options_.url));
  endpoint_ = options_.url;
  const std::string path = options_.api == CloudOptions::Api::Moderations ? "/moderations" : "/chat/completions";
  if (!ends_with(endpoint_, path)) {
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    endpoint_ += ends_with(endpoint_, "/v1") ? path : "/v1" + path;
  }
  if (!options_.api_key_env.empty()) {
    const char* key = std::getenv(options_.api_key_env.c_str());
    if (!key || !*key)
      throw Error(fmt::format("cloud key: environment variable {} is not set", options_.api_key_env));
    api_key_ = key;
  }
  options_.max_attempts = std::max(1, options_.max_attempts);
}

void CloudClient::attempt(const std::string& body, bool streaming,
                          const std::function<bool(const std::string& data)>& on_event,
                          std::string* whole, bool* delivered) const {
  net::HttpRequestSpec spec;
  spec.url = endpoint_;
  spec.method = net::HttpMethod::Post;
  spec.body = body;
  spec.headers = {"Content-Type: application/json", "Expect:",  // no 100-continue round trip
                  streaming ? "Accept: text/event-stream" : "Accept: application/json"};
  if (!api_key_.empty()) spec.headers.push_back("Authorization: Bearer " + api_key_);
  spec.connect_timeout = options_.connect_timeout;
  spec.total_timeout = options_.total_timeout;
  std::unique_ptr<net::HttpTransfer> http;
  try {
    http = std::make_unique<net::HttpTransfer>(std::move(spec));
  } catch (const Error& e) {
    throw CloudError(fmt::format("cloud: {}", e.what()), 0, false);
  }
  CloudStream transfer;
  transfer.http = http.get();
  transfer.streaming = streaming;
  transfer.on_event = &on_event;
  const net::TransferResult result =
      http->perform([&](std::string_view piece) { return transfer.feed(piece.data(), piece.size()); });
  *delivered = transfer.delivered;
  if (transfer.stopped) return;
  if (!transfer.garbage.empty())
    throw CloudError(fmt::format("cloud ({}): {}", endpoint_, transfer.garbage), 200, transfer.delivered);
  if (!result.ok) throw CloudError(fmt::format("cloud ({}): {}", endpoint_, result.error), 0, transfer.delivered);
  const long status = result.status;
  if (status != 200)
    throw CloudError(fmt::format("cloud ({}): HTTP {}: {}", endpoint_, status, transfer.raw.substr(0, 300)),
                     static_cast<int>(status), transfer.delivered);
  if (streaming) {
    if (!transfer.pending.empty()) transfer.event(transfer.pending);  // no blank line at the end
    *delivered = transfer.delivered;
    if (transfer.stopped) return;
    if (!transfer.garbage.empty())
      throw CloudError(fmt::format("cloud ({}): {}", endpoint_, transfer.garbage), 200, transfer.delivered);
    if (!transfer.done)
      throw CloudError(fmt::format("cloud ({}): the stream ended before [DONE]", endpoint_), 200,
                       transfer.delivered);
    return;
  }
  const std::optional<nlohmann::json> parsed = answer_json(transfer.raw);
  if (options_.api == CloudOptions::Api::Moderations) {
    const bool usable = parsed && parsed->is_object() && parsed->contains("results") &&
                        parsed->at("results").is_array() && !parsed->at("results").empty() &&
                        parsed->at("results").at(0).is_object() && parsed->at("results").at(0).contains("flagged") &&
                        parsed->at("results").at(0).at("flagged").is_boolean();
    if (!usable)
      throw CloudError(fmt::format("cloud ({}): the answer is not a moderation result: {}", endpoint_,
                                   transfer.raw.substr(0, 200)),
                       200, false);
    *whole = std::move(transfer.raw);
    return;
  }
  if (!parsed || !parsed->is_object() || !parsed->contains("choices") || !parsed->at("choices").is_array())
    throw CloudError(fmt::format("cloud ({}): the answer is not a chat completion: {}", endpoint_,
                                 transfer.raw.substr(0, 200)),
                     200, false);
  *whole = std::move(transfer.raw);
}

void CloudClient::run(const std::string& body, bool streaming,
                      const std::function<bool(const std::string& data)>& on_event, std::string* whole,
                      CloudStats* stats) const {
  std::chrono::milliseconds backoff = options_.backoff;
  for (int number = 1;; ++number) {
    if (stats) {
      ++stats->attempts;
      stats->bytes_sent += static_cast<int64_t>(body.size());
    }
    bool delivered = false;
    try {
      attempt(body, streaming, on_event, whole, &delivered);
      return;
    } catch (const CloudError& error) {
      if (number >= options_.max_attempts || delivered || !retryable(error)) throw;
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

nlohmann::json CloudClient::complete(nlohmann::json request, CloudStats* stats) const {
  if (!options_.model.empty()) request["model"] = options_.model;
  request["stream"] = false;
  request.erase("stream_options");
  std::string whole;
  run(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false,
      [](const std::string&) { return true; }, &whole, stats);
  return parse_json(whole, "the cloud's answer", kAnswerLimits);  // attempt() checked it
}

void CloudClient::stream(nlohmann::json request,
                         const std::function<bool(const std::string& data)>& on_event,
                         CloudStats* stats) const {
  if (!options_.model.empty()) request["model"] = options_.model;
  request["stream"] = true;
  run(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), true, on_event, nullptr,
      stats);
}

bool CloudClient::flagged(const std::string& text, CloudStats* stats) const {
  if (options_.api != CloudOptions::Api::Moderations)
    throw Error(fmt::format("cloud ({}): not a moderation endpoint", endpoint_));
  nlohmann::json request{{"input", text}};
  if (!options_.model.empty()) request["model"] = options_.model;
  std::string whole;
  run(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false,
      [](const std::string&) { return true; }, &whole, stats);
  return parse_json(whole, "the cloud's answer", kAnswerLimits).at("results").at(0).at("flagged").get<bool>();
}

}  // namespace bantam::hybrid
