// Connection, server and transaction commands, protocol handling and limits, in-process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "server/server.h"
#include "server/test_client.h"

namespace kvcache::server {
namespace {

std::string Str(const Reply& r) { return r.ToString(); }

TEST(Connection, PingEchoSelectQuitReset) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"PING"})), "PONG");
  EXPECT_EQ(t.Run({"PING"}).type, Reply::kSimple);
  EXPECT_EQ(Str(t.Run({"PING", "hi"})), "hi");
  EXPECT_EQ(t.Run({"PING", "hi"}).type, Reply::kBulk);
  EXPECT_EQ(Str(t.Run({"PING", "a", "b"})), "(error) ERR wrong number of arguments for 'ping' command");
  EXPECT_EQ(Str(t.Run({"ECHO", "x y"})), "x y");
  EXPECT_EQ(Str(t.Run({"SET", "k", "db0"})), "OK");
  EXPECT_EQ(Str(t.Run({"SELECT", "1"})), "OK");
  EXPECT_EQ(Str(t.Run({"GET", "k"})), "(nil)") << "databases are apart";
  EXPECT_EQ(Str(t.Run({"SET", "k", "db1"})), "OK");
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) 1");
  EXPECT_EQ(Str(t.Run({"SELECT", "16"})), "(error) ERR DB index is out of range");
  EXPECT_EQ(Str(t.Run({"SELECT", "x"})), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Str(t.Run({"RESET"})), "RESET");
  EXPECT_EQ(Str(t.Run({"GET", "k"})), "db0") << "RESET goes back to db 0";
  EXPECT_FALSE(t.closed());
  EXPECT_EQ(Str(t.Run({"QUIT"})), "OK");
  EXPECT_TRUE(t.closed());
}

TEST(Connection, DatabaseKeysNeverCollide) {
  // Database 0 stores keys as they are; others under 0xFF, db. A database 0 key that looks like
  // another database's must stay apart from it.
  TestClient t;
  const std::string tricky = "\xff\x01k";
  EXPECT_EQ(Str(t.Run({"SET", tricky, "db0"})), "OK");
  EXPECT_EQ(Str(t.Run({"SELECT", "1"})), "OK");
  EXPECT_EQ(Str(t.Run({"GET", "k"})), "(nil)");
  EXPECT_EQ(Str(t.Run({"SET", "k", "db1"})), "OK");
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) 1");
  EXPECT_EQ(Str(t.Run({"SELECT", "0"})), "OK");
  EXPECT_EQ(Str(t.Run({"GET", tricky})), "db0");
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) 1");
  EXPECT_EQ(Str(t.Run({"KEYS", "*"})), "[" + tricky + "]");
}

TEST(Connection, UnknownCommandsAndArity) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"FOO", "a", "b"})),
            "(error) ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
  EXPECT_EQ(Str(t.Run({"NOPE"})), "(error) ERR unknown command 'NOPE', with args beginning with: ");
  // Redis's printf formats: 128 bytes of arguments in all (the first one's quote not counted),
  // and each argument ends at a NUL byte.
  EXPECT_EQ(Str(t.Run({"FOO", std::string(200, 'x'), "more"})),
            "(error) ERR unknown command 'FOO', with args beginning with: '" +
                std::string(128, 'x') + "' ");
  EXPECT_EQ(Str(t.Run({"FOO", std::string("a\0b", 3), "c"})),
            "(error) ERR unknown command 'FOO', with args beginning with: 'a' 'c' ");
  EXPECT_EQ(Str(t.Run({"GET", "a", "b"})), "(error) ERR wrong number of arguments for 'get' command");
}

TEST(Connection, AuthAndHello) {
  ServerConfig config;
  config.requirepass = "secret";
  TestClient t(config);
  EXPECT_EQ(Str(t.Run({"GET", "k"})), "(error) NOAUTH Authentication required.");
  EXPECT_EQ(Str(t.Run({"PING"})), "(error) NOAUTH Authentication required.");
  EXPECT_EQ(Str(t.Run({"AUTH", "wrong"})),
            "(error) WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(Str(t.Run({"AUTH", "nobody", "secret"})),
            "(error) WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(Str(t.Run({"HELLO", "3"})),
            "(error) NOAUTH HELLO must be called with the client already authenticated, "
            "otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client "
            "and select the RESP protocol version at the same time");
  // As Redis 7.0: options in their order, then the missing AUTH.
  EXPECT_EQ(Str(t.Run({"HELLO", "2", "AUTH", "default", "wrong", "SETNAME", "a b"})),
            "(error) WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(Str(t.Run({"HELLO", "2", "SETNAME", "a b", "AUTH", "default", "wrong"})),
            "(error) ERR Client names cannot contain spaces, newlines or special characters.");
  EXPECT_EQ(Str(t.Run({"HELLO", "2", "SETNAME", "a b"})),
            "(error) ERR Client names cannot contain spaces, newlines or special characters.");
  EXPECT_EQ(Str(t.Run({"HELLO", "2", "AUTH", "default", "wrong", "SETNAME", "ok"})),
            "(error) WRONGPASS invalid username-password pair or user is disabled.");
  Reply hello = t.Run({"HELLO", "3", "AUTH", "default", "secret", "SETNAME", "me"});
  ASSERT_EQ(hello.type, Reply::kMap) << Str(hello);
  ASSERT_EQ(hello.elems.size(), 14u);
  EXPECT_EQ(hello.elems[0].str, "server");
  EXPECT_EQ(hello.elems[4].str, "proto");
  EXPECT_EQ(hello.elems[5].integer, 3);
  EXPECT_EQ(Str(t.Run({"CLIENT", "GETNAME"})), "me");
  EXPECT_EQ(t.Run({"GET", "missing"}).type, Reply::kNull);
  EXPECT_EQ(Str(t.Run({"HELLO", "4"})), "(error) NOPROTO unsupported protocol version");
  Reply two = t.Run({"HELLO", "2"});
  EXPECT_EQ(two.type, Reply::kArray) << "RESP2 maps are flat arrays";
  EXPECT_EQ(Str(t.Run({"AUTH", "secret"})), "OK");

  TestClient open;
  EXPECT_EQ(Str(open.Run({"AUTH", "x"})),
            "(error) ERR AUTH <password> called without any password configured for the default "
            "user. Are you sure your configuration is correct?");
}

TEST(Connection, ClientSubcommands) {
  TestClient t;
  Reply id = t.Run({"CLIENT", "ID"});
  EXPECT_EQ(id.type, Reply::kInteger);
  EXPECT_EQ(Str(t.Run({"CLIENT", "GETNAME"})), "(nil)");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETNAME", "has space"})),
            "(error) ERR Client names cannot contain spaces, newlines or special characters.");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETNAME", "worker-1"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETINFO", "LIB-VER", "5.0"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETINFO", "COLOR", "red"})), "(error) ERR Unrecognized option 'COLOR'");
  std::string info = Str(t.Run({"CLIENT", "INFO"}));
  EXPECT_NE(info.find("id=" + std::to_string(id.integer) + " "), std::string::npos) << info;
  EXPECT_NE(info.find("name=worker-1"), std::string::npos);
  EXPECT_NE(info.find("lib-name=redis-py lib-ver=5.0"), std::string::npos);
  EXPECT_EQ(Str(t.Run({"CLIENT", "BOGUS"})), "(error) ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.");
  EXPECT_EQ(Str(t.Run({"CLIENT", "KILL", "1.2.3.4:5"})), "(error) ERR No such client");
  // Redis 7's texts for a known subcommand with the wrong number of arguments.
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETNAME"})),
            "(error) ERR wrong number of arguments for 'client|setname' command");
  EXPECT_EQ(Str(t.Run({"client", "Id", "x"})),
            "(error) ERR wrong number of arguments for 'client|id' command");
  EXPECT_EQ(Str(t.Run({"CLIENT", "KILL"})),
            "(error) ERR wrong number of arguments for 'client|kill' command");
  EXPECT_EQ(Str(t.Run({"CLIENT", "LIST", "x"})), "(error) ERR syntax error");
  EXPECT_FALSE(t.Run({"CLIENT", "LIST", "TYPE", "normal"}).is_error());
  EXPECT_EQ(Str(t.Run({"CLIENT", "LIST", "TYPE", "pubsub"})), "");
  EXPECT_EQ(Str(t.Run({"CLIENT", "LIST", "TYPE", "x"})), "(error) ERR Unknown client type 'x'");
  EXPECT_FALSE(t.Run({"CLIENT", "LIST", "ID", std::to_string(id.integer)}).is_error());
  EXPECT_EQ(Str(t.Run({"CLIENT", "LIST", "ID", "0"})), "");
  EXPECT_EQ(Str(t.Run({"CLIENT", "LIST", "ID", "x"})), "(error) ERR Invalid client ID");
  EXPECT_EQ(Str(t.Run({"COMMAND", "COUNT", "x"})),
            "(error) ERR wrong number of arguments for 'command|count' command");
  EXPECT_EQ(Str(t.Run({"COMMAND", "BOGUS"})),
            "(error) ERR unknown subcommand 'BOGUS'. Try COMMAND HELP.");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxclients"})),
            "(error) ERR wrong number of arguments for 'config|set' command");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxclients", "10", "timeout"})),
            "(error) ERR syntax error");
  EXPECT_EQ(Str(t.Run({"CONFIG", "RESETSTAT", "x"})),
            "(error) ERR wrong number of arguments for 'config|resetstat' command");
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE"})),
            "(error) ERR wrong number of arguments for 'memory|usage' command");
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE", "k", "SAMPLES", "x"})),
            "(error) ERR value is not an integer or out of range");
  // Options first, as Redis: a bad one is an error even for a missing key.
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE", "nokey", "SAMPLES", "-1"})), "(error) ERR syntax error");
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE", "nokey", "SAMPLES"})), "(error) ERR syntax error");
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE", "nokey", "SAMPLES", "5", "SAMPLES", "0"})), "(nil)");
}

