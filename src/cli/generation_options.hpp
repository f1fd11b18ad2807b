// Options shared by `run` and `chat`: context, threads, KV cache type and the sampler.
#pragma once

#include <CLI/CLI.hpp>

#include "bantam/bantam.hpp"

namespace bantam::cli {

struct EngineOptions {
  SessionOptions session;
  GenerateOptions generate;
};

void add_engine_options(CLI::App& cmd, EngineOptions& options);
// One line on stderr: prompt and generation speed, time to first token, why generation stopped.
void print_timings(const GenerateResult& result);

}  // namespace bantam::cli
