// llama.cpp's native server endpoints (tools/server/README.md there), with its field names and
// response shapes, for the clients written against llama-server: POST /completion, /infill,
// /tokenize, /detokenize, /apply-template; GET /props, /slots. Errors come in llama.cpp's shape,
// {"error": {"code": STATUS, "message": ..., "type": ...}}. Server::llamacpp_api (in
// llamacpp_api.cpp) answers them; the helpers here are what it is built from.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"

namespace bantam::serve {

// The paths answered by Server::llamacpp_api (also the metrics labels).
bool is_llamacpp_route(std::string_view path);
// An error body in llama.cpp's shape.
std::string llamacpp_error(int status, const std::string& message);

// The fill-in-the-middle tokens of a model: the GGUF keys tokenizer.ggml.fim_{pre,suf,mid}_token_id
// (or the older prefix/suffix/middle ids), else vocabulary entries such as <|fim_prefix|>.
// Repository and file separators (<|repo_name|>, <|file_sep|>) are optional.
struct FimTokens {
  TokenId prefix = -1, suffix = -1, middle = -1;
  TokenId repo = -1, file_separator = -1;
};
// nullopt when the model lacks any of prefix, suffix and middle.
std::optional<FimTokens> find_fim_tokens(const Model& model);

struct InfillRequest {
  std::string prefix, suffix, prompt;                     // input_prefix, input_suffix, prompt
  std::vector<std::pair<std::string, std::string>> extra;  // input_extra: (filename, text)
};
// llama.cpp's infill prompt: [BOS] extra <FIM_PRE>prefix<FIM_SUF>suffix<FIM_MID>prompt, the extra
// chunks as a repository (<REPO>myproject\n<SEP>filename\ntext...) when the model has those tokens.
std::vector<TokenId> infill_prompt(const Model& model, const FimTokens& fim, const InfillRequest& request);

}  // namespace bantam::serve
