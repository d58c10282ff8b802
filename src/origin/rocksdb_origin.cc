// RocksDB as an origin: batched reads with MultiGet, batched writes as one WriteBatch.
#include "origin/rocksdb_origin.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace kvcache {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

bool LZ4Supported() {
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  return std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end();
}

rocksdb::Options MakeOptions(const RocksDbOriginOptions& o) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = o.max_open_files;
  options.write_buffer_size = o.write_buffer_bytes;
  options.compression =
      o.compression && LZ4Supported() ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  // RocksDB's own info log: keep a few small files, not an ever-growing LOG.
  options.keep_log_file_num = 4;
  options.max_log_file_size = 8 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  if (o.bloom_bits_per_key > 0) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(o.bloom_bits_per_key));
  }
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

class RocksDbOrigin final : public Origin {
 public:
  RocksDbOrigin(std::string path, std::unique_ptr<rocksdb::DB> db)
      : path_(std::move(path)), db_(std::move(db)) {}

  ~RocksDbOrigin() override {
    // Releases the directory lock; an error here has no one left to be reported to.
    db_->Close().PermitUncheckedError();
  }

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->clear();
    out->resize(keys.size());
    if (keys.empty()) return;
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (std::string_view k : keys) slices.push_back(ToSlice(k));
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), keys.size(), slices.data(),
                  values.data(), statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      OriginValue& v = (*out)[i];
      if (statuses[i].ok()) {
        v.value.assign(values[i].data(), values[i].size());
      } else if (statuses[i].IsNotFound()) {
        v.status = Status::NotFound("not in " + name());
      } else {
        v.status = Error("read", statuses[i]);
      }
    }
  }

  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>> kvs,
                  bool sync) override {
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : kvs) {
      rocksdb::Status s = batch.Put(ToSlice(k), ToSlice(v));
      if (!s.ok()) return Error("write", s);
    }
    return Write(&batch, sync);
  }

  Status MultiErase(std::span<const std::string_view> keys, bool sync) override {
    rocksdb::WriteBatch batch;
    for (std::string_view k : keys) {
      rocksdb::Status s = batch.Delete(ToSlice(k));
      if (!s.ok()) return Error("erase", s);
    }
    return Write(&batch, sync);
  }

  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!end.empty() && end <= begin) return Status::OK();
    rocksdb::ReadOptions read;
    // A preload streams through the whole range once: do not evict hot blocks for it.
    read.fill_cache = false;
    rocksdb::Slice upper = ToSlice(end);
    if (!end.empty()) read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      rocksdb::Slice v = it->value();
      if (!fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) {
        return Status::OK();
      }
    }
    if (!it->status().ok()) return Error("scan", it->status());
    return Status::OK();
  }

  uint64_t ApproximateBytes() const override {
    // Table files (live data, compaction garbage excluded) plus what is still in memtables.
    uint64_t live = 0;
    uint64_t mem = 0;
    db_->GetIntProperty(rocksdb::DB::Properties::kEstimateLiveDataSize, &live);
    db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
    return live + mem;
  }

  bool read_only() const override { return false; }
  std::string name() const override { return "rocksdb:" + path_; }

 private:
  Status Write(rocksdb::WriteBatch* batch, bool sync) {
    if (batch->Count() == 0) return Status::OK();
    rocksdb::WriteOptions options;
    // With sync, RocksDB groups concurrent writers into one WAL write and one fsync.
    options.sync = sync;
    rocksdb::Status s = db_->Write(options, batch);
    return s.ok() ? Status::OK() : Error("write", s);
  }

  Status Error(const char* what, const rocksdb::Status& s) const {
    std::string msg = "rocksdb origin " + path_ + ": " + what + " failed: " + s.ToString();
    if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Unavailable(msg);
    return Status::IOError(msg);
  }

  const std::string path_;
  const std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace

Status OpenRocksDbOrigin(const std::string& path, const RocksDbOriginOptions& options,
                         std::unique_ptr<Origin>* out) {
  if (path.empty()) return Status::InvalidArgument("rocksdb origin: empty path");
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Status::IOError("rocksdb origin " + path +
                           ": cannot create the directory: " + ec.message());
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(MakeOptions(options), path, &raw);
  if (!s.ok()) {
    std::string detail = s.ToString();
    // RocksDB reports a held LOCK file as "While lock file: PATH/LOCK: ..." (another process)
    // or "lock hold by current process" (an origin in this process already has it open).
    if (s.IsIOError() && detail.find("lock") != std::string::npos) {
      return Status::IOError("rocksdb origin " + path +
                             ": the database is in use (its LOCK file is held by another "
                             "process or another open origin); close that first (" +
                             detail + ")");
    }
    return Status::IOError("rocksdb origin " + path + ": cannot open the database: " + detail);
  }
  *out = std::make_unique<RocksDbOrigin>(path, std::unique_ptr<rocksdb::DB>(raw));
  return Status::OK();
}

}  // namespace kvcache
