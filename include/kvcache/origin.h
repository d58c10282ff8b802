// Origin: the slower tier behind the cache — where the data really lives. A miss reads from it
// (read-through), an update writes to it (write-through or write-back), and preloading copies a
// range of it into the cache.
//
// Contract: an Origin is safe to call from many threads at once. Calls block (they are meant for
// background threads, never an event loop) and honour the origin's own timeouts: a dead or slow
// origin makes them return Unavailable, never hang. Values are bytes; an origin of tensor files
// also reports each value's dtype and shape (OriginValue::tensor).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/status.h"

namespace kvcache {

// Dtype and shape of a value read from a tensor file (row-major, little-endian data).
struct TensorInfo {
  std::string dtype;           // "f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool"
  std::vector<int64_t> shape;  // a row of a [n, d] table has shape [d]
};

struct OriginValue {
  Status status;      // OK, NotFound (the key is not in the origin), or the error
  std::string value;  // the bytes when OK
  bool is_tensor = false;
  TensorInfo tensor;  // when is_tensor
};

class Origin {
 public:
  virtual ~Origin() = default;

  // Reads keys; out gets one OriginValue per key, in order.
  virtual void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) = 0;

  // Writes key/value pairs as one batch. `sync`: return only once the batch is durable (for
  // RocksDB, in its write-ahead log, synced). A failed batch wrote nothing or must be retried
  // whole (writes are idempotent). Read-only origins return InvalidArgument.
  virtual Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>> kvs,
                          bool sync) = 0;

  // Removes keys as one batch (missing keys are fine), with the same durability as MultiPut.
  virtual Status MultiErase(std::span<const std::string_view> keys, bool sync) = 0;

  // Calls fn(key, value) for the keys in [begin, end) in the origin's order (end empty: to the
  // end), until fn returns false. For preloading. Origins that cannot iterate return
  // InvalidArgument.
  virtual Status Scan(std::string_view begin, std::string_view end,
                      const std::function<bool(std::string_view, std::string_view)>& fn) = 0;

  // Bytes Scan would visit over the whole origin, if known cheaply (progress reports); 0 if not.
  virtual uint64_t ApproximateBytes() const { return 0; }

  virtual bool read_only() const = 0;
  // How the origin was named ("rocksdb:/var/lib/kv", "npy:/data/emb.npy:emb:").
  virtual std::string name() const = 0;
};

// Opens an origin from its spec:
//   rocksdb:PATH              a RocksDB database in directory PATH (created if missing)
//   npy:FILE[:PREFIX]         a 2-D NumPy table, read-only; key PREFIX<row> is that row
//                             (PREFIX defaults to the file's stem and ':')
//   safetensors:FILE[:PREFIX] read-only; key PREFIX<name> is tensor <name>, and
//                             PREFIX<name>:<row> a row of a 2-D tensor
//   redis://HOST:PORT         another Redis-protocol server (a remote Redis or kvcache-server)
// `timeout_ms` bounds connecting and each request of network origins.
Status OpenOrigin(const std::string& spec, int timeout_ms, std::unique_ptr<Origin>* out);

// An origin that serves several read-only origins (tensor files) by trying each in turn, and
// sends writes to the first writable one.
std::unique_ptr<Origin> CombineOrigins(std::vector<std::unique_ptr<Origin>> origins);

}  // namespace kvcache
