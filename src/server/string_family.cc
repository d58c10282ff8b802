// String commands: GET, SET and its options, counters, ranges, multi-key reads and writes.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "kvcache/tensor.h"
#include "server/command.h"
#include "server/connection.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

using Action = Mutation::Action;

bool IsString(const ItemView* v) { return v == nullptr || v->kind == ValueKind::kString; }

// ---- GET family

// GET of a tensor (a row read through from a .npy file) answers its data, the bytes a client
// turns back into an array with np.frombuffer.
bool Gettable(const Handle& h) {
  return h.kind() == ValueKind::kString || h.kind() == ValueKind::kTensor;
}
// The bytes GET answers: a tensor's data without its trailer.
size_t DataSize(const Handle& h) {
  return h.kind() == ValueKind::kTensor ? TensorDataSize(h.value()) : h.value().size();
}

void CmdGet(CommandContext& c) {
  Handle h = c.cache.Get(c.Key(1));
  if (!h) return c.reply.Null();
  if (!Gettable(h)) return c.ErrorWrongType();
  const size_t size = DataSize(h);
  c.BulkFromHandle(std::move(h), 0, size);
}

void CmdMGet(CommandContext& c) {
  std::vector<std::string_view> keys(c.argc() - 1);
  for (size_t i = 1; i < c.argc(); ++i) keys[i - 1] = c.Key(i);
  std::vector<Handle> rows = c.cache.MultiGet(keys);  // lookups overlapped, in one pass
  c.FillJustLoaded(keys, &rows);
  c.reply.ArrayHeader(c.argc() - 1);
  for (Handle& h : rows) {
    if (!h || !Gettable(h)) {
      c.reply.Null();
    } else {
      const size_t size = DataSize(h);
      c.BulkFromHandle(std::move(h), 0, size);
    }
  }
}

void CmdStrlen(CommandContext& c) {
  Handle h = c.cache.Get(c.Key(1));
  if (h && h.kind() != ValueKind::kString) return c.ErrorWrongType();
  c.reply.Integer(h ? static_cast<int64_t>(h.value().size()) : 0);
}

// Redis's GETRANGE index rules: negative counts from the end, clamped, empty if crossed.
void CmdGetRange(CommandContext& c) {
  int64_t start, end;
  if (!ParseInt64(c.arg(2), &start) || !ParseInt64(c.arg(3), &end)) return c.ErrorNotInteger();
  Handle h = c.cache.Get(c.Key(1));
  if (h && h.kind() != ValueKind::kString) return c.ErrorWrongType();
  std::string_view v = h ? h.value() : std::string_view();
  const int64_t len = static_cast<int64_t>(v.size());
  if (start < 0 && end < 0 && start > end) return c.reply.Bulk("");
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (len == 0 || start > end) return c.reply.Bulk("");
  c.reply.Bulk(v.substr(static_cast<size_t>(start), static_cast<size_t>(end - start + 1)));
}

// ---- expiry arguments shared by SET and GETEX

enum class ExpiryKind { kNone, kEx, kPx, kExAt, kPxAt, kPersist, kKeepTtl };

// Turns "EX 10" and friends into an absolute time; false with Redis's error on bad input.
// The absolute expiry (ms) that an EX/PX/EXAT/PXAT argument names, or why it names none.
enum class ExpiryError { kNone, kNotInteger, kInvalid };
ExpiryError ParseExpiry(ExpiryKind kind, std::string_view arg, int64_t now_ms, int64_t* at_ms) {
  int64_t v;
  if (!ParseInt64(arg, &v)) return ExpiryError::kNotInteger;
  const bool seconds = kind == ExpiryKind::kEx || kind == ExpiryKind::kExAt;
  if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) return ExpiryError::kInvalid;
  int64_t ms = seconds ? v * 1000 : v;
  if (kind == ExpiryKind::kEx || kind == ExpiryKind::kPx) {
    if (ms > LLONG_MAX - now_ms) return ExpiryError::kInvalid;
    ms += now_ms;
  }
  *at_ms = ms;
  return ExpiryError::kNone;
}

void ReplyExpiryError(CommandContext& c, ExpiryError e, const char* cmd) {
  if (e == ExpiryError::kNotInteger) return c.ErrorNotInteger();
  c.reply.Error(std::string("ERR invalid expire time in '") + cmd + "' command");
}

