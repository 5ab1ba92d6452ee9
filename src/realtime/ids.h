// Identifiers of realtime objects (sessions, items, server events), random as OpenAI's are, so
// that ids from different sessions and server restarts do not collide in a client's logs.
#pragma once

#include <string>
#include <string_view>

namespace amanuensis::realtime {

// `prefix` followed by 20 random letters and digits, e.g. "item_Fq3k...".
std::string random_id(std::string_view prefix);

}  // namespace amanuensis::realtime
