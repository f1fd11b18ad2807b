// Installing a GGUF file into a temporary model store, as `bantam pull`/`update` end (tests of
// the hub and serve layers and of the CLI's NAME[:VERSION] arguments).
#pragma once

#include <filesystem>
#include <string>

#include "hub/digest.hpp"
#include "hub/store.hpp"

namespace bantam::test {

// Installs `gguf` as NAME:VERSION in the store at `store_dir` and makes it active.
inline void install_in_store(const std::filesystem::path& store_dir, const std::filesystem::path& gguf,
                             const std::string& version, const std::string& name = "tiny") {
  hub::Store store = hub::Store::open(store_dir);
  const std::filesystem::path incoming = store_dir / ("incoming-" + version + ".gguf");
  std::filesystem::copy_file(gguf, incoming);
  hub::InstalledVersion v;
  v.name = name;
  v.version = version;
  v.sha256 = hub::sha256_file(incoming);
  v.size = std::filesystem::file_size(incoming);
  v.architecture = "llama";
  v.source = "test";
  const auto lock = store.lock();
  store.install(incoming, v, "");
}

}  // namespace bantam::test
