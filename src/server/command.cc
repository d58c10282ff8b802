// The command registry, the handler context and the dispatcher (Server::Execute): name lookup,
// arity, authentication, MULTI queueing, the world lock for commands that need every shard, and
// per-command statistics.
#include "server/command.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "server/connection.h"
#include "server/glob.h"
#include "server/origin_service.h"
#include "server/server.h"
#include "server/tick_clock.h"

namespace kvcache::server {
namespace {
// ASCII only, as Redis's command names and keywords are; no locale lookup per character.
inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
}  // namespace

std::vector<size_t> KeyPositions(const CommandSpec& spec, std::span<const std::string_view> args) {
  std::vector<size_t> at;
  if (spec.keys != nullptr) {
    spec.keys(args, &at);
    return at;
  }
  if (spec.first_key <= 0) return at;
  const int last =
      spec.last_key < 0 ? static_cast<int>(args.size()) + spec.last_key : spec.last_key;
  for (int i = spec.first_key; i <= last && i < static_cast<int>(args.size());
       i += std::max(1, spec.key_step)) {
    at.push_back(static_cast<size_t>(i));
  }
  return at;
}

// Names are a few bytes: a plain loop (GCC's vectorized one spent ~40 instructions on its
// set-up and tail for "set").
[[gnu::optimize("no-tree-vectorize")]] uint32_t CommandRegistry::NameHash(std::string_view name) {
  uint32_t h = 2166136261u;
  // `| 0x20` lowers a letter; other bytes that it merges only share a bucket.
  for (char c : name) h = (h ^ static_cast<uint8_t>(c | 0x20)) * 16777619u;
  return h ^ (h >> 15);
}

void CommandRegistry::Add(CommandSpec spec) {
  if (specs_.size() >= kSlots / 2) {
    std::fprintf(stderr, "kvcache: more commands than CommandRegistry::kSlots / 2\n");
    std::abort();
  }
  spec.id = static_cast<uint32_t>(specs_.size());
  specs_.push_back(spec);
  names_.emplace_back(spec.name);
  size_t i = NameHash(spec.name) & (kSlots - 1);
  // A name added again takes its slot over.
  while (slots_[i] != 0 && names_[slots_[i] - 1] != names_.back()) i = (i + 1) & (kSlots - 1);
  slots_[i] = spec.id + 1;
}

[[gnu::optimize("no-tree-vectorize")]] const CommandSpec* CommandRegistry::Find(
    std::string_view name) const {
  for (size_t i = NameHash(name) & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const uint32_t s = slots_[i];
    if (s == 0) return nullptr;
    const std::string_view lower = names_[s - 1];  // registered in lower case
    if (lower.size() != name.size()) continue;
    size_t k = 0;
    while (k < lower.size() && AsciiLower(name[k]) == lower[k]) ++k;
    if (k == lower.size()) return &specs_[s - 1];
  }
}

void RegisterAllCommands(CommandRegistry* r) {
  RegisterStringFamily(r);
  RegisterKeyspaceFamily(r);
  RegisterHashFamily(r);
  RegisterServerFamily(r);
  RegisterTransactionFamily(r);
  RegisterOriginFamily(r);
  RegisterTensorFamily(r);
  RegisterPubSubFamily(r);
}

void ReplyHelp(CommandContext& c, std::span<const char* const> lines) {
  c.reply.ArrayHeader(lines.size());
  for (const char* line : lines) c.reply.SimpleString(line);
}

bool SubArity(CommandContext& c, int arity) {
  const size_t n = c.argc();
  if (arity > 0 ? n == static_cast<size_t>(arity) : n >= static_cast<size_t>(-arity)) return true;
  c.reply.Error("ERR wrong number of arguments for '" + Lower(c.arg(0)) + "|" + Lower(c.arg(1)) +
                "' command");
  return false;
}

CommandContext::CommandContext(Server& s, Connection& c, std::span<const std::string_view> a)
    : args(a), server(s), conn(c), reply(c.reply()), cache(s.cache()) {}

uint8_t CommandContext::db() const { return server.StoredDb(conn.db); }

std::string_view CommandContext::KeyOf(std::string_view user_key) {
  const uint8_t stored = db();
  if (!DbKeyNeedsPrefix(stored, user_key)) return user_key;  // no copy in the common case
  key_buffers_.push_back(std::make_unique<std::string>(EngineKey(stored, user_key)));
  return *key_buffers_.back();
}

void CommandContext::ErrorFromStatus(const Status& st) {
  if (st.IsNoSpace()) {
    ErrorOom();
  } else if (st.IsInvalidArgument() && st.message().find("larger than") != std::string::npos) {
    reply.Error("ERR string exceeds maximum allowed size (" + st.message() + ")");
  } else {
    reply.Error("ERR " + st.message());
  }
}

namespace {

// Keeps a large value's item pinned until the socket has taken its bytes.
struct HandleOwner final : protocol::ReplyBuilder::Owner {
  explicit HandleOwner(Handle h) : handle(std::move(h)) {}
  Handle handle;
};

constexpr size_t kZeroCopyBytes = 16 << 10;

}  // namespace

void CommandContext::FillJustLoaded(std::span<const std::string_view> keys,
                                    std::vector<Handle>* rows) {
  const auto* loaded = conn.just_loaded;
  if (loaded == nullptr || loaded->empty()) return;
  // Built only when a row missed; a batch can hold thousands of keys, so no scan per miss.
  std::unordered_map<std::string_view, const Handle*> by_key;
  for (size_t i = 0; i < keys.size(); ++i) {
    if ((*rows)[i]) continue;
    if (by_key.empty()) {
      by_key.reserve(loaded->size());
      for (const auto& [key, h] : *loaded) by_key.emplace(key, &h);
    }
    const auto it = by_key.find(keys[i]);
    if (it != by_key.end()) (*rows)[i] = it->second->Clone();
  }
}

void CommandContext::TouchWatched(std::string_view engine_key) {
  if (server.watches().active()) server.watches().Touch(engine_key);
}

void CommandContext::BulkFromHandle(Handle h, size_t offset, size_t length) {
  std::string_view v = h.value().substr(std::min(offset, h.value().size()), length);
  if (v.size() < kZeroCopyBytes) {
    reply.Bulk(v);
    return;
  }
  const char* data = v.data();
  size_t size = v.size();
  reply.BulkExternal(data, size, std::make_unique<HandleOwner>(std::move(h)));
}

bool ParseInt64(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  if (s[0] == '+') return false;
  if (s.size() > 1 && s[0] == '0') return false;  // Redis refuses leading zeros
  if (s.size() > 1 && s[0] == '-' && s[1] == '0') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* v) {
  if (s.empty() || s.size() > 5000) return false;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(d)) return false;
  if (errno == ERANGE && !std::isinf(d) && d != 0) return false;
  *v = d;
  return true;
}

