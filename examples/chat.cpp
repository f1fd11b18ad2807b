// One chat turn with bantam's C++ API: the model's chat template, greedy sampling, the answer
// streamed as it is generated.
//   chat_cpp MODEL.gguf [MESSAGE]
#include <iostream>
#include <vector>

#include <bantam/bantam.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " MODEL.gguf [MESSAGE]\n";
    return 2;
  }
  try {
    const auto model = bantam::Model::load(argv[1]);
    bantam::Session session(model, {.context_length = 512});
    const std::vector<bantam::ChatMessage> messages = {
        {.role = "user", .content = argc > 2 ? argv[2] : "Tell me a story."}};
    bantam::GenerateOptions options{.max_tokens = 32};
    options.sampling.temperature = 0;  // greedy: the same answer every run
    const auto result = session.generate(model->chat_tokens(messages), options, [](const bantam::TokenEvent& e) {
      std::cout << e.text << std::flush;
      return true;  // keep going
    });
    std::cout << "\n[" << result.tokens.size() << " tokens, " << bantam::stop_reason_name(result.stop_reason)
              << "]\n";
  } catch (const bantam::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