TEST(Server, CommandInfoDocsCount) {
  TestClient t;
  Reply count = t.Run({"COMMAND", "COUNT"});
  EXPECT_GE(count.integer, 40);
  Reply info = t.Run({"COMMAND", "INFO", "get", "nosuch"});
  ASSERT_EQ(info.elems.size(), 2u);
  EXPECT_EQ(info.elems[0].elems[0].str, "get");
  EXPECT_EQ(info.elems[0].elems[1].integer, 2);
  EXPECT_EQ(info.elems[1].type, Reply::kNull);
  Reply docs = t.Run({"COMMAND", "DOCS", "set"});
  ASSERT_EQ(docs.elems.size(), 2u);
  EXPECT_EQ(docs.elems[0].str, "set");
  Reply all = t.Run({"COMMAND"});
  EXPECT_EQ(static_cast<int64_t>(all.elems.size()), count.integer);
}

TEST(Server, InfoSectionsAndFields) {
  TestClient t;
  t.Run({"SET", "a", "1"});
  t.Run({"GET", "a"});
  t.Run({"GET", "b"});
  std::string info = Str(t.Run({"INFO"}));
  for (const char* field : {"# Server", "redis_version:", "# Clients", "connected_clients:",
                            "# Memory", "used_memory:", "maxmemory:", "# Stats",
                            "keyspace_hits:1", "keyspace_misses:1", "evicted_keys:0",
                            "expired_keys:0", "# Keyspace", "db0:keys=1,expires=0"}) {
    EXPECT_NE(info.find(field), std::string::npos) << field << " in\n" << info;
  }
  EXPECT_EQ(info.find("# Commandstats"), std::string::npos) << "not a default section";
  std::string stats = Str(t.Run({"INFO", "commandstats"}));
  EXPECT_NE(stats.find("cmdstat_get:calls=2,"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("# Server"), std::string::npos);
  std::string mem = Str(t.Run({"INFO", "MEMORY", "stats"}));
  EXPECT_NE(mem.find("# Memory"), std::string::npos);
  EXPECT_NE(mem.find("# Stats"), std::string::npos);
}

// commandstats' usec is the handler's own time, counted in processor ticks and converted: a KEYS
// that walks 200k keys and matches none (an empty reply, so almost all of the call is the
// handler) is reported as most of the call's wall time, and never more.
TEST(Server, CommandstatsTimesTheHandler) {
  TestClient t;
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 200000; ++i) {
    mset.push_back("key:" + std::to_string(i));
    mset.push_back("v");
  }
  ASSERT_EQ(Str(t.Run(mset)), "OK");
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Str(t.Run({"KEYS", "nomatch*"})), "[]");
  const double wall =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  const std::string stats = Str(t.Run({"INFO", "commandstats"}));
  const size_t at = stats.find("cmdstat_keys:calls=1,usec=");
  ASSERT_NE(at, std::string::npos) << stats;
  const double usec = std::stod(stats.substr(at + std::strlen("cmdstat_keys:calls=1,usec=")));
  EXPECT_LE(usec, wall) << stats;
  EXPECT_GE(usec, 0.3 * wall) << stats;
}

TEST(Server, ConfigGetSetResetstat) {
  TestClient t;
  Reply save = t.Run({"CONFIG", "GET", "save"});
  EXPECT_EQ(Str(save), "[save, ]") << "what redis-benchmark asks first";
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "appendonly"})), "[appendonly, no]");
  Reply mm = t.Run({"CONFIG", "GET", "maxmemory*"});
  EXPECT_EQ(mm.elems.size(), 4u) << Str(mm);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxclients", "50"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxclients"})), "[maxclients, 50]");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxclients", "0"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
            "argument must be between 1 and 1000000 inclusive");
  // Redis's other texts: the argument as written, a duplicate, an enum's choices.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "HZ", "x"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'HZ') - argument "
            "couldn't be parsed into an integer");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "hz", "20", "maxclients", "60", "hz", "30"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate "
            "parameter");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "loglevel", "loud"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'loglevel') - "
            "argument(s) must be one of the following: debug, verbose, notice, warning");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "hz"})), "[hz, 10]") << "a failed CONFIG SET sets nothing";
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxclients"})), "[maxclients, 50]");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "port", "1"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'port') - can't set "
            "immutable config");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "nosuch", "1"})),
            "(error) ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "proto-max-bulk-len", "2mb"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "proto-max-bulk-len"})), "[proto-max-bulk-len, 2097152]");
  EXPECT_EQ(Str(t.Run({"CONFIG", "RESETSTAT"})), "OK");
  EXPECT_NE(Str(t.Run({"INFO", "stats"})).find("total_commands_processed:1\r\n"), std::string::npos);
}

uint64_t InfoField(TestClient& t, const std::string& name) {
  const std::string info = Str(t.Run({"INFO", "memory", "stats"}));
  const size_t at = info.find("\n" + name + ":");
  EXPECT_NE(at, std::string::npos) << name;
  return at == std::string::npos ? 0 : std::stoull(info.substr(at + name.size() + 2));
}

TEST(Server, ConfigSetMaxmemoryLowersAndRaisesTheBudget) {
  ServerConfig config;
  config.maxmemory = 64 << 20;
  config.shards = 4;
  TestClient t(config);
  const std::string value(1000, 'v');
  for (int i = 0; i < 40000; ++i) {
    ASSERT_EQ(Str(t.Run({"SET", "key:" + std::to_string(i), value})), "OK");
  }
  const uint64_t used = InfoField(t, "used_memory");
  ASSERT_GT(used, 30u << 20);
  EXPECT_EQ(InfoField(t, "evicted_keys"), 0u);

  // Lower: the reply comes at once, the evictions a slice at a time.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "16mb"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory"})), "[maxmemory, 16777216]");
  EXPECT_EQ(InfoField(t, "maxmemory"), 16u << 20);
  EXPECT_TRUE(t.server().reclaiming());
  int steps = 0;
  while (t.server().ReclaimStep()) ++steps;
  EXPECT_GE(steps, 2) << "24k evictions take more than one slice";
  EXPECT_FALSE(t.server().reclaiming());
  EXPECT_LE(InfoField(t, "used_memory"), 16u << 20);
  const uint64_t evicted = InfoField(t, "evicted_keys");
  EXPECT_GT(evicted, 20000u);
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) " + std::to_string(40000 - evicted));

  // Raise: writes fit again without evicting.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "128mb"})), "OK");
  for (int i = 40000; i < 100000; ++i) {
    ASSERT_EQ(Str(t.Run({"SET", "key:" + std::to_string(i), value})), "OK");
  }
  EXPECT_EQ(InfoField(t, "evicted_keys"), evicted);
  EXPECT_GT(InfoField(t, "used_memory"), 60u << 20);

  // Out of range: the engine's bounds, and nothing changes.
  const std::string huge = std::to_string(uint64_t{1} << 40);
  const std::string refused = Str(t.Run({"CONFIG", "SET", "maxmemory", huge}));
  EXPECT_EQ(refused.rfind("(error) ERR CONFIG SET failed (possibly related to argument "
                          "'maxmemory') - argument must be 0 (no limit) or between 262144 and ",
                          0),
            0u)
      << refused;
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "100kb"})).rfind("(error) ERR", 0), 0u);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "lots"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument "
            "must be a memory value");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory"})), "[maxmemory, 134217728]");

  // 0: Redis's "no limit". The budget is the machine's memory, or what the cache can address.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "0"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory"})), "[maxmemory, 0]");
  EXPECT_EQ(InfoField(t, "maxmemory"), 0u);
  const uint64_t budget = t.server().cache().Stats().capacity;
  EXPECT_EQ(budget, std::min(PhysicalMemory(), t.server().cache().max_capacity()));
  EXPECT_GT(budget, uint64_t{128} << 20);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "64mb"})), "OK");
  EXPECT_EQ(t.server().cache().Stats().capacity, uint64_t{64} << 20);
}

TEST(Server, MaxmemoryZeroAtStartHasNoLimitOfItsOwn) {
  ServerConfig config;
  config.maxmemory = 0;
  TestClient t(config);
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory"})), "[maxmemory, 0]");
  const uint64_t budget = t.server().cache().Stats().capacity;
  EXPECT_EQ(budget, std::min(PhysicalMemory(), t.server().cache().max_capacity()));
  EXPECT_GT(budget, uint64_t{1} << 30) << "more than the default of 1 GB on any machine this runs";
  EXPECT_EQ(Str(t.Run({"SET", "k", "v"})), "OK");
  EXPECT_EQ(Str(t.Run({"GET", "k"})), "v");
}

