// Instantiates the cache for the arc policy (compiled once, here).
#include "core/policy/arc.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewArcCache, ArcPolicy)

}  // namespace kvcache::internal
