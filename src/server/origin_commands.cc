// Commands against the slower tier: read-through loading before a command runs, write-through
// translation of data writes into origin batches, write-back marking, and PRELOAD.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "server/command.h"
#include "server/connection.h"
#include "server/hash_codec.h"
#include "server/origin_service.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

// Engine keys of a command, by its key positions.
std::vector<std::string> KeysOf(const CommandSpec& spec, std::span<const std::string_view> args,
                                uint8_t db) {
  std::vector<std::string> keys;
  for (size_t i : KeyPositions(spec, args)) keys.push_back(EngineKey(db, args[i]));
  return keys;
}

bool SetNeedsCurrentValue(std::span<const std::string_view> args) {
  for (size_t i = 3; i < args.size(); ++i) {
    for (const char* opt : {"NX", "XX", "GET", "KEEPTTL"}) {
      if (EqualsIgnoreCase(args[i], opt)) return true;
    }
  }
  return false;
}

const char* const kTtlOnly[] = {"expire",  "pexpire", "expireat", "pexpireat",
                                "persist", "touch",   "flushdb",  "flushall"};

bool IsTtlOnlyOrCacheOnly(const CommandSpec& spec) {
  for (const char* n : kTtlOnly) {
    if (std::string_view(spec.name) == n) return true;
  }
  return false;
}

std::vector<std::string> CopyArgs(std::span<const std::string_view> args) {
  return std::vector<std::string>(args.begin(), args.end());
}

}  // namespace

bool Server::LoadKeysFirst(Connection& conn, const CommandSpec& spec,
                           std::span<const std::string_view> args) {
  if (spec.first_key <= 0 && spec.keys == nullptr) return false;
  if ((spec.flags & cmd::kNoLoad) &&
      !(std::string_view(spec.name) == "set" && SetNeedsCurrentValue(args))) {
    return false;
  }
  std::vector<std::string> missing, present;
  for (std::string& k : KeysOf(spec, args, StoredDb(conn.db))) {
    if (!cache_->Contains(k) && !origin_->KnownAbsent(k)) {
      missing.push_back(std::move(k));
    } else {
      present.push_back(std::move(k));
    }
  }
  if (missing.empty()) return false;
  // Storing the loaded values may evict keys the command also reads: hold those now.
  auto held = std::make_shared<std::vector<std::pair<std::string, Handle>>>();
  for (std::string& k : present) {
    if (Handle h = cache_->Peek(k)) held->emplace_back(std::move(k), std::move(h));
  }
  DeferAsync(conn, [this, missing = std::move(missing), held,
                    copy = CopyArgs(args)](std::function<void(Completion)> post) {
    origin_->LoadAsync(missing, [this, copy, post, held,
                                 keys = missing](std::vector<OriginService::Loaded> results) {
      auto loaded = held;  // and then what was loaded
      Status error;
      for (size_t i = 0; i < results.size(); ++i) {
        if (!results[i].status.ok() && !results[i].status.IsNotFound()) error = results[i].status;
        if (results[i].handle) loaded->emplace_back(keys[i], std::move(results[i].handle));
      }
      post([this, error, copy, loaded](Connection& c) {
        if (!error.ok()) {
          c.reply().Error("ERR origin unavailable: " + error.message());
          return;
        }
        // Run the command now that its keys are in the cache (or known absent). `loaded` keeps
        // their values pinned until it has.
        std::vector<std::string_view> a(copy.begin(), copy.end());
        c.keys_loaded = true;
        c.just_loaded = loaded.get();
        world_.lock_shared();
        Execute(c, a);
        world_.unlock_shared();
        c.keys_loaded = false;
        c.just_loaded = nullptr;
      });
    });
  });
  return true;
}