TEST(Server, SlowlogKeepsTheSlowCommandsAsRedisDoes) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "slowlog*"})),
            "[slowlog-log-slower-than, 10000, slowlog-max-len, 128]");
  EXPECT_EQ(Str(t.Run({"SET", "fast", "1"})), "OK");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "LEN"})), "(integer) 0") << "nothing takes 10 ms here";
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3"})),
            "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETNAME", "ranker"})), "OK");
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 20; ++i) {
    mset.push_back("k" + std::to_string(i));
    mset.push_back(i == 0 ? std::string(200, 'x') : "v");
  }
  EXPECT_EQ(Str(t.Run(mset)), "OK");
  EXPECT_EQ(Str(t.Run({"AUTH", "secret"})).rfind("(error)", 0), 0u);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "requirepass", "hunter2"})), "OK");
  EXPECT_EQ(Str(t.Run({"AUTH", "hunter2"})), "OK");

  // Newest first; AUTH is never logged, and a password set through CONFIG SET is redacted.
  Reply log = t.Run({"SLOWLOG", "GET"});
  ASSERT_EQ(log.elems.size(), 3u) << Str(log) << ": at most slowlog-max-len entries";
  EXPECT_EQ(Str(log.elems[0].elems[3]), "[CONFIG, SET, requirepass, (redacted)]");
  const Reply& m = log.elems[1];
  ASSERT_EQ(m.elems.size(), 6u);
  EXPECT_EQ(m.elems[0].integer + 1, log.elems[0].elems[0].integer) << "ids count up";
  EXPECT_GT(m.elems[1].integer, 1'600'000'000) << "unix seconds";
  ASSERT_EQ(m.elems[3].elems.size(), 32u) << "arguments cut to 32";
  EXPECT_EQ(Str(m.elems[3].elems[0]), "MSET");
  EXPECT_EQ(Str(m.elems[3].elems[2]), std::string(128, 'x') + "... (72 more bytes)");
  EXPECT_EQ(Str(m.elems[3].elems[31]), "... (10 more arguments)");
  EXPECT_EQ(Str(m.elems[5]), "ranker");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "GET", "1"})).find("CONFIG"), std::string::npos)
      << "SLOWLOG GET itself is logged after it replies: the newest is now the last GET";
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "GET", "-2"})),
            "(error) ERR count should be greater than or equal to -1");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "NOPE"})),
            "(error) ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "RESET"})), "OK");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "LEN"})), "(integer) 1") << "the RESET itself";
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "slowlog-log-slower-than", "-1"})), "OK");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "RESET"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "a", "b"})), "OK");
  EXPECT_EQ(Str(t.Run({"SLOWLOG", "LEN"})), "(integer) 0") << "negative: nothing logged";
}

TEST(Server, InfoCountsErrorRepliesByKind) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"SET", "a", "1"})), "OK");
  EXPECT_EQ(Str(t.Run({"HGET", "a", "f"})).rfind("(error) WRONGTYPE", 0), 0u);
  EXPECT_EQ(Str(t.Run({"NOSUCH"})).rfind("(error) ERR unknown command", 0), 0u);
  EXPECT_EQ(Str(t.Run({"GET"})).rfind("(error) ERR wrong number", 0), 0u);
  std::string info = Str(t.Run({"INFO"}));
  EXPECT_NE(info.find("\r\ntotal_error_replies:3\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n"),
            std::string::npos)
      << info;
  EXPECT_NE(info.find("# Cluster\r\ncluster_enabled:0\r\n"), std::string::npos);
  EXPECT_EQ(Str(t.Run({"CONFIG", "RESETSTAT"})), "OK");
  info = Str(t.Run({"INFO", "stats", "errorstats"}));
  EXPECT_NE(info.find("\r\ntotal_error_replies:0\r\n"), std::string::npos) << info;
  EXPECT_EQ(info.find("errorstat_"), std::string::npos) << info;
}

TEST(Server, InfoTimesHowLongUsedMemoryExceedsMaxmemory) {
  int64_t now = 1'000'000;
  ServerConfig config;
  config.maxmemory = 32 << 20;
  config.shards = 2;
  TestClient t(config, [&] { return now; });
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(Str(t.Run({"SET", "key:" + std::to_string(i), std::string(1000, 'v')})), "OK");
  }
  SampleMetrics(t.server(), now);
  EXPECT_EQ(InfoField(t, "total_eviction_exceeded_time"), 0u);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "8mb"})), "OK");
  now += 100;
  SampleMetrics(t.server(), now);  // the cron notices: over since now
  now += 400;
  EXPECT_EQ(InfoField(t, "current_eviction_exceeded_time"), 400u);
  EXPECT_EQ(InfoField(t, "total_eviction_exceeded_time"), 400u);
  while (t.server().ReclaimStep()) {
  }
  now += 100;
  SampleMetrics(t.server(), now);  // within the budget again
  now += 1000;
  EXPECT_EQ(InfoField(t, "current_eviction_exceeded_time"), 0u);
  EXPECT_EQ(InfoField(t, "total_eviction_exceeded_time"), 500u);
}

TEST(Server, ConfigSetMaxmemoryWaitsForPinnedBytesWithoutSpinning) {
  ServerConfig config;
  config.maxmemory = 64 << 20;
  config.shards = 4;
  TestClient t(config);
  ASSERT_EQ(Str(t.Run({"SET", "big", std::string(24 << 20, 'b')})), "OK");
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(Str(t.Run({"SET", "key:" + std::to_string(i), std::string(1000, 'v')})), "OK");
  }
  // A reply still being sent from the big value pins it (here, a Handle).
  Handle pinned = t.server().cache().Get("big");
  ASSERT_TRUE(pinned);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "8mb"})), "OK");
  int steps = 0;
  while (t.server().ReclaimStep() && steps < 1000) ++steps;
  EXPECT_LT(steps, 100) << "the steps stop when they no longer make progress";
  EXPECT_TRUE(t.server().reclaiming()) << "the pinned 24 MiB are still above the budget";
  EXPECT_FALSE(t.server().reclaim_eager()) << "retried once per cron tick, not in a busy loop";
  EXPECT_EQ(Str(t.Run({"EXISTS", "big"})), "(integer) 0");
  EXPECT_EQ(pinned.value().size(), size_t{24} << 20);

  pinned.Reset();  // the reply is sent: the bytes go, and the next step finds the budget met
  while (t.server().ReclaimStep()) {
  }
  EXPECT_FALSE(t.server().reclaiming());
  EXPECT_LE(InfoField(t, "used_memory"), 8u << 20);
  EXPECT_NE(Str(t.Run({"DBSIZE"})), "(integer) 0") << "small keys within the budget stay";
}

TEST(Server, ConfigSetMaxmemoryWithoutEvictionRefusesWrites) {
  ServerConfig config;
  config.maxmemory = 32 << 20;
  config.shards = 4;
  config.maxmemory_policy = "noeviction";
  TestClient t(config);
  const std::string value(1000, 'v');
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(Str(t.Run({"SET", "key:" + std::to_string(i), value})), "OK");
  }
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory", "4mb"})), "OK");
  EXPECT_FALSE(t.server().reclaiming()) << "nothing to evict in a noeviction server";
  EXPECT_EQ(Str(t.Run({"SET", "more", value})),
            "(error) OOM command not allowed when used memory > 'maxmemory'.");
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) 20000") << "nothing lost";
  EXPECT_EQ(Str(t.Run({"GET", "key:7"})), value);

  // Turning eviction on evicts down to the lowered budget, in the engine's policy.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory-policy", "default"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory-policy"})), "[maxmemory-policy, lirs]");
  EXPECT_TRUE(t.server().reclaiming());
  while (t.server().ReclaimStep()) {
  }
  EXPECT_LE(InfoField(t, "used_memory"), 4u << 20);
  EXPECT_GT(InfoField(t, "evicted_keys"), 15000u);
  EXPECT_EQ(Str(t.Run({"SET", "more", value})), "OK");
}

TEST(Server, ConfigSetMaxmemoryPolicyTurnsEvictionOffAndOn) {
  ServerConfig config;
  config.maxmemory = 4 << 20;
  config.shards = 1;
  TestClient t(config);
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory-policy"})), "[maxmemory-policy, lirs]");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory-policy", "noeviction"})), "OK");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory-policy"})), "[maxmemory-policy, noeviction]");
  EXPECT_NE(Str(t.Run({"INFO", "memory"})).find("maxmemory_policy:noeviction"), std::string::npos);
  const std::string value(1000, 'v');
  int stored = 0;
  std::string reply;
  for (; stored < 10000; ++stored) {
    reply = Str(t.Run({"SET", "key:" + std::to_string(stored), value}));
    if (reply != "OK") break;
  }
  EXPECT_EQ(reply, "(error) OOM command not allowed when used memory > 'maxmemory'.");
  EXPECT_EQ(Str(t.Run({"DBSIZE"})), "(integer) " + std::to_string(stored));
  EXPECT_EQ(InfoField(t, "evicted_keys"), 0u);

  // Another engine policy needs a restart; the refusal says so and changes nothing.
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
            "the eviction policy is chosen at start (this server's is lirs); start it with "
            "--maxmemory-policy allkeys-lru for that one");
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory-policy", "newest"})),
            "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
            "argument has an invalid value");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "maxmemory-policy"})), "[maxmemory-policy, noeviction]");

  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "maxmemory-policy", "LIRS"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "one-more", value})), "OK");
  EXPECT_GT(InfoField(t, "evicted_keys"), 0u);
}

