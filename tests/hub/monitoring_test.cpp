// Canary runs, serving figures, drift flags in `bantam status` and the automatic rollback.
// Drift is driven by figures injected through the catalog API, never by real timings.
#include <sqlite3.h>

#include "bantam/error.hpp"
#include "hub/monitoring.hpp"
#include "watch_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;

MetricRun canary(double perplexity, double p95_ms) {
  MetricRun run;
  run.kind = "canary";
  run.tasks_sha256 = std::string(64, 'c');
  run.quality_metric = "perplexity";
  run.values = {{figure::kQuality, perplexity}, {figure::kLatencyP95, p95_ms}};
  return run;
}

ServingWindow window(uint64_t requests, uint64_t errors, double p95_ms) {
  ServingWindow w;
  w.requests = requests;
  w.errors = errors;
  w.latency_ms_p95 = p95_ms;
  return w;
}

class Drift : public ModelWatch {
 protected:
  // 1.0 then 1.1 (plain updates), so a rollback has somewhere to go.
  void SetUp() override {
    ModelWatch::SetUp();
    publish(stories(), "1.0");
    pull("tiny");
    publish(stories_q8(), "1.1");
    run_ok({"update", "--store", store});
  }
  int64_t active_id() const { return Store::open(store).find("tiny")->active.id; }
  void inject(const MetricRun& run) { Store::open(store).catalog().record_run(active_id(), run); }
  nlohmann::json status(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"status", "--store", store, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto out = nlohmann::json::parse(run_ok(args).out);
    EXPECT_EQ(out.size(), 1u);
    return out.at(0);
  }
};

