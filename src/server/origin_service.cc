// OriginService: read-through loading, write-through batching, write-back flushing and
// preloading against the configured origin.
#include "server/origin_service.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <future>

#include "server/log.h"
#include "kvcache/tensor.h"
#include "tensor/dtype.h"

namespace kvcache::server {
namespace {

constexpr std::string_view kHashMarker(
    "\xff"
    "KH\x01",
    4);
constexpr std::string_view kTensorMarker(
    "\xff"
    "KT\x01",
    4);
constexpr size_t kPreloadBatch = 512;
constexpr size_t kMaxAbsent = 1 << 20;

// Set while the service itself writes to the cache, so that its writes are not taken for
// clients' changes to write back.
thread_local bool t_own_write = false;

struct OwnWrite {
  OwnWrite() { t_own_write = true; }
  ~OwnWrite() { t_own_write = false; }
};

int64_t MonoUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Max(std::atomic<uint64_t>& m, uint64_t v) {
  uint64_t cur = m.load(std::memory_order_relaxed);
  while (v > cur && !m.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof(buf), "%.2f GiB", double(b) / (1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof(buf), "%.1f MiB", double(b) / (1ull << 20));
  else
    std::snprintf(buf, sizeof(buf), "%.1f KiB", double(b) / 1024);
  return buf;
}

}  // namespace

bool ParseWritePolicy(std::string_view s, WritePolicy* p) {
  if (s == "none")
    *p = WritePolicy::kNone;
  else if (s == "through")
    *p = WritePolicy::kThrough;
  else if (s == "back")
    *p = WritePolicy::kBack;
  else
    return false;
  return true;
}

const char* WritePolicyName(WritePolicy p) {
  switch (p) {
    case WritePolicy::kThrough:
      return "through";
    case WritePolicy::kBack:
      return "back";
    default:
      return "none";
  }
}

// A load in progress: the first request for a key loads it; later ones leave a callback here
// instead of holding a thread while they wait.
struct OriginService::Flight {
  std::mutex mu;
  bool done = false;
  Status status;
  Handle handle;
  std::vector<std::function<void(const Status&, const Handle&)>> waiters;
};

// One LoadAsync call: its results fill in as keys resolve; the last one calls done.
struct OriginService::LoadRequest {
  explicit LoadRequest(size_t n, std::function<void(std::vector<Loaded>)> d)
      : results(n), pending(n + 1), done(std::move(d)) {}
  std::vector<Loaded> results;
  std::atomic<size_t> pending;  // keys unresolved, + 1 while LoadAsync itself runs
  std::function<void(std::vector<Loaded>)> done;

  void Resolve(size_t i, Status st, Handle h) {
    results[i].status = std::move(st);
    results[i].handle = std::move(h);
    Release();
  }
  void Release() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) done(std::move(results));
  }
};

OriginService::OriginService(Cache* cache, std::unique_ptr<Origin> origin,
                             const OriginSettings& settings)
    : cache_(cache), origin_(std::move(origin)), settings_(settings) {
  for (int i = 0; i < std::max(1, settings_.threads); ++i)
    pool_.emplace_back([this] { PoolLoop(); });
  if (settings_.write_policy == WritePolicy::kThrough)
    writer_ = std::thread([this] { WriterLoop(); });
  if (settings_.write_policy == WritePolicy::kBack)
    flusher_ = std::thread([this] { FlusherLoop(); });
}

OriginService::~OriginService() {
  stopping_ = true;
  pool_cv_.notify_all();
  write_cv_.notify_all();
  dirty_cv_.notify_all();
  for (auto& t : pool_) t.join();
  if (writer_.joinable()) writer_.join();
  if (flusher_.joinable()) flusher_.join();  // its last round writes every dirty key
  if (preload_thread_.joinable()) preload_thread_.join();
}

void OriginService::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    tasks_.push_back(std::move(task));
  }
  pool_cv_.notify_one();
}