// ParseExpiry, answering the client when the argument is bad.
bool ResolveExpiry(CommandContext& c, ExpiryKind kind, std::string_view arg, const char* cmd,
                   int64_t* at_ms) {
  const ExpiryError e = ParseExpiry(kind, arg, c.NowMs(), at_ms);
  if (e != ExpiryError::kNone) ReplyExpiryError(c, e, cmd);
  return e == ExpiryError::kNone;
}

// ---- SET family

}  // namespace

bool ParseSetArgs(CommandContext& c, SetArgs* out) {
  WriteOptions& o = out->options;
  o.ttl = kNoExpiry;
  ExpiryKind expiry = ExpiryKind::kNone;
  std::string_view expiry_arg;
  for (size_t i = 3; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    // As Redis: an option may repeat (the last one counts, and only its argument is read), but
    // not meet another kind of expiry.
    auto exp = [&](ExpiryKind k) {
      if ((expiry != ExpiryKind::kNone && expiry != k) || i + 1 >= c.argc()) return false;
      expiry = k;
      expiry_arg = c.arg(++i);
      return true;
    };
    bool ok = true;
    if (EqualsIgnoreCase(a, "NX") && o.condition != WriteOptions::Condition::kIfPresent) {
      o.condition = WriteOptions::Condition::kIfAbsent;
    } else if (EqualsIgnoreCase(a, "XX") && o.condition != WriteOptions::Condition::kIfAbsent) {
      o.condition = WriteOptions::Condition::kIfPresent;
    } else if (EqualsIgnoreCase(a, "GET")) {
      out->get = true;
    } else if (EqualsIgnoreCase(a, "KEEPTTL") &&
               (expiry == ExpiryKind::kNone || expiry == ExpiryKind::kKeepTtl)) {
      expiry = ExpiryKind::kKeepTtl;
    } else if (EqualsIgnoreCase(a, "EX")) {
      ok = exp(ExpiryKind::kEx);
    } else if (EqualsIgnoreCase(a, "PX")) {
      ok = exp(ExpiryKind::kPx);
    } else if (EqualsIgnoreCase(a, "EXAT")) {
      ok = exp(ExpiryKind::kExAt);
    } else if (EqualsIgnoreCase(a, "PXAT")) {
      ok = exp(ExpiryKind::kPxAt);
    } else {
      ok = false;
    }
    if (!ok) {
      c.ErrorSyntax();
      return false;
    }
  }
  if (expiry == ExpiryKind::kKeepTtl) {
    o.keep_ttl = true;
  } else if (expiry != ExpiryKind::kNone) {
    if (!ResolveExpiry(c, expiry, expiry_arg, "set", &o.expires_at_ms)) return false;
  }
  return true;
}

bool ParseExpiryArg(CommandContext& c, bool seconds, std::string_view arg, const char* cmd,
                    int64_t* at_ms) {
  return ResolveExpiry(c, seconds ? ExpiryKind::kEx : ExpiryKind::kPx, arg, cmd, at_ms);
}

ValueBuffer ValueBufferFor(Cache& cache, uint8_t db, std::span<const std::string_view> args,
                           size_t size) {
  if (args.size() < 2) return ValueBuffer();
  size_t value_at = 0;
  if (EqualsIgnoreCase(args[0], "set")) {
    value_at = 2;
  } else if (EqualsIgnoreCase(args[0], "setex") || EqualsIgnoreCase(args[0], "psetex")) {
    value_at = 3;
  }
  if (value_at != args.size()) return ValueBuffer();
  return cache.NewValue(EngineKey(db, args[1]), size);
}

