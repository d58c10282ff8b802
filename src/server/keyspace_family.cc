// Keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, COPY, MOVE, TOUCH, the
// FLUSH commands, and expiry (EXPIRE and its variants, TTL and its variants, PERSIST).
//
// The 16 databases share one engine: a database is the first byte of every engine key, so the
// commands that walk "the database" (KEYS, SCAN, RANDOMKEY, FLUSHDB) walk the whole engine and
// keep the keys that start with their byte.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "server/command.h"
#include "server/connection.h"
#include "server/glob.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

using Action = Mutation::Action;

// Items per engine Scan call when a command walks everything (KEYS, FLUSHDB).
constexpr size_t kWalkBatch = 1024;

const char* TypeName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kString:
      return "string";
    case ValueKind::kHash:
      return "hash";
    case ValueKind::kTensor:
      return "tensor";
    case ValueKind::kOther:
      break;
  }
  return "unknown";  // as Redis names a type it does not know
}

bool InDb(std::string_view engine_key, uint8_t db) { return DbOf(engine_key) == db; }

// A database number argument: Redis reads an int (getIntFromObjectOrReply), then checks the
// range. *db is the number's engine key space (Server::StoredDb).
bool ParseDb(CommandContext& c, std::string_view arg, uint8_t* db) {
  int64_t v;
  if (!ParseInt64(arg, &v)) {
    c.ErrorNotInteger();
    return false;
  }
  if (v < INT_MIN || v > INT_MAX) {
    c.reply.Error("ERR value is out of range, value must between -2147483648 and 2147483647");
    return false;
  }
  if (v < 0 || v >= c.server.config().databases) {
    c.reply.Error("ERR DB index is out of range");
    return false;
  }
  *db = c.server.StoredDb(static_cast<uint8_t>(v));
  return true;
}

// Stores a copy of the pinned item under `to` with the same value, kind and expiry, replacing
// whatever `to` held.
Status OpCopyItem(Cache& cache, const Handle& from, std::string_view to) {
  WriteOptions o;
  o.kind = from.kind();
  if (from.expires_at_ms() != 0) {
    o.expires_at_ms = from.expires_at_ms();
  } else {
    o.ttl = kNoExpiry;
  }
  return cache.Write(to, from.value(), o);
}

// ---- DEL, EXISTS, TOUCH, TYPE

// How many key arguments fn(engine key) is true for. A window of keys at a time, the window's
// index lines and items requested together first (Cache::Prefetch): with a data set larger than
// the CPU's caches, a key is otherwise two waits for memory, one key after another (DEL of 100k
// keys: 2.9 us a key). `for_write`: fn removes the items, which writes their neighbours in the
// eviction policy's lists; those are requested too.
template <typename Fn>
int64_t CountKeys(CommandContext& c, Fn&& fn, bool for_write = false) {
  constexpr size_t kWindow = 32;
  std::string_view keys[kWindow];
  int64_t count = 0;
  for (size_t i = 1; i < c.argc(); i += kWindow) {
    const size_t n = std::min(kWindow, c.argc() - i);
    for (size_t j = 0; j < n; ++j) keys[j] = c.Key(i + j);
    if (n > 1) c.cache.Prefetch(std::span<const std::string_view>(keys, n), for_write);
    for (size_t j = 0; j < n; ++j) count += fn(keys[j]) ? 1 : 0;
  }
  return count;
}

void CmdDel(CommandContext& c) {
  c.reply.Integer(CountKeys(
      c, [&](std::string_view k) { return c.cache.Erase(k); }, /*for_write=*/true));
}

// Not an access, as Redis's EXISTS does not touch the key's LRU clock.
void CmdExists(CommandContext& c) {
  c.reply.Integer(CountKeys(c, [&](std::string_view k) { return c.cache.Contains(k); }));
}

// An access for the eviction policy: that is what TOUCH is for.
void CmdTouch(CommandContext& c) {
  c.reply.Integer(CountKeys(c, [&](std::string_view k) { return bool(c.cache.Get(k)); }));
}

void CmdType(CommandContext& c) {
  Handle h = c.cache.Get(c.Key(1));
  c.reply.SimpleString(h ? TypeName(h.kind()) : "none");
}

// ---- KEYS, SCAN, RANDOMKEY

