#include <fmt/format.h>

#include "api/model_impl.hpp"

namespace bantam {

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {

std::unique_ptr<Model::Impl> bind_model(gguf::File file) {
  auto impl = std::make_unique<Model::Impl>(std::move(file));
  impl->config = ModelConfig::from_gguf(impl->file);
  impl->weights = Weights::bind(impl->file, impl->config);
  const ModelConfig& c = impl->config;
  impl->info = ModelInfo{.path = impl->file.path(),
                         .architecture = impl->file.architecture(),
                         .name = impl->file.get_string("general.name").value_or(""),
                         .n_vocab = c.n_vocab,
                         .n_ctx_train = c.n_ctx_train,
                         .n_layer = c.n_layer,
                         .n_embd = c.n_embd,
                         .n_head = c.n_head,
                         .n_head_kv = c.n_head_kv};
  load_text(*impl);
  return impl;
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& path) {
  return std::shared_ptr<const Model>(new Model(bind_model(gguf::File::open(path))));
}

std::shared_ptr<const Model> Model::load_from_buffer(std::span<const uint8_t> bytes, const std::string& name) {
  return std::shared_ptr<const Model>(new Model(bind_model(gguf::File::parse(bytes, name))));
}

std::shared_ptr<const Model> Model::load_from_fd(int fd, const std::string& name) {
  return std::shared_ptr<const Model>(new Model(bind_model(gguf::File::open_fd(fd, name))));
}

const ModelInfo& Model::info() const { return impl_->info; }

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::EndOfGeneration: return "end_of_generation";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::StopString: return "stop_string";
    case StopReason::ContextFull: return "context_full";
    case StopReason::Cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace bantam
