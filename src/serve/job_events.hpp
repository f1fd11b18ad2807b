// Following a scheduler Job from a request's thread, shared by every generating route (OpenAI's
// and ollama's), so they all cancel the same way when the client goes away.
#pragma once

#include <chrono>
#include <vector>

#include "runtime/scheduler.hpp"
#include "serve/http_server.hpp"

namespace bantam::serve {

// Drives a job until it ends, handing each batch of events to `consume`; a client that goes
// away (or a `consume` that returns false, as a failed write does) cancels the job.
template <typename Consume>
void follow(Job& job, HttpResponse& response, Consume&& consume) {
  std::vector<GeneratedToken> events;
  for (;;) {
    const bool done = job.wait(events, std::chrono::milliseconds(50));
    if (!events.empty()) {
      if (!consume(events)) job.cancel();
      events.clear();
    }
    if (done) return;
    if (!job.cancelled() && response.client_gone()) job.cancel();
  }
}

}  // namespace bantam::serve
