// One chat turn with bantam's C++ API, streamed as it is generated (the model's chat template,
// greedy sampling), then the embedding of the message.
//   chat_cpp MODEL.gguf [MESSAGE]
// chat_c does the same with the C API and prints the same lines.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

#include <bantam/bantam.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " MODEL.gguf [MESSAGE]\n";
    return 2;
  }
  const std::string message = argc > 2 ? argv[2] : "Tell me a story.";
  try {
    const auto model = bantam::Model::load(argv[1]);
    bantam::Session session(model, {.context_length = 512});
    const std::vector<bantam::ChatMessage> messages = {{.role = "user", .content = message}};
    bantam::GenerateOptions options{.max_tokens = 32};
    options.sampling.temperature = 0;  // greedy: the same answer every run
    const auto result = session.generate(model->chat_tokens(messages), options, [](const bantam::TokenEvent& e) {
      std::cout << e.text << std::flush;
      return true;  // keep going
    });
    std::cout << "\n[" << result.tokens.size() << " tokens, " << bantam::stop_reason_name(result.stop_reason)
              << "]\n";

    const std::vector<float> embedding = bantam::embed(model, model->tokenize(message));
    double norm = 0;
    for (const float v : embedding) norm += static_cast<double>(v) * v;
    std::printf("embedding: %zu values, norm %.4f, starts", embedding.size(), std::sqrt(norm));
    for (size_t i = 0; i < embedding.size() && i < 3; ++i) std::printf(" %.4f", embedding[i]);
    std::printf("\n");
  } catch (const bantam::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
