// Hash commands: a hash is one cache item of ValueKind::kHash (evicted and expired as a whole)
// whose value is the encoding of hash_codec.h. Reads look into the pinned value in place; writes
// are one cache.Update each (a patched copy of a large hash, a small one encoded again), so every
// command is atomic.
#include <climits>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/command.h"
#include "server/connection.h"
#include "server/hash_codec.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

using Action = Mutation::Action;

constexpr std::string_view kCorruptHash = "ERR hash value is corrupt";

// ---- reads

// Keeps a hash item pinned while the socket still has to send bytes of it.
struct SharedPin final : protocol::ReplyBuilder::Owner {
  explicit SharedPin(std::shared_ptr<Handle> h) : handle(std::move(h)) {}
  std::shared_ptr<Handle> handle;
};

// A read command's hash: the pinned item and a checked view of it. Bulk() sends bytes of the
// view, copied when small and referenced where they lie when large (as BulkFromHandle does for
// strings), so a hash of large values is not copied into the output buffer.
class PinnedHash {
 public:
  // Looks up args[1]. False (after replying with an error) if it is not a valid hash; true
  // otherwise, with found() telling whether the key exists. `whole`: the command replies with
  // every entry, so all of them are checked first (the reply's length comes before them).
  bool Open(CommandContext& c, bool whole = false) {
    handle_ = c.cache.Get(c.Key(1));
    if (!handle_) return true;
    if (handle_.kind() != ValueKind::kHash) {
      c.ErrorWrongType();
      return false;
    }
    if (!HashView::Parse(handle_.value(), &view_) || (whole && !view_.CheckEntries())) {
      c.reply.Error(kCorruptHash);
      return false;
    }
    found_ = true;
    encoded_bytes_ = handle_.value().size();
    return true;
  }

  bool found() const { return found_; }
  size_t encoded_bytes() const { return encoded_bytes_; }
  const HashView& view() const { return view_; }

  // REQUIRES: bytes lie inside the view.
  void Bulk(protocol::ReplyBuilder& reply, std::string_view bytes) {
    constexpr size_t kZeroCopyBytes = 16 << 10;
    if (bytes.size() < kZeroCopyBytes) return reply.Bulk(bytes);
    // The item's bytes stay where they are when the Handle moves: the view remains valid.
    if (!shared_) shared_ = std::make_shared<Handle>(std::move(handle_));
    reply.BulkExternal(bytes.data(), bytes.size(), std::make_unique<SharedPin>(shared_));
  }

 private:
  Handle handle_;
  std::shared_ptr<Handle> shared_;
  HashView view_;
  size_t encoded_bytes_ = 0;
  bool found_ = false;
};

void CmdHGet(CommandContext& c) {
  PinnedHash h;
  if (!h.Open(c)) return;
  std::string_view value;
  if (!h.found() || !h.view().Find(c.arg(2), &value)) return c.reply.Null();
  h.Bulk(c.reply, value);
}

void CmdHMGet(CommandContext& c) {
  PinnedHash h;
  if (!h.Open(c)) return;
  const size_t n = c.argc() - 2;
  c.reply.ArrayHeader(n);
  if (!h.found()) {
    for (size_t i = 0; i < n; ++i) c.reply.Null();
    return;
  }
  // One scan per field is cheap for small hashes; many fields of a big list (from an older
  // version: big hashes are indexed) get an index.
  std::unordered_map<std::string_view, std::string_view> index;
  if (n > 8 && h.view().size() > 32 && !h.view().indexed()) {
    index.reserve(h.view().size());
    for (HashEntry e : h.view()) index.emplace(e.field, e.value);
  }
  for (size_t i = 2; i < c.argc(); ++i) {
    std::string_view value;
    bool present;
    if (index.empty()) {
      present = h.view().Find(c.arg(i), &value);
    } else {
      auto it = index.find(c.arg(i));
      present = it != index.end();
      if (present) value = it->second;
    }
    if (present) {
      h.Bulk(c.reply, value);
    } else {
      c.reply.Null();
    }
  }
}

enum Parts { kFields = 1, kValues = 2 };