bool WriteThroughCommand(Server& server, Connection& conn, const CommandSpec& spec,
                         std::span<const std::string_view> args) {
  if (IsTtlOnlyOrCacheOnly(spec)) return false;  // TTLs belong to the cached copy only
  const std::string_view name = spec.name;
  CommandContext c(server, conn, args);
  std::vector<KeyWrite> writes;
  bool want_previous = false;
  // How the outcome becomes a reply.
  enum class Reply { kOk, kSet, kSetNx, kGetSet, kCount, kHset, kHdel } reply = Reply::kOk;
  auto counter = std::make_shared<int64_t>(0);
  auto wrong_type = std::make_shared<bool>(false);
  if (name == "set") {
    SetArgs set;
    if (!ParseSetArgs(c, &set)) return true;
    KeyWrite w;
    w.key = EngineKey(c.db(), args[1]);
    w.value.assign(args[2]);
    w.condition = set.options.condition;
    w.keep_ttl = set.options.keep_ttl;
    w.expires_at_ms = set.options.expires_at_ms;
    writes.push_back(std::move(w));
    want_previous = set.get;
    reply = Reply::kSet;
  } else if (name == "setex" || name == "psetex") {
    KeyWrite w;
    if (!ParseExpiryArg(c, name == "setex", args[2], spec.name, &w.expires_at_ms)) return true;
    w.key = EngineKey(c.db(), args[1]);
    w.value.assign(args[3]);
    writes.push_back(std::move(w));
  } else if (name == "setnx") {
    KeyWrite w;
    w.key = EngineKey(c.db(), args[1]);
    w.value.assign(args[2]);
    w.condition = WriteOptions::Condition::kIfAbsent;
    writes.push_back(std::move(w));
    reply = Reply::kSetNx;
  } else if (name == "getset") {
    KeyWrite w;
    w.key = EngineKey(c.db(), args[1]);
    w.value.assign(args[2]);
    writes.push_back(std::move(w));
    want_previous = true;
    reply = Reply::kGetSet;
  } else if (name == "mset") {
    if (args.size() % 2 != 1) {
      c.reply.Error("ERR wrong number of arguments for 'mset' command");
      return true;
    }
    for (size_t i = 1; i < args.size(); i += 2) {
      KeyWrite w;
      w.key = EngineKey(c.db(), args[i]);
      w.value.assign(args[i + 1]);
      writes.push_back(std::move(w));
    }
  } else if (name == "tensor.set" || name == "tensor.mset") {
    std::vector<TensorWrite> tensors;
    if (!ParseTensorWrites(c, &tensors)) return true;
    for (TensorWrite& t : tensors) {
      KeyWrite w;
      w.key = EngineKey(c.db(), t.key);
      w.value = std::move(t.value);
      w.kind = ValueKind::kTensor;
      writes.push_back(std::move(w));
    }
  } else if (name == "del" || name == "unlink") {
    for (size_t i = 1; i < args.size(); ++i) {
      KeyWrite w;
      w.key = EngineKey(c.db(), args[i]);
      w.erase = true;
      w.condition = WriteOptions::Condition::kIfPresent;
      writes.push_back(std::move(w));
    }
    reply = Reply::kCount;
  } else if (name == "hset" || name == "hmset" || name == "hdel") {
    const bool del = name == "hdel";
    if (!del && args.size() % 2 != 0) {
      c.reply.Error(std::string("ERR wrong number of arguments for '") + spec.name + "' command");
      return true;
    }
    KeyWrite w;
    w.key = EngineKey(c.db(), args[1]);
    w.kind = ValueKind::kHash;
    w.transform = [fields = CopyArgs(args.subspan(2)), del, counter, wrong_type](
                      const std::string* cur, std::string* value, bool* erase) {
      HashEditor editor;
      if (cur != nullptr && !editor.Load(*cur)) {
        *wrong_type = true;
        return false;
      }
      int64_t n = 0;
      if (del) {
        for (const std::string& f : fields) n += editor.Erase(f);
      } else {
        for (size_t i = 0; i + 1 < fields.size(); i += 2) n += editor.Set(fields[i], fields[i + 1]);
      }
      *counter = n;
      if (editor.size() == 0) {
        *erase = true;
        return cur != nullptr;
      }
      *value = editor.Encode();
      return true;
    };
    writes.push_back(std::move(w));
    reply = del ? Reply::kHdel : (name == "hset" ? Reply::kHset : Reply::kOk);
  } else {
    c.reply.Error(std::string("ERR '") + spec.name +
                  "' is not supported with write-policy through (SET, SETEX, PSETEX, SETNX, "
                  "GETSET, MSET, DEL, UNLINK, HSET, HMSET, HDEL, TENSOR.SET and TENSOR.MSET "
                  "are)");
    return true;
  }
  server.DeferAsync(conn, [&server, writes = std::move(writes), want_previous, reply, counter,
                           wrong_type](std::function<void(Completion)> post) mutable {
    // The writer thread calls back once the batch is durable: no thread waits for it here.
    server.origin()->WriteThrough(
        std::move(writes), want_previous,
        [post, reply, counter, wrong_type, want_previous](WriteOutcome o) {
          auto outcome = std::make_shared<WriteOutcome>(std::move(o));
          post([outcome, reply, counter, wrong_type, want_previous](Connection& conn) {
            auto& r = conn.reply();
            if (*wrong_type)
              return r.Error("WRONGTYPE Operation against a key holding the wrong kind of value");
            if (!outcome->status.ok())
              return r.Error("ERR origin write failed: " + outcome->status.message());
            switch (reply) {
              case Reply::kOk:
                return r.SimpleString("OK");
              case Reply::kSet:
                if (want_previous) {  // SET ... GET: the old value, whether or not it was replaced
                  if (outcome->previous[0].has_value()) return r.Bulk(*outcome->previous[0]);
                  return r.Null();
                }
                return outcome->applied[0] ? r.SimpleString("OK") : r.Null();
              case Reply::kSetNx:
                return r.Integer(outcome->applied[0] ? 1 : 0);
              case Reply::kGetSet:
                if (outcome->previous[0].has_value()) return r.Bulk(*outcome->previous[0]);
                return r.Null();
              case Reply::kCount: {
                int64_t n = 0;
                for (bool a : outcome->applied) n += a;
                return r.Integer(n);
              }
              case Reply::kHset:
              case Reply::kHdel:
                return r.Integer(outcome->applied[0] ? *counter : 0);
            }
          });
        });
  });
  return true;
}

