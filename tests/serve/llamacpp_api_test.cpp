// llama.cpp's native endpoints on a real `bantam serve`: /completion (n_predict, token-id and
// mixed prompts, streamed frames, grammar, json_schema, n_probs, response fields), /tokenize,
// /detokenize, /apply-template, /props, /slots, /infill (on models written here with FIM tokens,
// by metadata key and by vocabulary name), errors in llama.cpp's shape, the API key, the GBNF
// `grammar` field on the OpenAI routes too.
#include <gmock/gmock.h>

#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

json greedy(json body, int n_predict) {
  body["temperature"] = 0;
  body["n_predict"] = n_predict;
  return body;
}

class LlamaCppApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"--parallel", "2", "-c", "256"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static ServerProcess* server_;
};
ServerProcess* LlamaCppApi::server_ = nullptr;

TEST_F(LlamaCppApi, CompletionHonoursNPredictAndAnswersLlamaCppFields) {
  const HttpResult r = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}, {"cache_prompt", true}}, 5));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_FALSE(j["content"].get<std::string>().empty());
  EXPECT_EQ(j["tokens_predicted"], 5);
  EXPECT_EQ(j["stop"], true);
  EXPECT_EQ(j["stop_type"], "limit");
  EXPECT_EQ(j["tokens"], json::array());  // return_tokens not asked
  EXPECT_EQ(j["generation_settings"]["n_predict"], 5);
  EXPECT_EQ(j["generation_settings"]["temperature"], 0.0);
  EXPECT_EQ(j["generation_settings"]["n_ctx"], 256);
  EXPECT_EQ(j["timings"]["predicted_n"], 5);
  const json ids = post(port(), "/tokenize", {{"content", "Once upon a time"}, {"add_special", true}}).json()["tokens"];
  EXPECT_EQ(j["tokens_evaluated"], ids.size());
  for (const char* key : {"prompt", "tokens_cached", "truncated", "stopping_word", "model"}) EXPECT_TRUE(j.contains(key)) << key;

  const json with_tokens =
      post(port(), "/completion", greedy({{"prompt", "Once upon a time"}, {"return_tokens", true}}, 3)).json();
  EXPECT_EQ(with_tokens["tokens"].size(), 3u);
  const json stopped = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}, {"stop", {"."}}}, 100)).json();
  EXPECT_EQ(stopped["stop_type"], "word");
  EXPECT_EQ(stopped["stopping_word"], ".");
  EXPECT_THAT(stopped["content"].get<std::string>(), ::testing::Not(HasSubstr(".")));
}

TEST_F(LlamaCppApi, TokenIdAndMixedPromptsMatchTheTextPrompt) {
  const std::string text = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}}, 8)).json()["content"];
  const json ids = post(port(), "/tokenize", {{"content", "Once upon a time"}, {"add_special", true}}).json()["tokens"];
  ASSERT_GT(ids.size(), 2u);
  EXPECT_EQ(post(port(), "/completion", greedy({{"prompt", ids}}, 8)).json()["content"], text);
  // BOS id then text: the text is tokenized without another BOS.
  json mixed = json::array({ids[0], "Once upon a time"});
  EXPECT_EQ(post(port(), "/completion", greedy({{"prompt", mixed}}, 8)).json()["content"], text);

  const HttpResult out_of_range = post(port(), "/completion", {{"prompt", json::array({1, 999999})}});
  EXPECT_EQ(out_of_range.status, 400);
  EXPECT_THAT(out_of_range.json()["error"]["message"].get<std::string>(), HasSubstr("token ids from 0 to"));
  const HttpResult several = post(port(), "/completion", {{"prompt", json::array({"a", "b"})}});
  EXPECT_EQ(several.status, 400);
  EXPECT_THAT(several.body, HasSubstr("several prompts"));
}

