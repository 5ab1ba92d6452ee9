// What a public Tokenizer holds: the model layer's tokenizer, shared with a Model or its own.
#pragma once

#include <memory>

#include "amanuensis/amanuensis.h"
#include "model/tokenizer.h"

namespace amanuensis {

struct Tokenizer::Impl {
  std::shared_ptr<const model::Tokenizer> tokenizer;
};

}  // namespace amanuensis
