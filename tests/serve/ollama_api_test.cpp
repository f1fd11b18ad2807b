// ollama's REST API on a real `bantam serve`: every route, NDJSON streams, options mapped onto the
// generation parameters, errors in ollama's {"error": "..."} shape; and the request mapping alone.
#include <cmath>
#include <sstream>

#include "runtime/json_grammar.hpp"
#include "serve/api_error.hpp"
#include "serve/ollama_request.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

class OllamaApi : public SharedServerSuite {
 protected:
  static void SetUpTestSuite() { start_server({"--parallel", "2", "-c", "512"}); }
  static void TearDownTestSuite() { stop_server(); }
};

json chat_body(json options, bool stream = false) {
  return {{"model", "stories260K"},
          {"messages", {{{"role", "system"}, {"content", "You tell stories."}},
                        {{"role", "user"}, {"content", "Once upon a time there was a cat."}}}},
          {"options", std::move(options)},
          {"stream", stream}};
}

// Each line of an NDJSON body, parsed.
std::vector<json> ndjson_frames(const std::string& body) {
  std::vector<json> frames;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) frames.push_back(json::parse(line));
  }
  return frames;
}

// The error of an ollama answer: {"error": "..."} and nothing else.
std::string error_of(const HttpResult& r) {
  const json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || j.size() != 1 || !j.contains("error") || !j["error"].is_string()) {
    ADD_FAILURE() << "not an ollama error: " << r.body;
    return {};
  }
  return j["error"];
}

