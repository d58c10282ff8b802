// RocksDbOrigin: a RocksDB database in a local directory as the slower tier — the embedded
// default, with no server to run.
//
// Contract: the origin is safe to call from many threads at once (RocksDB synchronizes
// internally). One directory can be open by one origin at a time: a second open, from this
// process or another, fails with IOError naming the directory. Every write goes to RocksDB's
// write-ahead log; without `sync` it survives a crash of the process but not of the machine.
// Values are bytes (OriginValue::is_tensor is never set). RocksDB's headers stay in
// rocksdb_origin.cc, so including this header costs nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "kvcache/origin.h"
#include "kvcache/status.h"

namespace kvcache {

struct RocksDbOriginOptions {
  // Uncompressed blocks kept in memory by RocksDB itself. Modest: the cache in front of the
  // origin is where hot data should live.
  size_t block_cache_bytes = 32 << 20;
  // Write buffer (memtable) size; a larger one means fewer, larger flushes.
  size_t write_buffer_bytes = 32 << 20;
  // Bound on open table files, so a large database does not exhaust file descriptors.
  int max_open_files = 256;
  // LZ4 block compression when RocksDB was built with it; none otherwise or when false.
  bool compression = true;
  // Bloom filter bits per key: cache misses often ask for keys the origin lacks too.
  int bloom_bits_per_key = 10;
};

// Opens (creating if missing, parents included) the database in directory `path`.
// name() of the origin is "rocksdb:" + path.
Status OpenRocksDbOrigin(const std::string& path, const RocksDbOriginOptions& options,
                         std::unique_ptr<Origin>* out);

}  // namespace kvcache
