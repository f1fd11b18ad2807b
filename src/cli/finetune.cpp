// `bantam finetune -m BASE --data FILE -o ADAPTER.gguf [--rank 8] [--alpha 16] [--targets KINDS]
// [--epochs N] [--lr 2e-4] [-c 512] [-b 8] [--grad-accum N] [-t N] [--eval-split 0.1]
// [--resume CKPT] [--checkpoint PATH] [--checkpoint-every N] [--seed S]`: trains a LoRA adapter on the user's own text
// or chats (train/finetune.hpp), on this machine. Progress on stderr; Ctrl-C finishes the update
// in flight, writes a checkpoint and exits with 130; a second Ctrl-C ends at once.
#include <csignal>
#include <cstdlib>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "cli/model_file.hpp"
#include "cli/progress.hpp"
#include "train/finetune.hpp"

namespace bantam::cli {

namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

void on_sigint(int) {
  g_stop_requested = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C is not waited on
}

std::string loss_text(const std::optional<double>& loss) { return loss ? fmt::format("{:.4f}", *loss) : "-"; }

// Trains; 130 when stopped by Ctrl-C (after the checkpoint is written), else 0.
int run_finetune(train::FinetuneOptions options) {
  options.model = model_file(options.model);
  const ProgressOutput out = ProgressOutput::standard_error();
  // A line of its own on stderr, clearing a bar drawn in place on a terminal.
  const auto say = [&out](const std::string& line) { out.write((out.terminal ? "\r\033[K" : "") + line + "\n"); };
  std::optional<ProgressBar> bar;
  train::FinetuneCallbacks callbacks;
  callbacks.on_start = [&](const train::FinetuneReport& r) {
    say(fmt::format("finetune: {} training and {} held-out examples of up to {} tokens{}; rank {} on {} ({} values); "
                    "memory beside the base weights ~{:.1f} MiB",
                    r.train_examples, r.held_out_examples, options.context,
                    r.truncated + r.dropped ? fmt::format(" ({} conversations cut at -c, {} left out)", r.truncated, r.dropped) : "",
                    options.rank, fmt::join(r.targets, ","), r.parameters, static_cast<double>(r.memory_bytes) / (1 << 20)));
    if (!options.resume.empty()) say(fmt::format("finetune: resuming from {}", options.resume));
    bar.emplace("finetune");
    // From here on Ctrl-C means "checkpoint and stop"; while loading it still ends at once.
    std::signal(SIGINT, on_sigint);
  };
  callbacks.loop.on_step = [&](const train::LoopProgress& p) {
    bar->update(p.fraction, fmt::format("epoch {}/{}, step {}/{}, loss {:.4f}, held-out {}, {:.0f} tok/s", p.epoch + 1,
                                        p.epochs, p.step, p.total_steps, p.train_loss, loss_text(p.held_out_loss),
                                        p.tokens_per_second));
  };
  callbacks.loop.on_epoch = [&](const train::LoopProgress& p) {
    say(fmt::format("finetune: epoch {}/{} done: loss {:.4f}, held-out loss {}", p.epoch + 1, p.epochs, p.train_loss,
                    loss_text(p.held_out_loss)));
  };
  callbacks.loop.should_stop = [] { return g_stop_requested != 0; };
  g_stop_requested = 0;
  const train::FinetuneReport report = train::finetune(options, callbacks);
  std::signal(SIGINT, SIG_DFL);
  if (report.loop.stopped) {
    say(fmt::format("finetune: stopped at step {}; checkpoint written to {}; continue with --resume {}",
                    report.loop.steps, report.checkpoint, report.checkpoint));
    return 130;
  }
  if (bar) {
    bar->finish(fmt::format("{} steps, held-out loss {} -> {}; adapter written to {} (checkpoint {})", report.loop.steps,
                            loss_text(report.loop.initial_held_out_loss), loss_text(report.loop.final_held_out_loss),
                            options.output, report.checkpoint));
  }
  return 0;
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto opts = std::make_shared<train::FinetuneOptions>();
  auto* cmd = app.add_subcommand("finetune", "Train a LoRA adapter on your own text or chats, on this machine");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  cmd->add_option("--data", opts->data, "Plain text (packed into -c windows) or chat JSONL ({\"messages\": [...]} per line)")
      ->required();
  cmd->add_option("-o,--output", opts->output, "The adapter GGUF to write")->required();
  cmd->add_option("--rank", opts->rank, "LoRA rank")->check(CLI::Range(1, 4096));
  cmd->add_option("--alpha", opts->alpha, "LoRA alpha (the adapter is scaled by alpha / rank)");
  cmd->add_option("--targets", opts->targets,
                  "Matrix kinds adapted in every layer, as the GGUF tensors (default: attn_q, attn_k, attn_v, "
                  "attn_output, ffn_gate, ffn_up, ffn_down; a fused attn_qkv whole)")
      ->delimiter(',');
  cmd->add_option("--epochs", opts->epochs, "Passes over the training data")->check(CLI::Range(1, 1000000));
  cmd->add_option("--lr", opts->lr, "AdamW learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("-c,--ctx-size", opts->context, "Tokens per training window")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("-b,--batch-size", opts->batch, "Sequences per batch")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--grad-accum", opts->grad_accum, "Batches per optimizer update")->check(CLI::Range(1, 1 << 20));
  cmd->add_option_function<int>("-t,--threads", [opts](int n) { opts->threads = capped_threads(n); },
                                "Threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--eval-split", opts->eval_split, "Share of the examples held out and scored each epoch")
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--resume", opts->resume, "Continue from this checkpoint (same model, data and options)");
  cmd->add_option("--checkpoint", opts->checkpoint, "Where checkpoints are written (default: OUTPUT.ckpt)");
  cmd->add_option("--checkpoint-every", opts->checkpoint_every,
                  "Also write the checkpoint after every N updates (0: only at epoch ends and on Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opts->seed, "Seed of the adapter's start, the held-out draw and the data order");
  cmd->callback([opts] {
    const int code = run_finetune(*opts);
    if (code != 0) std::exit(code);  // nothing left to unwind: run_finetune's objects are gone
  });
}

}  // namespace bantam::cli
