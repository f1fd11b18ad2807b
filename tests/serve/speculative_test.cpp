// `serve` with speculative decoding per slot: with greedy sampling, concurrent requests (a
// completion, a stop string, a JSON schema) get the answers and token counts of a server without
// it, token for token, with prompt lookup and with a draft model; /metrics shows what was drafted
// and kept; a foreign draft or contradicting flags are refused at start.
#include <gmock/gmock.h>

#include <future>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string weights(const std::string& name) { return shared("models/weights/" + name).string(); }

// Text that repeats itself: prompt lookup finds drafts in it.
const char* kCopyPrompt = "Lily saw a big red ball in the park. She wanted to play with it. Lily saw a big red ball";

struct Call {
  std::string path;
  json body;
};

std::vector<Call> calls() {
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}, {"maxLength", 12}}}, {"age", {{"type", "integer"}}}}},
                       {"required", {"name", "age"}},
                       {"additionalProperties", false}};
  return {
      {"/v1/completions",
       {{"prompt", kCopyPrompt},
        {"max_tokens", 48},
        {"temperature", 0}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "user"}, {"content", "Tell me about Tom and his dog."}}}},
        {"max_tokens", 64},
        {"temperature", 0},
        {"stop", {" dog"}}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "user"}, {"content", "Describe a person."}}}},
        {"max_tokens", 80},
        {"temperature", 0},
        {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", schema}}}}}}},
      {"/v1/completions", {{"prompt", "Once upon a time, there was a little"}, {"max_tokens", 40}, {"temperature", 0}}},
  };
}

// Every call's answer and usage, the calls sent at once (three slots, four requests); each
// response's bantam.speculative (null without one) in drafted_by_request.
std::vector<json> answers(const ServerProcess& server, std::vector<json>& drafted_by_request) {
  std::vector<std::future<HttpResult>> pending;
  for (const Call& call : calls()) {
    pending.push_back(std::async(std::launch::async, [&server, call] { return post(server.port(), call.path, call.body); }));
  }
  std::vector<json> out;
  for (auto& p : pending) {
    const HttpResult r = p.get();
    EXPECT_EQ(r.status, 200) << r.body;
    const json answer = r.json();
    const json& choice = answer["choices"][0];
    drafted_by_request.push_back(answer["bantam"].contains("speculative") ? answer["bantam"]["speculative"] : json());
    out.push_back({{"text", choice.contains("message") ? choice["message"]["content"] : choice["text"]},
                   {"finish", choice["finish_reason"]},
                   // Cached tokens follow which slot a request lands on, a race between them.
                   {"prompt_tokens", answer["usage"]["prompt_tokens"]},
                   {"completion_tokens", answer["usage"]["completion_tokens"]}});
  }
  return out;
}

