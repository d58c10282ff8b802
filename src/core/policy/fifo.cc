// Instantiates the cache for the fifo policy (compiled once, here).
#include "core/policy/fifo.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewFifoCache, FifoPolicy)

}  // namespace kvcache::internal