// KEYS and RANDOMKEY walk the keyspace in steps (Server::StepDeadline), between which the event
// loop serves the other clients (Server::RunInSteps): over 1M keys KEYS's walk takes ~300 ms,
// which used to be a stall for every client of that thread.

// One KEYS command's walk, resumed step by step. A key present during the whole walk is listed
// exactly once (Cache::Scan), whatever other clients do between the steps; one added or removed
// meanwhile may or may not be.
struct KeysWalk {
  Cache* cache;
  std::string pattern;
  uint8_t db;
  size_t header;  // the reply's deferred array header
  size_t count = 0;
  uint64_t cursor = 0;

  // Walks for about a step's time; true once the reply is complete.
  bool operator()(Connection& conn) {
    const bool all = pattern == "*";
    protocol::ReplyBuilder& reply = conn.reply();
    const auto until = conn.server().StepDeadline();
    do {
      cursor = cache->Scan(cursor, kWalkBatch, [&](const ItemView& v) {
        if (!InDb(v.key, db)) return;
        std::string_view k = CommandContext::UserKey(v.key);
        if (all || GlobMatch(pattern, k)) {
          reply.Bulk(k);
          ++count;
        }
      });
      if (cursor == 0) {
        reply.SetDeferredArrayHeader(header, count);
        return true;
      }
    } while (std::chrono::steady_clock::now() < until);
    return false;
  }
};

void CmdKeys(CommandContext& c) {
  const uint8_t db = c.db();
  // The matches go straight into the reply behind a header counted at the end: gathering them
  // first cost a copy and a growing buffer's page faults, half of KEYS *'s time. What the
  // connection answered before goes out meanwhile; this reply goes once complete.
  const size_t header = c.reply.DeferArrayHeader();
  if (c.cache.KeySpace(db).items == 0) return c.reply.SetDeferredArrayHeader(header, 0);
  c.server.RunInSteps(c.conn, "keys", KeysWalk{&c.cache, std::string(c.arg(1)), db, header});
}

// One SCAN step, as Redis's scanGenericCommand: COUNT is the work, counted in keys of this
// database before MATCH and TYPE filter them, and the walk stops after 10 * COUNT items of any
// database so that a small database among large ones does not make one call walk everything.
uint64_t OpScan(Cache& cache, uint8_t db, uint64_t cursor, const ScanOptions& o,
                std::vector<std::string>* keys) {
  // Bounds what the engine is asked for per call (its step arithmetic multiplies by it).
  constexpr size_t kMaxEngineCount = size_t{1} << 20;
  const size_t max_visits = o.count > SIZE_MAX / 10 ? SIZE_MAX : o.count * 10;
  size_t in_db = 0, visited = 0;
  do {
    cursor = cache.Scan(cursor, std::min(o.count - in_db, kMaxEngineCount), [&](const ItemView& v) {
      ++visited;
      if (!InDb(v.key, db)) return;
      ++in_db;
      std::string_view k = CommandContext::UserKey(v.key);
      if (!o.Matches(k)) return;
      if (o.by_type && !EqualsIgnoreCase(o.type, TypeName(v.kind))) return;
      keys->emplace_back(k);
    });
  } while (cursor != 0 && in_db < o.count && visited < max_visits);
  return cursor;
}

void CmdScan(CommandContext& c) {
  uint64_t cursor;
  if (!ParseCursor(c.arg(1), &cursor)) return c.reply.Error("ERR invalid cursor");
  ScanOptions o;
  if (!ParseScanOptions(c, 2, /*with_type=*/true, &o)) return;
  std::vector<std::string> keys;
  cursor = OpScan(c.cache, c.db(), cursor, o, &keys);
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(cursor));
  c.reply.ArrayHeader(keys.size());
  for (const std::string& k : keys) c.reply.Bulk(k);
}

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

// RANDOMKEY's walk: from a random cursor (keys are in hash order, so that is a random place),
// picking at random among the keys of the first batch that has any of the database's; wraps
// around once. A small database among large ones can mean walking much of the engine, so the
// batches grow while they find nothing and the walk goes in steps as KEYS's does.
struct RandomKeyWalk {
  Cache* cache;
  uint8_t db;
  uint64_t cursor;
  bool wrapped = false;
  size_t batch = 16;  // doubles after each batch without a key of the database, up to 1024

