// Another Redis-protocol server as an origin: pipelined commands over a small connection pool.
#include "origin/redis_origin.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace kvcache {

std::string RedisAddress::HostPort() const {
  std::string host_part = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return host_part + ":" + std::to_string(port);
}

namespace {

bool ParseInt(std::string_view s, int min, int max, int* out) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

Status ParseRedisAddress(std::string_view url, RedisAddress* out) {
  constexpr std::string_view kScheme = "redis://";
  auto bad = [&](std::string_view what) {
    return Status::InvalidArgument("redis origin \"" + std::string(url) +
                                   "\": " + std::string(what) +
                                   " (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])");
  };
  if (!url.starts_with(kScheme)) return bad("not a redis:// URL");
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress addr;
  // The password may contain '/', ':' or '@': userinfo ends at the last '@'.
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      addr.user = userinfo.substr(0, colon);
      addr.password = userinfo.substr(colon + 1);
    } else {
      addr.password = userinfo;  // as redis-cli reads "redis://PASSWORD@HOST"
    }
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !ParseInt(db, 0, 1 << 20, &addr.db)) return bad("bad database number");
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    addr.host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected text after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      return bad("an IPv6 address needs brackets, as in redis://[::1]:6379");
    }
    addr.host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
  }
  if (addr.host.empty()) return bad("no host");
  if (!port.empty() && !ParseInt(port, 1, 65535, &addr.port)) return bad("bad port");
  *out = std::move(addr);
  return Status::OK();
}

namespace {

using Clock = std::chrono::steady_clock;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view ReplyText(const redisReply* r) { return std::string_view(r->str, r->len); }

// hiredis writes with write(2): a peer that has gone away raises SIGPIPE, whose default action
// kills the process. A library must not change the process's signal dispositions, so SIGPIPE is
// blocked in this thread while it talks to the server, and one it raised is consumed before the
// mask is restored (the write itself fails with EPIPE, which is handled as a broken connection).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

// Commands of one pipeline, as hiredis argv arrays pointing into the caller's strings.
class CommandBatch {
 public:
  void Begin() { starts_.push_back(argv_.size()); }
  void Arg(std::string_view a) {
    argv_.push_back(a.data());
    lens_.push_back(a.size());
  }
  size_t size() const { return starts_.size(); }
  int argc(size_t i) const {
    size_t end = i + 1 < starts_.size() ? starts_[i + 1] : argv_.size();
    return static_cast<int>(end - starts_[i]);
  }
  const char** argv(size_t i) { return argv_.data() + starts_[i]; }
  const size_t* lens(size_t i) const { return lens_.data() + starts_[i]; }