void OriginService::PoolLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> l(pool_mu_);
      pool_cv_.wait(l, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---------------------------------------------------------------- encoding

std::string OriginService::EncodeForOrigin(ValueKind kind, std::string_view value) {
  if (kind != ValueKind::kHash && kind != ValueKind::kTensor) return std::string(value);
  std::string out;
  out.reserve(4 + value.size());
  out.append(kind == ValueKind::kHash ? kHashMarker : kTensorMarker);
  out.append(value);
  return out;
}

ValueKind OriginService::DecodeFromOrigin(std::string_view stored, std::string_view* value) {
  if (stored.substr(0, kHashMarker.size()) == kHashMarker) {
    *value = stored.substr(kHashMarker.size());
    return ValueKind::kHash;
  }
  TensorView t;
  if (stored.substr(0, kTensorMarker.size()) == kTensorMarker &&
      DecodeTensor(stored.substr(kTensorMarker.size()), &t)) {
    *value = stored.substr(kTensorMarker.size());
    return ValueKind::kTensor;
  }
  *value = stored;
  return ValueKind::kString;
}

Status OriginService::StoreLoaded(const std::string& key, const OriginValue& v, Handle* out) {
  OwnWrite own;
  WriteOptions o;
  o.ttl = kNoExpiry;
  if (v.is_tensor) {
    tensor::Dtype dtype;
    uint64_t bytes = 0;
    if (!tensor::ParseDtype(v.tensor.dtype, &dtype).ok() ||
        !TensorDataBytes(dtype, v.tensor.shape, &bytes) || bytes != v.value.size()) {
      return Status::InvalidArgument("origin tensor with unsupported dtype or shape " +
                                     v.tensor.dtype);
    }
    std::string stored = EncodeTensor(dtype, v.tensor.shape, v.value);
    o.kind = ValueKind::kTensor;
    return cache_->Write(key, stored, o, nullptr, out);
  }
  std::string_view value;
  o.kind = DecodeFromOrigin(v.value, &value);
  return cache_->Write(key, value, o, nullptr, out);
}

// ---------------------------------------------------------------- reads

std::vector<OriginService::Loaded> OriginService::Load(const std::vector<std::string>& keys) {
  std::promise<std::vector<Loaded>> p;
  std::future<std::vector<Loaded>> f = p.get_future();
  LoadAsync(keys, [&p](std::vector<Loaded> r) { p.set_value(std::move(r)); });
  return f.get();
}

void OriginService::LoadAsync(const std::vector<std::string>& keys,
                              std::function<void(std::vector<Loaded>)> done) {
  auto req = std::make_shared<LoadRequest>(keys.size(), std::move(done));
  std::vector<size_t> lead;  // indices of keys this call loads
  std::vector<std::shared_ptr<Flight>> lead_flights;
  for (size_t i = 0; i < keys.size(); ++i) {
    Handle h = cache_->Peek(keys[i]);
    if (h) {
      req->Resolve(i, Status::OK(), std::move(h));
      continue;
    }
    if (KnownAbsent(keys[i])) {
      req->Resolve(i, Status::NotFound("absent from the origin (remembered)"), Handle());
      continue;
    }
    if (settings_.write_policy == WritePolicy::kBack) {
      // A dirty key missing from the cache was evicted before its flush: its newest value is in
      // the dirty set, not in the origin.
      std::unique_lock<std::mutex> l(dirty_mu_);
      auto it = dirty_.find(keys[i]);
      if (it != dirty_.end()) {
        KeyWrite w = it->second;
        l.unlock();
        if (w.erase) {
          req->Resolve(i, Status::NotFound("deleted"), Handle());
        } else {
          OwnWrite own;
          WriteOptions o;
          o.kind = w.kind;
          o.ttl = kNoExpiry;
          Handle stored;
          Status st = cache_->Write(w.key, w.value, o, nullptr, &stored);
          req->Resolve(i, st, std::move(stored));
        }
        continue;
      }
    }
    std::shared_ptr<Flight> f;
    bool leader;
    {
      std::lock_guard<std::mutex> l(flights_mu_);
      auto [it, inserted] = flights_.try_emplace(keys[i]);
      if (inserted) it->second = std::make_shared<Flight>();
      f = it->second;
      leader = inserted;
    }
    if (leader) {
      lead.push_back(i);
      lead_flights.push_back(f);
      continue;
    }
    stats_.shared_loads.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> l(f->mu);
    if (f->done) {
      Status st = f->status;
      Handle h2 = f->handle.Clone();
      l.unlock();
      req->Resolve(i, st, std::move(h2));
    } else {
      f->waiters.push_back(
          [req, i](const Status& st, const Handle& h) { req->Resolve(i, st, h.Clone()); });
    }
  }
  if (!lead.empty()) {
    std::vector<std::string_view> ask;
    ask.reserve(lead.size());
    for (size_t i : lead) ask.push_back(keys[i]);
    std::vector<OriginValue> got;
    const int64_t t0 = MonoUs();
    origin_->MultiGet(ask, &got);
    const uint64_t us = static_cast<uint64_t>(MonoUs() - t0);
    stats_.load_requests.fetch_add(1, std::memory_order_relaxed);
    stats_.load_latency_us.fetch_add(us, std::memory_order_relaxed);
    Max(stats_.load_latency_max_us, us);
    stats_.loads.fetch_add(lead.size(), std::memory_order_relaxed);
    for (size_t j = 0; j < lead.size(); ++j) {
      const size_t i = lead[j];
      const OriginValue& v = got[j];
      Status st;
      Handle h;
      if (v.status.ok()) {
        stats_.load_found.fetch_add(1, std::memory_order_relaxed);
        st = StoreLoaded(keys[i], v, &h);
      } else if (v.status.IsNotFound()) {
        stats_.load_absent.fetch_add(1, std::memory_order_relaxed);
        st = v.status;
        if (settings_.negative_ttl_ms > 0) {
          std::lock_guard<std::mutex> l(absent_mu_);
          if (absent_.size() >= kMaxAbsent) absent_.clear();  // a bounded memory of misses
          absent_[keys[i]] = cache_->NowMs() + settings_.negative_ttl_ms;
        }
      } else {
        stats_.load_errors.fetch_add(1, std::memory_order_relaxed);
        st = v.status;
      }
      Flight& f = *lead_flights[j];
      std::vector<std::function<void(const Status&, const Handle&)>> waiters;
      {
        std::lock_guard<std::mutex> l(flights_mu_);
        flights_.erase(keys[i]);  // later requests start a new load
      }
      {
        std::lock_guard<std::mutex> l(f.mu);
        f.status = st;
        if (h) f.handle = h.Clone();
        f.done = true;
        waiters.swap(f.waiters);
      }
      for (auto& w : waiters) w(st, h);
      req->Resolve(i, st, std::move(h));
    }
  }
  req->Release();  // LoadAsync's own hold
}

bool OriginService::KnownAbsent(const std::string& key) {
  if (settings_.negative_ttl_ms <= 0) return false;
  std::lock_guard<std::mutex> l(absent_mu_);
  auto it = absent_.find(key);
  if (it == absent_.end()) return false;
  if (it->second > cache_->NowMs()) return true;
  absent_.erase(it);
  return false;
}

// ---------------------------------------------------------------- write-through

void OriginService::WriteThrough(std::vector<KeyWrite> writes, bool want_previous,
                                 std::function<void(WriteOutcome)> done) {
  {
    std::lock_guard<std::mutex> l(write_mu_);
    write_queue_.push_back(PendingWrite{std::move(writes), want_previous, std::move(done)});
  }
  write_cv_.notify_one();
}

void OriginService::WriterLoop() {
  for (;;) {
    std::vector<PendingWrite> batch;
    {
      std::unique_lock<std::mutex> l(write_mu_);
      write_cv_.wait(l, [&] { return stopping_ || !write_queue_.empty(); });
      if (write_queue_.empty()) return;
      const size_t max_batch = static_cast<size_t>(settings_.write_through_max_batch);
      while (!write_queue_.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
      }
    }
    // What each key holds after the writes so far in this batch (nullopt: erased).
    struct State {
      bool exists;
      std::string value;
    };
    std::unordered_map<std::string, State> overlay;
    std::vector<std::string> erase_keys;
    std::unordered_map<std::string, std::string> puts;  // key -> encoded value
    auto current = [&](const std::string& key) -> State {
      auto it = overlay.find(key);
      if (it != overlay.end()) return it->second;
      Handle h = cache_->Peek(key);
      if (h) return {true, std::string(h.value())};
      std::vector<OriginValue> v;
      std::string_view k = key;
      origin_->MultiGet(std::span<const std::string_view>(&k, 1), &v);
      if (v[0].status.ok()) {
        std::string_view value;
        DecodeFromOrigin(v[0].value, &value);
        return {true, std::string(value)};
      }
      return {false, {}};
    };
    std::vector<WriteOutcome> outcomes(batch.size());
    for (size_t p = 0; p < batch.size(); ++p) {
      PendingWrite& pw = batch[p];
      WriteOutcome& out = outcomes[p];
      out.applied.assign(pw.writes.size(), false);
      out.previous.resize(pw.writes.size());
      for (size_t w = 0; w < pw.writes.size(); ++w) {
        KeyWrite& kw = pw.writes[w];
        if (kw.transform) {
          State cur = current(kw.key);
          bool erase = false;
          if (!kw.transform(cur.exists ? &cur.value : nullptr, &kw.value, &erase)) continue;
          kw.erase = erase;
        }
        if (kw.condition != WriteOptions::Condition::kAlways || pw.want_previous) {
          State cur = current(kw.key);
          if (pw.want_previous && cur.exists) out.previous[w] = cur.value;
          if ((kw.condition == WriteOptions::Condition::kIfAbsent && cur.exists) ||
              (kw.condition == WriteOptions::Condition::kIfPresent && !cur.exists)) {
            continue;
          }
        }
        out.applied[w] = true;
        if (kw.erase) {
          overlay[kw.key] = State{false, {}};
          puts.erase(kw.key);
          erase_keys.push_back(kw.key);
        } else {
          overlay[kw.key] = State{true, kw.value};
          puts[kw.key] = EncodeForOrigin(kw.kind, kw.value);
        }
      }
    }
    // One durable batch for everyone: erases of keys written again later were superseded.
    std::vector<std::string_view> erases;
    for (const std::string& k : erase_keys) {
      if (!puts.count(k)) erases.push_back(k);
    }
    std::vector<std::pair<std::string_view, std::string_view>> kvs;
    kvs.reserve(puts.size());
    for (auto& [k, v] : puts) kvs.emplace_back(k, v);
    Status st;
    if (!kvs.empty()) st = origin_->MultiPut(kvs, /*sync=*/true);
    if (st.ok() && !erases.empty()) st = origin_->MultiErase(erases, /*sync=*/true);
    if (st.ok()) {
      stats_.writes.fetch_add(kvs.size() + erases.size(), std::memory_order_relaxed);
      stats_.write_batches.fetch_add(1, std::memory_order_relaxed);
      // Durable: now the cache, in order.
      OwnWrite own;
      for (size_t p = 0; p < batch.size(); ++p) {
        for (size_t w = 0; w < batch[p].writes.size(); ++w) {
          if (!outcomes[p].applied[w]) continue;
          const KeyWrite& kw = batch[p].writes[w];
          if (kw.erase) {
            cache_->Erase(kw.key);
            continue;
          }
          WriteOptions o;
          o.kind = kw.kind;
          o.keep_ttl = kw.keep_ttl;
          o.ttl = kNoExpiry;
          o.expires_at_ms = kw.expires_at_ms;
          Status cs = cache_->Write(kw.key, kw.value, o);
          if (!cs.ok()) cache_->Erase(kw.key);  // never leave an older copy behind
        }
      }
    } else {
      stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kWarning, "write-through to {} failed: {}", origin_->name(), st.ToString());
    }
    for (size_t p = 0; p < batch.size(); ++p) {
      outcomes[p].status = st;
      batch[p].done(std::move(outcomes[p]));
    }
  }
}

