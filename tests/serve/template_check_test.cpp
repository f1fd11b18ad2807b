// `bantam serve` renders the model's chat template once on a sample conversation before serving
// it: a model whose template fails or runs past the interpreter's budgets is refused at start-up,
// and a store update to such a version is not swapped in (the old version keeps serving).
#include <gmock/gmock.h>

#include <thread>

#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "hub/digest.hpp"
#include "hub/store.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Two nested loops of 100,000 iterations: a minute of work on every request before the budgets.
constexpr const char* kSlowTemplate =
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
// Builds a list of 16 million items: gigabytes before the budgets.
constexpr const char* kHugeTemplate = "{{ range(16000000)|list|sort }}";

// stories260K with its tokenizer.chat_template set to `chat_template`.
fs::path model_with_template(const std::string& chat_template) {
  const auto source = gguf::File::open(stories_model());
  gguf::Writer writer;
  writer.copy_metadata(source);
  writer.set("tokenizer.chat_template", gguf::Value::string(chat_template));
  for (const auto& tensor : source.tensors()) {
    writer.add_tensor_view(tensor.name, tensor.type, tensor.shape, source.tensor_data(tensor));
  }
  const fs::path path = temp_dir() / "templated.gguf";
  writer.write(path.string());
  return path;
}

std::string start_error(const fs::path& model, const std::vector<std::string>& flags = {}) {
  try {
    ServerProcess server(flags, {}, model.string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(serve started)";
}

json chat_request(const std::string& content = "Hi") {
  return {{"messages", json::array({{{"role", "user"}, {"content", content}}})}, {"max_tokens", 4}};
}

TEST(TemplateCheck, ServeRefusesAModelWhoseTemplateRunsPastTheBudgets) {
  const std::string slow = start_error(model_with_template(kSlowTemplate));
  EXPECT_THAT(slow, HasSubstr("bantam: error:"));
  EXPECT_THAT(slow, HasSubstr("the chat template fails on a sample conversation"));
  EXPECT_THAT(slow, HasSubstr("tokenizer.chat_template:1:"));
  EXPECT_THAT(slow, HasSubstr("template step budget exceeded"));

  const std::string huge = start_error(model_with_template(kHugeTemplate));
  EXPECT_THAT(huge, HasSubstr("template memory budget exceeded: range() needs"));

  const std::string failing = start_error(model_with_template("{{ raise_exception('no') }}"));
  EXPECT_THAT(failing, HasSubstr("the chat template fails on a sample conversation"));

  // A real template passes the check and serves.
  const fs::path qwen =
      model_with_template(read_file(shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja")));
  ServerProcess server({}, {}, qwen.string());
  EXPECT_EQ(post(server.port(), "/v1/chat/completions", chat_request()).status, 200);
}

// --template-steps and --template-memory-mb set the budgets: templates that serve with the
// defaults (a 2,000-round loop, a 400 KB string) are refused under budgets too small for them.
TEST(TemplateCheck, FlagsSetTheBudgets) {
  const fs::path loop = model_with_template(
      "{% for i in range(2000) %}{% endfor %}{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_THAT(start_error(loop, {"--template-steps", "10000"}), HasSubstr("template step budget exceeded"));
  const fs::path big = model_with_template(
      "{% set s = 'x' * 400000 %}{{ s|length }}{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_THAT(start_error(big, {"--template-memory-mb", "0.25"}), HasSubstr("template memory budget exceeded"));
  for (const fs::path& model : {loop, big}) {
    ServerProcess server({"--template-memory-mb", "32", "--template-steps", "8000000"}, {}, model.string());
    EXPECT_EQ(post(server.port(), "/v1/chat/completions", chat_request()).status, 200);
  }
}

// A template that passes the start-up check but runs past the memory budget on some messages:
// those requests get a 400 naming the budget, and the server goes on answering.
TEST(TemplateCheck, RequestThatDrivesTheTemplatePastABudgetIsA400) {
  const fs::path model = model_with_template(
      "{% if 'boom' in messages[0].content %}{{ range(16000000)|list|length }}{% endif %}"
      "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:");
  ServerProcess server({}, {}, model.string());
  const HttpResult hostile = post(server.port(), "/v1/chat/completions", chat_request("boom"));
  EXPECT_EQ(hostile.status, 400);
  EXPECT_THAT(hostile.body, HasSubstr("template memory budget exceeded: range() needs"));
  EXPECT_EQ(post(server.port(), "/v1/chat/completions", chat_request()).status, 200);
}


TEST(TemplateCheck, StoreUpdateWithAHostileTemplateIsNotSwappedIn) {
  const fs::path store = temp_dir() / "store";
  install_in_store(store, stories_model(), "1.0");
  ServerProcess server({"--store", store.string(), "--watch-interval", "0.05"}, {}, "tiny");
  ASSERT_EQ(post(server.port(), "/v1/chat/completions", chat_request()).status, 200);

  install_in_store(store, model_with_template(kSlowTemplate), "2.0");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server.log().find("not swapping to tiny:2.0") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(server.log(), HasSubstr("not swapping to tiny:2.0"));
  EXPECT_THAT(server.log(), HasSubstr("template step budget exceeded"));
  EXPECT_THAT(server.log(), HasSubstr("(still serving 1.0)"));
  const auto models = http(server.port(), "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json()["data"][0]["bantam"]["version"], "1.0");
  EXPECT_EQ(post(server.port(), "/v1/chat/completions", chat_request()).status, 200);
}

}  // namespace
}  // namespace bantam::test