TEST(Server, TimeMemoryDebugShutdown) {
  TestClient t;
  Reply time = t.Run({"TIME"});
  ASSERT_EQ(time.elems.size(), 2u);
  EXPECT_GT(std::stoll(time.elems[0].str), 1'600'000'000);
  t.Run({"SET", "k", std::string(100, 'v')});
  Reply usage = t.Run({"MEMORY", "USAGE", "k"});
  EXPECT_GE(usage.integer, 100);
  EXPECT_EQ(Str(t.Run({"MEMORY", "USAGE", "nope"})), "(nil)");
  EXPECT_TRUE(t.Run({"DEBUG", "SLEEP", "0"}).is_error());
  EXPECT_FALSE(t.server().shutting_down());
  EXPECT_EQ(t.Run({"SHUTDOWN", "NOSAVE"}).type, Reply::kNull) << "no reply: the connection closes";
  EXPECT_TRUE(t.server().shutting_down());
}

// Every command is found by its name in any case, and nothing else is.
TEST(Server, CommandNamesAreFoundInAnyCase) {
  TestClient t;
  const CommandRegistry& r = t.server().commands();
  for (const CommandSpec& spec : r.all()) {
    std::string upper = spec.name, mixed = spec.name;
    for (size_t i = 0; i < upper.size(); ++i) {
      upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
      if (i % 2 == 0) mixed[i] = upper[i];
    }
    EXPECT_EQ(r.Find(spec.name), &spec);
    EXPECT_EQ(r.Find(upper), &spec) << upper;
    EXPECT_EQ(r.Find(mixed), &spec) << mixed;
    EXPECT_EQ(r.Find(upper + "x"), nullptr) << upper;
    EXPECT_EQ(r.Find(upper.substr(0, upper.size() - 1)), nullptr) << upper;
  }
  for (const std::string& name :
       {std::string(), std::string("g"), std::string("gett"), std::string("get\0", 4),
        std::string("g_t"), std::string("GE\x14"), std::string("s\xc5t")}) {
    EXPECT_EQ(r.Find(name), nullptr) << name;
  }
  EXPECT_EQ(r.Find(std::string(100000, 'a')), nullptr);
  EXPECT_EQ(Str(t.Run({"gEt", "k"})), "(nil)");
}

// What Redis 7.0.15 answered for the same commands.
TEST(Server, CommandGetKeysListFilterByAndHelpAsRedis) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "SET", "a", "b"})), "[a]");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "mset", "a", "b", "c", "d"})), "[a, c]");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "DEL", "a", "b", "c"})), "[a, b, c]");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "HSET", "h", "f", "v"})), "[h]");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "GET"})),
            "(error) ERR wrong number of arguments for 'command|getkeys' command");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "PING", "x"})),
            "(error) ERR The command has no key arguments");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "nosuch", "a"})),
            "(error) ERR Invalid command specified");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "GET", "a", "b"})),
            "(error) ERR Invalid number of arguments specified for command");
  EXPECT_EQ(Str(t.Run({"COMMAND", "GETKEYS", "SET", "a"})),
            "(error) ERR Invalid number of arguments specified for command");

  auto sorted = [&](const std::vector<std::string>& args) {
    std::vector<std::string> names;
    for (const Reply& r : t.Run(args).elems) names.push_back(r.str);
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_EQ(sorted({"COMMAND", "LIST", "FILTERBY", "PATTERN", "HS*"}),
            (std::vector<std::string>{"hscan", "hset", "hsetnx", "hstrlen"}));
  EXPECT_EQ(sorted({"COMMAND", "LIST", "FILTERBY", "ACLCAT", "hash"}).size(), 16u);
  const std::vector<std::string> writes =
      sorted({"COMMAND", "LIST", "FILTERBY", "ACLCAT", "write"});
  EXPECT_TRUE(std::binary_search(writes.begin(), writes.end(), "set"));
  EXPECT_FALSE(std::binary_search(writes.begin(), writes.end(), "get"));
  EXPECT_EQ(Str(t.Run({"COMMAND", "LIST", "FILTERBY", "MODULE", "x"})), "[]");
  EXPECT_EQ(Str(t.Run({"COMMAND", "LIST", "FILTERBY", "FOO", "x"})), "(error) ERR syntax error");
  EXPECT_EQ(Str(t.Run({"COMMAND", "LIST", "FILTERBY"})), "(error) ERR syntax error");
  EXPECT_EQ(Str(t.Run({"COMMAND", "LIST", "x"})), "(error) ERR syntax error");
  EXPECT_EQ(t.Run({"COMMAND", "LIST"}).elems.size(),
            static_cast<size_t>(t.Run({"COMMAND", "COUNT"}).integer));

  const Reply help = t.Run({"COMMAND", "HELP"});
  ASSERT_EQ(help.elems.size(), 19u);
  EXPECT_EQ(help.elems[15].str, "GETKEYS <full-command>");
  EXPECT_EQ(Str(t.Run({"COMMAND", "HELP", "x"})),
            "(error) ERR wrong number of arguments for 'command|help' command");
}

// MEMORY STATS has Redis 7.0's fields in its order, with figures that agree with INFO; MEMORY's
// and CONFIG's other subcommands answer as Redis built without jemalloc does.
TEST(Server, MemoryStatsAndHelpAsRedis) {
  TestClient t;
  for (int i = 0; i < 300; ++i) t.Run({"SET", "k" + std::to_string(i), std::string(50, 'v')});
  t.Run({"SELECT", "3"});
  for (int i = 0; i < 100; ++i) t.Run({"HSET", "h" + std::to_string(i), "f", "v"});
  const Reply stats = t.Run({"MEMORY", "STATS"});
  ASSERT_EQ(stats.type, Reply::kArray) << Str(stats);  // a map, flattened in RESP2
  std::vector<std::string> names;
  std::map<std::string, Reply> field;
  for (size_t i = 0; i + 1 < stats.elems.size(); i += 2) {
    names.push_back(stats.elems[i].str);
    field[stats.elems[i].str] = stats.elems[i + 1];
  }
  EXPECT_EQ(names, (std::vector<std::string>{"peak.allocated",
                                             "total.allocated",
                                             "startup.allocated",
                                             "replication.backlog",
                                             "clients.slaves",
                                             "clients.normal",
                                             "cluster.links",
                                             "aof.buffer",
                                             "lua.caches",
                                             "functions.caches",
                                             "db.0",
                                             "db.3",
                                             "overhead.total",
                                             "keys.count",
                                             "keys.bytes-per-key",
                                             "dataset.bytes",
                                             "dataset.percentage",
                                             "peak.percentage",
                                             "fragmentation",
                                             "fragmentation.bytes"}));
  const uint64_t used = InfoField(t, "used_memory");
  EXPECT_EQ(static_cast<uint64_t>(field["total.allocated"].integer), used);
  EXPECT_GE(static_cast<uint64_t>(field["peak.allocated"].integer), used);
  EXPECT_EQ(field["keys.count"].integer, 400);
  EXPECT_EQ(field["keys.bytes-per-key"].integer, static_cast<int64_t>(used / 400));
  EXPECT_EQ(field["dataset.bytes"].integer + field["overhead.total"].integer,
            static_cast<int64_t>(used));
  EXPECT_EQ(static_cast<uint64_t>(field["dataset.bytes"].integer),
            InfoField(t, "used_memory_dataset"));
  EXPECT_GT(field["overhead.total"].integer, 0) << "the index";
  // The index's share of each database follows its keys: 3 to 1.
  const Reply& db0 = field["db.0"];
  const Reply& db3 = field["db.3"];
  ASSERT_EQ(db0.elems.size(), 6u);
  ASSERT_EQ(db3.elems.size(), 6u);
  EXPECT_EQ(db0.elems[0].str, "overhead.hashtable.main");
  EXPECT_NEAR(static_cast<double>(db0.elems[1].integer), 3.0 * db3.elems[1].integer, 3.0);
  EXPECT_LE(db0.elems[1].integer + db3.elems[1].integer, field["overhead.total"].integer);
  const double dataset_percent = std::stod(field["dataset.percentage"].str);
  EXPECT_NEAR(dataset_percent, 100.0 * field["dataset.bytes"].integer / used, 0.01);
  EXPECT_GT(std::stod(field["fragmentation"].str), 0.0);

  EXPECT_EQ(Str(t.Run({"MEMORY", "STATS", "x"})),
            "(error) ERR wrong number of arguments for 'memory|stats' command");
  EXPECT_EQ(Str(t.Run({"MEMORY", "PURGE"})), "OK");
  EXPECT_EQ(Str(t.Run({"MEMORY", "MALLOC-STATS"})),
            "Stats not supported for the current allocator");
  const Reply help = t.Run({"MEMORY", "HELP"});
  ASSERT_EQ(help.elems.size(), 14u);
  EXPECT_EQ(help.elems[0].str, "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
  const Reply config_help = t.Run({"CONFIG", "HELP"});
  ASSERT_EQ(config_help.elems.size(), 11u);
  EXPECT_EQ(config_help.elems[1].str, "GET <pattern>");
  EXPECT_EQ(Str(t.Run({"CONFIG", "HELP", "x"})),
            "(error) ERR wrong number of arguments for 'config|help' command");
}

TEST(Transactions, MultiExecDiscard) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"EXEC"})), "(error) ERR EXEC without MULTI");
  EXPECT_EQ(Str(t.Run({"DISCARD"})), "(error) ERR DISCARD without MULTI");
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"MULTI"})), "(error) ERR MULTI calls can not be nested");
  EXPECT_EQ(Str(t.Run({"SET", "a", "1"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"INCR", "a"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[OK, (integer) 2, 2]");
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "a", "5"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"DISCARD"})), "OK");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "2");
  // A command that cannot be queued aborts the transaction; one that fails at run time does
  // not stop the others.
  t.Run({"MULTI"});
  EXPECT_TRUE(t.Run({"NOSUCH"}).is_error());
  t.Run({"SET", "a", "9"});
  EXPECT_EQ(Str(t.Run({"EXEC"})),
            "(error) EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "2");
  t.Run({"MULTI"});
  t.Run({"SET", "s", "x"});
  t.Run({"INCR", "s"});
  t.Run({"SET", "a", "3"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[OK, (error) ERR value is not an integer or out of range, OK]");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "3");
  // An EXEC refused for its arity answers EXECABORT and ends any transaction, as Redis.
  t.Run({"MULTI"});
  t.Run({"SET", "a", "4"});
  EXPECT_EQ(Str(t.Run({"EXEC", "x"})),
            "(error) EXECABORT Transaction discarded because of: wrong number of arguments for "
            "'exec' command");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "3") << "not queued, and not in a transaction any more";
  EXPECT_EQ(Str(t.Run({"EXEC", "x"})),
            "(error) EXECABORT Transaction discarded because of: wrong number of arguments for "
            "'exec' command");
  EXPECT_EQ(Str(t.Run({"EXEC"})), "(error) ERR EXEC without MULTI");
}

// As Redis: inside MULTI every command is queued (connection and admin commands too, which
// redis-py's transaction pipelines send) but MULTI, EXEC, DISCARD, QUIT and RESET; a command
// flagged no_multi (SHUTDOWN, PRELOAD) is refused and aborts the transaction.
TEST(Transactions, ConnectionAndAdminCommandsAreQueued) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "SETNAME", "n"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"CONFIG", "GET", "hz"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"CLIENT", "GETNAME"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"HELLO", "3"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"DEBUG", "NOSUCH"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"PING"})), "QUEUED");
  const Reply r = t.Run({"EXEC"});
  ASSERT_EQ(r.type, Reply::kArray);
  ASSERT_EQ(r.elems.size(), 6u);
  EXPECT_EQ(Str(r.elems[0]), "OK");
  EXPECT_EQ(Str(r.elems[1]), "[hz, 10]");
  EXPECT_EQ(Str(r.elems[2]), "n");
  EXPECT_EQ(r.elems[3].type, Reply::kMap) << "HELLO 3 switched the protocol for what follows";
  EXPECT_TRUE(r.elems[4].is_error());
  EXPECT_EQ(Str(r.elems[5]), "PONG");
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "a", "1"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"SHUTDOWN"})), "(error) ERR Command not allowed inside a transaction");
  EXPECT_EQ(Str(t.Run({"EXEC"})),
            "(error) EXECABORT Transaction discarded because of previous errors.");
  EXPECT_FALSE(t.server().shutting_down());
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "a", "1"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"RESET"})), "RESET") << "RESET runs at once and ends the transaction";
  EXPECT_EQ(Str(t.Run({"EXEC"})), "(error) ERR EXEC without MULTI");
  EXPECT_EQ(Str(t.Run({"GET", "a"})), "(nil)");
}