void expect_final_stats(const json& last) {
  EXPECT_EQ(last["done"], true);
  for (const char* key : {"total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                          "eval_duration"}) {
    ASSERT_TRUE(last.contains(key) && last[key].is_number_integer()) << key << " in " << last.dump();
    EXPECT_GE(last[key].get<int64_t>(), 0) << key;
  }
  EXPECT_GT(last["prompt_eval_count"].get<int>(), 0);
  EXPECT_GT(last["total_duration"].get<int64_t>(), 0);
  EXPECT_TRUE(last["created_at"].get<std::string>().ends_with("Z"));
}

TEST_F(OllamaApi, VersionTagsAndPs) {
  const auto version = http(port(), "GET", "/api/version");
  ASSERT_EQ(version.status, 200);
  EXPECT_FALSE(version.json()["version"].get<std::string>().empty());

  const auto tags = http(port(), "GET", "/api/tags");
  ASSERT_EQ(tags.status, 200) << tags.body;
  ASSERT_EQ(tags.json()["models"].size(), 1u);
  const json model = tags.json()["models"][0];
  EXPECT_EQ(model["name"], "stories260K:latest");
  EXPECT_EQ(model["model"], "stories260K:latest");
  EXPECT_EQ(model["size"].get<uint64_t>(), std::filesystem::file_size(stories_model()));
  EXPECT_EQ(model["digest"].get<std::string>().size(), 64u);
  EXPECT_EQ(model["details"]["format"], "gguf");
  EXPECT_EQ(model["details"]["family"], "llama");
  EXPECT_EQ(model["details"]["quantization_level"], "F32");
  EXPECT_TRUE(model["details"]["parameter_size"].get<std::string>().ends_with("K"));

  const auto ps = http(port(), "GET", "/api/ps");
  ASSERT_EQ(ps.status, 200) << ps.body;
  const json running = ps.json()["models"][0];
  EXPECT_EQ(running["name"], "stories260K:latest");
  EXPECT_GT(running["size"].get<uint64_t>(), model["size"].get<uint64_t>());  // the KV caches too
  EXPECT_EQ(running["size_vram"], 0);
  EXPECT_EQ(running["context_length"], 512);
  EXPECT_FALSE(running["expires_at"].get<std::string>().empty());
}

TEST_F(OllamaApi, ShowDescribesTheModel) {
  const auto r = post(port(), "/api/show", {{"model", "stories260K"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["details"]["family"], "llama");
  EXPECT_EQ(j["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(j["model_info"]["llama.context_length"], 2048);
  EXPECT_GT(j["model_info"]["general.parameter_count"].get<int64_t>(), 0);
  EXPECT_EQ(j["model_info"]["tokenizer.ggml.tokens"], json::array());  // arrays only when verbose
  EXPECT_FALSE(j["template"].get<std::string>().empty());
  EXPECT_NE(j["modelfile"].get<std::string>().find("FROM "), std::string::npos);
  const auto verbose = post(port(), "/api/show", {{"model", "stories260K:latest"}, {"verbose", true}});
  ASSERT_EQ(verbose.status, 200) << verbose.body;
  EXPECT_EQ(verbose.json()["model_info"]["tokenizer.ggml.tokens"].size(), 512u);
}

TEST_F(OllamaApi, ChatStreamsNdjsonFramesThatMatchTheWholeAnswer) {
  const auto whole = post(port(), "/api/chat", chat_body({{"num_predict", 16}, {"temperature", 0}}));
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json answer = whole.json();
  EXPECT_EQ(answer["model"], "stories260K");
  EXPECT_EQ(answer["message"]["role"], "assistant");
  EXPECT_FALSE(answer["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(answer["done_reason"], "length");
  EXPECT_EQ(answer["eval_count"], 16);
  expect_final_stats(answer);

  json streamed_body = chat_body({{"num_predict", 16}, {"temperature", 0}});
  streamed_body.erase("stream");  // ollama streams unless told not to
  const auto streamed = post(port(), "/api/chat", streamed_body);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  const std::vector<json> frames = ndjson_frames(streamed.body);
  ASSERT_GE(frames.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    EXPECT_EQ(frames[i]["done"], false);
    EXPECT_EQ(frames[i]["message"]["role"], "assistant");
    EXPECT_FALSE(frames[i].contains("error"));
    text += frames[i]["message"]["content"].get<std::string>();
  }
  const json& last = frames.back();
  EXPECT_EQ(last["message"]["content"], "");
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["eval_count"], 16);
  expect_final_stats(last);
  EXPECT_EQ(text, answer["message"]["content"]);  // greedy: the same text either way
}

TEST_F(OllamaApi, GenerateStreamsAndAnswersWhole) {
  const json body = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"options", {{"num_predict", 12}, {"temperature", 0}}}};
  const auto streamed = post(port(), "/api/generate", body);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  const std::vector<json> frames = ndjson_frames(streamed.body);
  ASSERT_GE(frames.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    EXPECT_EQ(frames[i]["done"], false);
    text += frames[i]["response"].get<std::string>();
  }
  EXPECT_EQ(frames.back()["response"], "");
  EXPECT_EQ(frames.back()["eval_count"], 12);
  expect_final_stats(frames.back());

  json whole_body = body;
  whole_body["stream"] = false;
  const json whole = post(port(), "/api/generate", whole_body).json();
  EXPECT_EQ(whole["response"], text);
  expect_final_stats(whole);

  // raw: the prompt as it is, no template: the text completion of /v1/completions.
  whole_body["raw"] = true;
  const json raw = post(port(), "/api/generate", whole_body).json();
  const json completion =
      post(port(), "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}}).json();
  EXPECT_EQ(raw["response"], completion["choices"][0]["text"]);
  EXPECT_LT(raw["prompt_eval_count"].get<int>(), whole["prompt_eval_count"].get<int>());
}

TEST_F(OllamaApi, NumPredictAndNumCtxLimitTheAnswer) {
  const json five = post(port(), "/api/chat", chat_body({{"num_predict", 5}, {"temperature", 0}})).json();
  EXPECT_EQ(five["eval_count"], 5);
  EXPECT_EQ(five["done_reason"], "length");
  // num_ctx caps prompt plus answer: three tokens of room.
  const int prompt_tokens = five["prompt_eval_count"];
  const json capped =
      post(port(), "/api/chat", chat_body({{"num_ctx", prompt_tokens + 3}, {"temperature", 0}})).json();
  EXPECT_EQ(capped["eval_count"], 3);
  EXPECT_EQ(capped["done_reason"], "length");
  const auto too_small = post(port(), "/api/chat", chat_body({{"num_ctx", prompt_tokens}}));
  EXPECT_EQ(too_small.status, 400);
  EXPECT_NE(error_of(too_small).find("options.num_ctx"), std::string::npos);
}

TEST_F(OllamaApi, SeedMakesSamplingReproducible) {
  const auto sample = [](int seed) {
    return post(port(), "/api/chat", chat_body({{"num_predict", 24}, {"temperature", 1.0}, {"seed", seed}}))
        .json()["message"]["content"]
        .get<std::string>();
  };
  EXPECT_EQ(sample(42), sample(42));
  const std::string first = sample(1);
  bool differs = false;
  for (int seed = 2; seed <= 5 && !differs; ++seed) differs = sample(seed) != first;
  EXPECT_TRUE(differs) << "every seed gave the same text";
}

TEST_F(OllamaApi, StopOptionEndsTheTextBeforeIt) {
  const json body = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"raw", true}, {"stream", false},
                     {"options", {{"num_predict", 60}, {"temperature", 0}}}};
  const std::string text = post(port(), "/api/generate", body).json()["response"];
  ASSERT_GT(text.size(), 12u);
  const std::string stop = text.substr(8, 3);
  json stopped = body;
  stopped["options"]["stop"] = {stop};
  const json r = post(port(), "/api/generate", stopped).json();
  EXPECT_EQ(r["response"], text.substr(0, text.find(stop)));
  EXPECT_EQ(r["done_reason"], "stop");
}

TEST_F(OllamaApi, FormatJsonAndSchemaYieldParseableJson) {
  json body = {{"model", "stories260K"},
               {"messages", {{{"role", "user"}, {"content", "Give JSON."}}}},
               {"options", {{"num_predict", 200}, {"temperature", 0}}},
               {"stream", false},
               {"format", "json"}};
  const auto object = post(port(), "/api/chat", body);
  ASSERT_EQ(object.status, 200) << object.body;
  // Either a whole object, or cut off by num_predict as a prefix of one (the tiny model rambles).
  const std::string content = object.json()["message"]["content"];
  if (object.json()["done_reason"] == "stop") {
    EXPECT_TRUE(json::parse(content).is_object()) << content;
  } else {
    JsonMatcher m(JsonGrammar::any_object());
    EXPECT_TRUE(m.feed(content) && content.starts_with("{")) << content;
  }
  json value;

  body["format"] = json::parse(R"({"type": "object",
    "properties": {"name": {"type": "string", "maxLength": 8}, "mood": {"enum": ["happy", "sad"]}},
    "required": ["name", "mood"], "additionalProperties": false})");
  body["options"] = {{"num_predict", 200}, {"temperature", 1.0}, {"seed", 7}};
  body["stream"] = true;
  const auto schema = post(port(), "/api/chat", body);
  std::string text;
  for (const json& frame : ndjson_frames(schema.body)) text += frame["message"]["content"].get<std::string>();
  ASSERT_NO_THROW(value = json::parse(text)) << text;
  EXPECT_TRUE(value["name"].is_string());
  EXPECT_TRUE(value["mood"] == "happy" || value["mood"] == "sad") << value;
}

TEST_F(OllamaApi, BadFieldsAre400sNamingThem) {
  const auto expect_400 = [](const json& body, const std::string& field, const char* path = "/api/chat") {
    const auto r = post(port(), path, body);
    EXPECT_EQ(r.status, 400) << body.dump() << " -> " << r.body;
    EXPECT_NE(error_of(r).find(field), std::string::npos) << r.body;
  };
  expect_400(chat_body({{"temperature", "hot"}}), "options.temperature");
  expect_400(chat_body({{"temperature", 9}}), "options.temperature");
  expect_400(chat_body({{"top_p", 1.5}}), "options.top_p");
  expect_400(chat_body({{"top_k", -3}}), "options.top_k");
  expect_400(chat_body({{"num_predict", 0}}), "options.num_predict");
  expect_400(chat_body({{"repeat_penalty", 0}}), "options.repeat_penalty");
  expect_400(chat_body({{"stop", 5}}), "options.stop");
  expect_400(chat_body({{"num_ctx", "big"}}), "options.num_ctx");
  expect_400(chat_body({{"typical_p", 0.5}}), "options.typical_p");
  expect_400(chat_body({{"mirostat", 2}}), "options.mirostat");
  expect_400(chat_body(5), "options");
  json body = chat_body(json::object());
  body["format"] = "xml";
  expect_400(body, "format");
  body = chat_body(json::object());
  body["stream"] = "yes";
  expect_400(body, "stream");
  body = chat_body(json::object());
  body["messages"][1]["images"] = {"iVBORw0KGgo="};
  expect_400(body, "messages[1].images");
  body = chat_body(json::object());
  body["messages"][1]["role"] = "wizard";
  expect_400(body, "messages[1].role");
  body.erase("model");
  expect_400(body, "model");
  expect_400({{"model", "stories260K"}, {"prompt", "hi"}, {"images", {"iVBORw0KGgo="}}}, "images", "/api/generate");
  expect_400({{"model", "stories260K"}, {"prompt", "hi"}, {"template", "{{ .Prompt }}"}}, "template", "/api/generate");
  // Options about ollama's runtime, and neutral values of unimplemented ones, are accepted.
  const auto accepted = post(port(), "/api/chat",
                             chat_body({{"num_predict", 2}, {"num_gpu", 99}, {"num_thread", 4}, {"use_mmap", true},
                                        {"typical_p", 1.0}, {"mirostat", 0}, {"seed", -1}}));
  EXPECT_EQ(accepted.status, 200) << accepted.body;
  body = chat_body({{"num_predict", 2}});
  body["keep_alive"] = "5m";
  EXPECT_EQ(post(port(), "/api/chat", body).status, 200);
}

TEST_F(OllamaApi, UnknownModelIs404NamingIt) {
  json body = chat_body(json::object());
  body["model"] = "llama3.2:latest";
  const auto r = post(port(), "/api/chat", body);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(error_of(r).find("'llama3.2:latest'"), std::string::npos);
  EXPECT_EQ(post(port(), "/api/show", {{"model", "other"}}).status, 404);
  EXPECT_EQ(post(port(), "/api/embed", {{"model", "other"}, {"input", "x"}}).status, 404);
  EXPECT_EQ(post(port(), "/api/generate", {{"model", "stories260K+nope"}, {"prompt", "x"}}).status, 404);
}

TEST_F(OllamaApi, RoutesAndMethodsAnswerInOllamasShape) {
  const auto wrong_method = http(port(), "GET", "/api/chat");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_NE(error_of(wrong_method).find("POST /api/chat"), std::string::npos);
  const auto pull = post(port(), "/api/pull", {{"model", "llama3.2"}});
  EXPECT_EQ(pull.status, 501);
  EXPECT_NE(error_of(pull).find("bantam pull"), std::string::npos);
  EXPECT_EQ(http(port(), "GET", "/api/nothing").status, 404);
  const auto bad_json = http(port(), "POST", "/api/chat", "{not json");
  EXPECT_EQ(bad_json.status, 400);
  error_of(bad_json);
  // An empty conversation or prompt only "loads" the model, which is always loaded.
  const auto load = post(port(), "/api/chat", {{"model", "stories260K"}, {"messages", json::array()}});
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(load.json()["done_reason"], "load");
  EXPECT_EQ(post(port(), "/api/generate", {{"model", "stories260K"}}).json()["done_reason"], "load");
}

TEST_F(OllamaApi, ChatAcceptsToolsAndToolCallHistory) {
  json body = chat_body({{"num_predict", 8}, {"temperature", 0}});
  body["tools"] = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
    "description": "Weather in a city", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  body["messages"].push_back({{"role", "assistant"}, {"content", ""},
                              {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}}}});
  body["messages"].push_back({{"role", "tool"}, {"content", "sunny"}, {"tool_name", "get_weather"}});
  body["messages"].push_back({{"role", "user"}, {"content", "And tomorrow?"}});
  const auto whole = post(port(), "/api/chat", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json()["eval_count"], 8);
  // Streamed with tools, the text comes whole in the last frame (a tool call is known only then).
  body["stream"] = true;
  const std::vector<json> frames = ndjson_frames(post(port(), "/api/chat", body).body);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["message"]["content"], whole.json()["message"]["content"]);
}

