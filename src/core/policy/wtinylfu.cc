// Instantiates the cache for the wtinylfu policy (compiled once, here).
#include "core/policy/wtinylfu.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewWTinyLfuCache, WTinyLfuPolicy)

}  // namespace kvcache::internal
