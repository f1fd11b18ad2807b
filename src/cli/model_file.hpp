// The model a command names: a GGUF file, or NAME[:VERSION] of a model installed in the store
// (only a file in the engine-only build, BANTAM_CLI_SERVICES 0, which has no store).
#pragma once

#include <string>

namespace bantam::cli {

// The file to open for `-m NAME_OR_PATH`. Every command that takes a model resolves it here, once,
// above the library: Model::load and the GGUF reader take paths only. Throws Error when no file
// or installed model has that name.
std::string model_file(const std::string& name_or_path);

// The help text of those commands' model option.
#if BANTAM_CLI_SERVICES
inline constexpr const char* kModelOptionHelp = "GGUF file, or NAME[:VERSION] of an installed model";
#else
inline constexpr const char* kModelOptionHelp = "GGUF file (this engine-only build has no model store)";
#endif

}  // namespace bantam::cli
