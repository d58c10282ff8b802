// Commands: the registry that maps a name to its handler, arity, flags and key positions (one
// table per command family, as Redis and Dragonfly lay them out), and the context a handler
// runs with.
//
// A handler parses its arguments, calls the engine and writes exactly one reply. Keys reach the
// engine prefixed with the connection's database number (one byte), so the 16 databases share
// one cache and one memory budget.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/cache.h"
#include "protocol/reply_builder.h"
#include "server/db_key.h"

namespace kvcache::server {

class Connection;
class Server;

namespace cmd {
// Command flags, with the names COMMAND INFO reports.
inline constexpr uint32_t kWrite = 1 << 0;      // "write"
inline constexpr uint32_t kReadOnly = 1 << 1;   // "readonly"
inline constexpr uint32_t kDenyOom = 1 << 2;    // "denyoom": may grow memory
inline constexpr uint32_t kAdmin = 1 << 3;      // "admin"
inline constexpr uint32_t kFast = 1 << 4;       // "fast"
inline constexpr uint32_t kNoAuth = 1 << 5;     // "no_auth": allowed before AUTH
inline constexpr uint32_t kNoMulti = 1 << 6;    // refused inside MULTI ("no_multi")
inline constexpr uint32_t kExclusive = 1 << 7;  // needs every shard at once (multi-key atomicity)
inline constexpr uint32_t kLoading = 1 << 8;    // "loading": allowed while loading
inline constexpr uint32_t kStale = 1 << 9;      // "stale"
// With an origin, a command reads its keys (so read-through loads the missing ones first)
// unless it only overwrites or removes them.
inline constexpr uint32_t kNoLoad = 1 << 10;
// Runs at once inside MULTI instead of being queued: MULTI, EXEC, DISCARD, QUIT and RESET, as
// in Redis, where every other command is queued (not reported by COMMAND INFO).
inline constexpr uint32_t kNotQueued = 1 << 11;
inline constexpr uint32_t kPubSub = 1 << 12;  // "pubsub"
// Allowed while a RESP2 client is subscribed to a channel: the (P|S)(UN)SUBSCRIBEs, PING, QUIT
// and RESET, as in Redis (not reported by COMMAND INFO).
inline constexpr uint32_t kSubscribed = 1 << 13;
}  // namespace cmd

class CommandContext;
using Handler = void (*)(CommandContext&);
// For commands whose keys move with their options ("movablekeys"): appends the positions of the
// keys in args (read-through loads those).
using KeysFn = void (*)(std::span<const std::string_view> args, std::vector<size_t>* positions);

struct CommandSpec {
  const char* name;   // lower case
  int arity;          // > 0: exactly; < 0: at least -arity (the name counts)
  uint32_t flags;
  int first_key;      // position of the first key (0: none)
  int last_key;       // -1: the last argument
  int key_step;
  Handler handler;
  const char* group;    // COMMAND DOCS group: "string", "generic", "hash", "server", ...
  const char* summary;  // one line, for COMMAND DOCS
  KeysFn keys = nullptr;  // set when the key positions above are only a bound
  uint32_t id = 0;        // index in the registry, for per-command statistics
};

// The positions of a command's keys in args (its name first): by its KeysFn, else by its first
// and last key and step, within args.
std::vector<size_t> KeyPositions(const CommandSpec& spec, std::span<const std::string_view> args);

class CommandRegistry {
 public:
  void Add(CommandSpec spec);
  // The command called `name`, in any case (ASCII), or nullptr.
  const CommandSpec* Find(std::string_view name) const;
  const std::vector<CommandSpec>& all() const { return specs_; }

 private:
  // Every request looks its name up, twice in a pipeline (the prefetch asks whether it writes):
  // a case-blind FNV-1a hash into a table of spec ids, compared case-blind, costs a few
  // instructions a byte, where lowering the name into a buffer and std::hash cost ~70.
  static constexpr size_t kSlots = 1024;  // a power of two, at least twice the commands
  static uint32_t NameHash(std::string_view name);
  std::vector<CommandSpec> specs_;
  std::vector<std::string_view> names_;                          // specs_[i].name
  std::vector<uint32_t> slots_ = std::vector<uint32_t>(kSlots);  // id + 1; 0: empty
};

// A HELP subcommand's text, a status line each.
void ReplyHelp(CommandContext& c, std::span<const char* const> lines);
// Redis 7's check of a container command's subcommand arity (positive: exactly, negative: at
// least), with its text: "wrong number of arguments for 'client|setname' command".
bool SubArity(CommandContext& c, int arity);

// Every family adds its table here.
void RegisterStringFamily(CommandRegistry* r);
void RegisterKeyspaceFamily(CommandRegistry* r);
void RegisterHashFamily(CommandRegistry* r);
void RegisterServerFamily(CommandRegistry* r);
void RegisterTransactionFamily(CommandRegistry* r);
void RegisterOriginFamily(CommandRegistry* r);
void RegisterTensorFamily(CommandRegistry* r);
void RegisterPubSubFamily(CommandRegistry* r);
void RegisterAllCommands(CommandRegistry* r);

// What a handler works with. Valid for one command.
class CommandContext {
 public:
  CommandContext(Server& server, Connection& conn, std::span<const std::string_view> args);