  bool operator()(Connection& conn) {
    constexpr size_t kMaxBatch = 1024;
    std::mt19937_64& rng = ThreadRng();
    const auto until = conn.server().StepDeadline();
    size_t since_clock = 0;
    while (true) {
      size_t seen = 0;
      std::string key;
      cursor = cache->Scan(cursor, batch, [&](const ItemView& v) {
        if (!InDb(v.key, db)) return;
        // Reservoir sampling: each key of the batch is kept with equal probability.
        if (rng() % ++seen == 0) key.assign(CommandContext::UserKey(v.key));
      });
      if (seen != 0) {
        conn.reply().Bulk(key);
        return true;
      }
      if (cursor == 0) {
        if (wrapped) {  // only expired items were counted
          conn.reply().Null();
          return true;
        }
        wrapped = true;
      }
      since_clock += batch;
      batch = std::min(batch * 2, kMaxBatch);
      if (since_clock >= kMaxBatch) {
        if (std::chrono::steady_clock::now() >= until) return false;
        since_clock = 0;
      }
    }
  }
};

void CmdRandomKey(CommandContext& c) {
  const uint8_t db = c.db();
  if (c.cache.KeySpace(db).items == 0) return c.reply.Null();
  std::mt19937_64& rng = ThreadRng();
  const uint64_t shards = std::max<uint64_t>(1, c.cache.shard_count());
  const uint64_t cursor = (rng() % shards) << 32 | (rng() & 0xffffffffu);
  c.server.RunInSteps(c.conn, "randomkey", RandomKeyWalk{&c.cache, db, cursor});
}

// ---- RENAME, COPY, MOVE: several keys at once, so they run with the world lock exclusive.

// RENAME's and MOVE's change: from's item becomes to's, replacing what to held. A large value
// moves without a copy (Cache::Rename; a 400 MB RENAME copied 400 MB with every client waiting,
// where Redis moves a pointer); others are copied, then from is removed. NotFound if from holds
// nothing; nothing changes on any failure.
Status OpMoveItem(Cache& cache, const std::string& from, const std::string& to) {
  bool moved = false;
  Status st = cache.Rename(from, to, &moved);
  if (!st.ok() || moved) return st;
  Handle h = cache.Peek(from);
  if (!h) return Status::NotFound("no such key");
  st = OpCopyItem(cache, h, to);
  if (!st.ok()) return st;
  h.Reset();
  cache.Erase(from);
  return st;
}

void RenameGeneric(CommandContext& c, bool nx) {
  // Owned copies: a second CommandContext::Key() call may move the first one's buffer.
  const std::string from = EngineKey(c.db(), c.arg(1)), to = EngineKey(c.db(), c.arg(2));
  if (!c.cache.Get(from)) return c.reply.Error("ERR no such key");  // (a read, as in Redis)
  if (from == to) return nx ? c.reply.Integer(0) : c.reply.SimpleString("OK");
  if (nx && c.cache.Contains(to)) return c.reply.Integer(0);
  Status st = OpMoveItem(c.cache, from, to);
  if (st.IsNotFound()) return c.reply.Error("ERR no such key");  // expired just now
  if (!st.ok()) return c.ErrorFromStatus(st);                    // nothing changed
  nx ? c.reply.Integer(1) : c.reply.SimpleString("OK");
}

void CmdRename(CommandContext& c) { RenameGeneric(c, false); }
void CmdRenameNx(CommandContext& c) { RenameGeneric(c, true); }

// COPY's change once its arguments are checked, `from` the source's item (empty if none):
// *copied is 1 if it copied, 0 if there was nothing to copy or (without REPLACE) `to` holds
// something.
Status CopyOnce(Cache& cache, const Handle& from, const std::string& to, bool replace,
                int64_t* copied) {
  *copied = 0;
  if (!from || (!replace && cache.Contains(to))) return Status::OK();
  Status st = OpCopyItem(cache, from, to);
  if (st.ok()) *copied = 1;
  return st;
}

