// `bantam route-eval -m LOCAL --tasks F.jsonl --cloud-url URL`: the task set answered local-only,
// cloud-only and in auto mode at several confidence thresholds, each through a real `bantam serve`
// router run in this process, printing quality (the `bantam eval` metrics), the share escalated,
// latency and the router's own overhead.
// `bantam route-calibrate -m LOCAL --tasks F.jsonl --target-rate R`: the threshold with which auto
// mode escalates that share of the set.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "eval/metrics.hpp"
#include "eval/svg_chart.hpp"
#include "eval/task_eval.hpp"
#include "hybrid/calibration.hpp"
#include "serve/server.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct RouteTask {
  json messages;
  std::string reference;
  json stop;  // null or an array of strings
};

// The `bantam eval` task format; a "prompt" becomes one user message.
std::vector<RouteTask> read_route_tasks(const std::string& path) {
  std::vector<RouteTask> tasks;
  for_each_task_line(path, [&](const json& j, const TaskLineError& fail) {
    RouteTask t;
    t.reference = j["reference"];
    if (j.contains("messages")) {
      if (!j["messages"].is_array() || j["messages"].empty()) fail("\"messages\" must be a non-empty array");
      t.messages = j["messages"];
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      t.messages = json::array({{{"role", "user"}, {"content", j["prompt"]}}});
    } else {
      fail("needs a string \"prompt\" or a \"messages\" array");
    }
    if (j.contains("stop")) t.stop = j["stop"];
    tasks.push_back(std::move(t));
  });
  return tasks;
}

struct CommonOptions {
  std::string model;
  std::string tasks;
  int max_tokens = 64;
  int64_t context = 0;
  int threads = 0;
  std::string output = "text";
  std::string audit_log;  // empty: in memory
};

