// The public Tokenizer (amanuensis.h) over the model layer's tokenizer.

#include <memory>
#include <string>
#include <utility>

#include "engine/tokenizer_impl.h"

namespace amanuensis {

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::load(const std::filesystem::path& model_dir) {
  auto tokenizer = std::make_shared<const model::Tokenizer>(model::Tokenizer::load(model_dir));
  return Tokenizer(std::make_shared<const Impl>(Impl{std::move(tokenizer)}));
}

Tokenizer::SpecialTokens Tokenizer::special() const { return impl_->tokenizer->special(); }

int Tokenizer::size() const { return impl_->tokenizer->size(); }

std::optional<int> Tokenizer::language_token(const std::string& code) const {
  return impl_->tokenizer->language_token(code);
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  return impl_->tokenizer->encode(text);
}

std::string Tokenizer::decode(std::span<const int> tokens) const {
  return impl_->tokenizer->decode(tokens);
}

}  // namespace amanuensis