// Entries a whole-hash reply writes per step. A bigger hash is answered in steps (Server::
// RunInSteps), its item pinned meanwhile (so it cannot change under the reply: a writer makes a
// new copy instead of patching it in place), and the other clients of the thread are served in
// between: HGETALL of a 630k-field hash takes ~40 ms.
constexpr size_t kEntriesPerStep = 16384;

// Writes the entries from *at on, at most `max` of them; true at the end.
bool WriteEntries(PinnedHash& h, protocol::ReplyBuilder& reply, HashView::Iterator* at, int parts,
                  size_t max) {
  const HashView::Iterator end = h.view().end();
  for (size_t i = 0; i < max && !(*at == end); ++i, ++*at) {
    const HashEntry e = **at;
    if (parts & kFields) h.Bulk(reply, e.field);
    if (parts & kValues) h.Bulk(reply, e.value);
  }
  return *at == end;
}

// The rest of a whole-hash reply, written step by step.
struct HashReplyWalk {
  std::shared_ptr<PinnedHash> hash;
  HashView::Iterator at;
  int parts;

  bool operator()(Connection& conn) {
    return WriteEntries(*hash, conn.reply(), &at, parts, kEntriesPerStep);
  }
};

// HGETALL (a map of both), HKEYS and HVALS (arrays), in field order.
void ReplyAll(CommandContext& c, int parts, std::string_view command) {
  PinnedHash h;
  if (!h.Open(c, /*whole=*/true)) return;
  const size_t n = h.found() ? h.view().size() : 0;
  if (parts == (kFields | kValues)) {
    c.reply.MapHeader(n);
  } else {
    c.reply.ArrayHeader(n);
  }
  if (!h.found()) return;
  if (n <= kEntriesPerStep) {
    HashView::Iterator at = h.view().begin();
    WriteEntries(h, c.reply, &at, parts, n);
    return;
  }
  // The item's bytes stay where they are when the pin moves: the view and its iterators remain
  // valid.
  auto shared = std::make_shared<PinnedHash>(std::move(h));
  c.server.RunInSteps(c.conn, command, HashReplyWalk{shared, shared->view().begin(), parts});
}

void CmdHGetAll(CommandContext& c) { ReplyAll(c, kFields | kValues, "hgetall"); }
void CmdHKeys(CommandContext& c) { ReplyAll(c, kFields, "hkeys"); }
void CmdHVals(CommandContext& c) { ReplyAll(c, kValues, "hvals"); }

void CmdHLen(CommandContext& c) {
  PinnedHash h;
  if (!h.Open(c)) return;
  c.reply.Integer(h.found() ? static_cast<int64_t>(h.view().size()) : 0);
}

void CmdHExists(CommandContext& c) {
  PinnedHash h;
  if (!h.Open(c)) return;
  std::string_view value;
  c.reply.Integer(h.found() && h.view().Find(c.arg(2), &value) ? 1 : 0);
}

void CmdHStrlen(CommandContext& c) {
  PinnedHash h;
  if (!h.Open(c)) return;
  std::string_view value;
  const bool present = h.found() && h.view().Find(c.arg(2), &value);
  c.reply.Integer(present ? static_cast<int64_t>(value.size()) : 0);
}

// ---- HSCAN

// HSCAN key cursor [MATCH pattern] [COUNT count], as Redis's scanGenericCommand: a hash in the
// list layout is returned whole with cursor 0, as Redis returns a listpack; an indexed one is
// walked by ScanSlot until COUNT fields are found or 10 * COUNT slots were looked at. MATCH
// filters what was found, so a step may return fewer fields, or none, before the end.
void CmdHScan(CommandContext& c) {
  uint64_t cursor;
  if (!ParseCursor(c.arg(2), &cursor)) return c.reply.Error("ERR invalid cursor");
  PinnedHash h;
  if (!h.Open(c)) return;
  // Redis reads the options only for an existing hash: a missing key answers an empty scan.
  ScanOptions o;
  if (h.found() && !ParseScanOptions(c, 3, /*with_type=*/false, &o)) return;
  std::vector<HashEntry> found;
  if (!h.found()) {
    cursor = 0;
  } else if (!h.view().indexed()) {
    found.assign(h.view().begin(), h.view().end());
    cursor = 0;
  } else {
    size_t visits = o.count > SIZE_MAX / 10 ? SIZE_MAX : o.count * 10;
    do {
      if (!h.view().ScanSlot(cursor, &found, &cursor)) return c.reply.Error(kCorruptHash);
    } while (cursor != 0 && --visits > 0 && found.size() < o.count);
  }
  std::erase_if(found, [&](const HashEntry& e) { return !o.Matches(e.field); });
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(cursor));
  c.reply.ArrayHeader(2 * found.size());
  for (const HashEntry& e : found) {
    h.Bulk(c.reply, e.field);
    h.Bulk(c.reply, e.value);
  }
}