void add_common(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("-m,--model", o.model, kModelOptionHelp)->required();
  cmd->add_option("--tasks", o.tasks, "JSONL: prompt or messages, and reference (as for `bantam eval`)")->required();
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Tokens per answer")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("-c,--ctx-size", o.context, "Local context (default: the model's, at most 4096)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 22));
  cmd->add_option("-t,--threads", o.threads, "Compute threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-o,--output", o.output, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--audit-log", o.audit_log, "SQLite audit log file the routers write (default: in memory)");
}

// A `bantam serve` on a free loopback port inside this process, with the given routing.
class InProcessServer {
 public:
  InProcessServer(std::shared_ptr<const Model> model, const CommonOptions& o, hybrid::HybridOptions hybrid) {
    serve::ServerOptions options;
    options.port = 0;
    options.threads = o.threads;
    options.context = o.context > 0 ? o.context : std::min<int64_t>(4096, std::max(1, model->info().n_ctx_train));
    options.model_id = std::filesystem::path(o.model).stem().string();
    options.log_requests = false;
    options.hybrid = std::move(hybrid);
    if (!o.audit_log.empty()) options.hybrid.audit_path = o.audit_log;
    server_ = std::make_unique<serve::Server>(std::move(model), options);
    port_ = server_->bind();
    thread_ = std::thread([this] {
      try {
        server_->run();
      } catch (const std::exception& e) {
        failure_ = e.what();
      }
    });
    while (!server_->ready() && failure_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (!failure_.empty()) {
      thread_.join();
      throw Error(fmt::format("route-eval: the local server did not start: {}", failure_));
    }
  }
  ~InProcessServer() {
    server_->shutdown(std::chrono::milliseconds(0));
    thread_.join();
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  json stats() const { return server_->router().stats(); }

 private:
  std::unique_ptr<serve::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::string failure_;
};

struct Answer {
  std::string text;
  std::string route;
  double latency_ms = 0;
  hybrid::Confidence confidence;
};

// Every task through the server at `url` (a client like any other), greedy.
std::vector<Answer> answer_all(const std::string& url, const std::vector<RouteTask>& tasks, int max_tokens,
                               const json& bantam, const std::string& label) {
  hybrid::CloudOptions client_options;
  client_options.url = url;
  client_options.max_attempts = 1;
  client_options.total_timeout = std::chrono::minutes(10);
  const hybrid::CloudClient client(client_options);
  ProgressBar bar(label);
  std::vector<Answer> answers;
  for (const RouteTask& task : tasks) {
    json request{{"messages", task.messages}, {"max_tokens", max_tokens}, {"temperature", 0}};
    if (!task.stop.is_null()) request["stop"] = task.stop;
    if (!bantam.is_null()) request["bantam"] = bantam;
    const auto start = Clock::now();
    const json response = client.complete(request);
    Answer a;
    a.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const json& message = response.at("choices").at(0).at("message");
    a.text = message.contains("content") && message["content"].is_string() ? message["content"].get<std::string>() : "";
    const json meta = response.value("bantam", json::object());
    a.route = meta.value("route", "local");
    if (meta.contains("confidence")) {
      const json& c = meta["confidence"];
      a.confidence.tokens = c.value("tokens", size_t{0});
      a.confidence.mean_logprob = c.value("mean_logprob", 0.0);
      a.confidence.min_logprob = c.value("min_logprob", 0.0);
      a.confidence.mean_entropy = c.value("mean_entropy", 0.0);
    }
    answers.push_back(std::move(a));
    bar.update(static_cast<double>(answers.size()) / static_cast<double>(tasks.size()),
               fmt::format("{}/{}", answers.size(), tasks.size()));
  }
  bar.finish();
  return answers;
}

double score(const std::string& metric, const std::vector<Answer>& answers, const std::vector<RouteTask>& tasks) {
  std::vector<std::string> hypotheses;
  std::vector<std::string> references;
  for (size_t i = 0; i < tasks.size(); ++i) {
    hypotheses.push_back(answers[i].text);
    references.push_back(tasks[i].reference);
  }
  if (metric == "bleu") return metrics::corpus_bleu(hypotheses, {references});
  if (metric == "chrf") return metrics::corpus_chrf(hypotheses, {references});
  double sum = 0;
  for (size_t i = 0; i < tasks.size(); ++i)
    sum += metric == "exact" ? (metrics::exact_match(hypotheses[i], references[i]) ? 1.0 : 0.0)
                             : metrics::rouge_l_f1(hypotheses[i], references[i]);
  return sum / static_cast<double>(tasks.size());
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))];
}

// Thresholds that never fire, so only the rule under study escalates.
void calm(hybrid::RouterConfig& router) {
  router.min_mean_logprob = -1e9;
  router.min_token_logprob = -1e9;
  router.max_mean_entropy = 1e9;
}

void set_threshold(hybrid::RouterConfig& router, hybrid::ConfidenceRule rule, double threshold) {
  calm(router);
  switch (rule) {
    case hybrid::ConfidenceRule::MeanLogprob: router.min_mean_logprob = threshold; break;
    case hybrid::ConfidenceRule::MinLogprob: router.min_token_logprob = threshold; break;
    case hybrid::ConfidenceRule::MeanEntropy: router.max_mean_entropy = threshold; break;
  }
}

struct EvalOptions : CommonOptions {
  std::string metric = "rouge-l";
  std::string cloud_url;
  std::string cloud_model;
  std::string cloud_key_env;
  std::string rule = "mean-logprob";
  std::vector<double> rates{0.1, 0.25, 0.5};
  std::vector<double> thresholds;
  std::string plot;
};

json row(const std::string& config, const json& threshold, const std::vector<Answer>& answers,
         const std::vector<RouteTask>& tasks, const std::string& metric, const json& stats) {
  std::vector<double> latency;
  size_t cloud = 0;
  for (const Answer& a : answers) {
    latency.push_back(a.latency_ms);
    cloud += a.route == "cloud" ? 1 : 0;
  }
  double mean = 0;
  for (double l : latency) mean += l / static_cast<double>(latency.size());
  return json{{"config", config},
              {"threshold", threshold},
              {"score", score(metric, answers, tasks)},
              {"share_cloud", static_cast<double>(cloud) / static_cast<double>(answers.size())},
              {"latency_ms", {{"p50", percentile(latency, 0.5)}, {"p95", percentile(latency, 0.95)}, {"mean", mean}}},
              {"router_overhead_ms", stats["overhead_ms"]}};
}

// Quality against the share sent to the cloud: local-only and cloud-only as single points, auto
// as a line through its thresholds, in order of share.
svg::LineChart route_chart(const json& result) {
  svg::LineChart chart;
  chart.title = fmt::format("bantam route-eval: {} tasks, auto on {}", result["tasks"].get<size_t>(),
                            result["rule"].get<std::string>());
  chart.x_label = "share of tasks sent to the cloud";
  chart.y_label = "quality (" + result["metric"].get<std::string>() + ")";
  chart.x_range = svg::Range{0, 1};
  chart.y_range = svg::Range{0, 1};
  svg::LineChart::Series auto_series{"auto", {}, true};
  for (const json& r : result["rows"]) {
    const std::string config = r["config"].get<std::string>();
    svg::LineChart::Point point{r["share_cloud"].get<double>(), r["score"].get<double>(), config};
    if (config != "auto") {
      chart.series.push_back({config, {point}, false});
      continue;
    }
    point.label = fmt::format("{} {:.3f}", result["threshold_flag"].get<std::string>(), r["threshold"].get<double>());
    auto_series.points.push_back(point);
  }
  std::stable_sort(auto_series.points.begin(), auto_series.points.end(),
                   [](const auto& a, const auto& b) { return a.x < b.x; });
  if (!auto_series.points.empty()) chart.series.push_back(auto_series);
  return chart;
}

void route_eval(const EvalOptions& o) {
  const std::vector<RouteTask> tasks = read_route_tasks(o.tasks);
  const hybrid::ConfidenceRule rule = hybrid::parse_confidence_rule(o.rule);
  std::shared_ptr<const Model> model = Model::load(model_file(o.model));
  hybrid::HybridOptions cloud_side;
  cloud_side.router.policy = hybrid::Policy::Auto;
  cloud_side.router.consent = hybrid::Consent::Always;
  cloud_side.cloud.url = o.cloud_url;
  cloud_side.cloud.model = o.cloud_model;
  cloud_side.cloud.api_key_env = o.cloud_key_env;
  cloud_side.cloud.total_timeout = std::chrono::minutes(10);

  json rows = json::array();
  std::vector<Answer> local;
  {
    InProcessServer server(model, o, hybrid::HybridOptions{});
    local = answer_all(server.url(), tasks, o.max_tokens, nullptr, "local-only");
    rows.push_back(row("local-only", nullptr, local, tasks, o.metric, server.stats()));
  }
  {
    hybrid::HybridOptions options = cloud_side;
    calm(options.router);
    InProcessServer server(model, o, options);
    const auto answers = answer_all(server.url(), tasks, o.max_tokens, json{{"route", "cloud"}}, "cloud-only");
    rows.push_back(row("cloud-only", nullptr, answers, tasks, o.metric, server.stats()));
  }
  std::vector<double> thresholds = o.thresholds;
  if (thresholds.empty()) {
    std::vector<double> values;
    for (const Answer& a : local) values.push_back(hybrid::confidence_value(a.confidence, rule));
    for (double rate : o.rates) thresholds.push_back(hybrid::calibrate(values, rule, rate).threshold);
  }
  for (double threshold : thresholds) {
    hybrid::HybridOptions options = cloud_side;
    set_threshold(options.router, rule, threshold);
    InProcessServer server(model, o, options);
    const auto answers = answer_all(server.url(), tasks, o.max_tokens, nullptr, fmt::format("auto {:.3f}", threshold));
    rows.push_back(row("auto", threshold, answers, tasks, o.metric, server.stats()));
  }

  const json result{{"tasks", tasks.size()}, {"metric", o.metric}, {"rule", hybrid::to_string(rule)},
                    {"threshold_flag", hybrid::flag_name(rule)}, {"rows", rows}};
  if (!o.plot.empty()) svg::write_svg_file(o.plot, svg::render(route_chart(result)));
  if (o.output == "json") {
    fmt::print("{}\n", result.dump(2, ' ', false, json::error_handler_t::replace));
    return;
  }
  fmt::print("{} tasks, metric {}, auto escalates on {} ({})\n", tasks.size(), o.metric, hybrid::to_string(rule),
             hybrid::flag_name(rule));
  fmt::print("| config | threshold | {} | share to cloud | latency p50 ms | latency p95 ms | router overhead p50 ms (local answers) |\n",
             o.metric);
  fmt::print("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const json& r : rows) {
    const json& overhead = r["router_overhead_ms"];
    fmt::print("| {} | {} | {:.4f} | {:.2f} | {:.1f} | {:.1f} | {} |\n", r["config"].get<std::string>(),
               r["threshold"].is_null() ? std::string("-") : fmt::format("{:.3f}", r["threshold"].get<double>()),
               r["score"].get<double>(), r["share_cloud"].get<double>(), r["latency_ms"]["p50"].get<double>(),
               r["latency_ms"]["p95"].get<double>(),
               overhead["samples"].get<size_t>() == 0 ? std::string("-")
                                                      : fmt::format("{:.3f} (n={})", overhead["p50"].get<double>(),
                                                                    overhead["samples"].get<size_t>()));
  }
}

struct CalibrateOptions : CommonOptions {
  double target_rate = 0.2;
  std::string rule = "mean-logprob";
};

void route_calibrate(const CalibrateOptions& o) {
  const std::vector<RouteTask> tasks = read_route_tasks(o.tasks);
  const hybrid::ConfidenceRule rule = hybrid::parse_confidence_rule(o.rule);
  std::shared_ptr<const Model> model = Model::load(model_file(o.model));
  std::vector<Answer> answers;
  {
    InProcessServer server(model, o, hybrid::HybridOptions{});
    answers = answer_all(server.url(), tasks, o.max_tokens, nullptr, "calibrate");
  }
  std::vector<double> values;
  for (const Answer& a : answers) values.push_back(hybrid::confidence_value(a.confidence, rule));
  const hybrid::Calibration c = hybrid::calibrate(values, rule, o.target_rate);
  const std::string flag = fmt::format("{}={:.6f}", hybrid::flag_name(rule), c.threshold);
  if (o.output == "json") {
    const json result{{"rule", hybrid::to_string(rule)}, {"threshold", c.threshold}, {"flag", flag},
                      {"target_rate", o.target_rate}, {"achieved_rate", c.rate()},
                      {"escalated", c.escalated}, {"tasks", c.total}};
    fmt::print("{}\n", result.dump(2));
    return;
  }
  fmt::print("{} threshold {:.6f}: escalates {} of {} tasks ({:.1f}%, target {:.1f}%)\n", hybrid::to_string(rule),
             c.threshold, c.escalated, c.total, 100 * c.rate(), 100 * o.target_rate);
  fmt::print("bantam serve ... --route-policy auto {}\n", flag);
}

}  // namespace

