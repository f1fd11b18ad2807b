// Every sampling field OpenAI and llama.cpp clients send changes the answer the way it says, on a
// real server: top_k, min_p, the penalties, seed, n, logit_bias, stop; unknown extras are passed
// over unless --strict; fields bantam knows but does not implement are 400s naming them; JSON
// schema output keeps the schema's property order; the server's sampling defaults come from
// serve's flags (the same names as run/chat); --system and --chat-template shape the prompt.
#include <fstream>

#include "serve/openai_request.hpp"
#include "serve/api_error.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

json completion(int port, json body) {
  if (!body.contains("prompt")) body["prompt"] = "Once upon a time";
  const HttpResult r = post(port, "/v1/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json();
}

std::string completion_text(int port, json body) { return completion(port, std::move(body))["choices"][0]["text"]; }

json chat(int port, json body) {
  if (!body.contains("messages")) body["messages"] = json::array({{{"role", "user"}, {"content", "Tell me a story"}}});
  const HttpResult r = post(port, "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json();
}

class OpenAiFields : public SharedServerSuite {
 protected:
  static void SetUpTestSuite() { start_server({"--parallel", "2"}); }
  static void TearDownTestSuite() { stop_server(false); }
  static std::string greedy(int max_tokens = 24) {
    return completion_text(port(), {{"max_tokens", max_tokens}, {"temperature", 0}});
  }
};

TEST_F(OpenAiFields, TopKOneAndMinPOneAreGreedy) {
  const std::string expected = greedy();
  EXPECT_EQ(completion_text(port(), {{"max_tokens", 24}, {"temperature", 1.5}, {"top_k", 1}}), expected);
  EXPECT_EQ(completion_text(port(), {{"max_tokens", 24}, {"temperature", 1.5}, {"top_k", 0}, {"min_p", 1.0}}),
            expected);
  // Both through chat as well.
  const json greedy_chat = chat(port(), {{"max_tokens", 16}, {"temperature", 0}});
  const json top_k_chat = chat(port(), {{"max_tokens", 16}, {"temperature", 1.5}, {"top_k", 1}});
  EXPECT_EQ(top_k_chat["choices"][0]["message"]["content"], greedy_chat["choices"][0]["message"]["content"]);
}

TEST_F(OpenAiFields, PenaltiesChangeTheGreedyAnswer) {
  const std::string plain = greedy(48);
  EXPECT_NE(completion_text(port(), {{"max_tokens", 48}, {"temperature", 0}, {"presence_penalty", 2.0}}), plain);
  EXPECT_NE(completion_text(port(), {{"max_tokens", 48}, {"temperature", 0}, {"frequency_penalty", 2.0}}), plain);
  EXPECT_NE(completion_text(port(), {{"max_tokens", 48}, {"temperature", 0}, {"repeat_penalty", 3.0}}), plain);
  // A look-back of zero tokens leaves nothing to penalize.
  EXPECT_EQ(completion_text(port(), {{"max_tokens", 48}, {"temperature", 0}, {"repeat_penalty", 3.0},
                                     {"repeat_last_n", 0}}),
            plain);
}

TEST_F(OpenAiFields, LogitBiasForcesAToken) {
  const json out = completion(port(), {{"max_tokens", 6}, {"temperature", 0}, {"logprobs", 0},
                                       {"logit_bias", {{"300", 100}}}});
  const json& tokens = out["choices"][0]["logprobs"]["tokens"];
  ASSERT_EQ(tokens.size(), 6u);
  for (const json& t : tokens) EXPECT_EQ(t, tokens[0]);
  // And -100 bans the greedy answer's first token.
  const json plain = completion(port(), {{"max_tokens", 1}, {"temperature", 0}, {"logprobs", 1}});
  const std::string first = plain["choices"][0]["logprobs"]["tokens"][0];
  EXPECT_NE(first, tokens[0]);
}

TEST_F(OpenAiFields, TheSameSeedGivesTheSameAnswer) {
  const json body = {{"max_tokens", 24}, {"temperature", 1.2}, {"top_k", 0}, {"min_p", 0}, {"seed", 42}};
  const std::string a = completion_text(port(), body);
  EXPECT_EQ(completion_text(port(), body), a);
  json other = body;
  other["seed"] = 43;
  EXPECT_NE(completion_text(port(), other), a);
  const json chat_body = {{"max_tokens", 16}, {"temperature", 1.2}, {"top_k", 0}, {"seed", 7}};
  EXPECT_EQ(chat(port(), chat_body)["choices"][0]["message"]["content"],
            chat(port(), chat_body)["choices"][0]["message"]["content"]);
}

TEST_F(OpenAiFields, NChoicesAreSampledOnTheirOwnAndCounted) {
  const json body = {{"max_tokens", 16}, {"temperature", 1.2}, {"top_k", 0}, {"min_p", 0}, {"seed", 5}, {"n", 3}};
  const json out = chat(port(), body);
  ASSERT_EQ(out["choices"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out["choices"][i]["index"], i);
    EXPECT_EQ(out["choices"][i]["finish_reason"], "length");
  }
  EXPECT_NE(out["choices"][0]["message"]["content"], out["choices"][1]["message"]["content"]);
  EXPECT_EQ(out["usage"]["completion_tokens"], 48);
  // Reproducible as a whole under one seed.
  EXPECT_EQ(chat(port(), body)["choices"], out["choices"]);

  const json text = completion(port(), {{"max_tokens", 8}, {"temperature", 1.2}, {"seed", 9}, {"n", 2}});
  ASSERT_EQ(text["choices"].size(), 2u);
  EXPECT_EQ(text["choices"][1]["index"], 1);
  EXPECT_EQ(text["usage"]["completion_tokens"], 16);
}

TEST_F(OpenAiFields, StreamedChoicesCarryTheirIndex) {
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
               {"max_tokens", 6}, {"n", 2}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  const HttpResult r = post(port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200);
  bool done = false;
  const std::vector<json> events = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  std::string text[2];
  int finishes[2] = {0, 0};
  for (const json& e : events) {
    EXPECT_TRUE(e.contains("system_fingerprint"));
    if (e["choices"].empty()) {
      EXPECT_EQ(e["usage"]["completion_tokens"], 12);
      continue;
    }
    const int index = e["choices"][0]["index"];
    ASSERT_TRUE(index == 0 || index == 1);
    const json& delta = e["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) text[index] += delta["content"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) ++finishes[index];
  }
  EXPECT_EQ(finishes[0], 1);
  EXPECT_EQ(finishes[1], 1);
  EXPECT_FALSE(text[0].empty());
  EXPECT_FALSE(text[1].empty());

  body = {{"prompt", "Once"}, {"max_tokens", 4}, {"n", 2}, {"stream", true}};
  const std::vector<json> text_events = sse_events(post(port(), "/v1/completions", body).body);
  bool seen[2] = {false, false};
  for (const json& e : text_events) seen[e["choices"][0]["index"].get<int>()] = true;
  EXPECT_TRUE(seen[0] && seen[1]);
}

TEST_F(OpenAiFields, StopAsAStringOrAnArray) {
  const std::string plain = greedy(32);
  ASSERT_GT(plain.size(), 12u);
  const std::string stop = plain.substr(8, 3);
  const std::string cut = plain.substr(0, plain.find(stop));
  const json one = completion(port(), {{"max_tokens", 32}, {"temperature", 0}, {"stop", stop}});
  EXPECT_EQ(one["choices"][0]["text"], cut);
  EXPECT_EQ(one["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(completion_text(port(), {{"max_tokens", 32}, {"temperature", 0}, {"stop", {"zzzz", stop}}}), cut);
}

TEST_F(OpenAiFields, UnknownExtrasArePassedOver) {
  const json extras = {{"max_tokens", 2}, {"user", "u1"}, {"cache_prompt", true}, {"n_probs", 3},
                       {"metadata", {{"k", "v"}}}, {"store", false}, {"typical_p", 1.0}};
  EXPECT_EQ(chat(port(), extras)["choices"].size(), 1u);
  EXPECT_EQ(completion(port(), extras)["choices"].size(), 1u);
}

TEST_F(OpenAiFields, KnownButUnimplementedFieldsAreRefusedByName) {
  const json messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"reasoning_effort", "low"}, {"audio", {{"voice", "alloy"}}}, {"modalities", {"text", "audio"}},
           {"functions", json::array({{{"name", "f"}}})}, {"web_search_options", json::object()}}) {
    const HttpResult r = post(port(), "/v1/chat/completions", {{"messages", messages}, {field, value}});
    EXPECT_EQ(r.status, 400) << field;
    EXPECT_EQ(r.json()["error"]["param"], field);
  }
  EXPECT_EQ(post(port(), "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 1}, {"modalities", {"text"}}}).status,
            200);
  const HttpResult best_of = post(port(), "/v1/completions", {{"prompt", "a"}, {"best_of", 3}});
  EXPECT_EQ(best_of.status, 400);
  EXPECT_EQ(best_of.json()["error"]["param"], "best_of");
  const HttpResult suffix = post(port(), "/v1/completions", {{"prompt", "a"}, {"suffix", "b"}});
  EXPECT_EQ(suffix.status, 400);
  EXPECT_EQ(suffix.json()["error"]["param"], "suffix");
}

TEST_F(OpenAiFields, EveryAnswerHasASystemFingerprint) {
  const std::string fingerprint = chat(port(), {{"max_tokens", 1}})["system_fingerprint"];
  EXPECT_TRUE(fingerprint.starts_with("bantam-")) << fingerprint;
  EXPECT_EQ(completion(port(), {{"max_tokens", 1}})["system_fingerprint"], fingerprint);
}

TEST_F(OpenAiFields, JsonSchemaOutputKeepsThePropertyOrder) {
  // Sent as text so the order is the one written here (nlohmann::json would sort the keys).
  const std::string body =
      R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 60, "temperature": 0,
          "response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema":
          {"type": "object", "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "boolean"},
           "middle": {"type": "string", "maxLength": 4}}, "required": ["zeta", "alpha", "middle"],
           "additionalProperties": false}}}})";
  const HttpResult r = http(port(), "POST", "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string content = r.json()["choices"][0]["message"]["content"];
  const size_t zeta = content.find("\"zeta\""), alpha = content.find("\"alpha\""), middle = content.find("\"middle\"");
  ASSERT_NE(middle, std::string::npos) << content;
  EXPECT_LT(zeta, alpha) << content;
  EXPECT_LT(alpha, middle) << content;
}

