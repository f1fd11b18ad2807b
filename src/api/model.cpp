#include <fmt/format.h>

#include "api/model_impl.hpp"

namespace bantam {

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {

// Reads one byte of every page of the tensors, reporting the share of bytes read: what makes
// the first forward pass fast, and what takes time on a cold disk.
void page_in(const gguf::File& file, const LoadProgress& progress, float from) {
  uint64_t total = 0;
  for (const auto& t : file.tensors()) total += t.nbytes;
  uint64_t done = 0;
  constexpr size_t kPage = 4096;
  volatile uint8_t sink = 0;
  for (const auto& t : file.tensors()) {
    const auto data = file.tensor_data(t);
    for (size_t i = 0; i < data.size(); i += kPage) sink = sink + data[i];
    done += t.nbytes;
    const float fraction = from + (1.0f - from) * (total ? static_cast<float>(done) / static_cast<float>(total) : 1.0f);
    if (!progress(std::min(fraction, 1.0f))) throw Cancelled(fmt::format("{}: loading cancelled", file.path()));
  }
}

}  // namespace

std::shared_ptr<const Model> Model::finish_load(std::unique_ptr<Impl> impl, const std::string& path,
                                                const LoadOptions& options) {
  const auto report = [&](float fraction) {
    if (options.progress && !options.progress(fraction)) throw Cancelled(fmt::format("{}: loading cancelled", path));
  };
  report(0.0f);
  impl->config = ModelConfig::from_gguf(impl->file);
  impl->weights = Weights::bind(impl->file, impl->config);
  const ModelConfig& c = impl->config;
  int64_t n_params = 0;
  for (const auto& t : impl->file.tensors()) n_params += t.n_elements();
  impl->info = ModelInfo{.path = path,
                         .architecture = impl->file.architecture(),
                         .name = impl->file.get_string("general.name").value_or(""),
                         .n_vocab = c.n_vocab,
                         .n_ctx_train = c.n_ctx_train,
                         .n_layer = c.n_layer,
                         .n_embd = c.n_embd,
                         .n_head = c.n_head,
                         .n_head_kv = c.n_head_kv,
                         .n_params = n_params,
                         .has_chat_template = impl->file.find("tokenizer.chat_template") != nullptr};
  report(0.05f);
  load_text(*impl);
  report(0.1f);
  if (options.progress) page_in(impl->file, options.progress, 0.1f);
  report(1.0f);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  // A path only: NAME[:VERSION] of installed models is resolved above core (cli/model_file).
  return finish_load(std::make_unique<Impl>(gguf::File::open(path)), path, options);
}

std::shared_ptr<const Model> Model::load_from_memory(std::span<const uint8_t> bytes, const std::string& name,
                                                     const LoadOptions& options) {
  return finish_load(std::make_unique<Impl>(gguf::File::parse(bytes, name)), name, options);
}

std::shared_ptr<const Model> Model::load_from_fd(int fd, const std::string& name, const LoadOptions& options) {
  return finish_load(std::make_unique<Impl>(gguf::File::open_fd(fd, name)), name, options);
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