void add_route_commands(CLI::App& app) {
  auto e = std::make_shared<EvalOptions>();
  auto* eval = app.add_subcommand("route-eval", "Compare local-only, cloud-only and auto routing on a JSONL task set");
  add_common(eval, *e);
  eval->add_option("--metric", e->metric, "exact, rouge-l, bleu or chrf")
      ->check(CLI::IsMember({"exact", "rouge-l", "bleu", "chrf"}));
  eval->add_option("--cloud-url", e->cloud_url, "OpenAI-compatible endpoint of the cloud model")->required();
  eval->add_option("--cloud-model", e->cloud_model, "Model name sent to the cloud");
  eval->add_option("--cloud-key-env", e->cloud_key_env, "Environment variable holding the cloud API key");
  eval->add_option("--rule", e->rule, "Confidence rule auto escalates on: mean-logprob, min-logprob or entropy")
      ->check(CLI::IsMember({"mean-logprob", "min-logprob", "entropy"}));
  eval->add_option("--rates", e->rates, "Escalation rates to calibrate auto thresholds for (default 0.1 0.25 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  eval->add_option("--thresholds", e->thresholds, "Explicit auto thresholds instead of --rates");
  eval->add_option("--plot", e->plot, "Also draw quality against the share sent to the cloud as an SVG chart into this file");
  eval->callback([e] { route_eval(*e); });

  auto c = std::make_shared<CalibrateOptions>();
  auto* calibrate = app.add_subcommand("route-calibrate", "Pick the auto-mode threshold for a target escalation rate");
  add_common(calibrate, *c);
  calibrate->add_option("--target-rate", c->target_rate, "Share of the tasks to escalate, 0..1")
      ->required()->check(CLI::Range(0.0, 1.0));
  calibrate->add_option("--rule", c->rule, "mean-logprob, min-logprob or entropy")
      ->check(CLI::IsMember({"mean-logprob", "min-logprob", "entropy"}));
  calibrate->callback([c] { route_calibrate(*c); });
}

}  // namespace bantam::cli