namespace {

void CmdPreload(CommandContext& c) {
  OriginService* origin = c.server.origin();
  if (origin == nullptr) {
    return c.reply.Error("ERR PRELOAD needs an origin (start the server with --origin)");
  }
  Status st = origin->StartPreload(std::string(c.arg(1)));
  if (!st.ok()) return c.reply.Error("ERR " + st.message());
  c.reply.SimpleString("OK");
}

void CmdFlushOrigin(CommandContext& c) {
  OriginService* origin = c.server.origin();
  if (origin == nullptr) return c.reply.Error("ERR no origin is configured");
  // Blocking the event loop here is deliberate: it is an administrative barrier.
  Status st = origin->FlushDirty();
  if (!st.ok()) return c.reply.Error("ERR " + st.message());
  c.reply.SimpleString("OK");
}

}  // namespace

void RegisterOriginFamily(CommandRegistry* r) {
  using namespace cmd;
  r->Add({"preload", 2, kAdmin | kNoMulti, 0, 0, 0, CmdPreload, "server",
          "Loads a tensor file or an origin range into the cache in the background (progress in "
          "INFO persistence)."});
  r->Add({"originflush", 1, kAdmin | kNoMulti, 0, 0, 0, CmdFlushOrigin, "server",
          "Writes every write-back dirty key to the origin now."});
}

}  // namespace kvcache::server