TEST_F(LlamaCppApi, StreamSendsContentFramesThenAFinalStop) {
  const std::string whole = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}}, 6)).json()["content"];
  const HttpResult r = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}, {"stream", true}}, 6));
  ASSERT_EQ(r.status, 200);
  const std::vector<json> frames = sse_events(r.body);
  ASSERT_GE(frames.size(), 2u);
  std::string joined;
  size_t token_count = 0;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    EXPECT_EQ(frames[i]["stop"], false);
    joined += frames[i]["content"].get<std::string>();
    token_count += frames[i]["tokens"].size();
  }
  EXPECT_EQ(joined, whole);
  EXPECT_EQ(token_count, 6u);
  const json& last = frames.back();
  EXPECT_EQ(last["stop"], true);
  EXPECT_EQ(last["stop_type"], "limit");
  EXPECT_EQ(last["tokens_predicted"], 6);
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("[DONE]")));
}

TEST_F(LlamaCppApi, GrammarConstrainsEveryGenerationRoute) {
  const std::string grammar = "root ::= (\"yes\" | \"no\") \", \" [a-z]{2,4} \".\"";
  const auto check = [](const std::string& text) {
    const bool answer = text.starts_with("yes, ") || text.starts_with("no, ");
    EXPECT_TRUE(answer && text.ends_with(".") && text.size() >= 6) << text;
  };
  for (int seed = 0; seed < 3; ++seed) {
    const json native =
        post(port(), "/completion", {{"prompt", "Once upon a time"}, {"grammar", grammar}, {"seed", seed}, {"n_predict", 40}}).json();
    check(native["content"]);
    EXPECT_EQ(native["stop_type"], "eos");
  }
  const json text = post(port(), "/v1/completions",
                         {{"prompt", "Once upon a time"}, {"grammar", grammar}, {"max_tokens", 40}}).json();
  check(text["choices"][0]["text"]);
  const json chat = post(port(), "/v1/chat/completions",
                         {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"grammar", grammar}, {"max_tokens", 40}})
                        .json();
  check(chat["choices"][0]["message"]["content"]);
}

TEST_F(LlamaCppApi, ABadGrammarIsA400NamingTheRuleAndPosition) {
  const std::string bad = "root ::= item+\nitem ::= [a-z\n";
  const HttpResult native = post(port(), "/completion", {{"prompt", "x"}, {"grammar", bad}});
  EXPECT_EQ(native.status, 400);
  const json error = native.json()["error"];
  EXPECT_EQ(error["code"], 400);  // llama.cpp's shape: the status as the code
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("GBNF grammar at 2:10 (rule 'item'): unterminated character class"));

  const HttpResult openai = post(port(), "/v1/chat/completions",
                                 {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"grammar", "root ::= expr"}});
  EXPECT_EQ(openai.status, 400);
  EXPECT_EQ(openai.json()["error"]["param"], "grammar");
  EXPECT_EQ(openai.json()["error"]["code"], "invalid_grammar");
  EXPECT_THAT(openai.json()["error"]["message"].get<std::string>(), HasSubstr("rule 'expr' is used but never defined"));
  const HttpResult left = post(port(), "/v1/completions", {{"prompt", "x"}, {"grammar", "root ::= root \"a\" | \"b\""}});
  EXPECT_EQ(left.status, 400);
  EXPECT_THAT(left.body, HasSubstr("left recursion"));
  const HttpResult both = post(port(), "/completion", {{"prompt", "x"}, {"grammar", "root ::= \"a\""}, {"json_schema", json::object()}});
  EXPECT_EQ(both.status, 400);
}

TEST_F(LlamaCppApi, JsonSchemaAndNProbs) {
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}, {"maxLength", 6}}}, {"age", {{"type", "integer"}}}}},
                       {"required", {"name", "age"}}};
  const json r = post(port(), "/completion", {{"prompt", "Once upon a time"}, {"json_schema", schema}, {"n_predict", 60}}).json();
  const json doc = json::parse(r["content"].get<std::string>());
  EXPECT_TRUE(doc["name"].is_string());
  EXPECT_TRUE(doc["age"].is_number_integer());

  const json probs = post(port(), "/completion", greedy({{"prompt", "Once upon a time"}, {"n_probs", 3}}, 4)).json();
  ASSERT_EQ(probs["completion_probabilities"].size(), 4u);
  for (const json& p : probs["completion_probabilities"]) {
    EXPECT_EQ(p["top_logprobs"].size(), 3u);
    EXPECT_EQ(p["id"], p["top_logprobs"][0]["id"]);  // greedy: the most likely token
    EXPECT_LE(p["logprob"].get<double>(), 0.0);
  }
}

