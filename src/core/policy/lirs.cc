// Instantiates the cache for the lirs policy (compiled once, here).
#include "core/policy/lirs.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewLirsCache, LirsPolicy)

}  // namespace kvcache::internal
