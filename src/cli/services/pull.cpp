// `bantam pull NAME[:VERSION] --hub URL [--trust ROOT.json]`, `bantam pull hf://OWNER/REPO/FILE` and
// `bantam pull hf://OWNER/REPO[:QUANT]`. The hub and the Hugging Face endpoint a pull is given are
// remembered in STORE/config.json ("hub", "hf_endpoint") for the pulls after it.
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/services/hub_common.hpp"
#include "hub/client.hpp"
#include "hub/huggingface.hpp"

namespace bantam::cli {

void add_pull_command(CLI::App& app) {
  struct Options {
    std::string model;
    std::string hub;
    std::string trust;
    std::string name;
    std::string hf_endpoint;
    StoreOption store;
    NetworkOptions net;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("pull", "Download a model, verify it, and make it the active version");
  cmd->add_option("model", opts->model,
                  "NAME[:VERSION] from a signed hub, hf://OWNER/REPO/FILE.gguf, or hf://OWNER/REPO[:QUANT]: the GGUF "
                  "file of the repository whose name has the tag QUANT (Q4_K_M, q8_0, IQ4_XS, ...; any case); "
                  "without a tag its Q4_K_M file, else its only GGUF file")
      ->required();
  cmd->add_option("--hub", opts->hub,
                  "Hub URL, remembered as \"hub\" in STORE/config.json for later pulls without --hub "
                  "(default: the one remembered there)");
  cmd->add_option("--trust", opts->trust, "The hub's root.json, trusted the first time this store uses the hub");
  cmd->add_option("--name", opts->name, "Name to install an hf:// file under (default: its file name)");
  cmd->add_option("--hf-endpoint", opts->hf_endpoint,
                  fmt::format("Hugging Face endpoint for hf:// addresses, remembered as \"hf_endpoint\" in "
                              "STORE/config.json (default: the one remembered there, else {})",
                              hub::kDefaultHfEndpoint));
  add_store_option(cmd, opts->store);
  add_network_options(cmd, opts->net);
  cmd->callback([opts] {
    hub::Store store = hub::Store::open(opts->store.path());
    ProgressBar bar("pulling " + opts->model);
    hub::ClientOptions client;
    client.fetch = opts->net.fetch_options();
    client.fetch.progress = [&bar](uint64_t done, uint64_t total) { bar(done, total); };
    if (hub::is_hf_address(opts->model)) {
      const std::string endpoint =
          !opts->hf_endpoint.empty() ? opts->hf_endpoint : store.setting("hf_endpoint").value_or(hub::kDefaultHfEndpoint);
      const auto installed = hub::pull_from_hf(store, opts->model, endpoint, opts->name, client.fetch);
      bar.finish();
      if (!opts->hf_endpoint.empty()) store.save_setting("hf_endpoint", opts->hf_endpoint);
      fmt::print("pulled {} ({}, sha256 {}) from {}\n", installed.name, installed.architecture,
                 installed.sha256, installed.source);
      return;
    }
    std::string hub_url = opts->hub;
    if (hub_url.empty()) hub_url = store.configured_hub().value_or("");
    if (hub_url.empty()) {
      throw Error(fmt::format("no hub to pull {} from: pass --hub URL (remembered in {} for the next pulls)",
                              opts->model, (store.dir() / "config.json").string()));
    }
    if (!opts->trust.empty()) client.trusted_root_file = opts->trust;
    const auto [name, version] = split_model_spec(opts->model);
    const auto result = hub::pull_from_hub(store, hub_url, name, version, client);
    bar.finish();
    // Only a hub that worked is remembered, so a mistyped URL does not replace a good one.
    if (!opts->hub.empty()) store.save_setting("hub", opts->hub);
    if (result.already_active) {
      fmt::print("{} {} is already installed and active\n", result.target.name, result.target.version);
    } else {
      fmt::print("pulled {} {} ({}, {}, sha256 {})\n", result.target.name, result.target.version,
                 result.target.architecture, result.target.gguf_type, result.target.sha256);
    }
  });
}

}  // namespace bantam::cli
