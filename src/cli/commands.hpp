// Each subcommand lives in its own file and registers itself on the app here: the engine's
// commands in src/cli/, in every build; the commands over the hub, hybrid and serve layers in
// src/cli/services/, left out of the engine-only build (BANTAM_ENGINE_ONLY).
#pragma once

#include <CLI/CLI.hpp>

namespace bantam::cli {

// The engine: files, text, generation and measurement.
void add_inspect_command(CLI::App& app);
void add_tokenize_commands(CLI::App& app);  // tokenize, detokenize
void add_synth_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_lora_command(CLI::App& app);  // lora merge
void add_finetune_command(CLI::App& app);

// The services (src/cli/services/): model store, hub, monitoring, server, hybrid routing.
void add_hub_command(CLI::App& app);
void add_pull_command(CLI::App& app);
void add_store_commands(CLI::App& app);
void add_monitor_commands(CLI::App& app);  // monitor, status
void add_serve_command(CLI::App& app);
void add_route_commands(CLI::App& app);

}  // namespace bantam::cli
