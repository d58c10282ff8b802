// Instantiates the cache for the sieve policy (compiled once, here).
#include "core/policy/sieve.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewSieveCache, SievePolicy)

}  // namespace kvcache::internal
