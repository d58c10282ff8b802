// Instantiates the cache for the wtinylfu-adaptive policy (compiled once, here).
#include "core/policy/registry.h"
#include "core/policy/wtinylfu.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewAdaptiveWTinyLfuCache, AdaptiveWTinyLfuPolicy)

}  // namespace kvcache::internal