 private:
  std::vector<size_t> starts_;
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

// What went wrong when talking to the server, so the caller knows whether to retry.
struct Failure {
  Status status;
  bool timed_out = false;
};

// Escapes Redis glob metacharacters so that a key prefix matches only itself.
std::string GlobEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 1);
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class RedisOrigin final : public Origin {
 public:
  RedisOrigin(RedisAddress addr, const RedisOriginOptions& options)
      : addr_(std::move(addr)),
        options_(options),
        label_("redis origin " + addr_.HostPort() + ": ") {}

  ~RedisOrigin() override = default;

  // Makes one connection and keeps it in the pool.
  Status Probe() {
    ContextPtr c;
    Failure f = Connect(&c);
    if (!f.status.ok()) return f.status;
    std::lock_guard lock(mu_);
    ++open_;
    idle_.push_back(std::move(c));
    return Status::OK();
  }

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->clear();
    out->resize(keys.size());
    if (keys.empty()) return;
    CommandBatch batch;
    for (std::string_view k : keys) {
      batch.Begin();
      batch.Arg("GET");
      batch.Arg(k);
    }
    std::vector<ReplyPtr> replies;
    Status s = Run(&batch, &replies);
    for (size_t i = 0; i < keys.size(); ++i) {
      OriginValue& v = (*out)[i];
      if (!s.ok()) {
        v.status = s;
        continue;
      }
      const redisReply* r = replies[i].get();
      if (r->type == REDIS_REPLY_STRING) {
        v.value.assign(r->str, r->len);
      } else if (r->type == REDIS_REPLY_NIL) {
        v.status = Status::NotFound(label_ + "no such key");
      } else {
        v.status = ReplyError("GET", keys[i], r);
      }
    }
  }

  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>> kvs,
                  bool sync) override {
    // `sync` is best effort: the server acknowledges each SET; how durable that is depends on
    // the server's own persistence settings.
    if (kvs.empty()) return Status::OK();
    CommandBatch batch;
    for (const auto& [k, v] : kvs) {
      batch.Begin();
      batch.Arg("SET");
      batch.Arg(k);
      batch.Arg(v);
    }
    std::vector<ReplyPtr> replies;
    if (Status s = Run(&batch, &replies); !s.ok()) return s;
    for (size_t i = 0; i < kvs.size(); ++i) {
      const redisReply* r = replies[i].get();
      if (r->type != REDIS_REPLY_STATUS) return ReplyError("SET", kvs[i].first, r);
    }
    return Status::OK();
  }

  Status MultiErase(std::span<const std::string_view> keys, bool sync) override {
    constexpr size_t kKeysPerDel = 512;
    if (keys.empty()) return Status::OK();
    CommandBatch batch;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i % kKeysPerDel == 0) {
        batch.Begin();
        batch.Arg("DEL");
      }
      batch.Arg(keys[i]);
    }
    std::vector<ReplyPtr> replies;
    if (Status s = Run(&batch, &replies); !s.ok()) return s;
    for (size_t i = 0; i < replies.size(); ++i) {
      const redisReply* r = replies[i].get();
      if (r->type != REDIS_REPLY_INTEGER) return ReplyError("DEL", keys[i * kKeysPerDel], r);
    }
    return Status::OK();
  }

  // SCAN visits every key present for the whole scan at least once, in the server's hash order;
  // a key can be repeated if the server resizes its table meanwhile. Keys that are not strings,
  // or that vanish between SCAN and GET, are skipped: a preload takes what it can.
  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!end.empty() && end <= begin) return Status::OK();
    // Every key in [begin, end) starts with the common prefix of begin and end, so the server
    // can filter by it; with no end there is no such bound.
    std::string match;
    if (!end.empty()) {
      auto [b, e] = std::mismatch(begin.begin(), begin.end(), end.begin(), end.end());
      size_t common = static_cast<size_t>(b - begin.begin());
      if (common > 0) match = GlobEscape(begin.substr(0, common)) + "*";
    }
    const std::string count = std::to_string(options_.scan_count);
    std::string cursor = "0";
    do {
      CommandBatch scan;
      scan.Begin();
      scan.Arg("SCAN");
      scan.Arg(cursor);
      if (!match.empty()) {
        scan.Arg("MATCH");
        scan.Arg(match);
      }
      scan.Arg("COUNT");
      scan.Arg(count);
      std::vector<ReplyPtr> step;
      if (Status s = Run(&scan, &step); !s.ok()) return s;
      const redisReply* r = step[0].get();
      if (r->type == REDIS_REPLY_ERROR) return ReplyError("SCAN", "", r);
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
          r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        return Status::IOError(label_ + "SCAN: malformed reply");
      }
      cursor.assign(r->element[0]->str, r->element[0]->len);
      const redisReply* found = r->element[1];
      std::vector<std::string_view> keys;
      for (size_t i = 0; i < found->elements; ++i) {
        const redisReply* k = found->element[i];
        if (k->type != REDIS_REPLY_STRING) continue;
        std::string_view key = ReplyText(k);
        if (key >= begin && (end.empty() || key < end)) keys.push_back(key);
      }
      if (keys.empty()) continue;
      std::vector<OriginValue> values;
      MultiGet(keys, &values);
      for (size_t i = 0; i < keys.size(); ++i) {
        const Status& s = values[i].status;
        if (s.IsNotFound() || s.IsInvalidArgument()) continue;
        if (!s.ok()) return s;
        if (!fn(keys[i], values[i].value)) return Status::OK();
      }
    } while (cursor != "0");
    return Status::OK();
  }

  bool read_only() const override { return false; }

  std::string name() const override {
    return "redis://" + addr_.HostPort() + (addr_.db != 0 ? "/" + std::to_string(addr_.db) : "");
  }

 private:
  // Sends the batch and reads one reply per command. A broken connection is dropped with every
  // idle one (they likely share its fate: the server restarted or stalled); if the connection
  // came from the pool and failed other than by timing out, the batch is retried once on a new
  // connection, which is safe because GET, SET, DEL and SCAN are idempotent.
  Status Run(CommandBatch* batch, std::vector<ReplyPtr>* replies) {
    const Clock::time_point deadline =
        Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
    for (int attempt = 0;; ++attempt) {
      ContextPtr c;
      bool reused = false;
      Failure f = Acquire(deadline, &c, &reused);
      if (!f.status.ok()) return f.status;
      f = RunOn(c.get(), batch, replies);
      if (f.status.ok()) {
        Release(std::move(c));
        return Status::OK();
      }
      Drop(std::move(c));
      if (!reused || f.timed_out || attempt > 0) return f.status;
    }
  }

  Failure RunOn(redisContext* c, CommandBatch* batch, std::vector<ReplyPtr>* replies) {
    replies->clear();
    replies->reserve(batch->size());
    ScopedSigpipeBlock no_sigpipe;
    for (size_t first = 0; first < batch->size(); first += options_.pipeline_depth) {
      size_t last = std::min(batch->size(), first + options_.pipeline_depth);
      for (size_t i = first; i < last; ++i) {
        if (redisAppendCommandArgv(c, batch->argc(i), batch->argv(i), batch->lens(i)) != REDIS_OK) {
          return ConnectionFailure(c, "send");
        }
      }
      for (size_t i = first; i < last; ++i) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == nullptr) {
          return ConnectionFailure(c, "request");
        }
        replies->emplace_back(static_cast<redisReply*>(reply));
      }
    }
    return {};
  }

  // Describes a connection's error; call right after the failing hiredis call (reads errno).
  Failure ConnectionFailure(const redisContext* c, const char* what) {
    int err = errno;
    Failure f;
    std::string detail;
    if (c->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT)) {
      f.timed_out = true;
      detail = "no reply within " + std::to_string(options_.timeout_ms) + " ms";
    } else if (c->err == REDIS_ERR_EOF) {
      detail = "the server closed the connection";
    } else {
      detail = c->errstr[0] != '\0' ? c->errstr : "connection error";
    }
    f.status = Status::Unavailable(label_ + what + ": " + detail);
    return f;
  }

  Failure Connect(ContextPtr* out) {
    struct timeval tv;
    tv.tv_sec = options_.timeout_ms / 1000;
    tv.tv_usec = (options_.timeout_ms % 1000) * 1000;
    ContextPtr c(redisConnectWithTimeout(addr_.host.c_str(), addr_.port, tv));
    if (c == nullptr) return {Status::Unavailable(label_ + "connect: out of memory")};
    if (c->err != 0) {
      Failure f;
      f.timed_out = std::strstr(c->errstr, "timed out") != nullptr;
      f.status = Status::Unavailable(label_ + "connect: " + c->errstr);
      return f;
    }
    if (redisSetTimeout(c.get(), tv) != REDIS_OK) return ConnectionFailure(c.get(), "connect");
    redisEnableKeepAlive(c.get());
    CommandBatch setup;
    std::string db = std::to_string(addr_.db);
    if (!addr_.password.empty()) {
      setup.Begin();
      setup.Arg("AUTH");
      if (!addr_.user.empty()) setup.Arg(addr_.user);
      setup.Arg(addr_.password);
    }
    if (addr_.db != 0) {
      setup.Begin();
      setup.Arg("SELECT");
      setup.Arg(db);
    }
    if (setup.size() > 0) {
      std::vector<ReplyPtr> replies;
      if (Failure f = RunOn(c.get(), &setup, &replies); !f.status.ok()) return f;
      for (const ReplyPtr& r : replies) {
        if (r->type == REDIS_REPLY_ERROR) {
          return {
              Status::Unavailable(label_ + "connection setup: " + std::string(ReplyText(r.get())))};
        }
      }
    }
    *out = std::move(c);
    return {};
  }

  // Takes an idle connection, or makes one if fewer than max_connections are open, waiting for
  // one to be released until `deadline`.
  Failure Acquire(Clock::time_point deadline, ContextPtr* out, bool* reused) {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return !idle_.empty() || open_ < options_.max_connections;
          })) {
        return {Status::Unavailable(label_ + "all " + std::to_string(options_.max_connections) +
                                    " connections stayed busy for " +
                                    std::to_string(options_.timeout_ms) + " ms"),
                true};
      }
      if (!idle_.empty()) {
        *out = std::move(idle_.back());
        idle_.pop_back();
        *reused = true;
        return {};
      }
      ++open_;
    }
    Failure f = Connect(out);
    if (!f.status.ok()) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
    }
    *reused = false;
    return f;
  }

  void Release(ContextPtr c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
    cv_.notify_one();
  }

  void Drop(ContextPtr c) {
    std::vector<ContextPtr> stale;
    {
      std::lock_guard lock(mu_);
      stale.swap(idle_);
      open_ -= 1 + stale.size();
      cv_.notify_all();
    }
    c.reset();  // closes the sockets outside the lock
  }

  Status ReplyError(const char* command, std::string_view key, const redisReply* r) const {
    std::string where = label_ + command + (key.empty() ? "" : " ") + std::string(key) + ": ";
    if (r->type != REDIS_REPLY_ERROR) {
      return Status::IOError(where + "unexpected reply type " + std::to_string(r->type));
    }
    std::string_view text = ReplyText(r);
    // A key of another type is a caller's mistake for that key, not a failing server.
    if (text.starts_with("WRONGTYPE")) return Status::InvalidArgument(where + std::string(text));
    // Transient server states: worth retrying later.
    for (std::string_view transient :
         {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"}) {
      if (text.starts_with(transient)) return Status::Unavailable(where + std::string(text));
    }
    return Status::IOError(where + std::string(text));
  }

  const RedisAddress addr_;
  const RedisOriginOptions options_;
  const std::string label_;  // "redis origin HOST:PORT: ", the start of every error message

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ContextPtr> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;  // idle, in use, or connecting
};

}  // namespace

Status OpenRedisOrigin(const std::string& url, const RedisOriginOptions& options,
                       std::unique_ptr<Origin>* out) {
  RedisAddress addr;
  if (Status s = ParseRedisAddress(url, &addr); !s.ok()) return s;
  if (options.timeout_ms <= 0) {
    return Status::InvalidArgument("redis origin " + addr.HostPort() +
                                   ": the timeout must be positive, got " +
                                   std::to_string(options.timeout_ms) + " ms");
  }
  if (options.max_connections == 0 || options.pipeline_depth == 0 || options.scan_count == 0) {
    return Status::InvalidArgument("redis origin " + addr.HostPort() +
                                   ": max_connections, pipeline_depth and scan_count must be "
                                   "positive");
  }
  auto origin = std::make_unique<RedisOrigin>(std::move(addr), options);
  if (options.connect_at_open) {
    if (Status s = origin->Probe(); !s.ok()) return s;
  }
  *out = std::move(origin);
  return Status::OK();
}

}  // namespace kvcache
