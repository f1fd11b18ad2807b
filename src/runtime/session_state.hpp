// A session's sequence as bytes an app can keep (suspend a conversation, resume it after a
// restart): the tokens and their keys and values, named by the model, adapters and KV type they
// belong to, so that a state is refused, never misread, by anything else.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "api/model_impl.hpp"

namespace bantam {

class KvCache;

inline constexpr uint32_t kSessionStateVersion = 2;  // 2: keys' and values' types apart

std::vector<uint8_t> save_session_state(const Model::Impl& model, const std::vector<AdapterUse>& adapters,
                                        const KvCache& cache, const std::vector<TokenId>& tokens);
// Checks all of `state` first (format, version, checksum, model, adapters, KV type, context),
// then fills `cache` and returns the tokens. Error saying what does not match.
std::vector<TokenId> restore_session_state(const Model::Impl& model, const std::vector<AdapterUse>& adapters,
                                           KvCache& cache, std::span<const uint8_t> state);

}  // namespace bantam