namespace {

// Stores args[value_at] under key: without a copy when it was received into the engine's
// memory (ValueBufferFor), which is then used up.
Status WriteValue(CommandContext& c, std::string_view key, size_t value_at,
                  const WriteOptions& o) {
  ValueBuffer* in_place = c.conn.received_value(value_at);
  if (in_place != nullptr && in_place->data() == c.arg(value_at).data() &&
      in_place->key() == key) {
    return c.cache.Write(std::move(*in_place), o);
  }
  return c.cache.Write(key, c.arg(value_at), o);
}

void CmdSet(CommandContext& c) {
  SetArgs set;
  if (!ParseSetArgs(c, &set)) return;
  const WriteOptions& o = set.options;
  const bool get = set.get;
  const std::string_view key = c.Key(1);
  const std::string_view value = c.arg(2);
  if (!get) {
    Status st = WriteValue(c, key, 2, o);
    if (st.IsNotFound()) return c.reply.Null();
    if (!st.ok()) return c.ErrorFromStatus(st);
    return c.reply.SimpleString("OK");
  }
  // SET ... GET: the old value must be a string, and the check and the write are one step.
  bool wrong_type = false, had_old = false;
  std::string old;
  Status st = c.cache.Update(key, [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      wrong_type = true;
      return;
    }
    if (cur != nullptr) {
      had_old = true;
      old.assign(cur->value);
    }
    if ((o.condition == WriteOptions::Condition::kIfAbsent && cur != nullptr) ||
        (o.condition == WriteOptions::Condition::kIfPresent && cur == nullptr)) {
      return;
    }
    m->action = Action::kStore;
    m->value.assign(value);
    m->expires_at_ms = o.keep_ttl ? (cur ? cur->expires_at_ms : 0) : o.expires_at_ms;
  });
  if (wrong_type) return c.ErrorWrongType();
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (!had_old) return c.reply.Null();
  c.reply.Bulk(old);
}

void CmdSetNx(CommandContext& c) {
  WriteOptions o;
  o.ttl = kNoExpiry;
  o.condition = WriteOptions::Condition::kIfAbsent;
  Status st = c.cache.Write(c.Key(1), c.arg(2), o);
  if (st.IsNotFound()) return c.reply.Integer(0);
  if (!st.ok()) return c.ErrorFromStatus(st);
  c.reply.Integer(1);
}

void SetWithExpiry(CommandContext& c, ExpiryKind kind, const char* name) {
  WriteOptions o;
  if (!ResolveExpiry(c, kind, c.arg(2), name, &o.expires_at_ms)) return;
  Status st = WriteValue(c, c.Key(1), 3, o);
  if (!st.ok()) return c.ErrorFromStatus(st);
  c.reply.SimpleString("OK");
}
void CmdSetEx(CommandContext& c) { SetWithExpiry(c, ExpiryKind::kEx, "setex"); }
void CmdPSetEx(CommandContext& c) { SetWithExpiry(c, ExpiryKind::kPx, "psetex"); }

// GETSET, GETDEL and GETEX: read the old value and change the key in one step.
void GetAndChange(CommandContext& c, std::string_view key,
                  FunctionRef<void(const ItemView&, Mutation*)> change) {
  bool wrong_type = false, found = false;
  std::string old;
  Status st = c.cache.Update(key, [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      wrong_type = true;
      return;
    }
    if (cur == nullptr) return;
    found = true;
    old.assign(cur->value);
    change(*cur, m);
  });
  if (wrong_type) return c.ErrorWrongType();
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (!found) return c.reply.Null();
  c.reply.Bulk(old);
}

void CmdGetSet(CommandContext& c) {
  bool wrong_type = false, found = false;
  std::string old;
  std::string_view value = c.arg(2);
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      wrong_type = true;
      return;
    }
    if (cur != nullptr) {
      found = true;
      old.assign(cur->value);
    }
    m->action = Action::kStore;
    m->value.assign(value);
  });
  if (wrong_type) return c.ErrorWrongType();
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (!found) return c.reply.Null();
  c.reply.Bulk(old);
}

void CmdGetDel(CommandContext& c) {
  GetAndChange(c, c.Key(1), [](const ItemView&, Mutation* m) { m->action = Action::kErase; });
}