// LATENCY: with latency-monitor-threshold set, commands that take at least that many
// milliseconds are sampled per second into the "command" class (or "fast-command"), as Redis.
TEST(Server, LatencyKeepsTheWorstCommandOfEachSecond) {
  int64_t now = 1'700'000'000'000;
  TestClient t(ServerConfig{}, [&] { return now; });
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 200000; ++i) {  // well over a millisecond on any machine
    mset.push_back("k" + std::to_string(i));
    mset.push_back("v");
  }
  EXPECT_EQ(Str(t.Run(mset)), "OK");
  EXPECT_EQ(Str(t.Run({"LATENCY", "LATEST"})), "[]") << "off by default (threshold 0)";
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "latency-monitor-threshold", "1"})), "OK");
  EXPECT_EQ(Str(t.Run(mset)), "OK");
  EXPECT_EQ(Str(t.Run({"GET", "k1"})), "v");
  Reply latest = t.Run({"LATENCY", "LATEST"});
  ASSERT_EQ(latest.elems.size(), 1u) << Str(latest) << ": GET took under a millisecond";
  ASSERT_EQ(latest.elems[0].elems.size(), 4u);
  EXPECT_EQ(Str(latest.elems[0].elems[0]), "command");
  EXPECT_EQ(latest.elems[0].elems[1].integer, 1'700'000'000);
  const int64_t first = latest.elems[0].elems[2].integer;
  EXPECT_GE(first, 1);
  EXPECT_EQ(latest.elems[0].elems[3].integer, first) << "the worst so far";
  EXPECT_EQ(Str(t.Run(mset)), "OK");  // the same second: one sample, the worse of the two
  now += 2000;
  EXPECT_EQ(Str(t.Run(mset)), "OK");
  const Reply history = t.Run({"LATENCY", "HISTORY", "command"});
  ASSERT_EQ(history.elems.size(), 2u) << Str(history);
  EXPECT_EQ(history.elems[0].elems[0].integer, 1'700'000'000);
  EXPECT_GE(history.elems[0].elems[1].integer, first);
  EXPECT_EQ(history.elems[1].elems[0].integer, 1'700'000'002);
  latest = t.Run({"LATENCY", "LATEST"});
  EXPECT_EQ(latest.elems[0].elems[1].integer, 1'700'000'002);
  EXPECT_EQ(latest.elems[0].elems[3].integer,
            std::max(history.elems[0].elems[1].integer, history.elems[1].elems[1].integer));
  EXPECT_EQ(Str(t.Run({"LATENCY", "HISTORY", "nosuch"})), "[]");
  EXPECT_EQ(Str(t.Run({"LATENCY", "RESET", "nosuch"})), "(integer) 0");
  EXPECT_EQ(Str(t.Run({"LATENCY", "RESET"})), "(integer) 1");
  EXPECT_EQ(Str(t.Run({"LATENCY", "LATEST"})), "[]");
  EXPECT_EQ(Str(t.Run({"LATENCY", "LATEST", "x"})),
            "(error) ERR wrong number of arguments for 'latency|latest' command");
  EXPECT_EQ(Str(t.Run({"LATENCY", "DOCTOR"})),
            "(error) ERR unknown subcommand 'DOCTOR'. Try LATENCY HELP.");
  EXPECT_TRUE(t.Run({"CONFIG", "SET", "latency-monitor-threshold", "-1"}).is_error());
}

TEST(Server, ObjectReportsEncodingAndThePolicysFrequency) {
  TestClient t;  // the default policy, LIRS, counts no frequencies
  EXPECT_EQ(Str(t.Run({"SET", "n", "12345"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "z", "012"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "s", std::string(44, 'a')})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "r", std::string(45, 'a')})), "OK");
  EXPECT_EQ(Str(t.Run({"HSET", "h", "f", "v"})), "(integer) 1");
  // Redis 7.0.15 answers the same for these.
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "n"})), "int");
  EXPECT_EQ(Str(t.Run({"object", "encoding", "z"})), "embstr");
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "s"})), "embstr");
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "r"})), "raw");
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "h"})), "listpack");
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "missing"})), "(nil)");
  EXPECT_EQ(Str(t.Run({"OBJECT", "REFCOUNT", "s"})), "(integer) 1");
  EXPECT_EQ(Str(t.Run({"OBJECT", "FREQ", "missing"})), "(nil)");
  EXPECT_EQ(Str(t.Run({"OBJECT", "FREQ", "s"})),
            "(error) ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
            "Please note that when switching between policies at runtime LRU and LFU data will "
            "take some time to adjust.");
  EXPECT_EQ(Str(t.Run({"OBJECT", "IDLETIME", "s"})),
            "(error) ERR idle time is not tracked by the lirs maxmemory-policy");
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING"})),
            "(error) ERR wrong number of arguments for 'object|encoding' command");
  EXPECT_EQ(Str(t.Run({"OBJECT", "FREQ", "a", "b"})),
            "(error) ERR wrong number of arguments for 'object|freq' command");
  EXPECT_EQ(Str(t.Run({"OBJECT", "NOPE", "s"})),
            "(error) ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
  EXPECT_EQ(t.Run({"OBJECT", "HELP"}).elems.size(), 14u);
  // More than 64 fields: kvcache's indexed layout, Redis's hashtable.
  std::vector<std::string> hset = {"HSET", "big"};
  for (int i = 0; i < 65; ++i) {
    hset.push_back("f" + std::to_string(i));
    hset.push_back("v");
  }
  t.Run(hset);
  EXPECT_EQ(Str(t.Run({"OBJECT", "ENCODING", "big"})), "hashtable");
  // Asking is not an access: a GET's hit is counted, OBJECT's are not.
  auto hits = [&] {
    const std::string info = Str(t.Run({"INFO", "stats"}));
    const size_t at = info.find("keyspace_hits:");
    return at == std::string::npos ? -1 : std::stoll(info.substr(at + 14));
  };
  const int64_t before = hits();
  t.Run({"OBJECT", "ENCODING", "s"});
  EXPECT_EQ(hits(), before);
  t.Run({"GET", "s"});
  EXPECT_EQ(hits(), before + 1);

  ServerConfig lfu;
  lfu.maxmemory_policy = "lfu";
  TestClient l(lfu);
  EXPECT_EQ(Str(l.Run({"SET", "k", "v"})), "OK");
  EXPECT_EQ(Str(l.Run({"OBJECT", "FREQ", "k"})), "(integer) 1");
  for (int i = 0; i < 5; ++i) l.Run({"GET", "k"});
  EXPECT_EQ(Str(l.Run({"OBJECT", "FREQ", "k"})), "(integer) 6");
  EXPECT_EQ(Str(l.Run({"OBJECT", "FREQ", "k"})), "(integer) 6") << "asking is not a use";
  EXPECT_EQ(Str(l.Run({"SELECT", "3"})), "OK");
  EXPECT_EQ(Str(l.Run({"OBJECT", "FREQ", "k"})), "(nil)") << "another database's key";
}

