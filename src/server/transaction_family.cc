// MULTI, EXEC, DISCARD. Commands sent after MULTI are queued by the dispatcher (Execute); EXEC
// runs them with the world lock held exclusively, so no other client sees the transaction
// half done. A command that could not be queued (unknown, wrong arity) makes EXEC fail.
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
  c.reply.SimpleString("OK");
}

void CmdExec(CommandContext& c) {
  if (!c.conn.in_multi) return c.reply.Error("ERR EXEC without MULTI");
  std::vector<std::vector<std::string>> queued;
  queued.swap(c.conn.queued);
  const bool failed = c.conn.multi_failed;
  c.conn.in_multi = false;
  c.conn.multi_failed = false;
  if (failed) {
    return c.reply.Error("EXECABORT Transaction discarded because of previous errors.");
  }
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
}

}  // namespace kvcache::server