void CmdGetEx(CommandContext& c) {
  // As Redis: the options' names first (syntax error), then a missing key (nil), then the
  // key's type, then the number. GetAndChange reports the first two, so a bad number waits
  // for a look at the key.
  ExpiryKind kind = ExpiryKind::kNone;
  std::string_view when;
  for (size_t i = 2; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    ExpiryKind k = EqualsIgnoreCase(a, "EX")        ? ExpiryKind::kEx
                   : EqualsIgnoreCase(a, "PX")      ? ExpiryKind::kPx
                   : EqualsIgnoreCase(a, "EXAT")    ? ExpiryKind::kExAt
                   : EqualsIgnoreCase(a, "PXAT")    ? ExpiryKind::kPxAt
                   : EqualsIgnoreCase(a, "PERSIST") ? ExpiryKind::kPersist
                                                    : ExpiryKind::kNone;
    // The same option again is allowed, and the last one counts (as SET's).
    if (k == ExpiryKind::kNone || (kind != ExpiryKind::kNone && kind != k)) {
      return c.ErrorSyntax();
    }
    kind = k;
    if (k != ExpiryKind::kPersist) {
      if (i + 1 >= c.argc()) return c.ErrorSyntax();
      when = c.arg(++i);
    }
  }
  int64_t at = 0;
  if (kind != ExpiryKind::kNone && kind != ExpiryKind::kPersist) {
    if (const ExpiryError e = ParseExpiry(kind, when, c.NowMs(), &at); e != ExpiryError::kNone) {
      Handle h = c.cache.Get(c.Key(1));
      if (!h) return c.reply.Null();
      if (h.kind() != ValueKind::kString) return c.ErrorWrongType();
      return ReplyExpiryError(c, e, "getex");
    }
  }
  bool expiry_set = false;
  GetAndChange(c, c.Key(1), [&](const ItemView&, Mutation* m) {
    if (kind == ExpiryKind::kNone) return;
    m->action = Action::kSetExpiry;
    m->expires_at_ms = at;  // 0 for PERSIST
    expiry_set = true;
  });
  if (expiry_set) c.TouchWatched(c.Key(1));
}

// ---- MSET family: all keys at once (the world lock is exclusive for these).

void CmdMSet(CommandContext& c) {
  if (c.argc() % 2 != 1) {
    return c.reply.Error("ERR wrong number of arguments for 'mset' command");
  }
  WriteOptions o;
  o.ttl = kNoExpiry;
  for (size_t i = 1; i < c.argc(); i += 2) {
    Status st = c.cache.Write(c.Key(i), c.arg(i + 1), o);
    if (!st.ok()) return c.ErrorFromStatus(st);
  }
  c.reply.SimpleString("OK");
}

void CmdMSetNx(CommandContext& c) {
  if (c.argc() % 2 != 1) {
    return c.reply.Error("ERR wrong number of arguments for 'msetnx' command");
  }
  for (size_t i = 1; i < c.argc(); i += 2) {
    if (c.cache.Contains(c.Key(i))) return c.reply.Integer(0);
  }
  WriteOptions o;
  o.ttl = kNoExpiry;
  for (size_t i = 1; i < c.argc(); i += 2) {
    Status st = c.cache.Write(c.Key(i), c.arg(i + 1), o);
    if (!st.ok()) return c.ErrorFromStatus(st);
  }
  c.reply.Integer(1);
}

// ---- in-place edits

// Writes [from, to) of a value built from `before`: its bytes, then zeros past its end.
void FillFrom(char* out, std::string_view before, size_t from, size_t to) {
  const size_t copy = from < before.size() ? std::min(to, before.size()) - from : 0;
  if (copy != 0) std::memcpy(out + from, before.data() + from, copy);
  std::memset(out + from + copy, 0, to - from - copy);
}

// Fills *m to write `piece` at `offset` of the string cur (nullptr: a new one), with zeros
// between its end and offset, and sets *length_out to the new length. A large value that no one is
// reading is written where it lies (a row of an embedding table updated in place costs the row,
// not the table); otherwise the result is a new value. A value larger than the cache can hold
// is refused before anything is built: building it (under the shard's lock, zero-filled up
// to a SETRANGE's offset) would stall the shard for nothing.
Status WriteAt(const ItemView* cur, Mutation* m, size_t offset, std::string_view piece,
               size_t* length_out) {
  const size_t old = cur != nullptr ? cur->value.size() : 0;
  const size_t end = offset + piece.size();
  const size_t length = std::max(old, end);
  if (length > m->max_value_bytes) {
    return Status::InvalidArgument("a value of " + std::to_string(length) +
                                   " bytes is larger than the cache can hold (" +
                                   std::to_string(m->max_value_bytes) + "); raise the capacity");
  }
  *length_out = length;
  if (cur != nullptr && cur->writable != nullptr && end <= cur->capacity) {
    if (offset > old) std::memset(cur->writable + old, 0, offset - old);
    std::memcpy(cur->writable + offset, piece.data(), piece.size());
    m->action = Action::kPatched;
    m->patched_size = length;
    return Status::OK();
  }
  // Built once, where the engine keeps it (a large value in its own block), not in a string
  // that the engine then copies: both copies would fill fresh memory, under the shard's lock.
  m->action = Action::kStore;
  const std::string_view before = cur != nullptr ? cur->value : std::string_view();
  m->fill_size = length;
  m->fill = [before, offset, piece, length](char* out) {
    FillFrom(out, before, 0, offset);
    std::memcpy(out + offset, piece.data(), piece.size());
    FillFrom(out, before, offset + piece.size(), length);
  };
  m->expires_at_ms = cur != nullptr ? cur->expires_at_ms : 0;
  return Status::OK();
}

