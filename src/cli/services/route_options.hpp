// Hybrid routing flags shared by `bantam serve`, `run` and `chat` (same names, meanings and config
// file); run and chat add the per-invocation opt-in (--allow-cloud) and requested route (--route),
// and print one routed turn the CLI's way.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bantam/bantam.hpp"
#include "hybrid/cli_turn.hpp"
#include "hybrid/hybrid_router.hpp"

namespace bantam::cli {

struct RouteFlags {
  std::string hybrid_config;
  hybrid::HybridOptions hybrid;  // the flags that map straight onto an option land here
  std::string route_policy, cloud_consent, sensitive;
  std::vector<std::string> redact_patterns;
  std::vector<std::string> safety_rules;
  int64_t cloud_timeout_ms = 0, cloud_connect_timeout_ms = 0, breaker_cool_down_ms = 0;
  hybrid::TurnOverrides overrides;  // --allow-cloud, --route
  CLI::App* command = nullptr;
  std::string group;

  bool given(const char* flag) const { return command->count(flag) > 0; }
  // Whether any routing flag was given; without one run and chat work as they always did.
  bool any_given() const;
};

void add_route_options(CLI::App& cmd, RouteFlags& flags, const std::string& group, bool with_invocation_flags);

// The config file (if any) with each flag given on the command line over it, exactly as serve
// combines them; Error for settings that cannot work together.
hybrid::HybridOptions resolve_route_options(const RouteFlags& flags);

// Runs one turn through the router. Without a cloud client the local answer streams through
// print_token as it is made; with one, local generation is silent (the confidence rules need the
// whole answer) and the chosen answer is printed at the end. The route line goes to stderr before
// the answer. generate_local makes the local answer, calling on_token for each token.
struct RoutedTurn {
  std::string text;                    // the answer the user saw, originals restored
  nlohmann::json meta;                 // the response's "bantam" object
  std::optional<GenerateResult> local; // when the local model ran
};
RoutedTurn route_turn(hybrid::HybridRouter& router, const hybrid::HybridRequest& request, const std::string& model_id,
                      const std::function<GenerateResult(const TokenCallback& on_token)>& generate_local,
                      const TokenCallback& print_token, const std::function<bool()>& keep_going);

}  // namespace bantam::cli