// ---------------------------------------------------------------- write-back

bool OriginService::InOwnWrite() { return t_own_write; }

void OriginService::OnCacheChange(std::string_view key, const ItemView* now) {
  // Values the service stored itself (loaded from the origin, rows of read-only tensor files
  // included) are not clients' changes: they are never written back.
  if (t_own_write || settings_.write_policy != WritePolicy::kBack) return;
  KeyWrite w;
  w.key.assign(key);
  if (now == nullptr) {
    w.erase = true;
  } else {
    w.value.assign(now->value);
    w.kind = now->kind;
  }
  std::lock_guard<std::mutex> l(dirty_mu_);
  dirty_[w.key] = std::move(w);
  if (dirty_.size() >= static_cast<size_t>(settings_.write_back_max_dirty)) dirty_cv_.notify_all();
}

void OriginService::WaitForDirtyRoom() {
  std::unique_lock<std::mutex> l(dirty_mu_);
  if (dirty_.size() < static_cast<size_t>(settings_.write_back_max_dirty)) return;
  dirty_cv_.notify_all();
  dirty_cv_.wait_for(l, std::chrono::milliseconds(settings_.timeout_ms), [&] {
    return dirty_.size() < static_cast<size_t>(settings_.write_back_max_dirty);
  });
}

Status OriginService::FlushBatch(std::vector<KeyWrite>* batch) {
  std::vector<std::pair<std::string_view, std::string_view>> kvs;
  std::vector<std::string> encoded;
  std::vector<std::string_view> erases;
  encoded.reserve(batch->size());
  for (const KeyWrite& w : *batch) {
    if (w.erase) {
      erases.push_back(w.key);
    } else {
      encoded.push_back(EncodeForOrigin(w.kind, w.value));
      kvs.emplace_back(w.key, encoded.back());
    }
  }
  Status st;
  if (!kvs.empty()) st = origin_->MultiPut(kvs, /*sync=*/true);
  if (st.ok() && !erases.empty()) st = origin_->MultiErase(erases, /*sync=*/true);
  if (st.ok()) {
    stats_.flushes.fetch_add(1, std::memory_order_relaxed);
    stats_.flushed_keys.fetch_add(batch->size(), std::memory_order_relaxed);
  } else {
    stats_.flush_errors.fetch_add(1, std::memory_order_relaxed);
  }
  return st;
}

