// MULTI, EXEC, DISCARD, WATCH, UNWATCH. Commands sent after MULTI are queued by the dispatcher
// (Execute); EXEC runs them with the world lock held exclusively, so no other client sees the
// transaction half done. A command that could not be queued (unknown, wrong arity) makes EXEC
// fail. WATCH makes it answer a null array and run nothing if a watched key changed meanwhile
// (watch_table.h says how changes are learnt).
#include "server/command.h"
#include "server/connection.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

void CmdMulti(CommandContext& c) {
  if (c.conn.in_multi) return c.reply.Error("ERR MULTI calls can not be nested");
  c.conn.in_multi = true;
  c.conn.multi_failed = false;
  c.conn.queued.clear();
  c.reply.SimpleString("OK");
}

void CmdDiscard(CommandContext& c) {
  if (!c.conn.in_multi) return c.reply.Error("ERR DISCARD without MULTI");
  c.conn.in_multi = false;
  c.conn.multi_failed = false;
  c.conn.queued.clear();
  c.server.watches().UnwatchAll(&c.conn.watch);
  c.reply.SimpleString("OK");
}

void CmdWatch(CommandContext& c) {
  if (c.conn.in_multi) return c.reply.Error("ERR WATCH inside MULTI is not allowed");
  // As Redis: once a watched key changed, watching more cannot save the transaction.
  if (!c.conn.watch.dirty.load(std::memory_order_relaxed)) {
    for (size_t i = 1; i < c.argc(); ++i) {
      const std::string_view key = c.Key(i);
      c.server.watches().Watch(&c.conn.watch, key, c.cache.Contains(key));
    }
  }
  c.reply.SimpleString("OK");
}

void CmdUnwatch(CommandContext& c) {
  c.server.watches().UnwatchAll(&c.conn.watch);
  c.reply.SimpleString("OK");
}

// Whether the transaction's watched keys are as they were: none changed by a client (marked by
// the change listener) and none that existed then evicted or expired since (the engine does not
// report those; Redis's eviction touches watched keys, and its EXEC checks expiry the same way).
bool WatchedKeysUnchanged(CommandContext& c) {
  if (c.conn.watch.dirty.load(std::memory_order_relaxed)) return false;
  for (const WatchState::Key& k : c.conn.watch.keys) {
    if (k.existed && !c.cache.Contains(k.key)) return false;
  }
  return true;
}

void CmdExec(CommandContext& c) {
  if (!c.conn.in_multi) return c.reply.Error("ERR EXEC without MULTI");
  std::vector<std::vector<std::string>> queued;
  queued.swap(c.conn.queued);
  const bool failed = c.conn.multi_failed;
  const bool unchanged = WatchedKeysUnchanged(c);
  c.conn.in_multi = false;
  c.conn.multi_failed = false;
  c.server.watches().UnwatchAll(&c.conn.watch);
  if (failed) {
    return c.reply.Error("EXECABORT Transaction discarded because of previous errors.");
  }
  if (!unchanged) return c.reply.NullArray();
  c.reply.ArrayHeader(queued.size());
  std::vector<std::string_view> args;
  c.conn.in_exec = true;  // commands run at once: no read-through, no deferred replies
  for (const std::vector<std::string>& command : queued) {
    args.assign(command.begin(), command.end());
    ExecuteQueued(c.server, c.conn, args);
  }
  c.conn.in_exec = false;
}

}  // namespace

void RegisterTransactionFamily(CommandRegistry* r) {
  using namespace cmd;
  r->Add({"multi", 1, kFast | kNotQueued | kLoading | kStale, 0, 0, 0, CmdMulti, "transactions", "Starts a transaction."});
  r->Add({"exec", 1, kNotQueued | kLoading | kStale | kExclusive, 0, 0, 0, CmdExec, "transactions", "Executes all commands in a transaction."});
  r->Add({"discard", 1, kFast | kNotQueued | kLoading | kStale, 0, 0, 0, CmdDiscard, "transactions", "Discards a transaction."});
  r->Add({"watch", -2, kFast | kNotQueued | kLoading | kStale | kNoLoad, 1, -1, 1, CmdWatch, "transactions", "Monitors changes to keys to determine the execution of a transaction."});
  r->Add({"unwatch", 1, kFast | kLoading | kStale, 0, 0, 0, CmdUnwatch, "transactions", "Forgets about watched keys of a transaction."});
}

}  // namespace kvcache::server
