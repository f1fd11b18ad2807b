#include "eval/bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "format/gguf.hpp"
#include "format/inspect.hpp"
#include "model/kv_cache.hpp"
#include "quant/dot.hpp"

namespace bantam {
namespace {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

struct Stats {
  double avg = 0, stddev = 0;
};

Stats stats_of(const std::vector<double>& xs) {
  Stats s;
  if (xs.empty()) return s;
  s.avg = std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double sq = 0;
    for (double x : xs) sq += (x - s.avg) * (x - s.avg);
    s.stddev = std::sqrt(sq / static_cast<double>(xs.size() - 1));
  }
  return s;
}

std::vector<TokenId> random_tokens(int n, int n_vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(0, std::max(0, n_vocab - 1));
  std::vector<TokenId> out(static_cast<size_t>(n));
  for (auto& t : out) t = dist(rng);
  return out;
}

// Seconds to process `n_prompt` tokens in batches from an empty cache.
double time_prompt(Session& s, const std::vector<TokenId>& prompt) {
  s.reset();
  const auto t0 = Clock::now();
  s.evaluate_last(prompt);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds to generate `n_gen` tokens one at a time from an empty cache.
double time_generation(Session& s, const std::vector<TokenId>& tokens) {
  s.reset();
  const auto t0 = Clock::now();
  for (TokenId t : tokens) s.evaluate_last(std::span<const TokenId>(&t, 1));
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string size_label(uint64_t params) {
  const double p = static_cast<double>(params);
  if (p >= 1e9) return fmt::format("{:.0f}B", std::round(p / 1e9));
  if (p >= 1e6) return fmt::format("{:.0f}M", p / 1e6);
  return fmt::format("{:.0f}K", p / 1e3);
}

// Seconds since this process started (the kernel's start time, 10 ms resolution).
double seconds_since_process_start() {
  std::ifstream stat("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = content.rfind(')');  // the command name may hold spaces
  std::istringstream fields(close == std::string::npos ? "" : content.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const double start = std::stod(field.empty() ? "0" : field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return std::max(0.0, uptime - start);
}

// Package energy from Linux's powercap (Intel RAPL) in microjoules, if readable.
struct EnergyMeter {
  std::string path = "/sys/class/powercap/intel-rapl:0/energy_uj";
  std::string unavailable;  // why not, when not readable

  EnergyMeter() {
    std::ifstream in(path);
    uint64_t v = 0;
    if (!(in >> v)) unavailable = fmt::format("{} not readable (no RAPL here, or no permission)", path);
  }
  uint64_t read() const {
    std::ifstream in(path);
    uint64_t v = 0;
    in >> v;
    return v;
  }
};

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

ordered_json run_bench(const BenchOptions& o) {
  ordered_json results = ordered_json::array();
  std::mt19937 rng(1234);
  const EnergyMeter energy;
  bool first_model = true;
  for (const auto& path : o.models) {
    // Cold time to first token: from process start for the first model, from load otherwise.
    const double cold_base = first_model ? seconds_since_process_start() : 0.0;
    first_model = false;
    const auto load_start = Clock::now();
    const auto file = gguf::File::open(path);
    uint64_t params = 0, size = 0;
    for (const auto& t : file.tensors()) {
      params += static_cast<uint64_t>(t.n_elements());
      size += t.nbytes;
    }
    const std::string ftype = file_type_label(file);
    const auto model = Model::load(path);
    std::vector<AdapterUse> adapters;
    for (const auto& [adapter, scale] : o.adapters) adapters.push_back({Adapter::load(adapter, *model), scale});
    const double load_seconds = std::chrono::duration<double>(Clock::now() - load_start).count();
    const int n_vocab = model->info().n_vocab;
    const int ttft_prompt = std::max(1, o.n_prompt.empty() ? 512 : o.n_prompt.front());
    std::string model_type = fmt::format("{} {} {}", model->info().architecture, size_label(params), ftype);
    if (!adapters.empty()) model_type += fmt::format(" + {} LoRA", adapters.size());

    struct Test {
      int n_prompt, n_gen;
    };
    std::vector<Test> tests;
    for (int p : o.n_prompt) {
      if (p > 0) tests.push_back({p, 0});
    }
    for (int g : o.n_gen) {
      if (g > 0) tests.push_back({0, g});
    }
    for (const int threads : o.threads) {
      const int64_t ctx = o.context > 0 ? o.context
                                        : std::max(*std::max_element(o.n_prompt.begin(), o.n_prompt.end()),
                                                   *std::max_element(o.n_gen.begin(), o.n_gen.end())) + 1;
      Session session(model, {.context_length = std::max<int64_t>(ctx, ttft_prompt + 1),
                              .threads = threads,
                              .kv_type = o.kv_types.keys,
                              .kv_type_v = o.kv_types.values,
                              .batch_size = o.batch_size,
                              .adapters = adapters});
      // The first prompt doubles as llama-bench's warm-up and as the cold first token.
      const auto ttft_prompt_tokens = random_tokens(ttft_prompt, n_vocab, rng);
      time_prompt(session, ttft_prompt_tokens);
      const double ttft_cold = cold_base + std::chrono::duration<double>(Clock::now() - load_start).count();
      time_generation(session, random_tokens(1, n_vocab, rng));
      const double ttft_warm = time_prompt(session, ttft_prompt_tokens);
      for (const auto& test : tests) {
        std::vector<double> seconds;
        const uint64_t energy_start = energy.unavailable.empty() ? energy.read() : 0;
        for (int r = 0; r < o.repetitions; ++r) {
          if (o.progress) {
            o.progress(fmt::format("{} {}{} t={} rep {}/{}", model->info().name.empty() ? path : model->info().name,
                                   test.n_prompt ? "pp" : "tg", test.n_prompt ? test.n_prompt : test.n_gen,
                                   threads, r + 1, o.repetitions));
          }
          if (test.n_prompt > 0) {
            seconds.push_back(time_prompt(session, random_tokens(test.n_prompt, n_vocab, rng)));
          } else {
            seconds.push_back(time_generation(session, random_tokens(test.n_gen, n_vocab, rng)));
          }
        }
        const int n_tokens = test.n_prompt + test.n_gen;
        const uint64_t energy_uj = energy.unavailable.empty() ? energy.read() - energy_start : 0;
        std::vector<double> ns, ts;
        for (double s : seconds) {
          ns.push_back(s * 1e9);
          ts.push_back(n_tokens / s);
        }
        const Stats sns = stats_of(ns), sts = stats_of(ts);
        ordered_json row;
        row["build_commit"] = BANTAM_GIT_COMMIT;
        row["bantam_version"] = BANTAM_VERSION;
        row["cpu_info"] = cpu_model_name();
        row["isa"] = quant::active_isa_name();
        row["backends"] = "CPU";
        row["model_filename"] = path;
        row["model_type"] = model_type;
        row["model_size"] = size;
        row["model_n_params"] = params;
        if (!o.adapters.empty()) {
          auto& lora = row["lora"] = ordered_json::array();
          for (const auto& [adapter, scale] : o.adapters) lora.push_back({{"path", adapter}, {"scale", scale}});
        }
        row["n_batch"] = o.batch_size;
        row["n_threads"] = threads;
        row["type_k"] = kv_cache_type_name(o.kv_types.keys);
        row["type_v"] = kv_cache_type_name(o.kv_types.values);
        row["n_prompt"] = test.n_prompt;
        row["n_gen"] = test.n_gen;
        row["test_time"] = now_iso8601();
        row["avg_ns"] = static_cast<uint64_t>(sns.avg);
        row["stddev_ns"] = static_cast<uint64_t>(sns.stddev);
        row["avg_ts"] = sts.avg;
        row["stddev_ts"] = sts.stddev;
        row["samples_ns"] = ns;
        row["samples_ts"] = ts;
        row["peak_rss_bytes"] = peak_rss_bytes();
        row["kv_cache_bytes"] = session.kv_cache_bytes();
        row["load_ms"] = load_seconds * 1e3;
        row["ttft_cold_ms"] = ttft_cold * 1e3;
        row["ttft_warm_ms"] = ttft_warm * 1e3;
        row["ttft_prompt_tokens"] = ttft_prompt;
        if (energy.unavailable.empty()) {
          row["energy_j_per_token"] = energy_uj / 1e6 / (static_cast<double>(n_tokens) * o.repetitions);
        } else {
          row["energy_j_per_token"] = "n/a";
          row["energy_note"] = energy.unavailable;
        }
        results.push_back(row);
      }
    }
  }
  return results;
}

namespace {

std::string test_name(const ordered_json& row) {
  return row["n_prompt"].get<int>() > 0 ? fmt::format("pp{}", row["n_prompt"].get<int>())
                                        : fmt::format("tg{}", row["n_gen"].get<int>());
}

std::string model_name(const ordered_json& row) {
  return fmt::format("{} ({})", std::filesystem::path(row["model_filename"].get<std::string>()).filename().string(),
                     row["model_type"].get<std::string>());
}

// The index of `value` in `list`, appended if new: the order of first appearance.
size_t index_of(std::vector<std::string>& list, const std::string& value) {
  const auto it = std::find(list.begin(), list.end(), value);
  if (it != list.end()) return static_cast<size_t>(it - list.begin());
  list.push_back(value);
  return list.size() - 1;
}

}  // namespace

svg::BarChart bench_chart(const ordered_json& results) {
  std::vector<std::string> models;
  for (const auto& row : results) index_of(models, model_name(row));
  svg::BarChart chart;
  chart.title = fmt::format("bantam bench: {}", fmt::join(models, "; "));
  chart.x_label = "test (pp: prompt tokens, tg: generated tokens)";
  chart.y_label = "tokens per second";
  std::vector<std::string> series_names;
  for (const auto& row : results) {
    const int threads = row["n_threads"].get<int>();
    std::string series = fmt::format("{} thread{}", threads, threads == 1 ? "" : "s");
    if (models.size() > 1) series = model_name(row) + ", " + series;
    const size_t group = index_of(chart.groups, test_name(row));
    const size_t s = index_of(series_names, series);
    if (s == chart.series.size()) chart.series.push_back({series, {}});
    auto& values = chart.series[s].values;
    if (values.size() <= group) values.resize(group + 1);
    values[group] = row["avg_ts"].get<double>();
  }
  return chart;
}

std::vector<std::string> bench_spread_warnings(const ordered_json& results, double max_relative) {
  std::vector<std::string> warnings;
  for (const auto& row : results) {
    const double mean = row["avg_ts"].get<double>(), stddev = row["stddev_ts"].get<double>();
    if (mean > 0 && stddev > max_relative * mean) {
      warnings.push_back(fmt::format("{} with {} threads on {}: the spread of its runs ({:.2f} t/s) is {:.1f}% of its "
                                     "mean ({:.2f} t/s), over {:.0f}%; other work on this machine or too few "
                                     "repetitions (-r) make it unreliable",
                                     test_name(row), row["n_threads"].get<int>(), model_name(row), stddev,
                                     100 * stddev / mean, mean, 100 * max_relative));
    }
  }
  return warnings;
}

std::string format_bench_table(const ordered_json& results) {
  std::string out = fmt::format("| {:<40} | {:>10} | {:>7} | {:>8} | {:>20} |\n", "model", "size MiB",
                                "threads", "test", "t/s");
  out += fmt::format("|{:-<42}|{:->12}|{:->9}|{:->10}|{:->22}|\n", "", "", "", "", "");
  for (const auto& r : results) {
    const std::string test = test_name(r);
    out += fmt::format("| {:<40} | {:>10.2f} | {:>7} | {:>8} | {:>12.2f} ± {:>5.2f} |\n",
                       r["model_type"].get<std::string>(), r["model_size"].get<uint64_t>() / 1048576.0,
                       r["n_threads"].get<int>(), test, r["avg_ts"].get<double>(),
                       r["stddev_ts"].get<double>());
  }
  return out;
}

std::string format_bench_csv(const ordered_json& results) {
  std::string out = "model_filename,model_type,n_threads,n_prompt,n_gen,avg_ts,stddev_ts\n";
  for (const auto& r : results) {
    out += fmt::format("\"{}\",\"{}\",{},{},{},{:.4f},{:.4f}\n", r["model_filename"].get<std::string>(),
                       r["model_type"].get<std::string>(), r["n_threads"].get<int>(),
                       r["n_prompt"].get<int>(), r["n_gen"].get<int>(), r["avg_ts"].get<double>(),
                       r["stddev_ts"].get<double>());
  }
  return out;
}

}  // namespace bantam