Status OriginService::FlushDirty() {
  std::lock_guard<std::mutex> one_flush_at_a_time(flush_mu_);
  std::vector<KeyWrite> batch;
  {
    std::lock_guard<std::mutex> l(dirty_mu_);
    batch.reserve(dirty_.size());
    for (auto& [k, w] : dirty_) batch.push_back(std::move(w));
    dirty_.clear();
    flushing_ = batch.size();  // still dirty (not durable) until the batch is written
  }
  if (batch.empty()) return Status::OK();
  Status st = FlushBatch(&batch);
  {
    std::lock_guard<std::mutex> l(dirty_mu_);
    if (!st.ok()) {
      // Keep them for the next round, unless a newer state was marked meanwhile.
      for (KeyWrite& w : batch) dirty_.try_emplace(w.key, std::move(w));
    }
    flushing_ = 0;
  }
  dirty_cv_.notify_all();
  return st;
}

void OriginService::FlusherLoop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(dirty_mu_);
      dirty_cv_.wait_for(l, std::chrono::milliseconds(settings_.write_back_delay_ms / 2 + 1), [&] {
        return stopping_.load() ||
               dirty_.size() >= static_cast<size_t>(settings_.write_back_max_dirty);
      });
    }
    Status st = FlushDirty();
    if (!st.ok()) {
      Log(LogLevel::kWarning, "write-back flush to {} failed: {}", origin_->name(), st.ToString());
    }
    if (stopping_) {
      // The last round: everything dirty goes out (retrying a few times on errors).
      for (int i = 0; i < 3 && !FlushDirty().ok(); ++i) {
      }
      return;
    }
  }
}