// A large value that COPY copies, copied in steps of about a millisecond between which the
// event loop serves the other clients: in one go, a 400 MB COPY held up every client of the
// server for ~300 ms (as in Redis). COPY's steps hold the world lock exclusively (as COPY does),
// so the last one stores the copy atomically, and only if `from` still holds the item copied
// and `to` what it held at the start (WriteOptions::Condition::kIfCurrent): the command then
// takes effect at its end. If another client changed either key meanwhile, COPY runs again in
// one go on what is there now, so that it ends.
struct CopyBuild {
  Server* server = nullptr;
  std::string from_key, to_key;  // the engine's
  bool replace = false;
  Handle from;      // the value copied, pinned
  Handle to;        // what `to` held at the start, pinned; empty if nothing
  ValueBuffer out;  // the copy
  size_t pos = 0;   // copied up to here

  bool operator()(Connection& conn) {
    const std::string_view value = from.value();
    const auto until = conn.server().StepDeadline();
    do {
      const size_t end = std::min(value.size(), pos + (size_t{1} << 20));
      std::memcpy(out.data() + pos, value.data() + pos, end - pos);
      pos = end;
    } while (pos < value.size() && std::chrono::steady_clock::now() < until);
    if (pos < value.size()) return false;
    Cache& cache = server->cache();
    CommandContext c(*server, conn, {});
    int64_t copied = 1;
    Status st = Status::NotFound("changed meanwhile");
    Handle now = cache.Peek(from_key);
    if (now.SameItem(from)) {
      WriteOptions o;
      o.kind = now.kind();
      o.expires_at_ms = now.expires_at_ms();
      if (o.expires_at_ms == 0) o.ttl = kNoExpiry;
      o.condition = WriteOptions::Condition::kIfCurrent;
      o.current = &to;
      st = cache.Write(std::move(out), o);
    }
    now.Reset();
    from.Reset();
    to.Reset();
    if (st.IsNotFound()) st = CopyOnce(cache, cache.Peek(from_key), to_key, replace, &copied);
    st.ok() ? c.reply.Integer(copied) : c.ErrorFromStatus(st);
    return true;
  }
};

void CmdCopy(CommandContext& c) {
  uint8_t dst_db = c.db();
  bool replace = false;
  for (size_t i = 3; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    if (EqualsIgnoreCase(a, "REPLACE")) {
      replace = true;
    } else if (EqualsIgnoreCase(a, "DB") && i + 1 < c.argc()) {
      if (!ParseDb(c, c.arg(++i), &dst_db)) return;
    } else {
      return c.ErrorSyntax();
    }
  }
  if (dst_db == c.db() && c.arg(1) == c.arg(2)) {
    return c.reply.Error("ERR source and destination objects are the same");
  }
  std::string from_key = EngineKey(c.db(), c.arg(1)), to_key = EngineKey(dst_db, c.arg(2));
  Handle from = c.cache.Get(from_key);
  int64_t copied;
  if (!from || from.value().size() < kBuildInStepsBytes) {
    Status st = CopyOnce(c.cache, from, to_key, replace, &copied);
    return st.ok() ? c.reply.Integer(copied) : c.ErrorFromStatus(st);
  }
  Handle to = c.cache.Peek(to_key);
  if (to && !replace) return c.reply.Integer(0);
  ValueBuffer out = c.cache.NewValue(to_key, from.value().size());
  if (!out) return c.ErrorFromStatus(Status::NoSpace("out of memory for a large item"));
  auto b = std::make_shared<CopyBuild>(CopyBuild{&c.server, std::move(from_key), std::move(to_key),
                                                 replace, std::move(from), std::move(to),
                                                 std::move(out)});
  c.server.RunInSteps(c.conn, "copy", [b](Connection& conn) { return (*b)(conn); });
}

void CmdMove(CommandContext& c) {
  uint8_t dst_db;
  if (!ParseDb(c, c.arg(2), &dst_db)) return;
  if (dst_db == c.db()) return c.reply.Error("ERR source and destination objects are the same");
  const std::string from = EngineKey(c.db(), c.arg(1));
  if (!c.cache.Get(from)) return c.reply.Integer(0);
  const std::string to = EngineKey(dst_db, c.arg(1));
  if (c.cache.Contains(to)) return c.reply.Integer(0);
  Status st = OpMoveItem(c.cache, from, to);
  if (st.IsNotFound()) return c.reply.Integer(0);
  if (!st.ok()) return c.ErrorFromStatus(st);
  c.reply.Integer(1);
}

// ---- FLUSHDB, FLUSHALL

