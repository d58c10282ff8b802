// Connection and server commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT, COMMAND,
// INFO, CONFIG, SLOWLOG, LATENCY, DBSIZE, TIME, ROLE, LASTSAVE, MONITOR, MEMORY, DEBUG,
// SHUTDOWN.
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <span>
#include <string>

#include "server/command.h"
#include "server/connection.h"
#include "server/glob.h"
#include "server/hash_codec.h"
#include "server/log.h"
#include "server/origin_service.h"
#include "server/server.h"
#include "server/tick_clock.h"

namespace kvcache::server {
namespace {

// What clients see as the server: Redis 7.0's protocol and commands (clients check this
// version for features); INFO also names kvcache and its own version.
constexpr const char* kRedisVersion = "7.0.15";
constexpr const char* kKvcacheVersion = "0.1.0";

bool ValidClientName(std::string_view name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;  // Redis: no spaces, newlines or specials
  }
  return true;
}

// ---- connection

void CmdPing(CommandContext& c) {
  if (c.argc() > 2) return c.reply.Error("ERR wrong number of arguments for 'ping' command");
  if (c.conn.subs != nullptr && c.conn.subs->total() != 0 && c.reply.resp_version() == 2) {
    // A RESP2 subscriber's PING, as Redis answers it: ["pong", the argument or ""].
    c.reply.ArrayHeader(2);
    c.reply.Bulk("pong");
    return c.reply.Bulk(c.argc() == 2 ? c.arg(1) : std::string_view());
  }
  if (c.argc() == 2) return c.reply.Bulk(c.arg(1));
  c.reply.SimpleString("PONG");
}

void CmdEcho(CommandContext& c) { c.reply.Bulk(c.arg(1)); }

bool CheckPassword(CommandContext& c, std::string_view user, std::string_view pass) {
  const std::string& want = c.server.config().requirepass;
  if (!EqualsIgnoreCase(user, "default") || want.empty() || pass != want) {
    c.reply.Error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  c.conn.authenticated = true;
  return true;
}

void CmdAuth(CommandContext& c) {
  if (c.argc() > 3) return c.ErrorSyntax();
  if (c.server.config().requirepass.empty() && c.argc() == 2) {
    return c.reply.Error(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?");
  }
  std::string_view user = c.argc() == 3 ? c.arg(1) : "default";
  if (CheckPassword(c, user, c.args.back())) c.reply.SimpleString("OK");
}

void CmdHello(CommandContext& c) {
  int64_t version = c.reply.resp_version();
  size_t i = 1;
  if (c.argc() >= 2) {
    if (!ParseInt64(c.arg(1), &version)) {
      return c.reply.Error("ERR Protocol version is not an integer or out of range");
    }
    if (version < 2 || version > 3) return c.reply.Error("NOPROTO unsupported protocol version");
    i = 2;
  }
  // As Redis 7.0: the options in their order (AUTH checked, a name validated, where each
  // stands), then whether the client may say HELLO at all.
  std::string_view setname;
  bool has_setname = false;
  for (; i < c.argc(); ++i) {
    if (EqualsIgnoreCase(c.arg(i), "AUTH") && i + 2 < c.argc()) {
      if (!CheckPassword(c, c.arg(i + 1), c.arg(i + 2))) return;
      i += 2;
    } else if (EqualsIgnoreCase(c.arg(i), "SETNAME") && i + 1 < c.argc()) {
      setname = c.arg(++i);
      has_setname = true;
      if (!ValidClientName(setname)) {
        return c.reply.Error(
            "ERR Client names cannot contain spaces, newlines or special characters.");
      }
    } else {
      return c.reply.Error(std::string("ERR Syntax error in HELLO option '") +
                           std::string(c.arg(i)) + "'");
    }
  }
  if (!c.conn.authenticated) {
    return c.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
  }
  if (has_setname) c.conn.name.assign(setname);
  c.conn.set_resp_version(static_cast<int>(version));
  c.reply.MapHeader(7);
  c.reply.Bulk("server");
  c.reply.Bulk("redis");
  c.reply.Bulk("version");
  c.reply.Bulk(kRedisVersion);
  c.reply.Bulk("proto");
  c.reply.Integer(version);
  c.reply.Bulk("id");
  c.reply.Integer(static_cast<int64_t>(c.conn.id()));
  c.reply.Bulk("mode");
  c.reply.Bulk("standalone");
  c.reply.Bulk("role");
  c.reply.Bulk("master");
  c.reply.Bulk("modules");
  c.reply.ArrayHeader(0);
}

void CmdSelect(CommandContext& c) {
  int64_t db;
  if (!ParseInt64(c.arg(1), &db)) return c.ErrorNotInteger();
  if (db < INT32_MIN || db > INT32_MAX) {
    return c.reply.Error(
        "ERR value is out of range, value must between -2147483648 and 2147483647");
  }
  if (db < 0 || db >= c.server.config().databases) {
    return c.reply.Error("ERR DB index is out of range");
  }
  c.conn.db = static_cast<uint8_t>(db);
  c.reply.SimpleString("OK");
}

void CmdQuit(CommandContext& c) {
  c.reply.SimpleString("OK");
  c.conn.close_after_reply = true;
}

void CmdReset(CommandContext& c) {
  c.conn.db = 0;
  c.conn.in_multi = false;
  c.conn.multi_failed = false;
  c.conn.queued.clear();
  c.server.watches().UnwatchAll(&c.conn.watch);
  if (c.conn.monitor) c.server.RemoveMonitor(c.conn);
  c.server.pubsub().UnsubscribeAll(c.conn);
  c.conn.name.clear();
  c.conn.authenticated = c.server.config().requirepass.empty();
  c.conn.set_resp_version(2);
  c.conn.SetReplyMode(Connection::ReplyMode::kOn);
  c.conn.reply().SimpleString("RESET");
}

// ---- CLIENT

// CLIENT LIST and CLIENT KILL's TYPE: a subscribed client is of type pubsub, every other one
// normal (none here is a master or replica).
enum class ClientType { kAny, kNormal, kPubSub, kNone };

// Parses a TYPE value; false (with Redis's error) for an unknown one.
bool ParseClientType(CommandContext& c, std::string_view value, ClientType* type) {
  if (EqualsIgnoreCase(value, "normal")) {
    *type = ClientType::kNormal;
  } else if (EqualsIgnoreCase(value, "pubsub")) {
    *type = ClientType::kPubSub;
  } else if (EqualsIgnoreCase(value, "replica") || EqualsIgnoreCase(value, "slave") ||
             EqualsIgnoreCase(value, "master")) {
    *type = ClientType::kNone;
  } else {
    c.reply.Error("ERR Unknown client type '" + std::string(value) + "'");
    return false;
  }
  return true;
}

bool IsOfType(const Connection* conn, ClientType type) {
  const bool pubsub = conn->subscribed.load(std::memory_order_relaxed) != 0;
  return type == ClientType::kAny || (type == ClientType::kNormal && !pubsub) ||
         (type == ClientType::kPubSub && pubsub);
}

// REQUIRES: the world lock held exclusively (the fields commands change are stable), and
// conn->Publish() called if conn is the caller's own connection.
std::string ClientLine(Server& s, Connection* conn, int64_t now) {
  const Connection::Published& p = conn->published;
  const size_t qbuf = p.qbuf.load(std::memory_order_relaxed);
  const size_t capacity = p.capacity.load(std::memory_order_relaxed);
  // Redis's flags in its order: O(monitor) P(subscribed) x(MULTI) b(blocked), else N.
  std::string flags;
  if (conn->monitor) flags += 'O';
  if (conn->subscribed.load(std::memory_order_relaxed) != 0) flags += 'P';
  if (conn->in_multi) flags += 'x';
  if (conn->wait_token.load(std::memory_order_relaxed) != 0) flags += 'b';
  if (flags.empty()) flags = "N";
  const auto subs = [&](SubKind kind) {
    return conn->subs == nullptr ? size_t{0} : conn->subs->of[static_cast<size_t>(kind)].size();
  };
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRId64 " idle=%" PRId64
                " flags=%s db=%d sub=%zu psub=%zu ssub=%zu multi=%d qbuf=%zu qbuf-free=%zu "
                "argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=r "
                "cmd=%s user=default redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
                conn->id(), conn->peer.c_str(), conn->local.c_str(), conn->fd(), conn->name.c_str(),
                (now - conn->created_ms) / 1000,
                (now - p.last_active_ms.load(std::memory_order_relaxed)) / 1000, flags.c_str(),
                conn->db, subs(SubKind::kChannel), subs(SubKind::kPattern), subs(SubKind::kShard),
                conn->in_multi ? static_cast<int>(conn->queued.size()) : -1, qbuf,
                capacity - std::min(qbuf, capacity), capacity,
                p.omem.load(std::memory_order_relaxed),
                capacity + p.allocated.load(std::memory_order_relaxed),
                conn->last_command.empty() ? "NULL" : conn->last_command.c_str(),
                conn->reply().resp_version(), conn->lib_name.c_str(), conn->lib_ver.c_str());
  return buf;
}

// CLIENT subcommands with optional arguments: Redis's error when there are too many.
bool AtMostArgs(CommandContext& c, size_t most, const char* sub) {
  if (c.argc() <= most) return true;
  c.reply.Error(std::string("ERR unknown subcommand or wrong number of arguments for '") + sub +
                "'. Try CLIENT HELP.");
  return false;
}

// An optional args[i] that is one of two words, `usual` when absent: whether it is `other`.
// Anything else gets `error`.
bool OptionalWord(CommandContext& c, size_t i, const char* usual, const char* other,
                  const char* error, bool* is_other) {
  *is_other = i < c.argc() && EqualsIgnoreCase(c.arg(i), other);
  if (i < c.argc() && !*is_other && !EqualsIgnoreCase(c.arg(i), usual)) {
    c.reply.Error(error);
    return false;
  }
  return true;
}

// A timeout in milliseconds at args[i] (WAIT, CLIENT PAUSE), as the time it ends (0 for a
// timeout of 0: none); Redis's errors.
bool ParseDeadline(CommandContext& c, size_t i, int64_t* end_ms) {
  int64_t ms;
  if (!ParseInt64(c.arg(i), &ms)) {
    c.reply.Error("ERR timeout is not an integer or out of range");
    return false;
  }
  if (ms < 0) {
    c.reply.Error("ERR timeout is negative");
    return false;
  }
  const int64_t now = c.NowMs();
  *end_ms = ms == 0 ? 0 : ms > INT64_MAX - now ? INT64_MAX : now + ms;
  return true;
}

void CmdClient(CommandContext& c) {
  std::string_view sub = c.arg(1);
  auto arity = [&](int n) { return SubArity(c, n); };
  if (EqualsIgnoreCase(sub, "ID")) {
    if (arity(2)) c.reply.Integer(static_cast<int64_t>(c.conn.id()));
  } else if (EqualsIgnoreCase(sub, "SETNAME")) {
    if (!arity(3)) return;
    if (!ValidClientName(c.arg(2))) {
      return c.reply.Error(
          "ERR Client names cannot contain spaces, newlines or special characters.");
    }
    c.conn.name.assign(c.arg(2));
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "GETNAME")) {
    if (!arity(2)) return;
    if (c.conn.name.empty()) return c.reply.Null();
    c.reply.Bulk(c.conn.name);
  } else if (EqualsIgnoreCase(sub, "SETINFO")) {
    if (!arity(4)) return;
    if (EqualsIgnoreCase(c.arg(2), "LIB-NAME")) {
      c.conn.lib_name.assign(c.arg(3));
    } else if (EqualsIgnoreCase(c.arg(2), "LIB-VER")) {
      c.conn.lib_ver.assign(c.arg(3));
    } else {
      return c.reply.Error("ERR Unrecognized option '" + std::string(c.arg(2)) + "'");
    }
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "INFO")) {
    if (!arity(2)) return;
    c.conn.Publish();
    c.reply.Verbatim("txt", ClientLine(c.server, &c.conn, c.NowMs()));
  } else if (EqualsIgnoreCase(sub, "LIST")) {
    // CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id...].
    ClientType type = ClientType::kAny;
    bool by_id = false;
    std::vector<uint64_t> ids;
    if (c.argc() == 4 && EqualsIgnoreCase(c.arg(2), "TYPE")) {
      if (!ParseClientType(c, c.arg(3), &type)) return;
    } else if (c.argc() > 3 && EqualsIgnoreCase(c.arg(2), "ID")) {
      by_id = true;
      for (size_t i = 3; i < c.argc(); ++i) {
        int64_t id;
        if (!ParseInt64(c.arg(i), &id)) return c.reply.Error("ERR Invalid client ID");
        ids.push_back(static_cast<uint64_t>(id));  // a negative one matches no client
      }
    } else if (c.argc() != 2) {
      return c.ErrorSyntax();
    }
    std::string out;
    const int64_t now = c.NowMs();
    // Other workers' connections are read with no command running anywhere (names, databases
    // and transactions change only in commands), and their buffers through what their workers
    // published.
    const bool upgrade = !c.conn.in_exec;  // EXEC holds the world lock exclusively already
    if (upgrade) {
      c.server.world().unlock_shared();
      c.server.world().lock();
    }
    c.conn.Publish();
    c.server.ForEachClient([&](Connection* conn, Worker*) {
      if (!IsOfType(conn, type) ||
          (by_id && std::find(ids.begin(), ids.end(), conn->id()) == ids.end())) {
        return;
      }
      out += ClientLine(c.server, conn, now);
    });
    if (upgrade) {
      c.server.world().unlock();
      c.server.world().lock_shared();
    }
    c.reply.Verbatim("txt", out);
  } else if (EqualsIgnoreCase(sub, "KILL")) {
    if (!arity(-3)) return;
    // CLIENT KILL addr (old form, which may kill the caller) or CLIENT KILL with filters, all
    // of which must match: ID id | ADDR addr | LADDR addr | TYPE type | USER user | SKIPME yes|no
    // (yes by default) | MAXAGE seconds (Redis 7.4's: connected longer than that).
    std::string addr, laddr;
    int64_t id = 0;        // 0: any
    int64_t max_age = -1;  // -1: any
    ClientType type = ClientType::kAny;
    bool old_form = c.argc() == 3;
    bool skip_me = !old_form;
    if (old_form) {
      addr.assign(c.arg(2));
    } else {
      if (c.argc() % 2 != 0) return c.ErrorSyntax();
      for (size_t i = 2; i + 1 < c.argc(); i += 2) {
        const std::string_view name = c.arg(i), value = c.arg(i + 1);
        if (EqualsIgnoreCase(name, "ID")) {
          if (!ParseInt64(value, &id) || id <= 0) {
            return c.reply.Error("ERR client-id should be greater than 0");
          }
        } else if (EqualsIgnoreCase(name, "ADDR")) {
          addr.assign(value);
        } else if (EqualsIgnoreCase(name, "LADDR")) {
          laddr.assign(value);
        } else if (EqualsIgnoreCase(name, "TYPE")) {
          if (!ParseClientType(c, value, &type)) return;
        } else if (EqualsIgnoreCase(name, "USER")) {
          // Every client is the default user: there are no others.
          if (value != "default") {
            return c.reply.Error("ERR No such user '" + std::string(value) + "'");
          }
        } else if (EqualsIgnoreCase(name, "SKIPME")) {
          if (EqualsIgnoreCase(value, "yes")) {
            skip_me = true;
          } else if (EqualsIgnoreCase(value, "no")) {
            skip_me = false;
          } else {
            return c.ErrorSyntax();
          }
        } else if (EqualsIgnoreCase(name, "MAXAGE")) {
          if (!ParseInt64(value, &max_age) || max_age < 0) return c.ErrorNotInteger();
        } else {
          return c.ErrorSyntax();
        }
      }
    }
    int64_t killed = 0;
    const int64_t now = c.NowMs();
    c.server.ForEachClient([&](Connection* conn, Worker* w) {
      if (!IsOfType(conn, type) || (id != 0 && conn->id() != static_cast<uint64_t>(id)) ||
          (!addr.empty() && conn->peer != addr) || (!laddr.empty() && conn->local != laddr) ||
          (skip_me && conn == &c.conn) ||
          (max_age >= 0 && (now - conn->created_ms) / 1000 <= max_age)) {
        return;
      }
      if (conn == &c.conn) {
        c.conn.close_after_reply = true;
      } else {
        conn->kill_requested.store(true, std::memory_order_relaxed);
        if (w != nullptr) w->Wake();
      }
      ++killed;
    });
    if (old_form) {
      if (killed == 0) return c.reply.Error("ERR No such client");
      return c.reply.SimpleString("OK");
    }
    c.reply.Integer(killed);
  } else if (EqualsIgnoreCase(sub, "REPLY")) {
    if (!arity(3)) return;
    const std::string_view mode = c.arg(2);
    Connection::ReplyMode m;
    if (EqualsIgnoreCase(mode, "ON")) {
      m = Connection::ReplyMode::kOn;
    } else if (EqualsIgnoreCase(mode, "OFF")) {
      m = Connection::ReplyMode::kOff;
    } else if (EqualsIgnoreCase(mode, "SKIP")) {
      m = Connection::ReplyMode::kSkip;
    } else {
      return c.ErrorSyntax();
    }
    // Redis lets EXEC run it, and the rest of EXEC's reply array is then never sent.
    if (c.conn.in_exec) return c.reply.Error("ERR CLIENT REPLY is not allowed inside MULTI");
    c.conn.SetReplyMode(m);
    if (m == Connection::ReplyMode::kOn) c.conn.reply().SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "PAUSE")) {
    int64_t end;
    if (!arity(-3) || !AtMostArgs(c, 4, "pause") || !ParseDeadline(c, 2, &end)) return;
    bool write;
    if (!OptionalWord(c, 3, "ALL", "WRITE", "ERR CLIENT PAUSE mode must be WRITE or ALL", &write)) {
      return;
    }
    c.server.Pause(end, !write);
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "UNPAUSE")) {
    if (!arity(2)) return;
    c.server.Unpause();
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "UNBLOCK")) {
    if (!arity(-3) || !AtMostArgs(c, 4, "unblock")) return;
    int64_t id;
    if (!ParseInt64(c.arg(2), &id)) return c.ErrorNotInteger();
    bool error;
    if (!OptionalWord(c, 3, "TIMEOUT", "ERROR",
                      "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR", &error)) {
      return;
    }
    // Only WAIT blocks here. The target is answered on its own worker, as at its deadline.
    bool unblocked = false;
    c.server.ForEachClient([&](Connection* conn, Worker* w) {
      if (conn->id() != static_cast<uint64_t>(id) || w == nullptr) return;
      if (!c.server.EndWait(*conn)) return;
      unblocked = true;
      w->Post(conn->id(), [error](Connection& target) {
        if (error) return target.reply().Error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
        target.reply().Integer(0);
      });
    });
    c.reply.Integer(unblocked ? 1 : 0);
  } else if (EqualsIgnoreCase(sub, "NO-EVICT") || EqualsIgnoreCase(sub, "NO-TOUCH")) {
    if (arity(3)) c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    if (!arity(2)) return;
    const char* lines[] = {"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                           "ID",
                           "    Return the ID of the current connection.",
                           "GETNAME",
                           "    Return the name of the current connection.",
                           "SETNAME <name>",
                           "    Assign the name <name> to the current connection.",
                           "SETINFO <LIB-NAME|LIB-VER> <value>",
                           "    Set client library info.",
                           "INFO",
                           "    Return information about the current client connection.",
                           "LIST",
                           "    Return information about client connections.",
                           "KILL <ip:port> | ID <id> | ADDR <ip:port> | LADDR <ip:port>",
                           "    Kill connections.",
                           "REPLY (ON|OFF|SKIP)",
                           "    Control the replies sent to the current connection.",
                           "PAUSE <timeout> [WRITE|ALL]",
                           "    Suspend all, or just write, clients for <timeout> milliseconds.",
                           "UNPAUSE",
                           "    Stop the current client pause, resuming traffic.",
                           "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                           "    Unblock the specified blocked client.",
                           "HELP",
                           "    Print this help."};
    ReplyHelp(c, lines);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try CLIENT HELP.");
  }
}