// ---------------------------------------------------------------- preload

Status OriginService::StartPreload(const std::string& spec) {
  std::lock_guard<std::mutex> l(preload_mu_);
  if (preload_running_) return Status::InvalidArgument("a preload is already running");
  if (preload_thread_.joinable()) preload_thread_.join();
  preload_running_ = true;
  preload_spec_ = spec;
  preload_error_.clear();
  preload_loaded_bytes_ = 0;
  preload_loaded_keys_ = 0;
  preload_total_bytes_ = 0;
  preload_start_ms_ = cache_->NowMs();
  preload_end_ms_ = 0;
  preload_thread_ = std::thread([this, spec] { PreloadLoop(spec); });
  return Status::OK();
}

void OriginService::PreloadLoop(std::string spec) {
  std::unique_ptr<Origin> opened;
  Origin* source = origin_.get();
  std::string begin, end;
  Status st;
  if (spec == "origin" || spec.rfind("origin:", 0) == 0) {
    std::string range = spec.size() > 7 ? spec.substr(7) : "";
    size_t colon = range.find(':');
    begin = range.substr(0, colon);
    end = colon == std::string::npos ? "" : range.substr(colon + 1);
  } else {
    st = OpenOrigin(spec, settings_.timeout_ms, &opened);
    source = opened.get();
  }
  if (st.ok()) {
    preload_total_bytes_ = source->ApproximateBytes();
    Log(LogLevel::kInfo, "preload of {} started ({})", spec, HumanBytes(preload_total_bytes_));
    std::vector<std::string> keys;
    int last_decile = -1;
    int64_t last_log = cache_->NowMs();
    auto flush_keys = [&]() -> bool {
      std::vector<std::string_view> ask(keys.begin(), keys.end());
      std::vector<OriginValue> got;
      source->MultiGet(ask, &got);
      for (size_t i = 0; i < keys.size(); ++i) {
        if (!got[i].status.ok()) continue;
        Status s = StoreLoaded(keys[i], got[i], nullptr);
        if (s.ok()) {
          preload_loaded_bytes_ += got[i].value.size();
          preload_loaded_keys_ += 1;
        }
      }
      keys.clear();
      const uint64_t total = preload_total_bytes_.load();
      const uint64_t done = preload_loaded_bytes_.load();
      const int decile = total ? static_cast<int>(done * 10 / total) : 0;
      const int64_t now = cache_->NowMs();
      if (decile != last_decile || now - last_log > 5000) {
        last_decile = decile;
        last_log = now;
        const double secs = std::max<int64_t>(1, now - preload_start_ms_) / 1000.0;
        Log(LogLevel::kInfo, "preload of {}: {}% ({} of {}, {} keys, {:.1f} MiB/s)", spec,
            total ? done * 100 / total : 0, HumanBytes(done), HumanBytes(total),
            preload_loaded_keys_.load(), double(done) / (1 << 20) / secs);
      }
      return !stopping_;
    };
    st = source->Scan(begin, end, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return keys.size() < kPreloadBatch || flush_keys();
    });
    if (st.ok() && !keys.empty()) flush_keys();
  }
  preload_end_ms_ = cache_->NowMs();
  {
    std::lock_guard<std::mutex> l(preload_mu_);
    preload_error_ = st.ok() ? "" : st.ToString();
  }
  if (st.ok()) {
    Log(LogLevel::kInfo, "preload of {} done: {} keys, {} in {:.1f} s", spec,
        preload_loaded_keys_.load(), HumanBytes(preload_loaded_bytes_),
        (preload_end_ms_ - preload_start_ms_) / 1000.0);
  } else {
    Log(LogLevel::kWarning, "preload of {} failed: {}", spec, st.ToString());
  }
  preload_running_ = false;
}