// [ASYNC|SYNC]: both free at once (the engine frees items as it removes them).
bool ParseFlushMode(CommandContext& c) {
  if (c.argc() == 1) return true;
  if (c.argc() == 2 &&
      (EqualsIgnoreCase(c.arg(1), "ASYNC") || EqualsIgnoreCase(c.arg(1), "SYNC"))) {
    return true;
  }
  c.ErrorSyntax();
  return false;
}

void OpFlushDb(Cache& cache, uint8_t db) {
  // Every item in this database: clearing the engine is much faster than a walk.
  if (cache.Stats().items == cache.KeySpace(db).items) return cache.Clear();
  std::vector<std::string> batch;
  uint64_t cursor = 0;
  do {
    batch.clear();
    cursor = cache.Scan(cursor, kWalkBatch, [&](const ItemView& v) {
      if (InDb(v.key, db)) batch.emplace_back(v.key);
    });
    // Erasing visited items does not make the walk skip or repeat the others (Cache::Scan).
    for (const std::string& k : batch) cache.Erase(k);
  } while (cursor != 0);
}

// Clear() and SWAPDB tell the change listener nothing, so the watched keys of key space `db`
// (db < 0: every one) that they change are touched here first, as Redis's
// touchAllWatchedKeysInDb does: those that exist, or with `replaced_with` (SWAPDB), that exist
// in that key space either.
void TouchWatchedInDb(CommandContext& c, int db, int replaced_with = -1) {
  WatchTable& watches = c.server.watches();
  if (!watches.active()) return;
  for (const std::string& key : watches.Keys()) {
    if (db >= 0 && DbOf(key) != db) continue;
    if (c.cache.Contains(key) ||
        (replaced_with >= 0 &&
         c.cache.Contains(EngineKey(static_cast<uint8_t>(replaced_with), UserKeyOf(key))))) {
      watches.Touch(key);
    }
  }
}

void CmdFlushDb(CommandContext& c) {
  if (!ParseFlushMode(c)) return;
  TouchWatchedInDb(c, c.db());
  OpFlushDb(c.cache, c.db());
  c.reply.SimpleString("OK");
}

// SWAPDB: the two databases exchange their key spaces in the engine's key (db_key.h) through
// Server::StoredDb, in O(1) like Redis's pointer swap; a client that selected one sees the
// other's keys at its next command. Transactions watching keys of either fail, as in Redis.
void CmdSwapDb(CommandContext& c) {
  // Redis reads each as an int (getIntFromObjectOrReply): a number past its range is invalid.
  auto parse = [&](size_t i, int64_t* v) {
    return ParseInt64(c.arg(i), v) && *v >= INT_MIN && *v <= INT_MAX;
  };
  int64_t a, b;
  if (!parse(1, &a)) return c.reply.Error("ERR invalid first DB index");
  if (!parse(2, &b)) return c.reply.Error("ERR invalid second DB index");
  const int64_t dbs = c.server.config().databases;
  if (a < 0 || a >= dbs || b < 0 || b >= dbs) return c.reply.Error("ERR DB index is out of range");
  if (c.server.origin() != nullptr) {
    // The slower tier holds keys under their engine key space, which SWAPDB would exchange in
    // the cache but not there (nor across a restart).
    return c.reply.Error("ERR SWAPDB is not supported with a slower tier (origin)");
  }
  if (a != b) {
    const uint8_t stored_a = c.server.StoredDb(static_cast<uint8_t>(a));
    const uint8_t stored_b = c.server.StoredDb(static_cast<uint8_t>(b));
    TouchWatchedInDb(c, stored_a, stored_b);
    TouchWatchedInDb(c, stored_b, stored_a);
    c.server.SwapDbs(static_cast<uint8_t>(a), static_cast<uint8_t>(b));
  }
  c.reply.SimpleString("OK");
}

void CmdFlushAll(CommandContext& c) {
  if (!ParseFlushMode(c)) return;
  TouchWatchedInDb(c, -1);
  c.cache.Clear();
  c.reply.SimpleString("OK");
}

// ---- EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT

enum ExpireFlag : uint32_t { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };

