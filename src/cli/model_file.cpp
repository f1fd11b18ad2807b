#include "cli/model_file.hpp"

#if BANTAM_CLI_SERVICES
#include "hub/store.hpp"
#else
#include "format/input_file.hpp"
#endif

namespace bantam::cli {

std::string model_file(const std::string& name_or_path) {
#if BANTAM_CLI_SERVICES
  return hub::resolve_model(name_or_path, hub::default_store_dir()).string();
#else
  // The engine-only build has no store: a model is a file, checked as the store checks paths.
  check_input_file(name_or_path);
  return name_or_path;
#endif
}

}  // namespace bantam::cli