// ---- COMMAND

std::vector<const char*> FlagNames(uint32_t f) {
  std::vector<const char*> out;
  if (f & cmd::kWrite) out.push_back("write");
  if (f & cmd::kReadOnly) out.push_back("readonly");
  if (f & cmd::kDenyOom) out.push_back("denyoom");
  if (f & cmd::kAdmin) out.push_back("admin");
  if (f & cmd::kFast) out.push_back("fast");
  if (f & cmd::kNoAuth) out.push_back("no_auth");
  if (f & cmd::kNoMulti) out.push_back("no_multi");
  if (f & cmd::kLoading) out.push_back("loading");
  if (f & cmd::kStale) out.push_back("stale");
  if (f & cmd::kPubSub) out.push_back("pubsub");
  return out;
}

// Whether COMMAND LIST FILTERBY ACLCAT `category` takes s: its group ("string", "hash", ...),
// or read, write, fast, slow or admin by its flags.
bool InAclCategory(const CommandSpec& s, std::string_view category) {
  if (EqualsIgnoreCase(category, s.group)) return true;
  if (EqualsIgnoreCase(category, "read")) return (s.flags & cmd::kReadOnly) != 0;
  if (EqualsIgnoreCase(category, "write")) return (s.flags & cmd::kWrite) != 0;
  if (EqualsIgnoreCase(category, "fast")) return (s.flags & cmd::kFast) != 0;
  if (EqualsIgnoreCase(category, "slow")) return (s.flags & cmd::kFast) == 0;
  if (EqualsIgnoreCase(category, "admin")) return (s.flags & cmd::kAdmin) != 0;
  return false;
}