TEST_F(OllamaApi, EmbedMatchesTheOpenAiRouteAndTruncates) {
  const auto r = post(port(), "/api/embed", {{"model", "stories260K"}, {"input", {"a cat", "a dog"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["model"], "stories260K");
  ASSERT_EQ(j["embeddings"].size(), 2u);
  EXPECT_GT(j["prompt_eval_count"].get<int>(), 3);
  EXPECT_GE(j["total_duration"].get<int64_t>(), 0);
  const auto openai = post(port(), "/v1/embeddings", {{"input", "a cat"}}).json()["data"][0]["embedding"];
  const auto mine = j["embeddings"][0].get<std::vector<double>>();
  double norm = 0;
  for (size_t k = 0; k < mine.size(); ++k) {
    EXPECT_NEAR(mine[k], openai[k].get<double>(), 1e-5);
    norm += mine[k] * mine[k];
  }
  EXPECT_NEAR(norm, 1.0, 1e-4);
  const auto legacy = post(port(), "/api/embeddings", {{"model", "stories260K"}, {"prompt", "a cat"}});
  ASSERT_EQ(legacy.status, 200) << legacy.body;
  EXPECT_EQ(legacy.json()["embedding"].size(), mine.size());

  std::string long_text;
  for (int i = 0; i < 700; ++i) long_text += "cat ";
  EXPECT_EQ(post(port(), "/api/embed", {{"model", "stories260K"}, {"input", long_text}}).status, 200);
  const auto refused = post(port(), "/api/embed", {{"model", "stories260K"}, {"input", long_text}, {"truncate", false}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(error_of(refused).find("context"), std::string::npos);
}

TEST_F(OllamaApi, MetricsLabelTheRoutes) {
  post(port(), "/api/chat", chat_body({{"num_predict", 2}}));
  http(port(), "GET", "/api/tags");
  // The server counts a request once its response is written, so the client can ask a moment early.
  const auto counted = [](const std::string& metrics) {
    return metrics.find("route=\"/api/chat\"") != std::string::npos &&
           metrics.find("route=\"/api/tags\"") != std::string::npos;
  };
  std::string metrics = http(port(), "GET", "/metrics").body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!counted(metrics) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = http(port(), "GET", "/metrics").body;
  }
  EXPECT_TRUE(counted(metrics)) << metrics;
}

TEST(OllamaApiKey, EveryRouteNeedsTheKey) {
  ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
  const auto without = http(server.port(), "GET", "/api/tags");
  EXPECT_EQ(without.status, 401);
  EXPECT_FALSE(error_of(without).empty());
  EXPECT_EQ(http(server.port(), "GET", "/api/version").status, 401);
  EXPECT_EQ(http(server.port(), "GET", "/api/tags", "", {"Authorization: Bearer s3cret"}).status, 200);
}

// The mapping alone: each ollama option lands on the generation parameter the OpenAI field sets.
TEST(OllamaRequest, OptionsMapOntoTheGenerationParameters) {
  const json body = {{"model", "m"},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"options",
                      {{"temperature", 0.5}, {"top_p", 0.75}, {"top_k", 7}, {"min_p", 0.1}, {"repeat_penalty", 1.3},
                       {"repeat_last_n", 16}, {"presence_penalty", 0.25}, {"frequency_penalty", -0.5}, {"seed", 9},
                       {"num_predict", 33}, {"stop", {"\n"}}, {"num_ctx", 128}}}};
  const serve::OllamaGenerateRequest r = serve::parse_ollama_chat(body, 512);
  const SamplingOptions& s = r.chat.generation.sampling;
  EXPECT_FLOAT_EQ(s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(s.top_p, 0.75f);
  EXPECT_EQ(s.top_k, 7);
  EXPECT_FLOAT_EQ(s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s.repeat_penalty, 1.3f);
  EXPECT_EQ(s.penalty_last_n, 16);
  EXPECT_FLOAT_EQ(s.presence_penalty, 0.25f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -0.5f);
  EXPECT_EQ(s.seed, 10u);  // as the OpenAI route: the sampler's 0 means random
  EXPECT_EQ(r.chat.generation.max_tokens, 33);
  EXPECT_EQ(r.chat.generation.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(r.num_ctx, 128);
  EXPECT_TRUE(r.stream);  // ollama's default
  EXPECT_EQ(r.chat.grammar, nullptr);

  json unlimited = body;
  unlimited["options"] = {{"num_predict", -1}, {"seed", -1}};
  unlimited["format"] = "json";
  unlimited["stream"] = false;
  const serve::OllamaGenerateRequest u = serve::parse_ollama_chat(unlimited, 512);
  EXPECT_EQ(u.chat.generation.max_tokens, -1);
  EXPECT_EQ(u.chat.generation.sampling.seed, SamplingOptions{}.seed);
  EXPECT_NE(u.chat.grammar, nullptr);
  EXPECT_FALSE(u.stream);
}

TEST(OllamaRequest, GenerateBuildsTheConversationUnlessRaw) {
  const json body = {{"model", "m"}, {"prompt", "Why?"}, {"system", "Be brief."}};
  const serve::OllamaGenerateRequest r = serve::parse_ollama_generate(body, 512);
  ASSERT_EQ(r.chat.messages.size(), 2u);
  EXPECT_EQ(r.chat.messages[0]["role"], "system");
  EXPECT_EQ(r.chat.messages[1]["content"], "Why?");
  json raw = body;
  raw["raw"] = true;
  const serve::OllamaGenerateRequest rr = serve::parse_ollama_generate(raw, 512);
  EXPECT_TRUE(rr.raw);
  EXPECT_EQ(rr.prompt, "Why?");
  try {
    serve::parse_ollama_generate({{"model", "m"}, {"prompt", "x"}, {"options", {{"num_predict", 0}}}}, 512);
    ADD_FAILURE() << "num_predict 0 was accepted";
  } catch (const serve::ApiError& e) {
    EXPECT_EQ(e.param, "options.num_predict");
    EXPECT_EQ(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
  }
}

// Whatever the body holds, the parsers answer with an ApiError (a 400), never another exception.
TEST(OllamaRequest, OddBodiesAreApiErrorsOrAccepted) {
  const std::vector<json> bodies = {
      {{"model", "m"}, {"prompt", nullptr}, {"system", nullptr}, {"suffix", nullptr}, {"template", nullptr}},
      {{"model", "m"}, {"prompt", 5}},
      {{"model", "m"}, {"prompt", "x"}, {"suffix", {1}}},
      {{"model", "m"}, {"prompt", "x"}, {"options", {{"num_predict", "many"}, {"seed", {1, 2}}}}},
      {{"model", "m"}, {"prompt", "x"}, {"options", {{"num_ctx", 1e30}}}},
      {{"model", "m"}, {"prompt", "x"}, {"options", {{"typical_p", nullptr}, {"stop", {{"a", 1}}}}}},
      {{"model", "m"}, {"prompt", "x"}, {"format", {1, 2}}, {"raw", "yes"}},
      {{"model", "m"}, {"prompt", "x"}, {"context", "abc"}, {"keep_alive", {{"a", 1}}}},
      {{"model", "m"}, {"messages", {5, "x"}}},
      {{"model", "m"}, {"messages", {{{"role", "assistant"}, {"tool_calls", {{{"function", 3}}}}}}}},
      {{"model", "m"}, {"messages", {{{"role", "assistant"}, {"content", ""}, {"tool_calls", "x"}}}}},
      {{"model", "m"}, {"messages", {{{"role", "tool"}, {"content", "x"}, {"tool_name", 7}}}}},
      {{"model", "m"}, {"messages", "hello"}},
      {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"tools", "all"}, {"think", true}},
      {{"model", 5}},
      {{"model", "m"}, {"input", {1.5, "x"}}, {"truncate", 1}},
      {{"model", "m"}, {"input", json::array()}, {"dimensions", "big"}},
  };
  for (const json& body : bodies) {
    SCOPED_TRACE(body.dump());
    const auto no_other_exception = [&](auto&& parse) {
      try {
        parse();
      } catch (const serve::ApiError& e) {
        EXPECT_EQ(e.status, 400);
      }
    };
    no_other_exception([&] { serve::parse_ollama_chat(body, 512); });
    no_other_exception([&] { serve::parse_ollama_generate(body, 512); });
    no_other_exception([&] { serve::parse_ollama_embed(body, 512, 64, false); });
    no_other_exception([&] { serve::parse_ollama_embed(body, 512, 64, true); });
  }
  // null text fields count as absent: an empty prompt only loads the model.
  EXPECT_TRUE(serve::parse_ollama_generate(bodies[0], 512).load_only);
}

}  // namespace
}  // namespace bantam::test