// The sequences and what Redis 7.0.15 sent for them (a raw socket, one pipeline each).
TEST(Connection, ClientReplyOffSkipAndOn) {
  TestClient t;
  auto run = [&](const std::string& inline_commands) {
    std::string out;
    for (const Reply& r : t.RunRaw(inline_commands)) out += Str(r) + "|";
    return out;
  };
  EXPECT_EQ(run("CLIENT REPLY OFF\r\nSET a 1\r\nNOPE\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n"),
            "OK|1|");
  EXPECT_EQ(run("CLIENT REPLY SKIP\r\nPING x\r\nPING y\r\n"), "y|");
  EXPECT_EQ(run("CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING z\r\nPING w\r\n"), "w|");
  EXPECT_EQ(run("CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING z\r\nCLIENT REPLY ON\r\n"
                "PING w\r\n"),
            "OK|w|");
  EXPECT_EQ(run("CLIENT REPLY OFF\r\nRESET\r\nPING\r\n"), "RESET|PONG|");
  EXPECT_EQ(run("CLIENT REPLY BAD\r\nCLIENT REPLY\r\n"),
            "(error) ERR syntax error|"
            "(error) ERR wrong number of arguments for 'client|reply' command|");
  // The errors of commands whose replies were dropped are still counted.
  EXPECT_NE(run("CONFIG RESETSTAT\r\nCLIENT REPLY OFF\r\nNOPE\r\nGET\r\nCLIENT REPLY ON\r\n"
                "INFO errorstats\r\n")
                .find("errorstat_ERR:count=2"),
            std::string::npos);
  // RESP3 chosen while replies are off holds once they are on again.
  EXPECT_EQ(run("CLIENT REPLY OFF\r\nHELLO 3\r\nCLIENT REPLY ON\r\nHGETALL none\r\n"), "OK|{}|");
  EXPECT_EQ(t.RunRaw("HELLO 2\r\n").size(), 1u);
  // Inside EXEC it is refused (in Redis, EXEC's reply would stop after its array header).
  EXPECT_EQ(run("MULTI\r\nCLIENT REPLY OFF\r\nPING\r\nEXEC\r\n"),
            "OK|QUEUED|QUEUED|[(error) ERR CLIENT REPLY is not allowed inside MULTI, PONG]|");
}

// The argument errors as Redis 7.0.15 gives them; the waiting itself needs an event loop
// (tests/test_server_clients.py).
TEST(Server, WaitPauseAndUnblockArgumentsAsRedis) {
  TestClient t;
  EXPECT_EQ(Str(t.Run({"WAIT", "0", "0"})), "(integer) 0");
  EXPECT_EQ(Str(t.Run({"WAIT", "-1", "0"})), "(integer) 0");
  EXPECT_EQ(Str(t.Run({"WAIT", "x", "0"})), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Str(t.Run({"WAIT", "1", "1.5"})),
            "(error) ERR timeout is not an integer or out of range");
  EXPECT_EQ(Str(t.Run({"WAIT", "1", "-1"})), "(error) ERR timeout is negative");
  EXPECT_EQ(Str(t.Run({"WAIT", "1"})), "(error) ERR wrong number of arguments for 'wait' command");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE"})),
            "(error) ERR wrong number of arguments for 'client|pause' command");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE", "x"})),
            "(error) ERR timeout is not an integer or out of range");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE", "-1"})), "(error) ERR timeout is negative");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE", "10", "bad"})),
            "(error) ERR CLIENT PAUSE mode must be WRITE or ALL");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE", "10", "write", "extra"})),
            "(error) ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT "
            "HELP.");
  EXPECT_EQ(Str(t.Run({"CLIENT", "PAUSE", "0"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNPAUSE"})), "OK");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNPAUSE", "x"})),
            "(error) ERR wrong number of arguments for 'client|unpause' command");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNBLOCK", "x"})),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNBLOCK", "999"})), "(integer) 0");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNBLOCK", "999", "bad"})),
            "(error) ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
  EXPECT_EQ(Str(t.Run({"CLIENT", "UNBLOCK", "999", "error"})), "(integer) 0");
  // Inside EXEC, WAIT answers at once, as in Redis.
  EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
  EXPECT_EQ(Str(t.Run({"WAIT", "5", "0"})), "QUEUED");
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[(integer) 0]");
}

TEST(Server, LatencyBucketsCoverEveryDurationInOrder) {
  for (uint64_t t : {0ull, 1ull, 7ull, 8ull, 9ull, 15ull, 16ull, 1000ull, 123456789ull,
                     (1ull << 40) - 1, 1ull << 40, (1ull << 41) - 1}) {
    const size_t b = WorkerStats::LatencyBucket(t);
    EXPECT_LE(WorkerStats::LatencyBucketStart(b), t) << t;
    EXPECT_LT(t, WorkerStats::LatencyBucketStart(b + 1)) << t;
  }
  for (size_t b = 0; b + 1 < WorkerStats::kLatencyBuckets; ++b) {
    const uint64_t start = WorkerStats::LatencyBucketStart(b);
    const uint64_t next = WorkerStats::LatencyBucketStart(b + 1);
    ASSERT_LT(start, next) << b;
    EXPECT_EQ(WorkerStats::LatencyBucket(start), b);
    EXPECT_EQ(WorkerStats::LatencyBucket(next - 1), b);
    if (b >= 8) {
      EXPECT_LE(next - start, start / 4) << "a bucket spans at most a quarter";
    }
  }
  EXPECT_EQ(WorkerStats::LatencyBucket(UINT64_MAX), WorkerStats::kLatencyBuckets - 1);
}

// The durations are real (ticks), so what is checked is the shape: counts, order, settings.
TEST(Server, LatencyHistogramAndLatencystatsAsRedis7) {
  TestClient t;
  for (int i = 0; i < 10; ++i) t.Run({"SET", "k" + std::to_string(i), "v"});
  for (int i = 0; i < 5; ++i) t.Run({"GET", "k1"});
  Reply h = t.Run({"LATENCY", "HISTOGRAM", "set", "GET", "nope", "client|id"});
  ASSERT_EQ(h.elems.size(), 4u) << h.ToString();  // a map: set, then get; the others never ran
  EXPECT_EQ(h.elems[0].str, "set");
  EXPECT_EQ(h.elems[2].str, "get");
  for (size_t i : {1u, 3u}) {
    const Reply& m = h.elems[i];
    ASSERT_EQ(m.elems.size(), 4u);
    EXPECT_EQ(m.elems[0].str, "calls");
    EXPECT_EQ(m.elems[1].integer, i == 1 ? 10 : 5);
    EXPECT_EQ(m.elems[2].str, "histogram_usec");
    const auto& cdf = m.elems[3].elems;
    ASSERT_GE(cdf.size(), 2u);
    int64_t last_key = 0, last_count = 0;
    for (size_t j = 0; j < cdf.size(); j += 2) {
      const int64_t key = cdf[j].integer, count = cdf[j + 1].integer;
      EXPECT_GT(key, last_key);
      EXPECT_EQ(key & (key - 1), 0) << "a power of two";
      EXPECT_GT(count, last_count) << "a key only where the count grows";
      last_key = key;
      last_count = count;
    }
    EXPECT_EQ(last_count, m.elems[1].integer);
  }
  const std::string info = Str(t.Run({"INFO", "latencystats"}));
  EXPECT_NE(info.find("# Latencystats"), std::string::npos);
  const size_t at = info.find("latency_percentiles_usec_get:p50=");
  ASSERT_NE(at, std::string::npos) << info;
  double p50, p99, p999;
  ASSERT_EQ(std::sscanf(info.c_str() + at, "latency_percentiles_usec_get:p50=%lf,p99=%lf,p99.9=%lf",
                        &p50, &p99, &p999),
            3)
      << info;
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p99);
  EXPECT_LE(p99, p999);
  EXPECT_EQ(Str(t.Run({"INFO"})).find("Latencystats"), std::string::npos) << "not by default";
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "latency-tracking-info-percentiles", "90"})), "OK");
  EXPECT_NE(Str(t.Run({"INFO", "latencystats"})).find("latency_percentiles_usec_set:p90="),
            std::string::npos);
  EXPECT_TRUE(t.Run({"CONFIG", "SET", "latency-tracking-info-percentiles", "101"}).is_error());
  EXPECT_EQ(Str(t.Run({"CONFIG", "RESETSTAT"})), "OK");
  EXPECT_EQ(t.Run({"LATENCY", "HISTOGRAM", "set"}).elems.size(), 0u);
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "latency-tracking", "no"})), "OK");
  t.Run({"SET", "a", "b"});
  EXPECT_EQ(t.Run({"LATENCY", "HISTOGRAM", "set"}).elems.size(), 0u) << "not tracked";
  EXPECT_EQ(Str(t.Run({"CONFIG", "SET", "latency-tracking", "yes"})), "OK");
  t.Run({"SET", "a", "b"});
  EXPECT_EQ(t.Run({"LATENCY", "HISTOGRAM", "set"}).elems.size(), 2u);
}