void CommandInfo(CommandContext& c, const CommandSpec& s) {
  c.reply.ArrayHeader(10);
  c.reply.Bulk(s.name);
  c.reply.Integer(s.arity);
  std::vector<const char*> flags = FlagNames(s.flags);
  if (s.keys != nullptr) flags.push_back("movablekeys");
  c.reply.SetHeader(flags.size());
  for (const char* f : flags) c.reply.SimpleString(f);
  c.reply.Integer(s.first_key);
  c.reply.Integer(s.last_key);
  c.reply.Integer(s.key_step);
  c.reply.SetHeader(1);
  c.reply.SimpleString(std::string("@") + s.group);
  c.reply.SetHeader(0);  // tips
  c.reply.ArrayHeader(0);  // key specifications
  c.reply.ArrayHeader(0);  // subcommands
}

void CommandDocs(CommandContext& c, const CommandSpec& s) {
  c.reply.Bulk(s.name);
  c.reply.MapHeader(3);
  c.reply.Bulk("summary");
  c.reply.Bulk(s.summary);
  c.reply.Bulk("since");
  c.reply.Bulk("1.0.0");
  c.reply.Bulk("group");
  c.reply.Bulk(s.group);
}

void CmdCommand(CommandContext& c) {
  const auto& all = c.server.commands().all();
  if (c.argc() == 1) {
    c.reply.ArrayHeader(all.size());
    for (const CommandSpec& s : all) CommandInfo(c, s);
    return;
  }
  std::string_view sub = c.arg(1);
  if (EqualsIgnoreCase(sub, "COUNT")) {
    if (SubArity(c, 2)) c.reply.Integer(static_cast<int64_t>(all.size()));
  } else if (EqualsIgnoreCase(sub, "LIST")) {
    // FILTERBY MODULE (there are none), ACLCAT (a group, or read, write, fast, slow, admin) or
    // PATTERN (a glob, any case).
    if (c.argc() != 2 && (c.argc() != 5 || !EqualsIgnoreCase(c.arg(2), "FILTERBY"))) {
      return c.ErrorSyntax();
    }
    enum { kAll, kModule, kCategory, kPattern } filter = kAll;
    const std::string_view value = c.argc() == 5 ? c.arg(4) : std::string_view();
    if (c.argc() == 5) {
      const std::string_view by = c.arg(3);
      if (EqualsIgnoreCase(by, "MODULE")) {
        filter = kModule;
      } else if (EqualsIgnoreCase(by, "ACLCAT")) {
        filter = kCategory;
      } else if (EqualsIgnoreCase(by, "PATTERN")) {
        filter = kPattern;
      } else {
        return c.ErrorSyntax();
      }
    }
    auto keep = [&](const CommandSpec& s) {
      switch (filter) {
        case kAll:
          return true;
        case kModule:
          return false;
        case kCategory:
          return InAclCategory(s, value);
        case kPattern:
          return GlobMatch(value, s.name, true);
      }
      return false;
    };
    const size_t header = c.reply.DeferArrayHeader();
    size_t n = 0;
    for (const CommandSpec& s : all) {
      if (!keep(s)) continue;
      c.reply.Bulk(s.name);
      ++n;
    }
    c.reply.SetDeferredArrayHeader(header, n);
  } else if (EqualsIgnoreCase(sub, "GETKEYS")) {
    if (!SubArity(c, -4)) return;
    const CommandSpec* s = c.server.commands().Find(Lower(c.arg(2)));
    const std::span<const std::string_view> args = c.args.subspan(2);
    if (s == nullptr) return c.reply.Error("ERR Invalid command specified");
    if (s->first_key <= 0 && s->keys == nullptr) {
      return c.reply.Error("ERR The command has no key arguments");
    }
    if (s->arity > 0 ? args.size() != static_cast<size_t>(s->arity)
                     : args.size() < static_cast<size_t>(-s->arity)) {
      return c.reply.Error("ERR Invalid number of arguments specified for command");
    }
    const std::vector<size_t> at = KeyPositions(*s, args);
    c.reply.ArrayHeader(at.size());
    for (size_t i : at) c.reply.Bulk(args[i]);
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    if (!SubArity(c, 2)) return;
    static constexpr const char* kHelp[] = {
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else if (EqualsIgnoreCase(sub, "INFO")) {
    if (c.argc() == 2) {
      c.reply.ArrayHeader(all.size());
      for (const CommandSpec& s : all) CommandInfo(c, s);
      return;
    }
    c.reply.ArrayHeader(c.argc() - 2);
    for (size_t i = 2; i < c.argc(); ++i) {
      const CommandSpec* s = c.server.commands().Find(Lower(c.arg(i)));
      if (s == nullptr) {
        c.reply.NullArray();
      } else {
        CommandInfo(c, *s);
      }
    }
  } else if (EqualsIgnoreCase(sub, "DOCS")) {
    std::vector<const CommandSpec*> chosen;
    if (c.argc() == 2) {
      for (const CommandSpec& s : all) chosen.push_back(&s);
    } else {
      for (size_t i = 2; i < c.argc(); ++i) {
        if (const CommandSpec* s = c.server.commands().Find(Lower(c.arg(i)))) chosen.push_back(s);
      }
    }
    c.reply.MapHeader(chosen.size());
    for (const CommandSpec* s : chosen) CommandDocs(c, *s);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try COMMAND HELP.");
  }
}

// ---- INFO

std::string Human(uint64_t bytes) {
  char buf[64];
  const char* units[] = {"B", "K", "M", "G", "T"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "B", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f%s", v, units[u]);
  }
  return buf;
}

uint64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

struct Totals {
  uint64_t commands = 0, connections = 0, rejected = 0, in = 0, out = 0, errors = 0;
  std::map<std::string, uint64_t, std::less<>> error_kinds;
};

Totals SumWorkers(Server& s) {
  Totals t;
  auto add = [&](WorkerStats& w) {
    t.commands += w.commands.load(std::memory_order_relaxed);
    t.connections += w.connections.load(std::memory_order_relaxed);
    t.rejected += w.rejected_connections.load(std::memory_order_relaxed);
    t.in += w.net_input_bytes.load(std::memory_order_relaxed);
    t.out += w.net_output_bytes.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> l(w.errors_mu);
    t.errors += w.error_replies;
    for (const auto& [kind, n] : w.errors) t.error_kinds[kind] += n;
  };
  for (auto& w : s.workers()) add(w->stats());
  add(s.stats_for(nullptr));
  return t;
}

}  // namespace

void MetricSamples::Rate::Add(int64_t now_ms, uint64_t value) {
  if (last_ms != 0 && now_ms > last_ms) {
    per_sec[next] = static_cast<double>(value - last_value) * 1000.0 /
                    static_cast<double>(now_ms - last_ms);
    next = (next + 1) % kSamples;
  }
  last_ms = now_ms;
  last_value = value;
}

double MetricSamples::Rate::Mean() const {
  double sum = 0;
  for (double v : per_sec) sum += v;
  return sum / kSamples;
}

// One command's latency histogram (latency-tracking), summed over the workers.
struct CommandLatency {
  uint64_t calls = 0;
  uint64_t buckets[WorkerStats::kLatencyBuckets] = {};
};

CommandLatency SumLatency(Server& s, const CommandSpec& spec) {
  CommandLatency l;
  auto add = [&](WorkerStats& w) {
    for (size_t b = 0; b < WorkerStats::kLatencyBuckets; ++b) {
      const uint64_t n = w.per_command[spec.id].latency[b].load(std::memory_order_relaxed);
      l.buckets[b] += n;
      l.calls += n;
    }
  };
  for (auto& w : s.workers()) add(w->stats());
  add(s.stats_for(nullptr));
  return l;
}

// Where bucket b ends, in microseconds.
double LatencyBucketEndMicros(size_t b) {
  const uint64_t end = b + 1 < WorkerStats::kLatencyBuckets
                           ? WorkerStats::LatencyBucketStart(b + 1)
                           : 2 * WorkerStats::LatencyBucketStart(b);
  return static_cast<double>(end) * MicrosPerTick();
}

// The duration (microseconds) below which `percentile` percent of the calls took: the end of
// the bucket holding that call, so within a quarter of a power of two above the truth.
double LatencyAtPercentile(const CommandLatency& l, double percentile) {
  const double rank = std::max(1.0, std::ceil(percentile / 100 * static_cast<double>(l.calls)));
  uint64_t seen = 0;
  for (size_t b = 0; b < WorkerStats::kLatencyBuckets; ++b) {
    seen += l.buckets[b];
    if (static_cast<double>(seen) >= rank) return LatencyBucketEndMicros(b);
  }
  return LatencyBucketEndMicros(WorkerStats::kLatencyBuckets - 1);
}

void SampleMetrics(Server& server, int64_t now_ms) {
  const Totals t = SumWorkers(server);
  const CacheStats cs = server.cache().Stats();
  const uint64_t used = cs.bytes;
  MetricSamples& m = server.metrics();
  std::lock_guard<std::mutex> l(m.mu);
  if (used > cs.capacity && m.over_since_ms == 0) m.over_since_ms = now_ms;
  if (used <= cs.capacity && m.over_since_ms != 0) {
    m.over_total_ms += now_ms - m.over_since_ms;
    m.over_since_ms = 0;
  }
  m.ops.Add(now_ms, t.commands);
  m.input_bytes.Add(now_ms, t.in);
  m.output_bytes.Add(now_ms, t.out);
  m.peak_used_memory = std::max(m.peak_used_memory, used);
}

namespace {

// used_memory_peak, brought up to `used` (the sampler runs only every so often).
uint64_t PeakUsedMemory(Server& s, uint64_t used) {
  std::lock_guard<std::mutex> l(s.metrics().mu);
  return s.metrics().peak_used_memory = std::max(s.metrics().peak_used_memory, used);
}

void AppendField(std::string* out, const char* name, const std::string& value) {
  out->append(name).append(":").append(value).append("\r\n");
}
void AppendField(std::string* out, const char* name, uint64_t value) {
  AppendField(out, name, std::to_string(value));
}

std::string InfoText(CommandContext& c, const std::vector<std::string>& sections) {
  auto wanted = [&](const char* name, bool by_default) {
    if (sections.empty()) return by_default;
    for (const std::string& s : sections) {
      if (s == name || s == "all" || s == "everything" || (s == "default" && by_default)) {
        return true;
      }
    }
    return false;
  };
  Server& s = c.server;
  const int64_t now = c.NowMs();
  const CacheStats cs = s.cache().Stats();
  const Totals t = SumWorkers(s);
  std::string out;
  if (wanted("server", true)) {
    out += "# Server\r\n";
    AppendField(&out, "redis_version", kRedisVersion);
    AppendField(&out, "kvcache_version", kKvcacheVersion);
    AppendField(&out, "redis_mode", "standalone");
    AppendField(&out, "run_id", s.run_id());
    AppendField(&out, "os", "Linux");
    AppendField(&out, "arch_bits", 64);
    AppendField(&out, "multiplexing_api", "epoll");
    AppendField(&out, "process_id", static_cast<uint64_t>(getpid()));
    AppendField(&out, "tcp_port", static_cast<uint64_t>(s.listening_port()));
    AppendField(&out, "server_time_usec", static_cast<uint64_t>(now) * 1000);
    AppendField(&out, "uptime_in_seconds", static_cast<uint64_t>((now - s.start_ms()) / 1000));
    AppendField(&out, "uptime_in_days", static_cast<uint64_t>((now - s.start_ms()) / 86400000));
    AppendField(&out, "hz", static_cast<uint64_t>(s.config().hz));
    AppendField(&out, "configured_hz", static_cast<uint64_t>(s.config().hz));
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe));
    AppendField(&out, "executable", std::string(exe, n > 0 ? static_cast<size_t>(n) : 0));
    AppendField(&out, "config_file", s.config().config_file);
    AppendField(&out, "io_threads_active", s.workers().size() > 1 ? 1 : 0);
    AppendField(&out, "kvcache_workers", s.workers().size());
    AppendField(&out, "kvcache_shards", s.cache().shard_count());
    out += "\r\n";
  }
  if (wanted("clients", true)) {
    out += "# Clients\r\n";
    AppendField(&out, "connected_clients", s.client_count());
    AppendField(&out, "maxclients", static_cast<uint64_t>(s.config().maxclients));
    AppendField(&out, "cluster_connections", 0);
    AppendField(&out, "blocked_clients", s.waiting_clients());  // in WAIT
    AppendField(&out, "tracking_clients", 0);
    AppendField(&out, "clients_in_timeout_table", 0);
    out += "\r\n";
  }
  if (wanted("memory", true)) {
    const uint64_t rss = RssBytes();
    out += "# Memory\r\n";
    AppendField(&out, "used_memory", cs.bytes);
    AppendField(&out, "used_memory_human", Human(cs.bytes));
    AppendField(&out, "used_memory_rss", rss);
    AppendField(&out, "used_memory_rss_human", Human(rss));
    const uint64_t peak = PeakUsedMemory(s, cs.bytes);
    char perc[32];
    std::snprintf(perc, sizeof(perc), "%.2f%%",
                  peak == 0 ? 0.0 : 100.0 * static_cast<double>(cs.bytes) / static_cast<double>(peak));
    AppendField(&out, "used_memory_peak", peak);
    AppendField(&out, "used_memory_peak_human", Human(peak));
    AppendField(&out, "used_memory_peak_perc", perc);
    // The dataset is the items; the overhead is the index and the policies' metadata.
    const uint64_t dataset = std::min(cs.bytes, cs.item_bytes);
    AppendField(&out, "used_memory_overhead", cs.bytes - dataset);
    AppendField(&out, "used_memory_dataset", dataset);
    std::snprintf(perc, sizeof(perc), "%.2f%%",
                  cs.bytes == 0 ? 0.0
                                : 100.0 * static_cast<double>(dataset) /
                                      static_cast<double>(cs.bytes));
    AppendField(&out, "used_memory_dataset_perc", perc);
    const uint64_t system = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                            static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    AppendField(&out, "total_system_memory", system);
    AppendField(&out, "total_system_memory_human", Human(system));
    AppendField(&out, "maxmemory", static_cast<uint64_t>(s.config().maxmemory));
    AppendField(&out, "maxmemory_human", Human(static_cast<uint64_t>(s.config().maxmemory)));
    AppendField(&out, "maxmemory_policy", s.evicting() ? s.engine_policy() : "noeviction");
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.2f",
                  cs.bytes == 0 ? 1.0 : static_cast<double>(rss) / static_cast<double>(cs.bytes));
    AppendField(&out, "mem_fragmentation_ratio", ratio);
    AppendField(&out, "mem_allocator", "kvcache-slab");
    AppendField(&out, "kvcache_item_bytes", cs.item_bytes);
    AppendField(&out, "kvcache_pinned_bytes", cs.pinned_bytes);
    AppendField(&out, "kvcache_items", cs.items);
    out += "\r\n";
  }
  if (wanted("persistence", true)) {
    out += "# Persistence\r\n";
    if (s.origin() != nullptr) {
      s.origin()->AppendLoadingInfo(&out);  // "loading" and the preload's progress
    } else {
      AppendField(&out, "loading", 0);
    }
    AppendField(&out, "async_loading", 0);
    AppendField(&out, "rdb_changes_since_last_save", 0);
    AppendField(&out, "rdb_bgsave_in_progress", 0);
    AppendField(&out, "aof_enabled", 0);
    out += "\r\n";
  }
  if (wanted("stats", true)) {
    out += "# Stats\r\n";
    AppendField(&out, "total_connections_received", t.connections);
    AppendField(&out, "total_commands_processed", t.commands);
    AppendField(&out, "total_net_input_bytes", t.in);
    AppendField(&out, "total_net_output_bytes", t.out);
    {
      std::lock_guard<std::mutex> l(s.metrics().mu);
      char kbps[32];
      AppendField(&out, "instantaneous_ops_per_sec",
                  static_cast<uint64_t>(s.metrics().ops.Mean() + 0.5));
      std::snprintf(kbps, sizeof(kbps), "%.2f", s.metrics().input_bytes.Mean() / 1024);
      AppendField(&out, "instantaneous_input_kbps", kbps);
      std::snprintf(kbps, sizeof(kbps), "%.2f", s.metrics().output_bytes.Mean() / 1024);
      AppendField(&out, "instantaneous_output_kbps", kbps);
    }
    AppendField(&out, "rejected_connections", t.rejected);
    AppendField(&out, "expired_keys", cs.expirations);
    AppendField(&out, "evicted_keys", cs.evictions);
    AppendField(&out, "evicted_clients", 0);
    {
      std::lock_guard<std::mutex> l(s.metrics().mu);
      const int64_t since = s.metrics().over_since_ms;
      const int64_t current = since != 0 ? std::max<int64_t>(0, now - since) : 0;
      AppendField(&out, "total_eviction_exceeded_time",
                  static_cast<uint64_t>(s.metrics().over_total_ms + current));
      AppendField(&out, "current_eviction_exceeded_time", static_cast<uint64_t>(current));
    }
    AppendField(&out, "keyspace_hits", cs.hits);
    AppendField(&out, "keyspace_misses", cs.misses);
    AppendField(&out, "pubsub_channels", c.server.pubsub().Count(SubKind::kChannel));
    AppendField(&out, "pubsub_patterns", c.server.pubsub().Count(SubKind::kPattern));
    AppendField(&out, "pubsubshard_channels", c.server.pubsub().Count(SubKind::kShard));
    AppendField(&out, "total_forks", 0);  // nothing forks: no persistence
    AppendField(&out, "sync_full", 0);    // no replication
    AppendField(&out, "sync_partial_ok", 0);
    AppendField(&out, "sync_partial_err", 0);
    AppendField(&out, "unexpected_error_replies", 0);
    AppendField(&out, "total_error_replies", t.errors);
    out += "\r\n";
  }
  if (s.origin() != nullptr && wanted("origin", true)) {
    s.origin()->AppendInfo(&out);
    out += "\r\n";
  }
  if (wanted("replication", true)) {
    out += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n";
  }
  if (wanted("cpu", true)) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    char buf[64];
    out += "# CPU\r\n";
    std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(ru.ru_stime.tv_sec),
                  static_cast<long>(ru.ru_stime.tv_usec));
    AppendField(&out, "used_cpu_sys", buf);
    std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(ru.ru_utime.tv_sec),
                  static_cast<long>(ru.ru_utime.tv_usec));
    AppendField(&out, "used_cpu_user", buf);
    out += "\r\n";
  }
  if (wanted("latencystats", false)) {
    out += "# Latencystats\r\n";
    // latency-tracking-info-percentiles, each as written
    const std::vector<std::string> labels =
        SplitSpaces(s.config().latency_tracking_info_percentiles);
    for (const CommandSpec& spec : s.commands().all()) {
      const CommandLatency l = SumLatency(s, spec);
      if (l.calls == 0) continue;
      out += "latency_percentiles_usec_";
      out += spec.name;
      out += ':';
      for (size_t i = 0; i < labels.size(); ++i) {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "%sp%s=%.3f", i == 0 ? "" : ",", labels[i].c_str(),
                      LatencyAtPercentile(l, std::strtod(labels[i].c_str(), nullptr)));
        out += buf;
      }
      out += "\r\n";
    }
    out += "\r\n";
  }
  if (wanted("commandstats", false)) {
    out += "# Commandstats\r\n";
    const auto& all = s.commands().all();
    for (const CommandSpec& spec : all) {
      uint64_t calls = 0, ticks = 0, failed = 0, rejected = 0;
      auto add = [&](WorkerStats& w) {
        auto& pc = w.per_command[spec.id];
        calls += pc.calls.load(std::memory_order_relaxed);
        ticks += pc.ticks.load(std::memory_order_relaxed);
        failed += pc.failed.load(std::memory_order_relaxed);
        rejected += pc.rejected.load(std::memory_order_relaxed);
      };
      for (auto& w : s.workers()) add(w->stats());
      add(s.stats_for(nullptr));
      if (calls == 0 && rejected == 0) continue;
      const double usec = static_cast<double>(ticks) * MicrosPerTick();
      char buf[256];
      std::snprintf(buf, sizeof(buf),
                    "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f,"
                    "rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64 "\r\n",
                    spec.name, calls, static_cast<uint64_t>(usec),
                    calls ? usec / static_cast<double>(calls) : 0.0, rejected, failed);
      out += buf;
    }
    out += "\r\n";
  }
  if (wanted("errorstats", true)) {
    out += "# Errorstats\r\n";
    for (const auto& [kind, n] : t.error_kinds) {
      out += "errorstat_" + kind + ":count=" + std::to_string(n) + "\r\n";
    }
    out += "\r\n";
  }
  if (wanted("cluster", true)) out += "# Cluster\r\ncluster_enabled:0\r\n\r\n";
  if (wanted("keyspace", true)) {
    out += "# Keyspace\r\n";
    for (int64_t db = 0; db < s.config().databases; ++db) {
      KeySpaceStats k = s.cache().KeySpace(s.StoredDb(static_cast<uint8_t>(db)));
      if (k.items == 0) continue;
      out += "db" + std::to_string(db) + ":keys=" + std::to_string(k.items) +
             ",expires=" + std::to_string(k.expiring) + ",avg_ttl=0\r\n";
    }
    out += "\r\n";
  }
  // Sections are separated by a blank line; the text ends after the last field's line.
  if (out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0) {
    out.resize(out.size() - 2);
  }
  return out;
}