bool ParseLongDouble(std::string_view s, long double* v) {
  if (s.empty() || s.size() > 5000) return false;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  long double d = std::strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(d) || errno == ERANGE) return false;
  *v = d;
  return true;
}

std::string FormatDouble(long double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Redis (util.c ld2string, LD_STR_HUMAN): %.17Lf, then trailing zeros and point removed,
  // into a buffer of MAX_LONG_DOUBLE_CHARS (5 KiB) that holds every finite long double.
  char buf[5 * 1024];
  const int n = std::snprintf(buf, sizeof(buf), "%.17Lf", v);
  std::string s(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof(buf)) - 1)));
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool ScanOptions::Matches(std::string_view name) const {
  return !match || (pattern == "*" ? true : GlobMatch(pattern, name));
}

bool ParseScanOptions(CommandContext& c, size_t first, bool with_type, ScanOptions* o) {
  for (size_t i = first; i < c.argc(); i += 2) {
    const std::string_view a = c.arg(i);
    const bool has_value = i + 1 < c.argc();
    if (has_value && EqualsIgnoreCase(a, "COUNT")) {
      int64_t n;
      if (!ParseInt64(c.arg(i + 1), &n)) {
        c.ErrorNotInteger();
        return false;
      }
      if (n < 1) {
        c.ErrorSyntax();
        return false;
      }
      o->count = static_cast<size_t>(n);
    } else if (has_value && EqualsIgnoreCase(a, "MATCH")) {
      o->match = true;
      o->pattern = c.arg(i + 1);
    } else if (has_value && with_type && EqualsIgnoreCase(a, "TYPE")) {
      o->by_type = true;
      o->type = c.arg(i + 1);
    } else {
      c.ErrorSyntax();
      return false;
    }
  }
  return true;
}

