#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "hub/store.hpp"

namespace bantam {

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path) {
  // A path, or NAME[:VERSION] of a model installed in the store (`bantam pull`).
  auto impl = std::make_unique<Impl>(gguf::File::open(hub::resolve_model(path).string()));
  impl->config = ModelConfig::from_gguf(impl->file);
  impl->weights = Weights::bind(impl->file, impl->config);
  const ModelConfig& c = impl->config;
  impl->info = ModelInfo{.path = path,
                         .architecture = impl->file.architecture(),
                         .name = impl->file.get_string("general.name").value_or(""),
                         .n_vocab = c.n_vocab,
                         .n_ctx_train = c.n_ctx_train,
                         .n_layer = c.n_layer,
                         .n_embd = c.n_embd,
                         .n_head = c.n_head,
                         .n_head_kv = c.n_head_kv};
  load_text(*impl);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->info; }

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::EndOfGeneration: return "end_of_generation";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::StopString: return "stop_string";
    case StopReason::ContextFull: return "context_full";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::GrammarComplete: return "grammar_complete";
    case StopReason::Error: return "error";
  }
  return "unknown";
}

}  // namespace bantam