  std::span<const std::string_view> args;
  Server& server;
  Connection& conn;
  protocol::ReplyBuilder& reply;
  Cache& cache;

  size_t argc() const { return args.size(); }
  std::string_view arg(size_t i) const { return args[i]; }
  // The engine key for args[i] (db_key.h: the client's key itself in database 0).
  std::string_view Key(size_t i) { return KeyOf(args[i]); }
  std::string_view KeyOf(std::string_view user_key);
  // The client's key of an engine key.
  static std::string_view UserKey(std::string_view engine_key) { return UserKeyOf(engine_key); }
  // The engine key space of the selected database (Server::StoredDb; conn.db is the number the
  // client selected).
  uint8_t db() const;
  int64_t NowMs() const { return cache.NowMs(); }

  // Redis's common error replies.
  void ErrorSyntax() { reply.Error("ERR syntax error"); }
  void ErrorWrongType() { reply.Error("WRONGTYPE Operation against a key holding the wrong kind of value"); }
  void ErrorNotInteger() { reply.Error("ERR value is not an integer or out of range"); }
  void ErrorNotFloat() { reply.Error("ERR value is not a valid float"); }
  void ErrorOom() { reply.Error("OOM command not allowed when used memory > 'maxmemory'."); }
  // Maps an engine error to Redis's reply (OOM for a full budget, ERR otherwise).
  void ErrorFromStatus(const Status& st);
  // A bulk reply of a stored value (from byte `offset` on): copied when small, sent from the
  // pinned item when large.
  void BulkFromHandle(Handle h, size_t offset = 0, size_t length = std::string_view::npos);
  // Marks the transactions that WATCH this engine key as failed. The engine's change listener
  // does so for every change but an expiry set on a kept value (EXPIRE, PERSIST, GETEX), which
  // it does not report; those commands call this.
  void TouchWatched(std::string_view engine_key);
  // Fills the entries of rows (a MultiGet of keys) that missed with the values read through
  // for this command, if any.
  void FillJustLoaded(std::span<const std::string_view> keys, std::vector<Handle>* rows);

 private:
  // Each key in its own string, so views handed out stay valid as more keys are built; an
  // empty vector allocates nothing (most commands touch database 0 and need no buffer).
  std::vector<std::unique_ptr<std::string>> key_buffers_;
};

// SET's options (args[3...]), shared by the plain and the write-through paths.
struct SetArgs {
  WriteOptions options;
  bool get = false;
};
// Parses them; replies Redis's error and returns false on bad input.
bool ParseSetArgs(CommandContext& c, SetArgs* out);
// TENSOR.SET's and TENSOR.MSET's arguments as the tensors to store: client keys and encoded
// values (kvcache/tensor.h), shared by the plain and the write-through paths. Checks everything
// first; replies the error and returns false on bad input.
struct TensorWrite {
  std::string_view key;  // the client's key
  std::string value;
};
bool ParseTensorWrites(CommandContext& c, std::vector<TensorWrite>* out);
// Memory for a large argument about to be received, when `args` (the request's complete
// arguments so far) show that the command will store it as it is: the value of SET, SETEX or
// PSETEX, in database `db`. Then the argument is received straight into the engine's memory
// for the new item and stored without a copy (Connection::received_value); otherwise empty.
ValueBuffer ValueBufferFor(Cache& cache, uint8_t db, std::span<const std::string_view> args,
                           size_t size);
// SETEX/PSETEX's time argument as an absolute expiry; replies the error on bad input.
bool ParseExpiryArg(CommandContext& c, bool seconds, std::string_view arg, const char* cmd,
                    int64_t* at_ms);

// SCAN's and HSCAN's arguments after the cursor, as Redis's scanGenericCommand reads them.
struct ScanOptions {
  size_t count = 10;
  bool match = false;  // MATCH given ("" matches only the empty key or field)
  std::string_view pattern;
  bool by_type = false;  // TYPE given
  std::string_view type;
  // Whether `name` passes MATCH.
  bool Matches(std::string_view name) const;
};
// Parses args[first...] into *o (TYPE only where `with_type`: SCAN); replies Redis's error and
// returns false on bad input.
bool ParseScanOptions(CommandContext& c, size_t first, bool with_type, ScanOptions* o);
// A SCAN or HSCAN cursor by Redis's rules (strtoul: no leading space, nothing after the digits,
// in range).
bool ParseCursor(std::string_view s, uint64_t* cursor);

// Parsing helpers with Redis's rules (no leading '+', no spaces, full range checks).
bool ParseInt64(std::string_view s, int64_t* v);
bool ParseDouble(std::string_view s, double* v);  // rejects nan; accepts inf
bool ParseLongDouble(std::string_view s, long double* v);  // as Redis's INCRBYFLOAT reads
// Redis's shortest round-trip format for doubles (INCRBYFLOAT replies, %.17Lg then trimmed).
std::string FormatDouble(long double v);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// s in lower case (ASCII).
std::string Lower(std::string_view s);

}  // namespace kvcache::server
