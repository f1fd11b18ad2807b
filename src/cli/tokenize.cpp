// `bantam tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos] [--parse-special] [--bench S]`
// `bantam detokenize -m MODEL [--skip-special] IDS...`
#include <time.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "format/gguf.hpp"
#include "format/input_file.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

namespace {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model) {
  return Tokenizer::from_gguf(gguf::File::open(model_file(model)));
}

// One line per piece: control characters and bytes that are not UTF-8 are escaped.
std::string printable(std::string_view piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    const auto b = static_cast<uint8_t>(piece[i]);
    size_t bad = 0;
    const int n = unicode::utf8_sequence(piece, i, bad);
    if (b == '\n') {
      out += "\\n";
    } else if (b == '\t') {
      out += "\\t";
    } else if (b == '\r') {
      out += "\\r";
    } else if (b == '\\') {
      out += "\\\\";
    } else if (b < 0x20 || b == 0x7F || n <= 0) {
      out += fmt::format("\\x{:02X}", b);
    } else {
      out.append(piece.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
      continue;
    }
    ++i;
  }
  return out;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Encodes `text` repeatedly for `seconds` and reports the throughput on stderr. Run times are
// thread CPU time (the first, cold-cache run separately), so other load on the machine matters
// less; median and best of the warm runs.
void benchmark(const Tokenizer& tok, const std::string& text, bool add_special, bool parse_special,
               double seconds) {
  const double mb = static_cast<double>(text.size()) / 1e6;
  double start = thread_cpu_seconds();
  const size_t tokens = tok.encode(text, add_special, parse_special).size();
  const double cold = thread_cpu_seconds() - start;
  std::vector<double> runs;
  const auto wall_start = std::chrono::steady_clock::now();
  do {
    start = thread_cpu_seconds();
    tok.encode(text, add_special, parse_special);
    runs.push_back(thread_cpu_seconds() - start);
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count() <
           seconds);
  std::sort(runs.begin(), runs.end());
  const double median = runs[runs.size() / 2], best = runs.front();
  fmt::print(stderr,
             "{} bytes -> {} tokens ({:.2f} bytes/token); cold {:.1f} MB/s; {} warm runs: "
             "median {:.1f} MB/s ({:.2f} M tokens/s), best {:.1f} MB/s\n",
             text.size(), tokens, static_cast<double>(text.size()) / static_cast<double>(tokens),
             mb / cold, runs.size(), mb / median, static_cast<double>(tokens) / median / 1e6,
             mb / best);
}

}  // namespace

void add_tokenize_commands(CLI::App& app) {
  struct TokenizeOptions {
    std::string model, prompt, file;
    bool ids = false, no_bos = false, parse_special = false;
    double bench = 0;
  };
  auto t = std::make_shared<TokenizeOptions>();
  auto* tokenize = app.add_subcommand("tokenize", "Print the token ids of a text");
  tokenize->add_option("-m,--model", t->model, kModelOptionHelp)->required();
  auto* prompt = tokenize->add_option("-p,--prompt", t->prompt, "Text to tokenize");
  auto* file = tokenize->add_option("-f,--file", t->file, "File whose bytes to tokenize");
  prompt->excludes(file);
  tokenize->add_flag("--ids", t->ids, "Print only the ids, space-separated");
  tokenize->add_flag("--no-bos", t->no_bos, "Add no BOS/EOS even where the vocab asks for them");
  tokenize->add_flag("--parse-special", t->parse_special,
                     "Recognize control-token texts such as <|eot_id|> in the input");
  tokenize->add_option("--bench", t->bench,
                       "Instead of printing, encode repeatedly for this many seconds and report MB/s");
  tokenize->callback([t, prompt, file] {
    if (prompt->count() == 0 && file->count() == 0) throw Error("tokenize needs -p TEXT or -f FILE");
    const auto tok = load_tokenizer(t->model);
    const std::string text = file->count() ? read_input_file(t->file) : t->prompt;
    const bool add_special = !t->no_bos;
    if (t->bench > 0) {
      benchmark(*tok, text, add_special, t->parse_special, t->bench);
      return;
    }
    const auto ids = tok->encode(text, add_special, t->parse_special);
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (t->ids) {
        out += fmt::format("{}{}", i ? " " : "", ids[i]);
      } else {
        out += fmt::format("{}\t{}\n", ids[i], printable(tok->token_bytes(ids[i])));
      }
    }
    if (t->ids) out += '\n';
    fmt::print("{}", out);
  });

  struct DetokenizeOptions {
    std::string model;
    std::vector<TokenId> ids;
    bool skip_special = false;
  };
  auto d = std::make_shared<DetokenizeOptions>();
  auto* detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
  detokenize->add_option("-m,--model", d->model, kModelOptionHelp)->required();
  detokenize->add_flag("--skip-special", d->skip_special, "Leave control tokens out");
  detokenize->add_option("ids", d->ids, "Token ids")->required();
  detokenize->callback([d] {
    const auto tok = load_tokenizer(d->model);
    fmt::print("{}\n", tok->decode(d->ids, d->skip_special));
  });
}

}  // namespace bantam::cli
