// Which fields of an OpenAI request bantam reads, which OpenAI fields leave the output alone (so
// passing over them is right), and which would change the output but are not implemented (a 400
// naming the field, rather than an answer that silently differs from the one asked for). Fields
// in none of these lists (llama.cpp's cache_prompt, n_probs, ...) are passed over, as
// OpenAI-compatible servers do, unless the server runs with --strict.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bantam::serve {

enum class OpenAiEndpoint { ChatCompletions, Completions };

// ApiError 400 naming the first field that is known but unimplemented (with a value that would
// matter), or, when `strict`, the first field bantam does not know.
void check_request_fields(const nlohmann::ordered_json& body, OpenAiEndpoint endpoint, bool strict);

// OpenAI's system_fingerprint: the build that answered ("bantam-VERSION-COMMIT"), so a client can
// tell when answers to the same seed may differ because the server changed.
const std::string& system_fingerprint();

}  // namespace bantam::serve
