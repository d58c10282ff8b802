// Instantiates the cache for the lru policy (compiled once, here).
#include "core/policy/lru.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewLruCache, LruPolicy)

}  // namespace kvcache::internal