void CmdInfo(CommandContext& c) {
  std::vector<std::string> sections;
  for (size_t i = 1; i < c.argc(); ++i) sections.push_back(Lower(c.arg(i)));
  c.reply.Verbatim("txt", InfoText(c, sections));
}

// ---- SLOWLOG

void CmdSlowlog(CommandContext& c) {
  std::string_view sub = c.arg(1);
  if (EqualsIgnoreCase(sub, "GET")) {
    if (c.argc() > 3)
      return c.reply.Error("ERR wrong number of arguments for 'slowlog|get' command");
    int64_t count = 10;
    if (c.argc() == 3 && (!ParseInt64(c.arg(2), &count) || count < -1)) {
      return c.reply.Error("ERR count should be greater than or equal to -1");
    }
    const std::vector<SlowlogEntry> entries =
        c.server.SlowlogGet(count < 0 ? SIZE_MAX : static_cast<size_t>(count));
    c.reply.ArrayHeader(entries.size());
    for (const SlowlogEntry& e : entries) {
      c.reply.ArrayHeader(6);
      c.reply.Integer(static_cast<int64_t>(e.id));
      c.reply.Integer(e.unix_seconds);
      c.reply.Integer(static_cast<int64_t>(e.micros));
      c.reply.ArrayHeader(e.args.size());
      for (const std::string& a : e.args) c.reply.Bulk(a);
      c.reply.Bulk(e.peer);
      c.reply.Bulk(e.client_name);
    }
  } else if (EqualsIgnoreCase(sub, "LEN")) {
    if (SubArity(c, 2)) c.reply.Integer(static_cast<int64_t>(c.server.SlowlogLen()));
  } else if (EqualsIgnoreCase(sub, "RESET")) {
    if (!SubArity(c, 2)) return;
    c.server.SlowlogReset();
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    static const char* const kHelp[] = {
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try SLOWLOG HELP.");
  }
}

// ---- LATENCY (the command events; Redis also samples its own internal events)

// LATENCY HISTOGRAM: each command's calls and their cumulative count by duration, at powers of
// two of microseconds, a key only where the count grows (Redis's shape).
void ReplyLatencyHistogram(CommandContext& c) {
  std::vector<const CommandSpec*> specs;
  if (c.argc() == 2) {
    for (const CommandSpec& spec : c.server.commands().all()) specs.push_back(&spec);
  } else {
    for (size_t i = 2; i < c.argc(); ++i) {
      const std::string name = Lower(c.arg(i));
      const CommandSpec* spec = c.server.commands().Find(name.substr(0, name.find('|')));
      if (spec != nullptr && std::find(specs.begin(), specs.end(), spec) == specs.end()) {
        specs.push_back(spec);
      }
    }
  }
  std::vector<std::pair<const CommandSpec*, CommandLatency>> found;
  for (const CommandSpec* spec : specs) {
    CommandLatency l = SumLatency(c.server, *spec);
    if (l.calls != 0) found.emplace_back(spec, l);
  }
  c.reply.MapHeader(found.size());
  for (const auto& [spec, l] : found) {
    std::map<uint64_t, uint64_t> by_power;  // microseconds (a power of two) -> calls
    for (size_t b = 0; b < WorkerStats::kLatencyBuckets; ++b) {
      if (l.buckets[b] == 0) continue;
      const double end = LatencyBucketEndMicros(b);
      uint64_t key = 1;
      while (static_cast<double>(key) < end) key *= 2;
      by_power[key] += l.buckets[b];
    }
    c.reply.Bulk(spec->name);
    c.reply.MapHeader(2);
    c.reply.Bulk("calls");
    c.reply.Integer(static_cast<int64_t>(l.calls));
    c.reply.Bulk("histogram_usec");
    c.reply.MapHeader(by_power.size());
    uint64_t cumulative = 0;
    for (const auto& [usec, n] : by_power) {
      cumulative += n;
      c.reply.Integer(static_cast<int64_t>(usec));
      c.reply.Integer(static_cast<int64_t>(cumulative));
    }
  }
}

void CmdLatency(CommandContext& c) {
  std::string_view sub = c.arg(1);
  if (EqualsIgnoreCase(sub, "HISTOGRAM")) {
    ReplyLatencyHistogram(c);
  } else if (EqualsIgnoreCase(sub, "LATEST")) {
    if (!SubArity(c, 2)) return;
    const std::map<std::string, LatencyEvent> events = c.server.LatencyEvents();
    c.reply.ArrayHeader(events.size());
    for (const auto& [name, e] : events) {
      c.reply.ArrayHeader(4);
      c.reply.Bulk(name);
      c.reply.Integer(e.latest().unix_seconds);
      c.reply.Integer(static_cast<int64_t>(e.latest().ms));
      c.reply.Integer(static_cast<int64_t>(e.max));
    }
  } else if (EqualsIgnoreCase(sub, "HISTORY")) {
    if (!SubArity(c, 3)) return;
    const std::map<std::string, LatencyEvent> events = c.server.LatencyEvents();
    auto it = events.find(std::string(c.arg(2)));
    if (it == events.end()) return c.reply.ArrayHeader(0);
    std::vector<LatencySample> samples;
    for (size_t i = 0; i < LatencyEvent::kSamples; ++i) {  // oldest first
      const LatencySample& s = it->second.samples[(it->second.next + i) % LatencyEvent::kSamples];
      if (s.unix_seconds != 0) samples.push_back(s);
    }
    c.reply.ArrayHeader(samples.size());
    for (const LatencySample& s : samples) {
      c.reply.ArrayHeader(2);
      c.reply.Integer(s.unix_seconds);
      c.reply.Integer(static_cast<int64_t>(s.ms));
    }
  } else if (EqualsIgnoreCase(sub, "RESET")) {
    c.reply.Integer(static_cast<int64_t>(c.server.LatencyReset(c.args.subspan(2))));
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    static const char* const kHelp[] = {
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the",
        "    specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try LATENCY HELP.");
  }
}

// ---- CONFIG

void CmdConfig(CommandContext& c) {
  std::string_view sub = c.arg(1);
  if (EqualsIgnoreCase(sub, "GET")) {
    if (!SubArity(c, -3)) return;
    std::vector<const ConfigEntry*> found;
    for (const ConfigEntry& e : ConfigTable()) {
      for (size_t i = 2; i < c.argc(); ++i) {
        if (GlobMatch(c.arg(i), e.name, true)) {
          found.push_back(&e);
          break;
        }
      }
    }
    c.reply.MapHeader(found.size());
    for (const ConfigEntry* e : found) {
      c.reply.Bulk(e->name);
      if (std::string_view(e->name) == "maxmemory-policy") {
        c.reply.Bulk(c.server.evicting() ? c.server.engine_policy() : "noeviction");
      } else {
        c.reply.Bulk(e->get(c.server.config()));
      }
    }
  } else if (EqualsIgnoreCase(sub, "SET")) {
    if (!SubArity(c, -4)) return;
    if (c.argc() % 2 != 0) return c.ErrorSyntax();  // a name without its value, as Redis says
    ServerConfig updated = c.server.config();
    std::vector<const ConfigEntry*> seen;
    for (size_t i = 2; i < c.argc(); i += 2) {
      const ConfigEntry* e = FindConfig(c.arg(i));
      if (e == nullptr) {
        return c.reply.Error("ERR Unknown option or number of arguments for CONFIG SET - '" +
                             std::string(c.arg(i)) + "'");
      }
      // Redis's texts name the argument as the client wrote it.
      auto failed = [&](const std::string& why) {
        c.reply.Error("ERR CONFIG SET failed (possibly related to argument '" +
                      std::string(c.arg(i)) + "') - " + why);
      };
      if (!e->mutable_at_runtime) return failed("can't set immutable config");
      if (std::find(seen.begin(), seen.end(), e) != seen.end()) {
        return failed("duplicate parameter");
      }
      seen.push_back(e);
      Status st = e->set(&updated, c.arg(i + 1));
      if (!st.ok()) return failed(st.message());
      if (std::string_view(e->name) == "maxmemory-policy") {
        bool evict;
        st = c.server.CheckMaxMemoryPolicy(updated.maxmemory_policy, &evict);
        if (!st.ok()) return failed(st.message());
      }
      if (std::string_view(e->name) == "maxmemory") {
        // What the engine accepts with its shard count (the arena's address range bounds it).
        const uint64_t most = c.cache.max_capacity();
        const uint64_t least = c.cache.shard_count() * uint64_t{64 << 10};
        if (updated.maxmemory != 0 && (static_cast<uint64_t>(updated.maxmemory) > most ||
                                       static_cast<uint64_t>(updated.maxmemory) < least)) {
          return failed("argument must be 0 (no limit) or between " + std::to_string(least) +
                        " and " + std::to_string(most) + " with this server's " +
                        std::to_string(c.cache.shard_count()) + " shards");
        }
      }
    }
    // Checked above, so neither fails; the policy first, so that a lower maxmemory set
    // together with it is reached (or not) as the new policy says.
    Status st = c.server.SetMaxMemoryPolicy(updated.maxmemory_policy);
    if (st.ok() && updated.maxmemory != c.server.config().maxmemory) {
      st = c.server.SetMaxMemory(updated.maxmemory);
    }
    if (!st.ok()) return c.reply.Error("ERR CONFIG SET failed - " + st.message());
    c.server.config() = updated;  // under the exclusive world lock
    c.server.ApplyConfig();
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "RESETSTAT")) {
    if (!SubArity(c, 2)) return;
    auto reset = [&](WorkerStats& w) {
      for (size_t i = 0; i < c.server.commands().all().size(); ++i) {
        w.per_command[i].calls = 0;
        w.per_command[i].ticks = 0;
        w.per_command[i].failed = 0;
        w.per_command[i].rejected = 0;
        for (auto& b : w.per_command[i].latency) {
          if (b.load(std::memory_order_relaxed) != 0) b = 0;  // untouched pages stay untouched
        }
      }
      w.commands = 0;
      w.connections = 0;
      w.rejected_connections = 0;
      w.net_input_bytes = 0;
      w.net_output_bytes = 0;
      std::lock_guard<std::mutex> l(w.errors_mu);
      w.errors.clear();
      w.error_replies = 0;
    };
    for (auto& w : c.server.workers()) reset(w->stats());
    reset(c.server.stats_for(nullptr));
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "REWRITE")) {
    if (!SubArity(c, 2)) return;
    const std::string& path = c.server.config().config_file;
    if (path.empty()) return c.reply.Error("ERR The server is running without a config file");
    Status st = RewriteConfigFile(path, c.server.config());
    if (!st.ok()) return c.reply.Error("ERR Rewriting config file: " + st.message());
    Log(LogLevel::kInfo, "CONFIG REWRITE executed with success.");
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    if (!SubArity(c, 2)) return;
    static constexpr const char* kHelp[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try CONFIG HELP.");
  }
}

