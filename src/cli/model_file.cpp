#include "cli/model_file.hpp"

#include "hub/store.hpp"

namespace bantam::cli {

std::string model_file(const std::string& name_or_path) {
  return hub::resolve_model(name_or_path, hub::default_store_dir()).string();
}

}  // namespace bantam::cli
