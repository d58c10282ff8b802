// Instantiates the cache for the twoq policy (compiled once, here).
#include "core/policy/twoq.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewTwoQCache, TwoQPolicy)

}  // namespace kvcache::internal