// ---- HRANDFIELD

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

size_t RandomBelow(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(Rng()); }

void CmdHRandField(CommandContext& c) {
  if (c.argc() == 2) {
    PinnedHash h;
    if (!h.Open(c, /*whole=*/true)) return;
    if (!h.found() || h.view().empty()) return c.reply.Null();
    size_t pick = RandomBelow(h.view().size());
    auto it = h.view().begin();
    while (pick-- > 0) ++it;
    return h.Bulk(c.reply, (*it).field);
  }
  int64_t l;
  if (!ParseInt64(c.arg(2), &l)) return c.ErrorNotInteger();
  if (l == LLONG_MIN) {
    return c.reply.Error(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
  }
  if (c.argc() > 4 || (c.argc() == 4 && !EqualsIgnoreCase(c.arg(3), "withvalues"))) {
    return c.ErrorSyntax();
  }
  const bool with_values = c.argc() == 4;
  if (with_values && (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2)) {
    return c.reply.Error("ERR value is out of range");
  }
  PinnedHash h;
  if (!h.Open(c, /*whole=*/true)) return;
  if (!h.found() || h.view().empty() || l == 0) return c.reply.ArrayHeader(0);
  const HashView& view = h.view();
  const bool resp3 = c.reply.resp_version() == 3;
  // RESP3 nests each pair in an array of two; RESP2 flattens them.
  auto header = [&](uint64_t picks) {
    c.reply.ArrayHeader(with_values && !resp3 ? picks * 2 : picks);
  };
  auto send = [&](HashEntry e) {
    if (with_values && resp3) c.reply.ArrayHeader(2);
    h.Bulk(c.reply, e.field);
    if (with_values) h.Bulk(c.reply, e.value);
  };

  if (l < 0) {
    // With repetitions, in random order. Redis stops such a reply only at the client's output
    // buffer limit, which this server lacks: refuse one estimated past proto-max-bulk-len.
    const uint64_t count = static_cast<uint64_t>(-l);
    const uint64_t per_pick = 16 + h.encoded_bytes() / view.size();
    const uint64_t limit = static_cast<uint64_t>(c.server.config().proto_max_bulk_len);
    if (count > limit / per_pick) return c.reply.Error("ERR value is out of range");
    std::vector<HashEntry> entries(view.begin(), view.end());
    header(count);
    for (uint64_t i = 0; i < count; ++i) send(entries[RandomBelow(entries.size())]);
    return;
  }
  // Distinct fields, in field order (selection sampling), like Redis does for small hashes.
  const size_t size = view.size();
  size_t wanted = static_cast<uint64_t>(l) < size ? static_cast<size_t>(l) : size;
  header(wanted);
  size_t left = size;
  for (HashEntry e : view) {
    if (wanted == 0) break;
    if (RandomBelow(left) < wanted) {
      send(e);
      --wanted;
    }
    --left;
  }
}

// ---- writes

// Applies `edit` to args[1]'s hash in one atomic step and stores the result, keeping the key's
// expiry; a hash left without fields is removed, and nothing changes if edit returns false. A
// missing key starts as an empty hash. Returns false after replying with an error (wrong type,
// corrupt value, or the engine refusing the store).
bool EditHash(CommandContext& c, FunctionRef<bool(HashEditor&)> edit) {
  enum { kOk, kWrongType, kCorrupt } outcome = kOk;
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation* m) {
    if (cur != nullptr && cur->kind != ValueKind::kHash) {
      outcome = kWrongType;
      return;
    }
    HashEditor hash;
    if (cur != nullptr && !hash.Load(cur->value)) {
      outcome = kCorrupt;
      return;
    }
    if (!edit(hash)) return;
    if (hash.size() == 0) {
      m->action = Action::kErase;
      return;
    }
    // A hash that no one is reading is changed where it lies when the change fits (a small one
    // only when it keeps its size); otherwise a new value, with room to grow in place later if
    // it is large and being changed (a hash written once gets none).
    if (cur != nullptr && cur->writable != nullptr) {
      m->patched_size = hash.PatchInPlace(cur->writable, cur->capacity);
      if (m->patched_size != 0) {
        m->action = Action::kPatched;
        return;
      }
    }
    m->action = Action::kStore;
    m->kind = ValueKind::kHash;
    m->value = hash.Encode();
    m->reserve = cur != nullptr ? HashEditor::GrowthRoom(m->value.size()) : 0;
    m->expires_at_ms = cur != nullptr ? cur->expires_at_ms : 0;
  });
  if (outcome == kWrongType) {
    c.ErrorWrongType();
    return false;
  }
  if (outcome == kCorrupt) {
    c.reply.Error(kCorruptHash);
    return false;
  }
  if (st.IsInvalidArgument() && st.message().find("larger than") != std::string::npos) {
    // ErrorFromStatus would call it a string.
    c.reply.Error("ERR hash exceeds maximum allowed size (" + st.message() + ")");
    return false;
  }
  if (!st.ok()) {
    c.ErrorFromStatus(st);
    return false;
  }
  return true;
}