// Redis 7's NX | XX | GT | LT; false with Redis's error.
bool ParseExpireFlags(CommandContext& c, uint32_t* flags) {
  for (size_t i = 3; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    if (EqualsIgnoreCase(a, "NX")) {
      *flags |= kNx;
    } else if (EqualsIgnoreCase(a, "XX")) {
      *flags |= kXx;
    } else if (EqualsIgnoreCase(a, "GT")) {
      *flags |= kGt;
    } else if (EqualsIgnoreCase(a, "LT")) {
      *flags |= kLt;
    } else {
      // Redis formats the option with %s: it ends at a NUL byte.
      c.reply.Error("ERR Unsupported option " + std::string(a.substr(0, a.find('\0'))));
      return false;
    }
  }
  if ((*flags & kNx) && (*flags & (kXx | kGt | kLt))) {
    c.reply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return false;
  }
  if ((*flags & kGt) && (*flags & kLt)) {
    c.reply.Error("ERR GT and LT options at the same time are not compatible");
    return false;
  }
  return true;
}

// Sets the key's expiry to `when` (absolute ms) if the flags allow; a time not in the future
// deletes the key. The check and the change are one step. *set: whether it did either.
Status OpExpire(Cache& cache, std::string_view key, int64_t when, int64_t now, uint32_t flags,
                bool* set) {
  *set = false;
  return cache.Update(key, [&](const ItemView* cur, Mutation* m) {
    if (cur == nullptr) return;
    // -1: no expiry, which GT and LT read as an infinite one.
    const int64_t current = cur->expires_at_ms == 0 ? -1 : cur->expires_at_ms;
    if ((flags & kNx) && current != -1) return;
    if ((flags & kXx) && current == -1) return;
    if ((flags & kGt) && (current == -1 || when <= current)) return;
    if ((flags & kLt) && current != -1 && when >= current) return;
    *set = true;
    if (when <= now) {
      m->action = Action::kErase;
    } else {
      m->action = Action::kSetExpiry;
      m->expires_at_ms = when;
    }
  });
}

void ExpireGeneric(CommandContext& c, bool relative, bool seconds, const char* name) {
  uint32_t flags = 0;
  if (!ParseExpireFlags(c, &flags)) return;
  int64_t when;
  if (!ParseInt64(c.arg(2), &when)) return c.ErrorNotInteger();
  auto invalid = [&] {
    c.reply.Error(std::string("ERR invalid expire time in '") + name + "' command");
  };
  // Negative times are allowed (they delete the key); only overflow is refused.
  if (seconds) {
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) return invalid();
    when *= 1000;
  }
  const int64_t now = c.NowMs();
  const int64_t base = relative ? now : 0;
  if (when > LLONG_MAX - base) return invalid();
  when += base;
  bool set;
  Status st = OpExpire(c.cache, c.Key(1), when, now, flags, &set);
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (set) c.TouchWatched(c.Key(1));
  c.reply.Integer(set ? 1 : 0);
}

void CmdExpire(CommandContext& c) { ExpireGeneric(c, true, true, "expire"); }
void CmdPExpire(CommandContext& c) { ExpireGeneric(c, true, false, "pexpire"); }
void CmdExpireAt(CommandContext& c) { ExpireGeneric(c, false, true, "expireat"); }
void CmdPExpireAt(CommandContext& c) { ExpireGeneric(c, false, false, "pexpireat"); }

// ---- TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST

// -2: no key; -1: no expiry; else the remaining (or absolute) time, seconds rounded as Redis.
void TtlGeneric(CommandContext& c, bool ms, bool absolute) {
  Handle h = c.cache.Get(c.Key(1));
  if (!h) return c.reply.Integer(-2);
  if (h.expires_at_ms() == 0) return c.reply.Integer(-1);
  int64_t ttl = absolute ? h.expires_at_ms() : h.expires_at_ms() - c.NowMs();
  if (ttl < 0) ttl = 0;
  // (ttl + 500) / 1000 as Redis, without its overflow near INT64_MAX.
  c.reply.Integer(ms ? ttl : ttl / 1000 + (ttl % 1000 >= 500 ? 1 : 0));
}

void CmdTtl(CommandContext& c) { TtlGeneric(c, false, false); }
void CmdPTtl(CommandContext& c) { TtlGeneric(c, true, false); }
void CmdExpireTime(CommandContext& c) { TtlGeneric(c, false, true); }
void CmdPExpireTime(CommandContext& c) { TtlGeneric(c, true, true); }

