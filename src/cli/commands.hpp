// Each subcommand lives in its own file and registers itself on the app here.
#pragma once

#include <CLI/CLI.hpp>

namespace bantam::cli {

void add_inspect_command(CLI::App& app);
void add_tokenize_commands(CLI::App& app);  // tokenize, detokenize
void add_hub_command(CLI::App& app);
void add_pull_command(CLI::App& app);
void add_store_commands(CLI::App& app);
void add_monitor_commands(CLI::App& app);  // monitor, status
void add_synth_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_route_commands(CLI::App& app);
void add_lora_command(CLI::App& app);  // lora merge

}  // namespace bantam::cli
