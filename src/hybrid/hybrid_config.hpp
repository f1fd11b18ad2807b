// The hybrid settings as a JSON config file (`bantam serve --hybrid-config FILE`), checked key by
// key: an unknown key or a wrong type is an error naming it, since a mistyped privacy setting must
// not silently fall back to a default.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "hybrid/hybrid_router.hpp"

namespace bantam::hybrid {

// Sets every option the object names; `where` prefixes error messages (e.g. the file name).
void apply_hybrid_config(const nlohmann::json& config, HybridOptions& options, const std::string& where);
// Reads and applies a config file.
void load_hybrid_config(const std::string& path, HybridOptions& options);
// Throws bantam::Error when the options cannot work together (a cloud policy without a URL).
void check_hybrid_options(const HybridOptions& options);
// One line for the server's start-up log: policy, consent, cloud endpoint, sensitive handling.
std::string describe(const HybridOptions& options);

}  // namespace bantam::hybrid