void CmdPersist(CommandContext& c) {
  bool removed = false;
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation* m) {
    if (cur == nullptr || cur->expires_at_ms == 0) return;
    removed = true;
    m->action = Action::kSetExpiry;
    m->expires_at_ms = 0;
  });
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (removed) c.TouchWatched(c.Key(1));
  c.reply.Integer(removed ? 1 : 0);
}

}  // namespace

void RegisterKeyspaceFamily(CommandRegistry* r) {
  using namespace cmd;
  const uint32_t kRo = kReadOnly | kFast;
  const uint32_t kWf = kWrite | kFast;
  r->Add({"del", -2, kWrite | kNoLoad, 1, -1, 1, CmdDel, "generic", "Deletes one or more keys."});
  r->Add({"unlink", -2, kWf | kNoLoad, 1, -1, 1, CmdDel, "generic",
          "Asynchronously deletes one or more keys."});
  r->Add({"exists", -2, kRo, 1, -1, 1, CmdExists, "generic",
          "Determines whether one or more keys exist."});
  r->Add({"touch", -2, kRo, 1, -1, 1, CmdTouch, "generic",
          "Returns the number of existing keys out of those specified after updating the time they "
          "were last accessed."});
  r->Add({"type", 2, kRo, 1, 1, 1, CmdType, "generic",
          "Determines the type of value stored at a key."});
  r->Add({"keys", 2, kReadOnly, 0, 0, 0, CmdKeys, "generic",
          "Returns all key names that match a pattern."});
  r->Add({"scan", -2, kReadOnly, 0, 0, 0, CmdScan, "generic",
          "Iterates over the key names in the database."});
  r->Add({"randomkey", 1, kReadOnly, 0, 0, 0, CmdRandomKey, "generic",
          "Returns a random key name from the database."});
  r->Add({"rename", 3, kWrite | kExclusive, 1, 2, 1, CmdRename, "generic",
          "Renames a key and overwrites the destination."});
  r->Add({"renamenx", 3, kWf | kExclusive, 1, 2, 1, CmdRenameNx, "generic",
          "Renames a key only when the target key name doesn't exist."});
  r->Add({"copy", -3, kWrite | kDenyOom | kExclusive, 1, 2, 1, CmdCopy, "generic",
          "Copies the value of a key to a new key."});
  r->Add({"move", 3, kWf | kExclusive, 1, 1, 1, CmdMove, "generic",
          "Moves a key to another database."});
  r->Add({"flushdb", -1, kWrite | kExclusive, 0, 0, 0, CmdFlushDb, "server",
          "Removes all keys from the current database."});
  r->Add(
      {"swapdb", 3, kWf | kExclusive, 0, 0, 0, CmdSwapDb, "server", "Swaps two Redis databases."});
  r->Add({"flushall", -1, kWrite | kExclusive, 0, 0, 0, CmdFlushAll, "server",
          "Removes all keys from all databases."});
  r->Add({"expire", -3, kWf, 1, 1, 1, CmdExpire, "generic",
          "Sets the expiration time of a key in seconds."});
  r->Add({"pexpire", -3, kWf, 1, 1, 1, CmdPExpire, "generic",
          "Sets the expiration time of a key in milliseconds."});
  r->Add({"expireat", -3, kWf, 1, 1, 1, CmdExpireAt, "generic",
          "Sets the expiration time of a key to a Unix timestamp."});
  r->Add({"pexpireat", -3, kWf, 1, 1, 1, CmdPExpireAt, "generic",
          "Sets the expiration time of a key to a Unix milliseconds timestamp."});
  r->Add({"ttl", 2, kRo, 1, 1, 1, CmdTtl, "generic",
          "Returns the expiration time in seconds of a key."});
  r->Add({"pttl", 2, kRo, 1, 1, 1, CmdPTtl, "generic",
          "Returns the expiration time in milliseconds of a key."});
  r->Add({"expiretime", 2, kRo, 1, 1, 1, CmdExpireTime, "generic",
          "Returns the expiration time of a key as a Unix timestamp."});
  r->Add({"pexpiretime", 2, kRo, 1, 1, 1, CmdPExpireTime, "generic",
          "Returns the expiration time of a key as a Unix milliseconds timestamp."});
  r->Add(
      {"persist", 2, kWf, 1, 1, 1, CmdPersist, "generic", "Removes the expiration time of a key."});
}

}  // namespace kvcache::server
