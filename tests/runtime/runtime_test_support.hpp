// What the runtime tests share: a model from ../shared/models, greedy generation options.
#pragma once

#include <memory>
#include <string>

#include "bantam/bantam.hpp"
#include "test_support.hpp"

namespace bantam::test {

inline std::shared_ptr<const Model> load_shared_model(const std::string& relative) {
  return Model::load(shared("models/" + relative).string());
}

inline GenerateOptions greedy(int max_tokens) {
  GenerateOptions options;
  options.max_tokens = max_tokens;
  options.sampling.temperature = 0.0f;
  return options;
}

}  // namespace bantam::test
