// Instantiates the cache for the s3fifo policy (compiled once, here).
#include "core/policy/s3fifo.h"

#include "core/policy/registry.h"

namespace kvcache::internal {

KV_DEFINE_POLICY_FACTORY(NewS3FifoCache, S3FifoPolicy)

}  // namespace kvcache::internal