// ---- the rest

void CmdDbSize(CommandContext& c) {
  c.reply.Integer(static_cast<int64_t>(c.cache.KeySpace(c.db()).items));
}

void CmdTime(CommandContext& c) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(tv.tv_sec));
  c.reply.Bulk(std::to_string(tv.tv_usec));
}

// ROLE: a server without replicas is a master at replication offset 0 with none attached.
// WAIT: no replica ever acknowledges a write here, so it answers 0, at once for 0 replicas (or
// inside EXEC), otherwise once its timeout has passed (never for 0, until CLIENT UNBLOCK), as a
// Redis master without replicas does.
void CmdWait(CommandContext& c) {
  int64_t replicas, end;
  if (!ParseInt64(c.arg(1), &replicas)) return c.ErrorNotInteger();
  if (!ParseDeadline(c, 2, &end)) return;
  if (replicas <= 0 || c.conn.in_exec || c.conn.worker() == nullptr) return c.reply.Integer(0);
  c.server.WaitForReplicas(c.conn, end);
}

void CmdRole(CommandContext& c) {
  c.reply.ArrayHeader(3);
  c.reply.Bulk("master");
  c.reply.Integer(0);
  c.reply.ArrayHeader(0);
}

// LASTSAVE: nothing is ever saved (the slower tier is the durable copy), so, as a Redis that
// has not saved yet, the time the server started.
void CmdLastSave(CommandContext& c) { c.reply.Integer(c.server.start_ms() / 1000); }

