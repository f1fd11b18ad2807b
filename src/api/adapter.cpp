#include "api/model_impl.hpp"

namespace bantam {

Adapter::Adapter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Adapter::~Adapter() = default;

std::shared_ptr<const Adapter> Adapter::load(const std::string& path, const Model& model) {
  const Model::Impl& m = model.impl();
  auto impl = std::make_unique<Impl>(Impl{LoraAdapterFile::load(path, m.file.architecture(), m.weights)});
  return std::shared_ptr<const Adapter>(new Adapter(std::move(impl)));
}

const std::string& Adapter::path() const { return impl_->lora.file.path(); }
float Adapter::alpha() const { return impl_->lora.alpha; }
size_t Adapter::tensor_pairs() const { return impl_->lora.pairs.size(); }

}  // namespace bantam