TEST(Server, RoleAndLastsaveAsARedisWithoutReplicasOrSaves) {
  int64_t now = 1'700'000'123'456;
  TestClient t(ServerConfig{}, [&] { return now; });
  EXPECT_EQ(Str(t.Run({"ROLE"})), "[master, (integer) 0, []]");
  now += 5000;
  EXPECT_EQ(Str(t.Run({"LASTSAVE"})), "(integer) 1700000123") << "when the server started";
  EXPECT_EQ(Str(t.Run({"ROLE", "x"})), "(error) ERR wrong number of arguments for 'role' command");
}

// MONITOR: every command another client runs, as Redis writes it (a status line each, with
// time, database, client address and the quoted arguments), passwords redacted, admin commands
// (CONFIG, CLIENT LIST) left out; RESET ends it. The expected lines are Redis 7.0's for the same
// commands.
TEST(Server, MonitorSeesEveryCommandAsRedisWritesIt) {
  TestClient t;
  std::unique_ptr<Connection> m = t.NewConnection();
  EXPECT_EQ(Str(t.RunOn(*m, {"MONITOR"})), "OK");
  EXPECT_EQ(TestClient::TakeOutput(*m), "");
  EXPECT_EQ(Str(t.RunOn(*m, {"MONITOR"})), "(nil)") << "no reply to a second MONITOR";
  EXPECT_EQ(Str(t.RunOn(*m, {"GET", "k"})), "(error) ERR Replica can't interact with the keyspace");
  EXPECT_EQ(Str(t.RunOn(*m, {"KEYS", "*"})),
            "(error) ERR Replica can't interact with the keyspace");
  EXPECT_EQ(Str(t.RunOn(*m, {"PING"})), "PONG");
  while (t.server().RunLocalCompletions(0) != 0) {
  }
  TestClient::TakeOutput(*m);  // its own PING, as Redis feeds it
  t.Run({"SET", "k", std::string("a b\n\"\\\x01\xff", 8)});
  t.Run({"SELECT", "2"});
  t.Run({"get", "k"});
  t.Run({"CONFIG", "GET", "hz"});
  t.Run({"AUTH", "secret"});
  t.Run({"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "n"});
  t.Run({"MULTI"});
  t.Run({"INCR", "n"});
  t.Run({"EXEC"});
  t.Run({"NOSUCH"});
  t.Run({"CLIENT", "SETNAME", "z"});
  t.Run({"CLIENT", "LIST"});
  while (t.server().RunLocalCompletions(0) != 0) {
  }
  const std::string out = TestClient::TakeOutput(*m);
  std::vector<std::string> lines;
  for (size_t at = 0; at < out.size();) {
    const size_t end = out.find("\r\n", at);
    ASSERT_NE(end, std::string::npos) << out;
    lines.push_back(out.substr(at, end - at));
    at = end + 2;
  }
  const std::vector<std::string> want = {
      R"x("SET" "k" "a b\n\"\\\x01\xff")x",
      R"x("SELECT" "2")x",
      R"x("get" "k")x",
      R"x("AUTH" "(redacted)")x",
      R"x("HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "n")x",
      R"x("MULTI")x",
      R"x("INCR" "n")x",
      R"x("EXEC")x",
      R"x("CLIENT" "SETNAME" "z")x"};
  ASSERT_EQ(lines.size(), want.size()) << out;
  for (size_t i = 0; i < want.size(); ++i) {
    // "+<seconds>.<micros> [<db> <address>] <arguments>"
    ASSERT_GT(lines[i].size(), 20u);
    EXPECT_EQ(lines[i][0], '+') << lines[i];
    const size_t dot = lines[i].find('.'), open = lines[i].find(" ["), close = lines[i].find("] ");
    ASSERT_NE(close, std::string::npos) << lines[i];
    EXPECT_EQ(open - dot, 7u) << "six digits of microseconds: " << lines[i];
    // SELECT's own line shows the database it chose, as Redis's.
    EXPECT_EQ(lines[i].substr(open + 2, 2), i == 0 ? "0 " : "2 ") << lines[i];
    EXPECT_EQ(lines[i].substr(close + 2), want[i]);
  }
  EXPECT_EQ(Str(t.RunOn(*m, {"RESET"})), "RESET");
  TestClient::TakeOutput(*m);
  t.Run({"PING"});
  while (t.server().RunLocalCompletions(0) != 0) {
  }
  EXPECT_EQ(TestClient::TakeOutput(*m), "") << "RESET ended MONITOR";
}

// WATCH: EXEC runs nothing and answers a null array when a watched key changed after WATCH,
// whoever changed it; what did not change a key (a read, a SETNX that found it, a DEL of a
// missing key, another key) leaves the transaction alone, as in Redis.
TEST(Transactions, WatchFailsExecWhenAWatchedKeyChanges) {
  TestClient t;
  std::unique_ptr<Connection> other = t.NewConnection();
  auto attempt = [&](const std::vector<std::string>& change) {
    EXPECT_EQ(Str(t.Run({"WATCH", "k", "h"})), "OK");
    if (!change.empty()) t.RunOn(*other, change);
    EXPECT_EQ(Str(t.Run({"MULTI"})), "OK");
    EXPECT_EQ(Str(t.Run({"SET", "done", "yes"})), "QUEUED");
    const Reply r = t.Run({"EXEC"});
    t.Run({"DEL", "done"});
    return r;
  };
  EXPECT_EQ(Str(t.Run({"SET", "k", "1"})), "OK");
  EXPECT_EQ(Str(t.Run({"HSET", "h", "f", "1"})), "(integer) 1");
  EXPECT_EQ(Str(attempt({})), "[OK]");
  for (const std::vector<std::string>& unchanged :
       std::vector<std::vector<std::string>>{{"GET", "k"},
                                             {"SETNX", "k", "2"},
                                             {"SET", "k", "2", "NX"},
                                             {"DEL", "nosuch"},
                                             {"SET", "other", "1"},
                                             {"HSETNX", "h", "f", "2"},
                                             {"EXPIRE", "nosuch", "10"},
                                             {"PERSIST", "k"}}) {
    EXPECT_EQ(Str(attempt(unchanged)), "[OK]") << unchanged[0];
  }
  int n = 0;
  for (const std::vector<std::string>& change :
       std::vector<std::vector<std::string>>{{"SET", "k", "2"},
                                             {"INCR", "k"},
                                             {"APPEND", "k", "x"},
                                             {"SETRANGE", "k", "0", "y"},
                                             {"EXPIRE", "k", "100"},
                                             {"PERSIST", "k"},
                                             {"HSET", "h", "g", "1"},
                                             {"HINCRBY", "h", "f", "1"},
                                             {"HDEL", "h", "g"},
                                             {"DEL", "k"},
                                             {"SET", "k", "back"},
                                             {"RENAME", "k", "k2"},
                                             {"RENAME", "k2", "k"},
                                             {"COPY", "h", "k", "REPLACE"},
                                             {"MSET", "x", "1", "k", "3"},
                                             {"GETDEL", "k"},
                                             {"SET", "k", "4"},
                                             {"MOVE", "k", "1"}}) {
    EXPECT_EQ(Str(attempt(change)), "(nil)") << "change " << ++n << ": " << change[0];
    EXPECT_EQ(Str(t.Run({"GET", "done"})), "(nil)") << "nothing ran";
  }
  // The client's own change between WATCH and MULTI counts too; changes inside the
  // transaction do not (EXEC looks before running them).
  EXPECT_EQ(Str(t.Run({"WATCH", "k"})), "OK");
  EXPECT_EQ(Str(t.Run({"SET", "k", "mine"})), "OK");
  t.Run({"MULTI"});
  t.Run({"GET", "k"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "(nil)");
  EXPECT_EQ(Str(t.Run({"WATCH", "k"})), "OK");
  t.Run({"MULTI"});
  t.Run({"SET", "k", "in"});
  t.Run({"GET", "k"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[OK, in]");
  // EXEC, DISCARD, UNWATCH and RESET forget the watched keys; a watch keeps across databases
  // apart (the same name in database 1 is another key).
  for (const char* end : {"EXEC", "DISCARD", "UNWATCH", "RESET"}) {
    EXPECT_EQ(Str(t.Run({"WATCH", "k"})), "OK");
    if (std::string_view(end) == "UNWATCH" || std::string_view(end) == "RESET") {
      t.Run({end});
    } else {
      t.Run({"MULTI"});
      t.Run({end});
    }
    t.RunOn(*other, {"SET", "k", end});
    t.Run({"MULTI"});
    t.Run({"GET", "k"});
    EXPECT_EQ(Str(t.Run({"EXEC"})), std::string("[") + end + "]") << end;
  }
  EXPECT_EQ(Str(t.Run({"WATCH", "k"})), "OK");
  t.RunOn(*other, {"SELECT", "1"});
  t.RunOn(*other, {"SET", "k", "db1"});
  t.Run({"MULTI"});
  t.Run({"GET", "k"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[RESET]");
  // An EXEC refused for its arity forgets the watched keys too, as Redis's execCommandAbort.
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"SET", "k", "RESET"});
  EXPECT_TRUE(t.Run({"EXEC", "x"}).is_error());
  t.Run({"MULTI"});
  t.Run({"GET", "k"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[RESET]");
  // WATCH inside MULTI is refused without failing the transaction.
  t.Run({"MULTI"});
  EXPECT_EQ(Str(t.Run({"WATCH", "k"})), "(error) ERR WATCH inside MULTI is not allowed");
  t.Run({"GET", "k"});
  EXPECT_EQ(Str(t.Run({"EXEC"})), "[RESET]");
  EXPECT_EQ(Str(t.Run({"WATCH"})), "(error) ERR wrong number of arguments for 'watch' command");
  // Both failures at once: EXECABORT wins, as in Redis.
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"SELECT", "0"});
  t.RunOn(*other, {"SET", "k", "again"});
  t.Run({"MULTI"});
  t.Run({"NOSUCH"});
  EXPECT_EQ(Str(t.Run({"EXEC"})),
            "(error) EXECABORT Transaction discarded because of previous errors.");
  // The null array in RESP3.
  t.Run({"HELLO", "3"});
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"SET", "k", "resp3"});
  t.Run({"MULTI"});
  const std::vector<Reply> replies = t.RunRaw("*1\r\n$4\r\nEXEC\r\n");
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].is_null()) << Str(replies[0]);
}