// HSET and HMSET: the number of fields added.
bool SetFields(CommandContext& c, const char* name, int64_t* added) {
  if (c.argc() % 2 != 0) {
    c.reply.Error(std::string("ERR wrong number of arguments for '") + name + "' command");
    return false;
  }
  return EditHash(c, [&](HashEditor& hash) {
    *added = 0;
    for (size_t i = 2; i < c.argc(); i += 2) *added += hash.Set(c.arg(i), c.arg(i + 1));
    return true;
  });
}

void CmdHSet(CommandContext& c) {
  int64_t added;
  if (SetFields(c, "hset", &added)) c.reply.Integer(added);
}

void CmdHMSet(CommandContext& c) {
  int64_t added;
  if (SetFields(c, "hmset", &added)) c.reply.SimpleString("OK");
}

void CmdHSetNx(CommandContext& c) {
  bool added = false;
  if (!EditHash(c, [&](HashEditor& hash) {
        if (hash.Find(c.arg(2)) != nullptr) return false;
        added = hash.Set(c.arg(2), c.arg(3));
        return true;
      })) {
    return;
  }
  c.reply.Integer(added ? 1 : 0);
}

void CmdHDel(CommandContext& c) {
  int64_t deleted = 0;
  if (!EditHash(c, [&](HashEditor& hash) {
        deleted = 0;
        for (size_t i = 2; i < c.argc(); ++i) deleted += hash.Erase(c.arg(i));
        return deleted > 0;
      })) {
    return;
  }
  c.reply.Integer(deleted);
}

void CmdHIncrBy(CommandContext& c) {
  int64_t incr;
  if (!ParseInt64(c.arg(3), &incr)) return c.ErrorNotInteger();
  enum { kOk, kNotInteger, kOverflow } outcome = kOk;
  int64_t result = 0;
  std::string text;  // the new value; must outlive the edit, which points at it
  if (!EditHash(c, [&](HashEditor& hash) {
        int64_t v = 0;
        const std::string_view* old = hash.Find(c.arg(2));
        if (old != nullptr && !ParseInt64(*old, &v)) {
          outcome = kNotInteger;
          return false;
        }
        if ((incr < 0 && v < 0 && incr < LLONG_MIN - v) ||
            (incr > 0 && v > 0 && incr > LLONG_MAX - v)) {
          outcome = kOverflow;
          return false;
        }
        result = v + incr;
        text = std::to_string(result);
        hash.Set(c.arg(2), text);
        return true;
      })) {
    return;
  }
  if (outcome == kNotInteger) return c.reply.Error("ERR hash value is not an integer");
  if (outcome == kOverflow) return c.reply.Error("ERR increment or decrement would overflow");
  c.reply.Integer(result);
}

