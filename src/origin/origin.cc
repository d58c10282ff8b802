// OpenOrigin (a spec string to an origin) and CombineOrigins (several origins as one).
#include "kvcache/origin.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "origin/origin_spec.h"
#include "origin/redis_origin.h"
#include "origin/rocksdb_origin.h"

#if __has_include("origin/tensor_file_origin.h")
#include "origin/tensor_file_origin.h"
#define KV_HAVE_TENSOR_FILE_ORIGIN 1
#endif

namespace kvcache {
namespace {

bool IsExistingFile(std::string_view path) {
  std::error_code ec;
  std::filesystem::path p(path);
  return std::filesystem::exists(p, ec) && !std::filesystem::is_directory(p, ec);
}

constexpr const char* kValidSpecs =
    "rocksdb:PATH, redis://HOST[:PORT], npy:FILE[:PREFIX] or safetensors:FILE[:PREFIX]";

class CombinedOrigin final : public Origin {
 public:
  explicit CombinedOrigin(std::vector<std::unique_ptr<Origin>> origins)
      : origins_(std::move(origins)) {
    for (const auto& o : origins_) {
      if (writer_ == nullptr && !o->read_only()) writer_ = o.get();
    }
  }

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->clear();
    out->resize(keys.size());
    std::vector<size_t> missing(keys.size());  // indices into keys still NotFound
    for (size_t i = 0; i < keys.size(); ++i) {
      missing[i] = i;
      (*out)[i].status = Status::NotFound("not in " + name());
    }
    std::vector<std::string_view> ask;
    std::vector<OriginValue> got;
    for (const auto& origin : origins_) {
      if (missing.empty()) break;
      ask.clear();
      for (size_t i : missing) ask.push_back(keys[i]);
      origin->MultiGet(ask, &got);
      // An error stops the fall-through for its key: a later origin's value could be stale.
      size_t still = 0;
      for (size_t j = 0; j < missing.size(); ++j) {
        if (got[j].status.IsNotFound()) {
          missing[still++] = missing[j];
        } else {
          (*out)[missing[j]] = std::move(got[j]);
        }
      }
      missing.resize(still);
    }
  }

  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>> kvs,
                  bool sync) override {
    if (writer_ == nullptr) return NoWriter();
    return writer_->MultiPut(kvs, sync);
  }

  Status MultiErase(std::span<const std::string_view> keys, bool sync) override {
    if (writer_ == nullptr) return NoWriter();
    return writer_->MultiErase(keys, sync);
  }

  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    bool stopped = false;
    auto wrapped = [&](std::string_view k, std::string_view v) {
      stopped = !fn(k, v);
      return !stopped;
    };
    for (const auto& origin : origins_) {
      if (Status s = origin->Scan(begin, end, wrapped); !s.ok()) return s;
      if (stopped) break;
    }
    return Status::OK();
  }

  uint64_t ApproximateBytes() const override {
    uint64_t total = 0;
    for (const auto& o : origins_) total += o->ApproximateBytes();
    return total;
  }

  bool read_only() const override { return writer_ == nullptr; }

  std::string name() const override {
    std::string joined;
    for (const auto& o : origins_) {
      if (!joined.empty()) joined += ',';
      joined += o->name();
    }
    return joined;
  }

 private:
  Status NoWriter() const {
    return Status::InvalidArgument("origins " + name() + " are all read-only");
  }

  const std::vector<std::unique_ptr<Origin>> origins_;
  Origin* writer_ = nullptr;  // the first writable origin, if any
};

}  // namespace

FileAndPrefix SplitFileAndPrefix(std::string_view text) {
  FileAndPrefix out;
  auto split_at = [&](size_t colon) {
    out.file = text.substr(0, colon);
    out.prefix = text.substr(colon + 1);
  };
  if (IsExistingFile(text)) {
    out.file = text;
    return out;
  }
  for (size_t colon = text.rfind(':'); colon != std::string_view::npos && colon > 0;
       colon = text.rfind(':', colon - 1)) {
    if (IsExistingFile(text.substr(0, colon))) {
      split_at(colon);
      return out;
    }
  }
  size_t slash = text.rfind('/');
  size_t colon = text.find(':', slash == std::string_view::npos ? 0 : slash);
  if (colon == std::string_view::npos) {
    out.file = text;
  } else {
    split_at(colon);
  }
  return out;
}

Status OpenOrigin(const std::string& spec, int timeout_ms, std::unique_ptr<Origin>* out) {
  std::string_view s = spec;
  if (s.starts_with("rocksdb:")) {
    return OpenRocksDbOrigin(spec.substr(8), RocksDbOriginOptions(), out);
  }
  if (s.starts_with("redis://")) {
    RedisOriginOptions options;
    options.timeout_ms = timeout_ms;
    return OpenRedisOrigin(spec, options, out);
  }
  const bool npy = s.starts_with("npy:");
  if (npy || s.starts_with("safetensors:")) {
    std::string_view rest = s.substr(s.find(':') + 1);
    if (rest.empty() || rest.starts_with(':')) {
      return Status::InvalidArgument("origin \"" + spec + "\": no file name");
    }
#ifdef KV_HAVE_TENSOR_FILE_ORIGIN
    FileAndPrefix fp = SplitFileAndPrefix(rest);
    return npy ? OpenNpyOrigin(fp.file, fp.prefix, out)
               : OpenSafetensorsOrigin(fp.file, fp.prefix, out);
#else
    return Status::InvalidArgument("origin \"" + spec + "\": tensor file origins are not built");
#endif
  }
  return Status::InvalidArgument("unknown origin \"" + spec + "\": expected " + kValidSpecs);
}

std::unique_ptr<Origin> CombineOrigins(std::vector<std::unique_ptr<Origin>> origins) {
  std::erase(origins, nullptr);
  if (origins.size() == 1) return std::move(origins[0]);
  return std::make_unique<CombinedOrigin>(std::move(origins));
}

}  // namespace kvcache