TEST(Transactions, WatchSeesFlushesEvictionAndExpiry) {
  int64_t now = 1'000'000;
  ServerConfig config;
  config.maxmemory = 16 << 20;
  config.shards = 2;
  TestClient t(config, [&] { return now; });
  std::unique_ptr<Connection> other = t.NewConnection();
  auto exec_get = [&] {
    t.Run({"MULTI"});
    t.Run({"GET", "k"});
    return Str(t.Run({"EXEC"}));
  };
  // FLUSHDB and FLUSHALL touch the watched keys they remove, not those that did not exist.
  t.Run({"SET", "k", "1"});
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"FLUSHALL"});
  EXPECT_EQ(exec_get(), "(nil)");
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"FLUSHALL"});
  EXPECT_EQ(exec_get(), "[(nil)]") << "k did not exist";
  t.Run({"SET", "k", "1"});
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"SELECT", "2"});
  t.RunOn(*other, {"SET", "x", "1"});
  t.RunOn(*other, {"FLUSHDB"});
  EXPECT_EQ(exec_get(), "[1]") << "another database was flushed";
  t.Run({"WATCH", "k"});
  t.RunOn(*other, {"SELECT", "0"});
  t.RunOn(*other, {"FLUSHDB"});
  EXPECT_EQ(exec_get(), "(nil)");
  // A key that expires after WATCH fails the transaction, as in Redis 7.
  t.Run({"SET", "k", "1", "PX", "100"});
  t.Run({"WATCH", "k"});
  now += 200;
  EXPECT_EQ(exec_get(), "(nil)");
  // So does one the policy evicts.
  t.Run({"SET", "k", "1"});
  t.Run({"WATCH", "k"});
  const std::string value(1000, 'v');
  int i = 0;
  while (Str(t.Run({"EXISTS", "k"})) == "(integer) 1" && i < 100000) {
    t.RunOn(*other, {"SET", "fill:" + std::to_string(i++), value});
  }
  ASSERT_LT(i, 100000) << "k was never evicted";
  EXPECT_EQ(exec_get(), "(nil)");
}

TEST(Transactions, AClosedConnectionStopsWatching) {
  TestClient t;
  {
    std::unique_ptr<Connection> gone = t.NewConnection();
    EXPECT_EQ(Str(t.RunOn(*gone, {"WATCH", "k", "j"})), "OK");
  }
  EXPECT_EQ(Str(t.Run({"SET", "k", "1"})), "OK") << "no watcher left to mark";
  EXPECT_FALSE(t.server().watches().active());
  t.Run({"WATCH", "k", "k", "j"});
  EXPECT_TRUE(t.server().watches().active());
  t.Run({"UNWATCH"});
  EXPECT_FALSE(t.server().watches().active());
}

TEST(Protocol, PipelinesInlineAndErrors) {
  TestClient t;
  std::vector<Reply> replies =
      t.RunRaw("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n"
               "PING\r\nGET a\r\nSET \"sp ace\" 'q'\n*0\r\nGET \"sp ace\"\r\n");
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(Str(replies[0]), "OK");
  EXPECT_EQ(Str(replies[1]), "(integer) 2");
  EXPECT_EQ(Str(replies[2]), "PONG");
  EXPECT_EQ(Str(replies[3]), "2");
  EXPECT_EQ(Str(replies[4]), "OK");
  EXPECT_EQ(Str(replies[5]), "q");
  std::vector<Reply> bad = t.RunRaw("*1\r\n$x\r\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(Str(bad[0]), "(error) ERR Protocol error: invalid bulk length");
  EXPECT_TRUE(t.closed());
}

TEST(Protocol, OversizedBulkIsRefused) {
  TestClient t;
  std::vector<Reply> r = t.RunRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(Str(r[0]), "(error) ERR Protocol error: invalid bulk length");
  EXPECT_TRUE(t.closed());
}

TEST(Protocol, UnauthenticatedClientsMaySendOnlySmallRequests) {
  ServerConfig config;
  config.requirepass = "pw";
  TestClient t(config);
  std::vector<Reply> r = t.RunRaw("*11\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(Str(r[0]), "(error) ERR Protocol error: unauthenticated multibulk length");
  TestClient u(config);
  r = u.RunRaw("*2\r\n$4\r\nAUTH\r\n$20000\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(Str(r[0]), "(error) ERR Protocol error: unauthenticated bulk length");
}

// A pipeline's arrays are parsed once, ahead, and run as parsed; a request the lookahead read
// with other authentication limits than it runs under is parsed again, so the limits are those
// of the moment it runs.
TEST(Protocol, RequestsParsedAheadRunUnderTheLimitsOfTheirTurn) {
  ServerConfig config;
  config.requirepass = "pw";
  auto set = [](const std::string& key, const std::string& value) {
    return "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
           std::to_string(value.size()) + "\r\n" + value + "\r\n";
  };
  const std::string big(20000, 'v');  // past what an unauthenticated client may send
  // Read ahead unauthenticated (the lookahead stops at the large SET), run authenticated.
  TestClient t(config);
  std::vector<Reply> r = t.RunRaw("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" + set("b", big) +
                                  "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(Str(r[1]), "OK");
  EXPECT_EQ(r[2].str, big);
  // Read ahead authenticated, run after RESET has ended the authentication.
  r = t.RunRaw(set("a", "1") + "*1\r\n$5\r\nRESET\r\n" + set("c", big) +
               "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(Str(r[0]), "OK");
  EXPECT_EQ(Str(r[1]), "RESET");
  EXPECT_EQ(Str(r[2]), "(error) ERR Protocol error: unauthenticated bulk length");
  EXPECT_TRUE(t.closed());
  // Arrays, inline commands and empty arrays mixed, each run once and in order.
  TestClient u;
  std::string pipeline;
  for (int i = 0; i < 100; ++i) {
    pipeline += set("k" + std::to_string(i), std::to_string(i));
    pipeline += i % 3 == 0 ? "INCR k" + std::to_string(i) + "\r\n" : "*0\r\n";
  }
  r = u.RunRaw(pipeline);
  ASSERT_EQ(r.size(), 100u + 34);
  for (int i = 0, at = 0; i < 100; ++i) {
    EXPECT_EQ(Str(r[at++]), "OK");
    if (i % 3 == 0) {
      EXPECT_EQ(r[at++].integer, i + 1);
    }
  }
}

// A bulk load's reads nearly all end inside a request (`redis-cli --pipe` reads 16 KiB at a
// time). The requests after the one completed by the next read are still prefetched, i.e. run
// from the lookahead, and their replies are the same whatever the split.
TEST(Protocol, RequestsAfterOneSplitAcrossReadsAreReadAhead) {
  std::string pipeline;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key:" + std::to_string(i);
    pipeline += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$2\r\nv" +
                std::to_string(i % 10) + "\r\n";
  }
  for (size_t split = 1; split < 40; split += 3) {
    TestClient t;
    std::vector<Reply> r = t.RunRaw(pipeline.substr(0, split));  // a SET here is 32-33 bytes
    const uint64_t before = t.conn().run_from_lookahead();
    std::vector<Reply> rest = t.RunRaw(pipeline.substr(split));
    r.insert(r.end(), rest.begin(), rest.end());
    ASSERT_EQ(r.size(), 100u) << split;
    for (const Reply& reply : r) EXPECT_EQ(Str(reply), "OK");
    // All but the request split in two (and the first if the split fell between two).
    EXPECT_GE(t.conn().run_from_lookahead() - before, 98u) << split;
    EXPECT_EQ(Str(t.Run({"GET", "key:99"})), "v9");
  }
}

}  // namespace
}  // namespace kvcache::server