// MONITOR: from now on the connection is sent every command the server runs (FeedMonitors).
void CmdMonitor(CommandContext& c) {
  if (c.conn.in_exec) return c.reply.Error("ERR MONITOR isn't allowed for DENY BLOCKING client");
  if (c.conn.monitor) return;  // as Redis: a second MONITOR gets no reply
  c.server.AddMonitor(c.conn);
  c.reply.SimpleString("OK");
}

// MEMORY STATS: Redis's fields, as far as they exist here. used_memory is the engine's own
// accounting (items, index, policy metadata), which starts at 0; client buffers are outside it
// and appear in the RSS only, so the client and replication fields are 0, as are those of what
// kvcache does not have (AOF, Lua, cluster links). An index shared by every database is shown
// in each database's entry in proportion to its keys.
void ReplyMemoryStats(CommandContext& c) {
  const CacheStats cs = c.cache.Stats();
  const uint64_t used = cs.bytes;
  const uint64_t peak = PeakUsedMemory(c.server, used);
  const uint64_t dataset = std::min(used, cs.item_bytes);
  const uint64_t overhead = used - dataset;
  const uint64_t rss = RssBytes();
  std::vector<std::pair<uint8_t, uint64_t>> dbs;
  for (int64_t db = 0; db < c.server.config().databases; ++db) {
    const KeySpaceStats k = c.cache.KeySpace(c.server.StoredDb(static_cast<uint8_t>(db)));
    if (k.items != 0) dbs.emplace_back(static_cast<uint8_t>(db), k.items);
  }
  auto percent = [](uint64_t part, uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  c.reply.MapHeader(18 + dbs.size());
  auto field = [&](const char* name, uint64_t value) {
    c.reply.Bulk(name);
    c.reply.Integer(static_cast<int64_t>(value));
  };
  field("peak.allocated", peak);
  field("total.allocated", used);
  field("startup.allocated", 0);
  field("replication.backlog", 0);
  field("clients.slaves", 0);
  field("clients.normal", 0);
  field("cluster.links", 0);
  field("aof.buffer", 0);
  field("lua.caches", 0);
  field("functions.caches", 0);
  for (const auto& [db, items] : dbs) {
    c.reply.Bulk("db." + std::to_string(db));
    c.reply.MapHeader(3);
    field("overhead.hashtable.main",
          cs.items == 0 ? 0
                        : static_cast<uint64_t>(static_cast<double>(overhead) * items / cs.items));
    field("overhead.hashtable.expires", 0);  // an expiry is 8 bytes of its item
    field("overhead.hashtable.slot-to-keys", 0);
  }
  field("overhead.total", overhead);
  field("keys.count", cs.items);
  field("keys.bytes-per-key", cs.items == 0 ? 0 : used / cs.items);
  field("dataset.bytes", dataset);
  c.reply.Bulk("dataset.percentage");
  c.reply.Double(percent(dataset, used));
  c.reply.Bulk("peak.percentage");
  c.reply.Double(percent(used, peak));
  c.reply.Bulk("fragmentation");
  c.reply.Double(used == 0 ? 0.0 : static_cast<double>(rss) / static_cast<double>(used));
  field("fragmentation.bytes", rss > used ? rss - used : 0);
}

void CmdMemory(CommandContext& c) {
  std::string_view sub = c.arg(1);
  if (EqualsIgnoreCase(sub, "USAGE")) {
    if (!SubArity(c, -3)) return;
    // As Redis: the options are checked before the key is looked up; SAMPLES may repeat.
    for (size_t j = 3; j < c.argc(); j += 2) {
      if (!EqualsIgnoreCase(c.arg(j), "SAMPLES") || j + 1 >= c.argc()) return c.ErrorSyntax();
      int64_t samples;
      if (!ParseInt64(c.arg(j + 1), &samples)) return c.ErrorNotInteger();
      if (samples < 0) return c.ErrorSyntax();
    }
    int64_t bytes = -1;
    std::string_view key = c.Key(2);
    c.cache.Update(key, [&](const ItemView* cur, Mutation*) {
      if (cur != nullptr) bytes = static_cast<int64_t>(cur->memory_bytes + 5);  // + index slot
    });
    if (bytes < 0) return c.reply.Null();
    c.reply.Integer(bytes);
  } else if (EqualsIgnoreCase(sub, "DOCTOR")) {
    if (!SubArity(c, 2)) return;
    c.reply.Verbatim("txt", "Sam, I have no memory problems");
  } else if (EqualsIgnoreCase(sub, "STATS")) {
    if (!SubArity(c, 2)) return;
    ReplyMemoryStats(c);
  } else if (EqualsIgnoreCase(sub, "MALLOC-STATS")) {
    if (!SubArity(c, 2)) return;
    // What Redis answers when built without jemalloc: items live in the engine's own arena.
    c.reply.Verbatim("txt", "Stats not supported for the current allocator");
  } else if (EqualsIgnoreCase(sub, "PURGE")) {
    if (!SubArity(c, 2)) return;
    // Pages whose items are all gone are already given back to the kernel as they empty.
    c.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    if (!SubArity(c, 2)) return;
    static constexpr const char* kHelp[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try MEMORY HELP.");
  }
}

// OBJECT: how a key's value is held, as far as kvcache has Redis's notions of it. Asking is not
// an access (Peek): it changes neither the policy nor the hit statistics.
const char* EncodingName(const Handle& h) {
  const std::string_view v = h.value();
  switch (h.kind()) {
    case ValueKind::kString: {
      // What Redis reports for a value SET stored (an APPEND or SETRANGE makes Redis say "raw"
      // for any length; kvcache keeps no such history).
      int64_t unused;
      if (ParseInt64(v, &unused)) return "int";
      return v.size() <= 44 ? "embstr" : "raw";
    }
    case ValueKind::kHash:
      return !v.empty() && v[0] == kHashIndexedFormat ? "hashtable" : "listpack";
    case ValueKind::kTensor:
    case ValueKind::kOther:
      break;
  }
  return "raw";  // contiguous bytes, as Redis names a module type's encoding
}

void CmdObject(CommandContext& c) {
  const std::string_view sub = c.arg(1);
  const bool encoding = EqualsIgnoreCase(sub, "ENCODING"), freq = EqualsIgnoreCase(sub, "FREQ"),
             idle = EqualsIgnoreCase(sub, "IDLETIME"), refcount = EqualsIgnoreCase(sub, "REFCOUNT");
  if (encoding || freq || idle || refcount) {
    if (!SubArity(c, 3)) return;
    const std::string_view key = c.Key(2);
    Handle h = c.cache.Peek(key);
    if (!h) return c.reply.Null();
    if (encoding) return c.reply.Bulk(EncodingName(h));
    if (refcount) return c.reply.Integer(1);  // no value is shared between keys
    if (idle) {
      return c.reply.Error(std::string("ERR idle time is not tracked by the ") +
                           c.cache.policy_name() + " maxmemory-policy");
    }
    uint32_t frequency = 0;
    Status st = c.cache.AccessFrequency(key, &frequency);
    if (st.code() == Status::Code::kNotFound) return c.reply.Null();  // gone since the Peek
    if (!st.ok()) {
      return c.reply.Error(
          "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
          "note that when switching between policies at runtime LRU and LFU data will take "
          "some time to adjust.");
    }
    return c.reply.Integer(frequency);
  }
  if (EqualsIgnoreCase(sub, "HELP")) {
    if (!SubArity(c, 2)) return;
    static const char* const kHelp[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency of the <key>, as the maxmemory-policy counts it",
        "    (lfu, wtinylfu, s3fifo and sieve count accesses).",
        "IDLETIME <key>",
        "    Not tracked: no maxmemory-policy of kvcache keeps the time of the last access.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help."};
    ReplyHelp(c, kHelp);
    return;
  }
  c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try OBJECT HELP.");
}

void CmdDebug(CommandContext& c) {
  c.reply.Error("ERR DEBUG " + std::string(c.arg(1)) + " is not supported by kvcache");
}

void CmdShutdown(CommandContext& c) {
  for (size_t i = 1; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    if (EqualsIgnoreCase(a, "ABORT")) return c.reply.Error("ERR No shutdown in progress.");
    if (!EqualsIgnoreCase(a, "NOSAVE") && !EqualsIgnoreCase(a, "SAVE") &&
        !EqualsIgnoreCase(a, "NOW") && !EqualsIgnoreCase(a, "FORCE")) {
      return c.ErrorSyntax();
    }
  }
  // Like Redis, no reply: the connection closes (clients treat that as success).
  Log(LogLevel::kInfo, "User requested shutdown...");
  c.conn.close_after_reply = true;
  c.server.RequestShutdown();
}

}  // namespace

void RegisterServerFamily(CommandRegistry* r) {
  using namespace cmd;
  const uint32_t kConn = kNoAuth | kFast | kLoading | kStale;
  r->Add({"ping", -1, kFast | kSubscribed, 0, 0, 0, CmdPing, "connection",
          "Returns the server's liveliness response."});
  r->Add({"echo", 2, kFast, 0, 0, 0, CmdEcho, "connection", "Returns the given string."});
  r->Add({"auth", -2, kConn, 0, 0, 0, CmdAuth, "connection", "Authenticates the connection."});
  r->Add({"hello", -1, kConn, 0, 0, 0, CmdHello, "connection", "Handshakes with the Redis server."});
  r->Add({"select", 2, kFast | kLoading | kStale, 0, 0, 0, CmdSelect, "connection", "Changes the selected database."});
  r->Add({"quit", -1, kConn | kNotQueued | kSubscribed, 0, 0, 0, CmdQuit, "connection",
          "Closes the connection."});
  r->Add({"reset", 1, kConn | kNotQueued | kSubscribed, 0, 0, 0, CmdReset, "connection",
          "Resets the connection."});
  r->Add({"client", -2, kAdmin | kLoading | kStale, 0, 0, 0, CmdClient, "connection", "A container for client connection commands."});
  r->Add({"command", -1, kLoading | kStale, 0, 0, 0, CmdCommand, "server", "Returns detailed information about all commands."});
  r->Add({"info", -1, kLoading | kStale, 0, 0, 0, CmdInfo, "server", "Returns information and statistics about the server."});
  r->Add({"slowlog", -2, kAdmin | kLoading | kStale, 0, 0, 0, CmdSlowlog, "server",
          "A container for slow log commands."});
  r->Add({"latency", -2, kAdmin | kLoading | kStale, 0, 0, 0, CmdLatency, "server",
          "A container for latency diagnostics commands."});
  r->Add({"config", -2, kAdmin | kLoading | kStale | kExclusive, 0, 0, 0, CmdConfig, "server", "A container for server configuration commands."});
  r->Add({"dbsize", 1, kReadOnly | kFast, 0, 0, 0, CmdDbSize, "server", "Returns the number of keys in the database."});
  r->Add({"time", 1, kFast | kLoading | kStale, 0, 0, 0, CmdTime, "server", "Returns the server time."});
  r->Add({"role", 1, kFast | kLoading | kStale, 0, 0, 0, CmdRole, "server", "Returns the replication role."});
  r->Add({"wait", 3, 0, 0, 0, 0, CmdWait, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."});
  r->Add({"lastsave", 1, kFast | kLoading | kStale, 0, 0, 0, CmdLastSave, "server", "Returns the Unix timestamp of the last successful save to disk."});
  r->Add({"monitor", 1, kAdmin | kLoading | kStale, 0, 0, 0, CmdMonitor, "server",
          "Listens for all requests received by the server in real-time."});
  r->Add({"memory", -2, kReadOnly, 0, 0, 0, CmdMemory, "server", "A container for memory diagnostics commands."});
  r->Add({"object", -2, kReadOnly | kNoLoad, 2, 2, 1, CmdObject, "generic",
          "A container for object introspection commands."});
  r->Add({"debug", -2, kAdmin, 0, 0, 0, CmdDebug, "server", "A container for debugging commands."});
  r->Add({"shutdown", -1, kAdmin | kNoMulti | kLoading | kStale, 0, 0, 0, CmdShutdown, "server", "Synchronously saves the database(s) to disk and shuts down the Redis server."});
}

}  // namespace kvcache::server