TEST_F(Drift, CanaryScoreDropIsFlaggedAndAutoRollbackRestoresThePreviousVersion) {
  inject(canary(2.0, 100));
  EXPECT_EQ(status()["flagged"], false);  // a single run is its own baseline
  inject(canary(2.05, 100));
  EXPECT_EQ(status()["flagged"], false);  // 2.5% worse: within the default 5%
  inject(canary(2.5, 100));
  const auto flagged = status();
  EXPECT_EQ(flagged["flagged"], true);
  EXPECT_EQ(flagged["active"]["version"], "1.1");
  EXPECT_EQ(flagged["active"]["canary_baseline"]["figures"]["quality"], 2.0);
  EXPECT_EQ(flagged["active"]["canary"]["figures"]["quality"], 2.5);
  ASSERT_EQ(flagged["active"]["drift"].size(), 1u);
  EXPECT_THAT(flagged["active"]["drift"][0].get<std::string>(), HasSubstr("canary perplexity 25.0% worse"));
  EXPECT_EQ(flagged["previous"]["version"], "1.0");
  const auto text = run_ok({"status", "--store", store});
  EXPECT_THAT(text.out, HasSubstr("tiny  [DRIFT]"));
  EXPECT_THAT(text.out, HasSubstr("DRIFT: canary perplexity 25.0% worse"));
  // A looser threshold does not flag it; flagging alone changes nothing.
  EXPECT_EQ(status({"--max-score-drop", "30"})["flagged"], false);
  expect_active(store, "tiny", "1.1", sha256_file(stories_q8()));

  const auto rolled = run_ok({"status", "--store", store, "--auto-rollback"});
  EXPECT_THAT(rolled.err, HasSubstr("rolled back tiny from 1.1 to 1.0: canary perplexity 25.0% worse"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
  const auto events = Store::open(store).catalog().events("tiny");
  ASSERT_FALSE(events.empty());
  EXPECT_THAT(events.back().message, HasSubstr("rolled back tiny from 1.1 to 1.0"));
  // 1.0 has no figures of its own: nothing flagged, nothing rolled back again.
  const auto after = status({"--auto-rollback"});
  EXPECT_EQ(after["flagged"], false);
  EXPECT_EQ(after["active"]["version"], "1.0");
  EXPECT_EQ(after["previous"]["flagged"], true);
  // `update` does not offer the rolled-back version again.
  EXPECT_THAT(run_ok({"update", "--store", store, "--check"}).out, HasSubstr("version 1.1 of tiny was rolled back"));
}

TEST_F(Drift, P95LatencyRiseIsFlaggedAndRolledBack) {
  inject(canary(2.0, 100));
  inject(canary(2.0, 140));
  EXPECT_EQ(status()["flagged"], false);  // +40%: within the default 50%
  inject(canary(2.0, 180));
  auto flagged = status();
  EXPECT_EQ(flagged["flagged"], true);
  EXPECT_THAT(flagged["active"]["drift"][0].get<std::string>(), HasSubstr("canary p95 latency 80.0% worse"));
  EXPECT_EQ(status({"--max-p95-rise", "100"})["flagged"], false);
  const auto rolled = run_ok({"status", "--store", store, "--json", "--auto-rollback"});
  EXPECT_THAT(rolled.err, HasSubstr("rolled back tiny from 1.1 to 1.0: canary p95 latency"));
  EXPECT_EQ(nlohmann::json::parse(rolled.out)[0]["active_now"], "1.0");
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
}

TEST_F(Drift, ServingFiguresFromTheServerApiAreWatched) {
  ServingRecorder recorder(store);
  recorder.record("tiny", "1.1", window(200, 0, 50.0));
  recorder.record("tiny", "1.1", window(180, 1, 60.0));
  auto s = status();
  EXPECT_EQ(s["flagged"], false);
  EXPECT_EQ(s["active"]["serving"]["figures"]["requests"], 180.0);
  EXPECT_EQ(s["active"]["serving_baseline"]["figures"]["latency_ms_p95"], 50.0);
  // p95 twice the first window's.
  recorder.record("tiny", "1.1", window(150, 0, 100.0));
  s = status();
  EXPECT_EQ(s["flagged"], true);
  EXPECT_THAT(s["active"]["drift"][0].get<std::string>(), HasSubstr("serving p95 latency 100.0% worse"));
  // Failing requests.
  recorder.record("tiny", "1.1", window(100, 10, 50.0));
  s = status();
  ASSERT_EQ(s["active"]["drift"].size(), 1u);
  EXPECT_THAT(s["active"]["drift"][0].get<std::string>(), HasSubstr("serving error rate 10.0% (10 of 100 requests"));
  EXPECT_THAT([&] { recorder.record("tiny", "9.9", window(1, 0, 1.0)); },
              ThrowsMessage<Error>(HasSubstr("tiny:9.9 is not installed")));
  // The library call the CLI makes.
  Store direct = Store::open(store);
  const auto message = rollback_on_drift(direct, assess_model(direct, *direct.find("tiny"), {}));
  ASSERT_TRUE(message.has_value());
  EXPECT_THAT(*message, HasSubstr("rolled back tiny from 1.1 to 1.0: serving error rate"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
}

TEST_F(Drift, CanaryIsComparedWithTheGateBaselineOfTheSameTaskSet) {
  MetricRun gate = canary(2.0, 100);
  gate.kind = "gate";
  inject(gate);
  MetricRun other_tasks = canary(1.0, 10);
  other_tasks.tasks_sha256 = std::string(64, 'd');
  inject(other_tasks);
  // The first canary on the gate's task set is already compared with the gate run.
  inject(canary(2.2, 100));
  const auto s = status();
  EXPECT_EQ(s["active"]["canary_baseline"]["kind"], "gate");
  EXPECT_EQ(s["flagged"], true);
  EXPECT_THAT(s["active"]["drift"][0].get<std::string>(), HasSubstr("canary perplexity 10.0% worse"));
}

TEST_F(Drift, FlaggedVersionWithoutPreviousIsLoggedNotRolledBack) {
  run_ok({"rm", "tiny", "--store", store});
  pull("tiny:1.0");
  inject(canary(2.0, 100));
  inject(canary(3.0, 100));
  const auto r = run_ok({"status", "--store", store, "--auto-rollback"});
  EXPECT_THAT(r.err, HasSubstr("tiny 1.0 drifts"));
  EXPECT_THAT(r.err, HasSubstr("no previous version to roll back to"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
}

TEST_F(ModelWatch, MonitorRecordsCanaryRunsOfTheActiveVersion) {
  publish(stories(), "1.0");
  pull("tiny");
  const auto r = run_ok(quick({"monitor", "--canary", tasks, "--interval", "0", "--count", "2"}));
  EXPECT_THAT(r.out, HasSubstr("canary tiny 1.0:  perplexity"));
  const Store s = Store::open(store);
  const auto runs = s.catalog().runs(s.find("tiny")->active.id, "canary");
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    EXPECT_EQ(run.tasks_sha256, sha256_file(tasks));
    EXPECT_EQ(run.quality_metric, "perplexity");
    for (const char* key : {figure::kQuality, figure::kTtftP50, figure::kTtftP95, figure::kLatencyP95}) {
      EXPECT_TRUE(run.value(key).has_value()) << key;
    }
  }
  EXPECT_EQ(*runs[0].value(figure::kQuality), *runs[1].value(figure::kQuality));
  const auto shown = nlohmann::json::parse(run_ok({"status", "--store", store, "--json"}).out);
  EXPECT_EQ(shown[0]["active"]["canary"]["figures"]["quality"], *runs[1].value(figure::kQuality));
  EXPECT_EQ(shown[0]["active"]["canary_baseline"]["figures"]["quality"], *runs[0].value(figure::kQuality));
  EXPECT_THAT(run_fail({"monitor", "nope", "--canary", tasks, "--store", store}).err,
              HasSubstr("no model named nope"));
}

TEST(CatalogRuns, RunsGoWithTheirVersionAndOldCatalogsAreMigrated) {
  const fs::path dir = test::temp_dir() / "old-store";
  fs::create_directories(dir);
  {
    // The schema of the first release: metrics without run ids, no runs or events tables.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "catalog.db").c_str(), &db), SQLITE_OK);
    const char* old_schema =
        "CREATE TABLE metrics (version_id INTEGER NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, "
        "recorded_at INTEGER NOT NULL)";
    EXPECT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  Store store = Store::open(dir);
  InstalledVersion v;
  v.name = "tiny";
  v.version = "1.0";
  v.sha256 = sha256_file(stories());
  v.size = fs::file_size(stories());
  v.architecture = "llama";
  v.source = "test";
  fs::copy_file(stories(), store.partial_path(v.sha256));
  store.install(store.partial_path(v.sha256), v, "");
  const int64_t id = store.find("tiny")->active.id;
  store.catalog().record_run(id, canary(2.0, 100));
  ASSERT_EQ(store.catalog().runs(id, "canary").size(), 1u);
  EXPECT_EQ(store.catalog().runs(id, "canary")[0].values, canary(2.0, 100).values);
  EXPECT_TRUE(store.catalog().runs(id, "gate").empty());
  // Reopening applies nothing twice.
  EXPECT_NO_THROW(Store::open(dir));
  store.remove("tiny");
  EXPECT_TRUE(store.catalog().runs(id, "canary").empty());
}

}  // namespace
}  // namespace bantam::hub::testing