TEST(OpenAiStrict, UnknownFieldsAreRefusedByName) {
  ServerProcess server({"--strict"});
  const json messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  HttpResult r = post(server.port(), "/v1/chat/completions", {{"messages", messages}, {"cache_prompt", true}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "cache_prompt");
  r = post(server.port(), "/v1/completions", {{"prompt", "a"}, {"n_probs", 2}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "n_probs");
  // OpenAI's own fields that leave the answer alone, and bantam's, still pass.
  EXPECT_EQ(post(server.port(), "/v1/chat/completions",
                 {{"messages", messages}, {"max_tokens", 1}, {"user", "u"}, {"top_k", 1}, {"store", false}})
                .status,
            200);
  EXPECT_EQ(post(server.port(), "/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}, {"echo", true}}).status, 200);
}

TEST(OpenAiDefaults, ServeFlagsSetWhatRequestsLeaveOut) {
  const std::string prompt = "Once upon a time";
  std::string greedy_text;
  {
    ServerProcess reference;
    greedy_text = completion_text(reference.port(), {{"prompt", prompt}, {"max_tokens", 5}, {"temperature", 0}});
  }
  ServerProcess server({"--temp", "0", "--n-predict", "5", "--top-k", "7", "--seed", "11"});
  const json out = completion(server.port(), {{"prompt", prompt}});
  EXPECT_EQ(out["choices"][0]["text"], greedy_text);
  EXPECT_EQ(out["usage"]["completion_tokens"], 5);
  // Chat too: at most 5 tokens without max_tokens.
  EXPECT_LE(chat(server.port(), json::object())["usage"]["completion_tokens"].get<int>(), 5);
  // A request's own value still wins.
  EXPECT_EQ(completion(server.port(), {{"prompt", prompt}, {"max_tokens", 2}})["usage"]["completion_tokens"], 2);
}

TEST(OpenAiDefaults, BadDefaultFlagsAreRefusedWithTheCliWords) {
  const RunResult out = run_cli({"serve", "-m", stories_model(), "--top-p", "2"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.err.find("--top-p"), std::string::npos) << out.err;
}

TEST(OpenAiDefaults, PolicyDefaultsAreWhatParsingFallsBackTo) {
  serve::RequestPolicy policy;
  policy.sampling.temperature = 0.1f;
  policy.sampling.top_k = 3;
  policy.max_tokens = 9;
  const serve::ChatRequest r = serve::parse_chat_request(
      serve::parse_ordered_request_body(R"({"messages": [{"role": "user", "content": "hi"}], "top_k": 5})"), 512, policy);
  EXPECT_FLOAT_EQ(r.generation.sampling.temperature, 0.1f);
  EXPECT_EQ(r.generation.sampling.top_k, 5);
  EXPECT_EQ(r.generation.max_tokens, 9);
  policy.strict = true;
  EXPECT_THROW(serve::parse_completion_request(serve::parse_ordered_request_body(R"({"prompt": "a", "mirostat": 2})"),
                                               512, policy),
               serve::ApiError);
}

TEST(OpenAiChatFormat, SystemAndTemplateFlagsShapeThePrompt) {
  {
    ServerProcess server({"--system", "You are a pirate", "--log-prompts"});
    chat(server.port(), {{"max_tokens", 1}});
    const std::string log = server.log();
    EXPECT_NE(log.find("chat format: Llama 2"), std::string::npos) << log;
    EXPECT_NE(log.find("You are a pirate"), std::string::npos) << log;
    // A request's own system message replaces the default.
    chat(server.port(), {{"max_tokens", 1},
                         {"messages", json::array({{{"role", "system"}, {"content", "Be brief"}},
                                                   {{"role", "user"}, {"content", "hi"}}})}});
    const std::string later = server.log().substr(log.size());
    EXPECT_EQ(later.find("pirate"), std::string::npos) << later;
    EXPECT_NE(later.find("Be brief"), std::string::npos) << later;
  }
  const std::string file = (temp_dir() / "plain.jinja").string();
  std::ofstream(file) << "{% for m in messages %}<<{{ m.content }}>>{% endfor %}";
  ServerProcess server({"--chat-template", file, "--log-prompts"});
  chat(server.port(), {{"max_tokens", 1}});
  const std::string log = server.log();
  EXPECT_NE(log.find(file + " (--chat-template)"), std::string::npos) << log;
  EXPECT_NE(log.find("<<Tell me a story>>"), std::string::npos) << log;
}

}  // namespace
}  // namespace bantam::test
