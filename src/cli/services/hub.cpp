// `bantam hub init|add|sign|keygen|rotate`: the publisher's tools for a static, signed hub folder.
#include <charconv>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "hub/publisher.hpp"

namespace bantam::cli {
namespace {

// "ROLE=VALUE" -> {ROLE, VALUE}
std::pair<std::string, std::string> split_assignment(const std::string& text, const char* option) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(fmt::format("{} expects ROLE=VALUE, got '{}'", option, text));
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

// "90d", "12h", "30m", "45s" (a leading '-' gives a time in the past, for testing devices).
std::chrono::seconds parse_duration(const std::string& text) {
  long long count = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [unit, ec] = std::from_chars(begin, end, count);
  if (ec != std::errc() || unit + 1 != end) {
    throw Error(fmt::format("duration '{}' should be a number with a unit: 90d, 12h, 30m or 45s", text));
  }
  switch (*unit) {
    case 'd': return std::chrono::seconds(count * 86400);
    case 'h': return std::chrono::seconds(count * 3600);
    case 'm': return std::chrono::seconds(count * 60);
    case 's': return std::chrono::seconds(count);
    default: throw Error(fmt::format("duration '{}' has an unknown unit (d, h, m, s)", text));
  }
}

void add_init(CLI::App* hub_cmd) {
  struct Options {
    std::string hub, keys;
    std::vector<std::string> thresholds;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = hub_cmd->add_subcommand("init", "Create a new hub folder and its signing keys");
  cmd->add_option("hub", opts->hub, "New hub folder (what a web server will serve)")->required();
  cmd->add_option("--keys", opts->keys, "Folder for the private keys (keep it out of the hub)")->required();
  cmd->add_option("--threshold", opts->thresholds, "ROLE=N: make N keys for ROLE and require N signatures");
  cmd->callback([opts] {
    hub::InitOptions init;
    for (const auto& t : opts->thresholds) {
      const auto [role, n] = split_assignment(t, "--threshold");
      uint64_t count = 0;
      const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
      if (ec != std::errc() || end != n.data() + n.size()) {
        throw Error(fmt::format("--threshold {}: '{}' is not a number", t, n));
      }
      init.thresholds[role] = count;
    }
    hub::init_hub(opts->hub, opts->keys, init);
    fmt::print("created hub {} (keys in {}); give devices {}/root.json to trust\n", opts->hub, opts->keys,
               opts->hub);
  });
}

void add_add(CLI::App* hub_cmd) {
  struct Options {
    std::string hub, model;
    hub::AddOptions add;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = hub_cmd->add_subcommand("add", "Stage a GGUF model version for the next `hub sign`");
  cmd->add_option("hub", opts->hub, "Hub folder")->required();
  cmd->add_option("model", opts->model, "GGUF file")->required();
  cmd->add_option("--name", opts->add.name, "Model name")->required();
  cmd->add_option("--version", opts->add.version, "Version, e.g. 1.2")->required();
  cmd->add_option("--rollout", opts->add.rollout, "Percentage of devices offered this version (default 100)");
  cmd->add_option("--notes", opts->add.notes, "Release notes");
  cmd->add_option("--min-bantam-version", opts->add.min_bantam_version, "Oldest bantam that may use it");
  cmd->add_option("--chunk-size", opts->add.chunk_size, "Bytes per verified chunk (default 4 MiB)");
  cmd->callback([opts] {
    const auto target = hub::add_model(opts->hub, opts->model, opts->add);
    fmt::print("staged {} ({}, {}, {} bytes, sha256 {}, rollout {}%); run `bantam hub sign`\n", target.label(),
               target.architecture, target.gguf_type, target.size, target.sha256, target.rollout);
  });
}

void add_sign(CLI::App* hub_cmd) {
  struct Options {
    std::string hub, keys;
    std::vector<std::string> expires;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = hub_cmd->add_subcommand("sign", "Sign the metadata that changed, bumping versions");
  cmd->add_option("hub", opts->hub, "Hub folder")->required();
  cmd->add_option("--keys", opts->keys, "Folder with the private keys")->required();
  cmd->add_option("--expires", opts->expires, "ROLE=DURATION (e.g. timestamp=1d): re-sign ROLE with this lifetime");
  cmd->callback([opts] {
    hub::SignOptions sign;
    for (const auto& e : opts->expires) {
      const auto [role, duration] = split_assignment(e, "--expires");
      sign.expires_in[role] = parse_duration(duration);
    }
    for (const auto& file : hub::sign_hub(opts->hub, opts->keys, sign)) fmt::print("signed {}\n", file);
  });
}

void add_keygen(CLI::App* hub_cmd) {
  struct Options {
    std::string role, out;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = hub_cmd->add_subcommand("keygen", "Make a new signing key (for rotation or more signers)");
  cmd->add_option("--role", opts->role, "root, targets, snapshot or timestamp")->required();
  cmd->add_option("--out", opts->out, "Key file to create")->required();
  cmd->callback([opts] {
    const auto key = hub::generate_key_file(opts->role, opts->out);
    fmt::print("wrote {} key {} to {}\n", key.role, key.public_key.id, opts->out);
  });
}

void add_rotate(CLI::App* hub_cmd) {
  struct Options {
    std::string hub;
    std::vector<std::string> add_keys;
    hub::RootChange change;
    uint64_t threshold = 0;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = hub_cmd->add_subcommand("rotate", "Stage a new root with keys of a role added or removed");
  cmd->add_option("hub", opts->hub, "Hub folder")->required();
  cmd->add_option("--role", opts->change.role, "Role whose keys change")->required();
  cmd->add_option("--add-key", opts->add_keys, "Key file whose public key to trust for the role");
  cmd->add_option("--remove-key", opts->change.remove_keyids, "Key id to stop trusting for the role");
  cmd->add_option("--threshold", opts->threshold, "New signature threshold for the role");
  cmd->callback([opts] {
    auto change = opts->change;
    for (const auto& f : opts->add_keys) change.add_key_files.emplace_back(f);
    if (opts->threshold > 0) change.threshold = opts->threshold;
    const auto root = hub::stage_root_change(opts->hub, change);
    fmt::print("staged root version {} ({} keys, threshold {}); run `bantam hub sign` with the old and new "
               "root keys\n",
               root.version + 1, root.role(change.role).keyids.size(), root.role(change.role).threshold);
  });
}

}  // namespace

void add_hub_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("hub", "Publish models: a static folder of signed metadata and blobs");
  cmd->require_subcommand(1);
  add_init(cmd);
  add_add(cmd);
  add_sign(cmd);
  add_keygen(cmd);
  add_rotate(cmd);
}

}  // namespace bantam::cli