// ---------------------------------------------------------------- INFO

void OriginService::AppendInfo(std::string* out) const {
  auto field = [&](const char* name, const std::string& value) {
    out->append(name).append(":").append(value).append("\r\n");
  };
  auto num = [&](const char* name, uint64_t v) { field(name, std::to_string(v)); };
  const uint64_t requests = stats_.load_requests.load();
  size_t dirty;
  {
    std::lock_guard<std::mutex> l(dirty_mu_);
    dirty = dirty_.size() + flushing_;  // acknowledged, not yet durable
  }
  out->append("# Origin\r\n");
  field("origin", origin_->name());
  field("origin_write_policy", WritePolicyName(settings_.write_policy));
  num("origin_loads", stats_.loads.load());
  num("origin_load_found", stats_.load_found.load());
  num("origin_load_absent", stats_.load_absent.load());
  num("origin_load_errors", stats_.load_errors.load());
  num("origin_load_shared", stats_.shared_loads.load());
  num("origin_load_requests", requests);
  num("origin_load_latency_avg_us", requests ? stats_.load_latency_us.load() / requests : 0);
  num("origin_load_latency_max_us", stats_.load_latency_max_us.load());
  num("origin_writes", stats_.writes.load());
  num("origin_write_batches", stats_.write_batches.load());
  num("origin_write_errors", stats_.write_errors.load());
  num("origin_dirty_items", dirty);
  num("origin_flushes", stats_.flushes.load());
  num("origin_flushed_items", stats_.flushed_keys.load());
  num("origin_flush_errors", stats_.flush_errors.load());
}

void OriginService::AppendLoadingInfo(std::string* out) const {
  const bool running = preload_running_.load();
  const uint64_t total = preload_total_bytes_.load(), done = preload_loaded_bytes_.load();
  const int64_t now = cache_->NowMs();
  const int64_t start = preload_start_ms_.load();
  auto field = [&](const char* name, const std::string& value) {
    out->append(name).append(":").append(value).append("\r\n");
  };
  field("loading", running ? "1" : "0");
  if (start == 0) return;
  field("loading_start_time", std::to_string(start / 1000));
  field("loading_total_bytes", std::to_string(total));
  field("loading_loaded_bytes", std::to_string(done));
  char perc[32];
  std::snprintf(perc, sizeof(perc), "%.2f%%", total ? 100.0 * double(done) / double(total) : 0.0);
  field("loading_loaded_perc", perc);
  const double secs =
      double(std::max<int64_t>(1, (running ? now : preload_end_ms_.load()) - start)) / 1000;
  const double rate = double(done) / secs;
  const uint64_t eta =
      running && rate > 0 && total > done ? uint64_t(double(total - done) / rate) : 0;
  field("loading_eta_seconds", std::to_string(eta));
  field("loading_loaded_keys", std::to_string(preload_loaded_keys_.load()));
  std::lock_guard<std::mutex> l(preload_mu_);
  field("loading_source", preload_spec_);
  if (!preload_error_.empty()) field("loading_error", preload_error_);
}

}  // namespace kvcache::server