// SETRANGE and APPEND: `piece` written at `offset` of the string (APPEND: at its end).
struct PieceWrite {
  bool append = false;
  size_t offset = 0;  // SETRANGE's
  std::string_view piece;
};

// The outcome of Apply(), for Answer() to reply.
struct PieceResult {
  enum { kDone, kWrongType, kTooBig, kRefused, kInSteps } outcome = kDone;
  size_t length = 0;  // the string's length afterwards
  Status status;      // kRefused
};

// Room kept after a large string that an APPEND copies (Redis's sdsMakeRoomFor: double up to
// 1 MB, then 1 MB more), so that a string built by appends costs what is appended.
size_t AppendRoom(size_t length) { return std::min(length, size_t{1} << 20); }

// Applies w to the key under its shard's lock, except (with in_steps) a value of at least
// kBuildInStepsBytes to build anew, for which it changes nothing and answers kInSteps.
PieceResult Apply(Cache& cache, std::string_view key, const PieceWrite& w, uint64_t limit,
                  bool in_steps) {
  PieceResult r;
  Status st = cache.Update(key, [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      r.outcome = PieceResult::kWrongType;
      return;
    }
    const size_t old = cur != nullptr ? cur->value.size() : 0;
    const size_t at = w.append ? old : w.offset;
    r.length = old;
    if (!w.append && w.piece.empty()) return;  // nothing to write (and no key created)
    if (static_cast<uint64_t>(at) + w.piece.size() > limit) {
      r.outcome = PieceResult::kTooBig;
      return;
    }
    r.status = WriteAt(cur, m, at, w.piece, &r.length);
    if (!r.status.ok()) {
      r.outcome = PieceResult::kRefused;
      return;
    }
    if (m->action != Action::kStore) return;
    if (cur == nullptr && w.piece.size() == r.length) return;  // the piece alone: as a SET
    if (in_steps && r.length >= kBuildInStepsBytes) {
      m->action = Action::kKeep;
      r.outcome = PieceResult::kInSteps;
    } else if (w.append && cur != nullptr) {
      m->reserve = AppendRoom(r.length);
    }
  });
  if (r.outcome == PieceResult::kDone && !st.ok()) {
    r.outcome = PieceResult::kRefused;
    r.status = st;
  }
  return r;
}

void Answer(CommandContext& c, const PieceResult& r) {
  switch (r.outcome) {
    case PieceResult::kWrongType:
      return c.ErrorWrongType();
    case PieceResult::kTooBig:
      return c.reply.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    case PieceResult::kRefused:
      return c.ErrorFromStatus(r.status);
    default:
      return c.reply.Integer(static_cast<int64_t>(r.length));
  }
}

// A large value that SETRANGE or APPEND builds anew, built in steps of about a millisecond
// between which the event loop serves the other clients, and outside the shard's lock: built
// in one go, under the lock, a 400 MB SETRANGE held up every client of that shard for 1.35 s
// (page faults of fresh memory, mostly). The new value is stored only if the key still holds
// the item it was built from (WriteOptions::Condition::kIfCurrent); if another client changed
// the key meanwhile, the command runs again in one go, under the lock, so that it ends.
struct ValueBuild {
  Server* server = nullptr;
  std::string key;    // the engine's
  PieceWrite write;   // its piece points into `piece`
  std::string piece;  // a copy: the request's buffer is not kept while the command waits
  uint64_t limit = 0;
  Handle from;      // the value built from, pinned; empty for a new key
  ValueBuffer out;  // the new value, the piece already in place
  size_t at = 0;    // where the piece is
  size_t pos = 0;   // out is built up to here (skipping the piece)

