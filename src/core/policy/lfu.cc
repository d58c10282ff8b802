// Instantiates the cache for the lfu policy (compiled once, here).
#include "core/policy/lfu.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewLfuCache, LfuPolicy)

}  // namespace kvcache::internal