bool ParseCursor(std::string_view s, uint64_t* cursor) {
  const std::string buf(s);
  if (!buf.empty() && std::isspace(static_cast<unsigned char>(buf[0]))) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(buf.c_str(), &end, 10);
  if (end != buf.c_str() + buf.size() || errno == ERANGE) return false;
  *cursor = v;
  return true;
}

namespace {

// Redis's text, built with printf's %.128s and '%.*s': each argument also ends at a NUL byte.
std::string UnknownCommandText(std::span<const std::string_view> args) {
  auto c_string = [](std::string_view s) { return s.substr(0, s.find('\0')); };
  std::string text = "ERR unknown command '";
  text.append(c_string(args[0]).substr(0, 128));
  text += "', with args beginning with: ";
  std::string rest;
  for (size_t i = 1; i < args.size() && rest.size() < 128; ++i) {
    const size_t room = 128 - rest.size();
    rest += "'";
    rest.append(c_string(args[i]).substr(0, room));
    rest += "' ";
  }
  return text + rest;
}

// Redis's full name of a command, "client|id" for a container's subcommand.
std::string FullName(const CommandSpec& spec, std::span<const std::string_view> args) {
  static constexpr std::string_view kContainers[] = {"client", "command", "config", "latency",
                                                     "memory", "object",  "pubsub", "slowlog"};
  const std::string name = spec.name;
  if (args.size() < 2 ||
      std::find(std::begin(kContainers), std::end(kContainers), name) == std::end(kContainers)) {
    return name;
  }
  return name + "|" + Lower(args[1]);
}

}  // namespace

bool Server::IsWriteCommand(std::string_view name) const {
  const CommandSpec* spec = commands_.Find(name);
  return spec != nullptr && (spec->flags & cmd::kWrite) != 0;
}

bool Server::Monitored(const CommandSpec& spec, std::span<const std::string_view> args) {
  // CLIENT is one admin command here; in Redis only some of its subcommands are.
  if (std::string_view(spec.name) == "client" && args.size() > 1) {
    for (const char* sub : {"SETNAME", "GETNAME", "ID", "INFO", "SETINFO"}) {
      if (EqualsIgnoreCase(args[1], sub)) return true;
    }
  }
  return !(spec.flags & cmd::kAdmin);
}

bool Server::PauseHolds(const Connection& conn, const CommandSpec& spec) {
  if (conn.worker() == nullptr || conn.in_exec) return false;  // no event loop to wait in
  const int64_t end = pause_end_ms_.load(std::memory_order_acquire);
  if (end == 0) return false;
  if (cache_->NowMs() >= end) {
    std::lock_guard<std::mutex> l(pause_mu_);
    if (pause_end_ms_.load(std::memory_order_relaxed) == end) {
      pause_end_ms_.store(0, std::memory_order_release);
      pause_all_.store(false, std::memory_order_relaxed);
    }
    return false;
  }
  if (pause_all_.load(std::memory_order_relaxed) || (spec.flags & cmd::kWrite)) return true;
  // As Redis: an EXEC whose transaction writes is held back as a write.
  if (std::string_view(spec.name) != "exec") return false;
  for (const std::vector<std::string>& q : conn.queued) {
    const CommandSpec* s = commands_.Find(q[0]);
    if (s != nullptr && (s->flags & cmd::kWrite)) return true;
  }
  return false;
}