  bool operator()(Connection& conn) {
    const size_t size = out.size();
    const auto until = conn.server().StepDeadline();
    do {
      if (pos == at) pos += piece.size();
      if (pos >= size) break;
      // The old bytes, then zeros up to a SETRANGE's offset, a MiB at a time.
      const size_t end = std::min({size, pos + (size_t{1} << 20), pos < at ? at : size});
      FillFrom(out.data(), from.value(), pos, end);
      pos = end;
    } while (std::chrono::steady_clock::now() < until);
    if (pos < size) return false;
    WriteOptions o;
    o.condition = WriteOptions::Condition::kIfCurrent;
    o.current = &from;
    o.keep_ttl = true;
    PieceResult r;
    r.length = size;
    Status st = server->cache().Write(std::move(out), o);
    from.Reset();
    if (st.IsNotFound()) {
      r = Apply(server->cache(), key, write, limit, /*in_steps=*/false);
    } else if (!st.ok()) {
      r.outcome = PieceResult::kRefused;
      r.status = st;
    }
    CommandContext c(*server, conn, {});
    Answer(c, r);
    return true;
  }
};

void WritePiece(CommandContext& c, const PieceWrite& w) {
  const uint64_t limit = static_cast<uint64_t>(c.server.config().proto_max_bulk_len);
  const std::string_view key = c.Key(1);
  PieceResult r = Apply(c.cache, key, w, limit, /*in_steps=*/true);
  if (r.outcome != PieceResult::kInSteps) return Answer(c, r);
  auto b = std::make_shared<ValueBuild>();
  b->server = &c.server;
  b->key = key;
  b->piece = w.piece;
  b->write = w;
  b->write.piece = b->piece;
  b->limit = limit;
  b->from = c.cache.Peek(key);
  if (b->from && b->from.kind() != ValueKind::kString) return c.ErrorWrongType();
  const size_t old = b->from.value().size();
  b->at = w.append ? old : w.offset;
  const size_t length = std::max(old, b->at + w.piece.size());
  b->out = c.cache.NewValue(key, length, w.append && b->from ? AppendRoom(length) : 0);
  if (!b->out) return c.ErrorFromStatus(Status::NoSpace("out of memory for a large item"));
  std::memcpy(b->out.data() + b->at, w.piece.data(), w.piece.size());
  c.server.RunInSteps(c.conn, w.append ? "append" : "setrange",
                      [b](Connection& conn) { return (*b)(conn); });
}

void CmdAppend(CommandContext& c) { WritePiece(c, PieceWrite{true, 0, c.arg(2)}); }

void CmdSetRange(CommandContext& c) {
  int64_t offset;
  if (!ParseInt64(c.arg(2), &offset)) return c.ErrorNotInteger();
  if (offset < 0) return c.reply.Error("ERR offset is out of range");
  WritePiece(c, PieceWrite{false, static_cast<size_t>(offset), c.arg(3)});
}

// ---- counters

void IncrBy(CommandContext& c, int64_t delta) {
  enum { kOk, kWrongType, kNotInteger, kOverflow } outcome = kOk;
  int64_t result = 0;
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      outcome = kWrongType;
      return;
    }
    int64_t v = 0;
    if (cur != nullptr && !ParseInt64(cur->value, &v)) {
      outcome = kNotInteger;
      return;
    }
    if ((delta < 0 && v < 0 && delta < LLONG_MIN - v) ||
        (delta > 0 && v > 0 && delta > LLONG_MAX - v)) {
      outcome = kOverflow;
      return;
    }
    result = v + delta;
    m->action = Action::kStore;
    m->value = std::to_string(result);
    m->expires_at_ms = cur ? cur->expires_at_ms : 0;
  });
  if (outcome == kWrongType) return c.ErrorWrongType();
  if (outcome == kNotInteger) return c.ErrorNotInteger();
  if (outcome == kOverflow) return c.reply.Error("ERR increment or decrement would overflow");
  if (!st.ok()) return c.ErrorFromStatus(st);
  c.reply.Integer(result);
}

void CmdIncr(CommandContext& c) { IncrBy(c, 1); }
void CmdDecr(CommandContext& c) { IncrBy(c, -1); }
void CmdIncrBy(CommandContext& c) {
  int64_t d;
  if (!ParseInt64(c.arg(2), &d)) return c.ErrorNotInteger();
  IncrBy(c, d);
}
void CmdDecrBy(CommandContext& c) {
  int64_t d;
  if (!ParseInt64(c.arg(2), &d)) return c.ErrorNotInteger();
  if (d == LLONG_MIN) return c.reply.Error("ERR decrement would overflow");
  IncrBy(c, -d);
}

