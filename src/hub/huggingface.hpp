// `bantam pull hf://OWNER/REPO/FILE.gguf`: a file from the Hugging Face Hub, checked against the
// SHA-256 the Hub publishes for it (the LFS object id in X-Linked-Etag/ETag), into the same
// resumable, atomic store as signed hub models. `hf://OWNER/REPO[:QUANT]` names no file: the
// repository's file listing (GET /api/models/OWNER/REPO, its siblings[].rfilename) is fetched and
// the GGUF file chosen by its quantization tag (choose_gguf_file).
#pragma once

#include <string>
#include <vector>

#include "hub/client.hpp"

namespace bantam::hub {

inline constexpr const char* kDefaultHfEndpoint = "https://huggingface.co";

struct HfAddress {
  std::string owner;
  std::string repo;
  std::string file;   // may contain '/' for files in folders; empty: chosen from the listing
  std::string quant;  // the QUANT of hf://OWNER/REPO:QUANT, empty when none was given

  // {endpoint}/{owner}/{repo}/resolve/main/{file}
  std::string url(const std::string& endpoint) const;
  // {endpoint}/api/models/{owner}/{repo}: the repository's metadata with its file names
  std::string listing_url(const std::string& endpoint) const;
};

bool is_hf_address(const std::string& text);  // starts with hf://
// Throws Error unless `address` is hf://OWNER/REPO/PATH or hf://OWNER/REPO[:QUANT] with safe
// components.
HfAddress parse_hf_address(const std::string& address);

// The GGUF file of a repository (`files`: every file name in it) to pull for `quant`:
//  - a tag (case-insensitive) picks the one .gguf file whose name, split at '-' and '.', has it as
//    a part (Q4_K_M matches "qwen2.5-0.5b-instruct-q4_k_m.gguf" and "model.Q4_K_M.gguf", not
//    "model-Q4_K_S.gguf");
//  - no tag picks the Q4_K_M file if there is one, else the only .gguf file (multimodal
//    projectors, "mmproj*", left out).
// Anything else (no match, several, split files) is an Error listing the candidates.
std::string choose_gguf_file(const std::vector<std::string>& files, const std::string& quant,
                             const std::string& repository);

// The file names the Hub lists for the repository of `address` (throws Error naming the URL).
std::vector<std::string> list_hf_files(const HfAddress& address, const std::string& endpoint,
                                       const FetchOptions& options);

// `name` empty: the file name without .gguf. The version recorded is the file's sha256 prefix.
// An address without a file is resolved through list_hf_files and choose_gguf_file first.
InstalledVersion pull_from_hf(Store& store, const std::string& address, const std::string& endpoint,
                              const std::string& name, const FetchOptions& options);

}  // namespace bantam::hub
