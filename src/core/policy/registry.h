// The policies a cache can be built with, by name. Each factory lives in its policy's .cc.
#pragma once

#include <memory>

#include "core/cache_impl.h"

namespace kvcache::internal {

using CacheFactory = std::unique_ptr<Cache> (*)(const Options&, const CacheLayout&, Status*);

struct PolicyEntry {
  const char* name;
  CacheFactory make;
};

#define KV_DECLARE_POLICY(fn) std::unique_ptr<Cache> fn(const Options&, const CacheLayout&, Status*)
KV_DECLARE_POLICY(NewLruCache);
KV_DECLARE_POLICY(NewLfuCache);
KV_DECLARE_POLICY(NewFifoCache);
KV_DECLARE_POLICY(NewS3FifoCache);
KV_DECLARE_POLICY(NewSieveCache);
KV_DECLARE_POLICY(NewWTinyLfuCache);
KV_DECLARE_POLICY(NewAdaptiveWTinyLfuCache);
KV_DECLARE_POLICY(NewArcCache);
KV_DECLARE_POLICY(NewLirsCache);
KV_DECLARE_POLICY(NewTwoQCache);
#undef KV_DECLARE_POLICY

// Defines a policy's factory in its .cc.
#define KV_DEFINE_POLICY_FACTORY(fn, Policy)                                     \
  std::unique_ptr<Cache> fn(const Options& o, const CacheLayout& l, Status* s) { \
    return MakeCache<Policy>(o, l, s);                                           \
  }

}  // namespace kvcache::internal