void CmdIncrByFloat(CommandContext& c) {
  // Long double arithmetic and formatting, as Redis: "10.5" + "0.1" gives "10.6". As Redis
  // too, the key's type is checked before either number (INCRBY checks its argument first).
  long double incr;
  const bool incr_ok = ParseLongDouble(c.arg(2), &incr);
  enum { kOk, kWrongType, kNotFloat, kNanOrInf } outcome = kOk;
  std::string text;
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation* m) {
    if (!IsString(cur)) {
      outcome = kWrongType;
      return;
    }
    long double v = 0;
    if ((cur != nullptr && !ParseLongDouble(cur->value, &v)) || !incr_ok) {
      outcome = kNotFloat;
      return;
    }
    long double r = v + incr;
    if (std::isnan(r) || std::isinf(r)) {
      outcome = kNanOrInf;
      return;
    }
    text = FormatDouble(r);
    m->action = Action::kStore;
    m->value = text;
    m->expires_at_ms = cur ? cur->expires_at_ms : 0;
  });
  if (outcome == kWrongType) return c.ErrorWrongType();
  if (outcome == kNotFloat) return c.ErrorNotFloat();
  if (outcome == kNanOrInf) return c.reply.Error("ERR increment would produce NaN or Infinity");
  if (!st.ok()) return c.ErrorFromStatus(st);
  c.reply.Bulk(text);  // a bulk string in RESP3 too, as Redis does
}

}  // namespace

void RegisterStringFamily(CommandRegistry* r) {
  using namespace cmd;
  const uint32_t kW = kWrite | kDenyOom;
  r->Add({"get", 2, kReadOnly | kFast, 1, 1, 1, CmdGet, "string", "Returns the string value of a key."});
  r->Add({"mget", -2, kReadOnly | kFast, 1, -1, 1, CmdMGet, "string", "Atomically returns the string values of one or more keys."});
  r->Add({"strlen", 2, kReadOnly | kFast, 1, 1, 1, CmdStrlen, "string", "Returns the length of a string value."});
  r->Add({"getrange", 4, kReadOnly, 1, 1, 1, CmdGetRange, "string", "Returns a substring of the string stored at a key."});
  r->Add({"substr", 4, kReadOnly, 1, 1, 1, CmdGetRange, "string", "Returns a substring from a string value."});
  r->Add({"set", -3, kW | kNoLoad, 1, 1, 1, CmdSet, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."});
  r->Add({"setnx", 3, kW | kFast, 1, 1, 1, CmdSetNx, "string", "Set the string value of a key only when the key doesn't exist."});
  r->Add({"setex", 4, kW | kNoLoad, 1, 1, 1, CmdSetEx, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."});
  r->Add({"psetex", 4, kW | kNoLoad, 1, 1, 1, CmdPSetEx, "string", "Sets both string value and expiration time in milliseconds of a key."});
  r->Add({"getset", 3, kW | kFast, 1, 1, 1, CmdGetSet, "string", "Returns the previous string value of a key after setting it to a new value."});
  r->Add({"getdel", 2, kWrite | kFast, 1, 1, 1, CmdGetDel, "string", "Returns the string value of a key after deleting the key."});
  r->Add({"getex", -2, kWrite | kFast, 1, 1, 1, CmdGetEx, "string", "Returns the string value of a key after setting its expiration time."});
  r->Add({"mset", -3, kW | kExclusive | kNoLoad, 1, -1, 2, CmdMSet, "string", "Atomically creates or modifies the string values of one or more keys."});
  r->Add({"msetnx", -3, kW | kExclusive, 1, -1, 2, CmdMSetNx, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist."});
  r->Add({"append", 3, kW, 1, 1, 1, CmdAppend, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."});
  r->Add({"setrange", 4, kW, 1, 1, 1, CmdSetRange, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."});
  r->Add({"incr", 2, kW | kFast, 1, 1, 1, CmdIncr, "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."});
  r->Add({"decr", 2, kW | kFast, 1, 1, 1, CmdDecr, "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."});
  r->Add({"incrby", 3, kW | kFast, 1, 1, 1, CmdIncrBy, "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."});
  r->Add({"decrby", 3, kW | kFast, 1, 1, 1, CmdDecrBy, "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."});
  r->Add({"incrbyfloat", 3, kW | kFast, 1, 1, 1, CmdIncrByFloat, "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."});
}

}  // namespace kvcache::server