void CmdHIncrByFloat(CommandContext& c) {
  // Long double arithmetic and formatting, as INCRBYFLOAT: "10.5" + "0.1" gives "10.6".
  long double incr;
  if (!ParseLongDouble(c.arg(3), &incr)) return c.ErrorNotFloat();
  if (std::isnan(incr) || std::isinf(incr)) return c.reply.Error("ERR value is NaN or Infinity");
  enum { kOk, kNotFloat, kNanOrInf } outcome = kOk;
  std::string text;
  if (!EditHash(c, [&](HashEditor& hash) {
        long double v = 0;
        const std::string_view* old = hash.Find(c.arg(2));
        if (old != nullptr && !ParseLongDouble(*old, &v)) {
          outcome = kNotFloat;
          return false;
        }
        const long double r = v + incr;
        if (std::isnan(r) || std::isinf(r)) {
          outcome = kNanOrInf;
          return false;
        }
        text = FormatDouble(r);
        hash.Set(c.arg(2), text);
        return true;
      })) {
    return;
  }
  if (outcome == kNotFloat) return c.reply.Error("ERR hash value is not a float");
  if (outcome == kNanOrInf) return c.reply.Error("ERR increment would produce NaN or Infinity");
  c.reply.Bulk(text);  // a bulk string in RESP3 too, as Redis does
}

}  // namespace

void RegisterHashFamily(CommandRegistry* r) {
  using namespace cmd;
  const uint32_t kW = kWrite | kDenyOom;
  // One line per command, as in the other families' tables.
  // clang-format off
  r->Add({"hset", -4, kW | kFast, 1, 1, 1, CmdHSet, "hash", "Creates or modifies the value of a field in a hash."});
  r->Add({"hmset", -4, kW | kFast, 1, 1, 1, CmdHMSet, "hash", "Sets the values of multiple fields."});
  r->Add({"hsetnx", 4, kW | kFast, 1, 1, 1, CmdHSetNx, "hash", "Sets the value of a field in a hash only when the field doesn't exist."});
  r->Add({"hget", 3, kReadOnly | kFast, 1, 1, 1, CmdHGet, "hash", "Returns the value of a field in a hash."});
  r->Add({"hmget", -3, kReadOnly | kFast, 1, 1, 1, CmdHMGet, "hash", "Returns the values of all fields in a hash."});
  r->Add({"hgetall", 2, kReadOnly, 1, 1, 1, CmdHGetAll, "hash", "Returns all fields and values in a hash."});
  r->Add({"hkeys", 2, kReadOnly, 1, 1, 1, CmdHKeys, "hash", "Returns all fields in a hash."});
  r->Add({"hvals", 2, kReadOnly, 1, 1, 1, CmdHVals, "hash", "Returns all values in a hash."});
  r->Add({"hlen", 2, kReadOnly | kFast, 1, 1, 1, CmdHLen, "hash", "Returns the number of fields in a hash."});
  r->Add({"hexists", 3, kReadOnly | kFast, 1, 1, 1, CmdHExists, "hash", "Determines whether a field exists in a hash."});
  r->Add({"hstrlen", 3, kReadOnly | kFast, 1, 1, 1, CmdHStrlen, "hash", "Returns the length of the value of a field."});
  r->Add({"hdel", -3, kWrite | kFast, 1, 1, 1, CmdHDel, "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."});
  r->Add({"hincrby", 4, kW | kFast, 1, 1, 1, CmdHIncrBy, "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."});
  r->Add({"hincrbyfloat", 4, kW | kFast, 1, 1, 1, CmdHIncrByFloat, "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."});
  r->Add({"hrandfield", -2, kReadOnly, 1, 1, 1, CmdHRandField, "hash", "Returns one or more random fields from a hash."});
  r->Add({"hscan", -3, kReadOnly, 1, 1, 1, CmdHScan, "hash", "Iterates over fields and values of a hash."});
  // clang-format on
}

}  // namespace kvcache::server