// The value of a counter line `name N` in /metrics text (-1 when absent).
double metric(const ServerProcess& server, const std::string& name) {
  const std::string text = http(server.port(), "GET", "/metrics").body;
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST(ServeSpeculative, GreedyAnswersEqualThoseWithoutDrafts) {
  std::vector<json> plain;
  {
    ServerProcess server({"--parallel", "3", "-c", "256"});
    std::vector<json> speculation;
    plain = answers(server, speculation);
    for (const json& s : speculation) EXPECT_TRUE(s.is_null()) << s;
    EXPECT_EQ(metric(server, "bantam_draft_tokens_total"), 0);
  }
  ASSERT_EQ(plain.size(), calls().size());
  EXPECT_EQ(plain[1]["finish"], "stop");  // the stop string was met
  EXPECT_TRUE(json::accept(plain[2]["text"].get<std::string>())) << plain[2]["text"];

  const std::vector<std::vector<std::string>> speculative_flags = {
      {"--lookup", "3", "--draft-fixed"},
      {"-md", weights("stories260K-Q8_0.gguf"), "--draft-max", "4", "--draft-p-min", "0", "--draft-fixed"},
  };
  for (const auto& flags : speculative_flags) {
    SCOPED_TRACE(flags.front());
    std::vector<std::string> args = {"--parallel", "3", "-c", "256"};
    args.insert(args.end(), flags.begin(), flags.end());
    ServerProcess server(args);
    std::vector<json> speculation;
    const std::vector<json> drafted = answers(server, speculation);
    // The copy-heavy completion drafts with either method; what a request drafted, it reports.
    ASSERT_TRUE(speculation[0].is_object());
    EXPECT_GT(speculation[0]["drafted"].get<int>(), 0);
    for (size_t i = 0; i < speculation.size(); ++i) {
      const json& s = speculation[i];
      // A draft model drafts for every request, chats (through the router's answer) included.
      if (flags.front() == "-md") {
        EXPECT_TRUE(s.is_object()) << "call " << i;
      }
      if (s.is_object()) {
        EXPECT_LE(s["accepted"].get<int>(), s["drafted"].get<int>()) << "call " << i;
      }
    }
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(drafted[i], plain[i]) << "call " << i;
    const double proposed = metric(server, "bantam_draft_tokens_total");
    const double accepted = metric(server, "bantam_draft_accepted_tokens_total");
    EXPECT_GT(proposed, 0);
    EXPECT_GT(accepted, 0);
    EXPECT_LE(accepted, proposed);
    std::fprintf(stderr, "%s: %.0f of %.0f drafted tokens accepted\n", flags.front().c_str(), accepted, proposed);
    // llama.cpp's /completion reports the request's own drafts in its timings.
    const json native =
        post(server.port(), "/completion", {{"prompt", kCopyPrompt}, {"n_predict", 24}, {"temperature", 0}}).json();
    EXPECT_GT(native["timings"].value("draft_n", 0), 0) << native.dump();
    EXPECT_LE(native["timings"].value("draft_n_accepted", -1), native["timings"].value("draft_n", 0));
  }
}

// A long generation with many rejected drafts (phi3's fused projections, 45% accepted), then a
// request continuing the slot's whole sequence: it reuses that prefix and gets plain decoding's
// tokens. (Sliding-window rings and rejected drafts: BatchDecoder.RejectedDraftsCountAsWrittenForReuse.)
TEST(ServeSpeculative, ALongSequenceWithRejectedDraftsIsReusedExactly) {
  const std::string model = shared("models/synthetic/synth-phi3-f16.gguf").string();
  const std::string prompt = "The quick brown fox jumps over the lazy dog and then the fox runs away";
  const auto conversation = [&](std::vector<std::string> flags) {
    std::vector<std::string> args = {"-c", "2048"};
    args.insert(args.end(), flags.begin(), flags.end());
    ServerProcess server(args, {}, model);
    json tokens = post(server.port(), "/tokenize", {{"content", prompt}, {"add_special", true}}).json()["tokens"];
    std::vector<std::string> texts;
    for (int turn = 0; turn < 2; ++turn) {
      // Token ids, so the second turn's prompt starts with the whole first sequence.
      const HttpResult r = post(server.port(), "/completion", {{"prompt", tokens}, {"n_predict", turn == 0 ? 600 : 64},
                                                               {"temperature", 0}, {"return_tokens", true}});
      EXPECT_EQ(r.status, 200) << r.body;
      const json answer = r.json();
      texts.push_back(answer["tokens"].dump());
      if (turn == 1) {
        EXPECT_GT(answer["tokens_cached"].get<int>(), 600);
      }
      for (const json& t : answer["tokens"]) tokens.push_back(t);
      tokens.push_back(tokens[1]);
    }
    return texts;
  };
  const auto plain = conversation({});
  const auto drafted = conversation({"--lookup", "2", "--draft-fixed"});
  EXPECT_EQ(drafted, plain);
}

TEST(ServeSpeculative, BadDraftsAndFlagsAreRefusedAtStart) {
  const auto foreign = run_cli({"serve", "-m", stories_model(), "--port", "0", "-md", weights("llama-2-tiny-random.gguf")});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_THAT(foreign.err, HasSubstr("a draft must share the model's vocabulary"));
  const auto contradiction = run_cli({"serve", "-m", stories_model(), "--port", "0", "--spec", "off", "--lookup", "2"});
  EXPECT_EQ(contradiction.exit_code, 1);
  EXPECT_THAT(contradiction.err, HasSubstr("contradict"));
  const auto missing = run_cli({"serve", "-m", stories_model(), "--port", "0", "-md", (temp_dir() / "no-such-draft.gguf").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no-such-draft"));
}

}  // namespace
}  // namespace bantam::test