TEST_F(LlamaCppApi, TokenizeDetokenizeRoundTrip) {
  const std::string text = "Once upon a time, there was a cat.";
  const json plain = post(port(), "/tokenize", {{"content", text}}).json()["tokens"];
  const json special = post(port(), "/tokenize", {{"content", text}, {"add_special", true}}).json()["tokens"];
  EXPECT_EQ(special.size(), plain.size() + 1);  // the BOS
  EXPECT_EQ(post(port(), "/detokenize", {{"tokens", plain}}).json()["content"], text);
  const json pieces = post(port(), "/tokenize", {{"content", "cat é"}, {"with_pieces", true}}).json()["tokens"];
  std::string joined;
  for (const json& t : pieces) {
    ASSERT_TRUE(t.contains("id"));
    if (t["piece"].is_string()) {
      joined += t["piece"].get<std::string>();
    } else {  // a byte of a split character, as a list of bytes
      for (const json& b : t["piece"]) joined += static_cast<char>(b.get<int>());
    }
  }
  EXPECT_EQ(joined, " cat é");
  EXPECT_EQ(post(port(), "/detokenize", {{"tokens", {1, 999999}}}).status, 400);
  EXPECT_EQ(post(port(), "/tokenize", json::object()).status, 400);
}

TEST_F(LlamaCppApi, ApplyTemplatePropsAndSlots) {
  const json messages = {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello there"}}};
  const json applied = post(port(), "/apply-template", {{"messages", messages}}).json();
  const std::string prompt = applied["prompt"];
  EXPECT_THAT(prompt, HasSubstr("Be brief."));
  EXPECT_LT(prompt.find("Be brief."), prompt.find("Hello there"));

  const HttpResult props = http(port(), "GET", "/props");
  ASSERT_EQ(props.status, 200);
  const json p = props.json();
  EXPECT_EQ(p["total_slots"], 2);
  EXPECT_THAT(p["model_path"].get<std::string>(), HasSubstr("stories260K.gguf"));
  EXPECT_TRUE(p["chat_template"].is_string());
  EXPECT_FALSE(p["chat_template"].get<std::string>().empty());
  EXPECT_TRUE(p["chat_template_fallback"].is_string());  // stories260K has no template of its own
  const json defaults = p["default_generation_settings"]["params"];
  EXPECT_EQ(defaults["n_predict"], -1);
  EXPECT_NEAR(defaults["temperature"].get<double>(), 0.8, 1e-6);  // the CLI's default
  EXPECT_EQ(defaults["top_k"], 40);
  EXPECT_EQ(p["default_generation_settings"]["n_ctx"], 256);

  const json slots = http(port(), "GET", "/slots").json();
  ASSERT_EQ(slots.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(slots[i]["id"], i);
    EXPECT_EQ(slots[i]["n_ctx"], 256);
    EXPECT_EQ(slots[i]["is_processing"], false);
  }
  EXPECT_EQ(post(port(), "/props", json::object()).status, 405);
  EXPECT_EQ(http(port(), "GET", "/completion").status, 405);
  EXPECT_EQ(http(port(), "GET", "/no-such-route").status, 404);
  const std::string metrics = http(port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("route=\"/completion\""));
  EXPECT_THAT(metrics, HasSubstr("route=\"/props\""));
}

TEST_F(LlamaCppApi, InfillWithoutFimTokensIsA400SayingSo) {
  const HttpResult r = post(port(), "/infill", {{"input_prefix", "def f("}, {"input_suffix", ")"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.json()["error"]["message"].get<std::string>(), HasSubstr("no fill-in-the-middle tokens"));
}

// stories260K with three tokens renamed to FIM tokens, given by name (control tokens in the
// vocabulary) or by the GGUF keys pointing at ordinary tokens.
fs::path fim_model(bool by_name) {
  const auto source = gguf::File::open(stories_model());
  gguf::Writer writer;
  writer.copy_metadata(source);
  if (by_name) {
    gguf::Value::Array tokens, types;
    for (const gguf::Value& v : *source.get_array("tokenizer.ggml.tokens")) tokens.push_back(v);
    for (const gguf::Value& v : *source.get_array("tokenizer.ggml.token_type")) types.push_back(v);
    const char* names[] = {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>"};
    for (int i = 0; i < 5; ++i) {
      tokens[500 + i] = gguf::Value::string(names[i]);
      types[500 + i] = gguf::Value::i32(3);  // control
    }
    writer.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::STRING, tokens));
    writer.set("tokenizer.ggml.token_type", gguf::Value::array(gguf::ValueType::INT32, types));
  } else {
    writer.set("tokenizer.ggml.fim_pre_token_id", gguf::Value::u32(500));
    writer.set("tokenizer.ggml.fim_suf_token_id", gguf::Value::u32(501));
    writer.set("tokenizer.ggml.fim_mid_token_id", gguf::Value::u32(502));
  }
  for (const auto& tensor : source.tensors()) {
    writer.add_tensor_view(tensor.name, tensor.type, tensor.shape, source.tensor_data(tensor));
  }
  const fs::path path = temp_dir() / (by_name ? "fim-named.gguf" : "fim-keys.gguf");
  writer.write(path.string());
  return path;
}

TEST(LlamaCppInfill, FimPromptPutsPrefixSuffixMiddleInOrder) {
  ServerProcess server({}, {}, fim_model(true).string());
  const json body = greedy({{"input_prefix", "one two"},
                            {"input_suffix", "five"},
                            {"prompt", "three"},
                            {"input_extra", {{{"filename", "a.txt"}, {"text", "zero"}}}}},
                           4);
  const HttpResult r = post(server.port(), "/infill", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string prompt = r.json()["prompt"];
  // Each piece tokenized on its own, so SPM puts its space before each (as llama.cpp does).
  EXPECT_EQ(prompt,
            "<s><|repo_name|> myproject\n<|file_sep|> a.txt\nzero<|fim_prefix|> one two<|fim_suffix|> five"
            "<|fim_middle|> three");
  EXPECT_EQ(r.json()["tokens_predicted"], 4);
  // The stream form too.
  json streamed = body;
  streamed["stream"] = true;
  const std::vector<json> frames = sse_events(post(server.port(), "/infill", streamed).body);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back()["stop"], true);
}

TEST(LlamaCppInfill, FimTokensFromTheGgufKeys) {
  ServerProcess server({}, {}, fim_model(false).string());
  const auto tokens = [&](const std::string& text) {
    return post(server.port(), "/tokenize", {{"content", text}}).json()["tokens"];
  };
  json expected = json::array({1, 500});  // BOS, the fim_pre id
  for (const json& id : tokens("ab")) expected.push_back(id);
  expected.push_back(501);
  for (const json& id : tokens("cd")) expected.push_back(id);
  expected.push_back(502);
  const HttpResult r = post(server.port(), "/infill", greedy({{"input_prefix", "ab"}, {"input_suffix", "cd"}}, 2));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tokens_evaluated"], expected.size());
  EXPECT_EQ(r.json()["prompt"], post(server.port(), "/detokenize", {{"tokens", expected}}).json()["content"]);
}

TEST(LlamaCppAuth, NativeRoutesNeedTheApiKeyAndAnswerInLlamaCppShape) {
  ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=secret"});
  const HttpResult missing = post(server.port(), "/tokenize", {{"content", "hi"}});
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json()["error"]["code"], 401);
  EXPECT_EQ(missing.json()["error"]["type"], "authentication_error");
  EXPECT_EQ(http(server.port(), "GET", "/props").status, 401);
  EXPECT_EQ(http(server.port(), "GET", "/props", {}, {"Authorization: Bearer secret"}).status, 200);
  EXPECT_EQ(http(server.port(), "GET", "/health").status, 200);
}

}  // namespace
}  // namespace bantam::test