void Server::Execute(Connection& conn, std::span<const std::string_view> args) {
  WorkerStats& stats = stats_for(conn.worker());
  const CommandSpec* spec = commands_.Find(args[0]);
  if (spec == nullptr) {
    if (conn.in_multi) conn.multi_failed = true;
    conn.reply().Error(UnknownCommandText(args));
    return;
  }
  const bool arity_ok = spec->arity > 0 ? args.size() == static_cast<size_t>(spec->arity)
                                        : args.size() >= static_cast<size_t>(-spec->arity);
  // As Redis's rejectCommand: `text` (without "ERR ") fails the transaction, and a refused EXEC
  // answers EXECABORT, in a transaction or not, and ends any transaction and its WATCH.
  auto reject = [&](const std::string& text) {
    WorkerStats::Add(stats.per_command[spec->id].rejected, 1);
    if (std::string_view(spec->name) == "exec") {
      conn.in_multi = false;
      conn.multi_failed = false;
      conn.queued.clear();
      watches_.UnwatchAll(&conn.watch);
      conn.reply().Error("EXECABORT Transaction discarded because of: " + text);
      return;
    }
    if (conn.in_multi) conn.multi_failed = true;
    conn.reply().Error("ERR " + text);
  };
  if (!arity_ok) {
    return reject(std::string("wrong number of arguments for '") + spec->name + "' command");
  }
  if (!conn.authenticated && !(spec->flags & cmd::kNoAuth) && !config_.requirepass.empty()) {
    WorkerStats::Add(stats.per_command[spec->id].rejected, 1);
    conn.reply().Error("NOAUTH Authentication required.");
    return;
  }
  if (conn.subs != nullptr && conn.subs->total() != 0 && conn.reply().resp_version() == 2 &&
      !(spec->flags & cmd::kSubscribed)) {
    // Redis's RESP2 subscriber context: only (un)subscribing, PING, QUIT and RESET.
    return reject("Can't execute '" + FullName(*spec, args) +
                  "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                  "this context");
  }
  if (conn.monitor && (spec->flags & (cmd::kWrite | cmd::kReadOnly))) {
    // As Redis, which treats a monitor as a replica: no keyspace commands (so none that defers).
    WorkerStats::Add(stats.per_command[spec->id].rejected, 1);
    conn.reply().Error("ERR Replica can't interact with the keyspace");
    return;
  }
  if (pause_end_ms_.load(std::memory_order_relaxed) != 0 && PauseHolds(conn, *spec)) {
    // CLIENT PAUSE: held back, before MULTI queues it, as Redis does; the worker runs it again
    // once the pause is over, and the connection runs nothing else meanwhile.
    conn.postponed.assign(args.begin(), args.end());
    conn.blocked = true;
    conn.worker()->AddPostponed(conn.id());
    return;
  }
  if (conn.in_multi && (spec->flags & cmd::kNoMulti)) {
    WorkerStats::Add(stats.per_command[spec->id].rejected, 1);
    conn.multi_failed = true;
    conn.reply().Error("ERR Command not allowed inside a transaction");
    return;
  }
  if (conn.in_multi && !(spec->flags & cmd::kNotQueued)) {
    if (origin_ != nullptr && (spec->flags & cmd::kWrite) &&
        origin_->settings().write_policy == WritePolicy::kThrough) {
      conn.multi_failed = true;
      conn.reply().Error(
          "ERR write commands inside MULTI are not supported with "
          "write-policy through");
      return;
    }
    conn.queued.emplace_back(args.begin(), args.end());
    conn.reply().SimpleString("QUEUED");
    return;
  }
  if (origin_ != nullptr && !conn.in_exec) {
    // The slower tier: load what the command reads, route data writes through the origin.
    if (!conn.keys_loaded && LoadKeysFirst(conn, *spec, args)) return;
    if ((spec->flags & cmd::kWrite) && origin_->settings().write_policy == WritePolicy::kThrough &&
        WriteThroughCommand(*this, conn, *spec, args)) {
      return;
    }
  }
  if (spec->flags & cmd::kExclusive) {
    world_.unlock_shared();
    world_.lock();
    ExecuteLocked(conn, *spec, args);
    world_.unlock();
    world_.lock_shared();
  } else {
    ExecuteLocked(conn, *spec, args);
  }
  if (origin_ != nullptr && (spec->flags & cmd::kWrite) &&
      origin_->settings().write_policy == WritePolicy::kBack) {
    origin_->WaitForDirtyRoom();  // the cache's change listener has recorded what it wrote
  }
}

void Server::ExecuteLocked(Connection& conn, const CommandSpec& spec,
                           std::span<const std::string_view> args) {
  WorkerStats& stats = stats_for(conn.worker());
  // An argument received into memory of its own may be gone once the handler ran (SET's value
  // becomes the item, which another client may evict; a refused one is freed): what SLOWLOG and
  // MONITOR show of it, its first kLoggedArgBytes, is copied first. Only large requests pay.
  std::vector<std::string_view> shown;
  std::vector<std::string> copies;
  std::vector<size_t> sizes;
  if (conn.has_large_args()) {
    shown.assign(args.begin(), args.end());
    sizes.resize(args.size());
    copies.reserve(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      sizes[i] = args[i].size();
      if (!conn.is_large_arg(i)) continue;
      copies.emplace_back(args[i].substr(0, kLoggedArgBytes));
      shown[i] = copies.back();
    }
  }
  const uint64_t start = TicksNow();
  const uint64_t errors_before = conn.reply().error_count();
  {
    CommandContext ctx(*this, conn, args);
    spec.handler(ctx);
  }
  if (!shown.empty()) args = shown;
  const uint64_t ticks = TicksNow() - start;
  WorkerStats::PerCommand& pc = stats.per_command[spec.id];
  WorkerStats::Add(pc.calls, 1);
  WorkerStats::Add(pc.ticks, ticks);
  if (conn.reply().error_count() != errors_before) WorkerStats::Add(pc.failed, 1);
  if (latency_tracking_.load(std::memory_order_relaxed)) {
    WorkerStats::Add(pc.latency[WorkerStats::LatencyBucket(ticks)], 1);
  }
  if (ticks >= slowlog_ticks_.load(std::memory_order_relaxed))
    MaybeLogSlow(conn, spec, args, sizes, ticks);
  if (ticks >= latency_ticks_.load(std::memory_order_relaxed)) {
    AddLatencySample((spec.flags & cmd::kFast) ? "fast-command" : "command", ticks);
  }
  MaybeFeedMonitors(conn, spec, args, sizes);
  WorkerStats::Add(stats.commands, 1);
  ++conn.commands;
  conn.last_command = spec.name;
}

void ExecuteQueued(Server& server, Connection& conn, std::span<const std::string_view> args) {
  const CommandSpec* spec = server.commands().Find(args[0]);
  if (spec == nullptr) {
    conn.reply().Error(UnknownCommandText(args));
    return;
  }
  {
    CommandContext ctx(server, conn, args);
    spec->handler(ctx);
  }
  server.MaybeFeedMonitors(conn, *spec, args);
  WorkerStats& stats = server.stats_for(conn.worker());
  WorkerStats::Add(stats.per_command[spec->id].calls, 1);
  WorkerStats::Add(stats.commands, 1);
}

}  // namespace kvcache::server
