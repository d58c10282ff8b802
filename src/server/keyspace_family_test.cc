// Keyspace commands, in-process: every command and option, Redis's error texts, databases,
// hashes, SCAN completeness and expiry on an injected clock.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/test_client.h"

namespace kvcache::server {
namespace {

class KeyspaceFamily : public ::testing::Test {
 protected:
  KeyspaceFamily() : t_(OneUnitSteps(), [this] { return now_.load(); }) {}
  std::string Run(const std::vector<std::string>& args) { return t_.Run(args).ToString(); }
  Cache& cache() { return t_.server().cache(); }
  static std::string Key(const std::string& key, uint8_t db = 0) {
    return server::EngineKey(static_cast<uint8_t>(db), key);
  }
  // A value of another kind under `key`, written through the engine so that these tests do not
  // depend on the hash commands.
  void Put(const std::string& key, ValueKind kind, uint8_t db = 0, int64_t expires_at_ms = 0) {
    WriteOptions o;
    o.kind = kind;
    o.ttl = kNoExpiry;
    o.expires_at_ms = expires_at_ms;
    ASSERT_TRUE(cache().Write(Key(key, db), "payload:" + key, o).ok());
  }
  void PutHash(const std::string& key, uint8_t db = 0) { Put(key, ValueKind::kHash, db); }
  int64_t ExpiresAt(const std::string& key, uint8_t db = 0) {
    Handle h = cache().Get(Key(key, db));
    return h ? h.expires_at_ms() : -2;
  }
  // Every key of one full SCAN iteration with these options, with how often each came back.
  std::map<std::string, int> ScanAll(const std::vector<std::string>& options, int* calls) {
    std::map<std::string, int> seen;
    std::string cursor = "0";
    *calls = 0;
    do {
      std::vector<std::string> args = {"SCAN", cursor};
      args.insert(args.end(), options.begin(), options.end());
      Reply r = t_.Run(args);
      EXPECT_EQ(r.type, Reply::kArray) << r.ToString();
      if (r.type != Reply::kArray || r.elems.size() != 2) return seen;
      EXPECT_EQ(r.elems[0].type, Reply::kBulk);
      EXPECT_EQ(r.elems[1].type, Reply::kArray);
      cursor = r.elems[0].str;
      for (const Reply& k : r.elems[1].elems) seen[k.str]++;
      ++*calls;
    } while (cursor != "0" && *calls < 100000);
    return seen;
  }
  std::set<std::string> Keys(const std::string& pattern) {
    std::set<std::string> out;
    for (const Reply& k : t_.Run({"KEYS", pattern}).elems) out.insert(k.str);
    return out;
  }

  std::atomic<int64_t> now_{1'700'000'000'000};
  TestClient t_;
};

std::string Arity(const std::string& name) {
  return "(error) ERR wrong number of arguments for '" + name + "' command";
}

TEST_F(KeyspaceFamily, DelUnlinkExists) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2", "c", "3"}), "OK");
  PutHash("h");
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "a", "a", "b", "nope", "h"}), "(integer) 4") << "repeats count";
  EXPECT_EQ(Run({"DEL", "a", "a", "nope"}), "(integer) 1") << "a key is deleted once";
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"UNLINK", "b", "c", "h"}), "(integer) 3") << "hashes are deleted too";
  EXPECT_EQ(Run({"EXISTS", "b", "c", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"DEL", "b"}), "(integer) 0");
  EXPECT_EQ(Run({"DEL"}), Arity("del"));
  EXPECT_EQ(Run({"UNLINK"}), Arity("unlink"));
  EXPECT_EQ(Run({"EXISTS"}), Arity("exists"));
}

// DEL, EXISTS and TOUCH with many keys go a window at a time (prefetched): every key counts,
// repeats and misses included, across window edges and in another database. The request comes
// in small pieces, as a big one does from a socket: the pipeline prefetch must not parse the
// partial request again at every piece (it did, quadratic in the request's size).
TEST_F(KeyspaceFamily, ManyKeysInOneRequest) {
  for (const char* db : {"0", "3"}) {
    EXPECT_EQ(Run({"SELECT", db}), "OK");
    std::vector<std::string> mset = {"MSET"};
    for (int i = 0; i < 150; i += 2) {  // even keys exist
      mset.push_back("k" + std::to_string(i));
      mset.push_back("v");
    }
    EXPECT_EQ(Run(mset), "OK");
    for (const char* cmd : {"EXISTS", "TOUCH", "DEL"}) {
      std::vector<std::string> args = {cmd};
      for (int i = 0; i < 150; ++i) args.push_back("k" + std::to_string(i));
      args.push_back("k0");  // a repeat, past the last window's start
      // DEL counts k0 once; EXISTS and TOUCH count it twice.
      const int expected = std::string(cmd) == "DEL" ? 75 : 76;
      EXPECT_EQ(Run(args), "(integer) " + std::to_string(expected)) << cmd << " in db " << db;
    }
    EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
  }
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");  // where the pipeline prefetch works
  std::string request = "*20001\r\n$3\r\nDEL\r\n";
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "key:" + std::to_string(i);
    request += "$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
  }
  const uint64_t ahead = t_.conn().parsed_ahead_bytes();
  std::vector<Reply> replies;
  for (size_t at = 0; at < request.size(); at += 4096) {
    for (Reply& r : t_.RunRaw(request.substr(at, 4096))) replies.push_back(std::move(r));
  }
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].ToString(), "(integer) 0");
  EXPECT_LE(t_.conn().parsed_ahead_bytes() - ahead, 2 * request.size());
}

TEST_F(KeyspaceFamily, ExpiredKeysAreGone) {
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "100"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 1");
  now_ += 100;
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0");
  EXPECT_EQ(Run({"TYPE", "k"}), "none");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) -2");
  EXPECT_EQ(Run({"KEYS", "*"}), "[]");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "1000"}), "[0, []]");
  EXPECT_EQ(Run({"DEL", "k"}), "(integer) 0");
  EXPECT_EQ(Run({"RANDOMKEY"}), "(nil)");
  EXPECT_EQ(Run({"RENAME", "k", "k2"}), "(error) ERR no such key");
}

TEST_F(KeyspaceFamily, Touch) {
  EXPECT_EQ(Run({"SET", "a", "1"}), "OK");
  PutHash("h");
  EXPECT_EQ(Run({"TOUCH", "a", "h", "nope", "a"}), "(integer) 3");
  EXPECT_EQ(Run({"TOUCH"}), Arity("touch"));
}

TEST_F(KeyspaceFamily, Type) {
  EXPECT_EQ(Run({"TYPE", "nope"}), "none");
  EXPECT_EQ(t_.Run({"TYPE", "nope"}).type, Reply::kSimple);
  EXPECT_EQ(Run({"SET", "s", "v"}), "OK");
  EXPECT_EQ(Run({"TYPE", "s"}), "string");
  EXPECT_EQ(t_.Run({"TYPE", "s"}).type, Reply::kSimple);
  PutHash("h");
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  Put("t", ValueKind::kTensor);
  EXPECT_EQ(Run({"TYPE", "t"}), "tensor");
  EXPECT_EQ(Run({"TYPE"}), Arity("type"));
  EXPECT_EQ(Run({"TYPE", "a", "b"}), Arity("type"));
}

// Redis allows the empty key; the engine does not, so the server stores it under a prefix
// (db_key.h). It must behave as any other key, in every database, and never meet another.
TEST_F(KeyspaceFamily, TheEmptyKeyIsAKey) {
  EXPECT_EQ(Run({"GET", ""}), "(nil)");
  EXPECT_EQ(Run({"SET", "", "empty"}), "OK");
  EXPECT_EQ(Run({"GET", ""}), "empty");
  EXPECT_EQ(Run({"EXISTS", ""}), "(integer) 1");
  EXPECT_EQ(Run({"STRLEN", ""}), "(integer) 5");
  EXPECT_EQ(Keys("*"), (std::set<std::string>{""})) << "KEYS names it as it is";
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 1");
  EXPECT_EQ(Run({"SET", "ÿ", "ff"}), "OK") << "nor does it meet a key of one 0xFF byte";
  EXPECT_EQ(Run({"GET", ""}), "empty");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"GET", ""}), "(nil)") << "each database has its own";
  EXPECT_EQ(Run({"HSET", "", "f", "v"}), "(integer) 1");
  EXPECT_EQ(Run({"TYPE", ""}), "hash");
  EXPECT_EQ(Run({"RENAME", "", "named"}), "OK");
  EXPECT_EQ(Run({"HGET", "named", "f"}), "v");
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"DEL", ""}), "(integer) 1");
  EXPECT_EQ(Run({"GET", "ÿ"}), "ff");
  EXPECT_EQ(Run({"EXISTS", ""}), "(integer) 0");
}

TEST_F(KeyspaceFamily, Keys) {
  EXPECT_EQ(Run({"KEYS", "*"}), "[]");
  for (const char* k : {"hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other"}) {
    ASSERT_EQ(Run({"SET", k, "v"}), "OK");
  }
  PutHash("hash");
  EXPECT_EQ(t_.Run({"KEYS", "*"}).type, Reply::kArray);
  EXPECT_EQ(Keys("*").size(), 8u);
  EXPECT_EQ(Keys("h?llo"), (std::set<std::string>{"hello", "hallo", "hxllo", "h*llo"}));
  EXPECT_EQ(Keys("h*llo"),
            (std::set<std::string>{"hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo"}));
  EXPECT_EQ(Keys("h[ae]llo"), (std::set<std::string>{"hello", "hallo"}));
  EXPECT_EQ(Keys("h[^e]llo"), (std::set<std::string>{"hallo", "hxllo", "h*llo"}));
  EXPECT_EQ(Keys("h[a-b]llo"), (std::set<std::string>{"hallo"}));
  EXPECT_EQ(Keys("h\\*llo"), (std::set<std::string>{"h*llo"}));
  EXPECT_EQ(Keys("has?"), (std::set<std::string>{"hash"})) << "every type";
  EXPECT_EQ(Keys("nothing*"), (std::set<std::string>{}));
  EXPECT_EQ(Keys("other"), (std::set<std::string>{"other"}));
  // Redis's quirks: a range may end in ']' (which then does not close the class), and an empty
  // key matches no pattern but a lone '*'.
  for (const char* k : {"-", "[", "\\", "]", "a", ""}) ASSERT_EQ(Run({"SET", k, "v"}), "OK");
  EXPECT_EQ(Keys("[[-]"), (std::set<std::string>{"[", "\\", "]"}));
  EXPECT_EQ(Keys("[a-]"), (std::set<std::string>{"]", "a"}));
  EXPECT_EQ(Keys("*[--]"), (std::set<std::string>{"-", "[", "\\", "]"}));
  EXPECT_EQ(Keys("**").count(""), 0u);
  EXPECT_EQ(Keys("*").count(""), 1u);
  EXPECT_EQ(Run({"DEL", "-", "[", "\\", "]", "a", ""}), "(integer) 6");

  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"KEYS", "*"}), "[]") << "other databases' keys stay apart";
  EXPECT_EQ(Run({"SET", "hello", "db1"}), "OK");
  EXPECT_EQ(Run({"KEYS", "*"}), "[hello]");
  EXPECT_EQ(Run({"KEYS"}), Arity("keys"));
  EXPECT_EQ(Run({"KEYS", "a", "b"}), Arity("keys"));
}

// KEYS over a large keyspace walks it in steps, between which other clients run commands; the
// reply lists every key present during the whole walk exactly once.
TEST_F(KeyspaceFamily, KeysWalksInStepsWhileOthersRunCommands) {
  constexpr int kKeys = 200000;
  for (int i = 0; i < kKeys; ++i) Put("k" + std::to_string(i), ValueKind::kString);
  Put("elsewhere", ValueKind::kString, 1);
  Connection& a = t_.conn();
  a.FeedForTest("PING\r\nKEYS k*\r\nECHO after\r\n");
  ASSERT_TRUE(a.ProcessInput());
  ASSERT_TRUE(a.blocked) << "200k keys are not walked in one step";
  EXPECT_EQ(TestClient::TakeOutput(a), "+PONG\r\n")
      << "what came before goes out; the KEYS reply waits";

  std::unique_ptr<Connection> b = t_.NewConnection();
  int steps = 0, deleted = 0, added = 0;
  while (a.blocked) {
    // Between two steps: delete a listed key, add one, read one.
    EXPECT_EQ(t_.RunOn(*b, {"DEL", "k" + std::to_string(deleted++)}).integer, 1);
    EXPECT_EQ(t_.RunOn(*b, {"SET", "k-new" + std::to_string(added++), "v"}).str, "OK");
    EXPECT_EQ(t_.RunOn(*b, {"GET", "k" + std::to_string(kKeys - 1)}).str, "payload:k199999");
    EXPECT_EQ(TestClient::TakeOutput(a), "") << "nothing of the reply before it is complete";
    ASSERT_EQ(t_.server().RunLocalCompletions(1000), 1u);
    ++steps;
  }
  ASSERT_TRUE(a.ProcessInput());  // the ECHO that waited
  const std::string out = TestClient::TakeOutput(a);
  Reply keys, echo;
  const size_t used = DecodeReply(out, 0, &keys);
  ASSERT_GT(used, 0u);
  ASSERT_EQ(DecodeReply(out, used, &echo), out.size() - used);
  EXPECT_EQ(echo.str, "after");
  ASSERT_EQ(keys.type, Reply::kArray);
  std::map<std::string, int> seen;
  for (const Reply& k : keys.elems) ++seen[k.str];
  int listed = 0, new_listed = 0;
  for (const auto& [k, n] : seen) {
    EXPECT_EQ(n, 1) << k << " listed twice";
    if (k.rfind("k-new", 0) == 0) {
      ++new_listed;
    } else {
      ++listed;
    }
  }
  EXPECT_GT(steps, 1);
  for (int i = deleted; i < kKeys; ++i) {
    ASSERT_EQ(seen.count("k" + std::to_string(i)), 1u) << "k" << i << " was there throughout";
  }
  EXPECT_LE(listed, kKeys);
  EXPECT_LE(new_listed, added);
  EXPECT_EQ(seen.count("elsewhere"), 0u);
}

// Inside a transaction nothing may run in between: KEYS walks everything at once.
TEST_F(KeyspaceFamily, KeysInsideExecWalksAtOnce) {
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i) Put("k" + std::to_string(i), ValueKind::kString);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"KEYS", "*"}), "QUEUED");
  EXPECT_EQ(Run({"DBSIZE"}), "QUEUED");
  Reply r = t_.Run({"EXEC"});
  ASSERT_EQ(r.elems.size(), 2u);
  EXPECT_EQ(r.elems[0].elems.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(r.elems[1].integer, kKeys);
}

TEST_F(KeyspaceFamily, ScanReplyShapeAndErrors) {
  Reply r = t_.Run({"SCAN", "0"});
  ASSERT_EQ(r.type, Reply::kArray);
  ASSERT_EQ(r.elems.size(), 2u);
  EXPECT_EQ(r.elems[0].type, Reply::kBulk);
  EXPECT_EQ(r.elems[0].str, "0");
  EXPECT_EQ(r.elems[1].type, Reply::kArray);
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "100"}), "[0, [k]]");
  EXPECT_EQ(Run({"scan", "0", "match", "k", "count", "5", "type", "STRING"}), "[0, [k]]");

  EXPECT_EQ(Run({"SCAN", "x"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"SCAN", " 1"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"SCAN", "1x"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"SCAN", "99999999999999999999999"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "0"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "-1"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN", "0", "MATCH"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN", "0", "TYPE"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN", "0", "BOGUS", "1"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SCAN"}), Arity("scan"));
  // A cursor the engine never handed out ends the iteration instead of failing.
  EXPECT_EQ(Run({"SCAN", "18446744073709551615"}), "[0, []]");
  EXPECT_EQ(Run({"SCAN", "0", "MATCH", ""}), "[0, []]") << "an empty pattern matches no key";
  EXPECT_EQ(Run({"SCAN", "0", "TYPE", "list"}), "[0, []]") << "an unknown type matches nothing";
}

TEST_F(KeyspaceFamily, ScanVisitsEveryKeyOnce) {
  std::set<std::string> strings, hashes;
  for (int i = 0; i < 300; ++i) {
    std::string k = (i % 2 ? "odd:" : "even:") + std::to_string(i);
    ASSERT_EQ(Run({"SET", k, "v"}), "OK");
    strings.insert(k);
  }
  for (int i = 0; i < 40; ++i) {
    std::string k = "h:" + std::to_string(i);
    PutHash(k);
    hashes.insert(k);
  }
  for (int i = 0; i < 500; ++i) Put("db1:" + std::to_string(i), ValueKind::kString, 1);

  std::set<std::string> all = strings;
  all.insert(hashes.begin(), hashes.end());
  auto check = [&](const std::vector<std::string>& options, const std::set<std::string>& want) {
    int calls = 0;
    std::map<std::string, int> seen = ScanAll(options, &calls);
    EXPECT_EQ(seen.size(), want.size());
    for (const auto& [k, n] : seen) {
      EXPECT_EQ(n, 1) << k << " came back " << n << " times";
      EXPECT_TRUE(want.count(k)) << k << " was not asked for";
    }
    return calls;
  };
  const int default_calls = check({}, all);
  EXPECT_GT(default_calls, 1) << "COUNT 10 by default: several calls";
  EXPECT_GT(check({"COUNT", "3"}, all), default_calls);
  EXPECT_EQ(check({"COUNT", "100000"}, all), 1);

  std::set<std::string> odd;
  for (const std::string& k : strings) {
    if (k.rfind("odd:", 0) == 0) odd.insert(k);
  }
  check({"MATCH", "odd:*", "COUNT", "7"}, odd);
  check({"TYPE", "hash", "COUNT", "7"}, hashes);
  check({"TYPE", "HASH"}, hashes);
  check({"TYPE", "string", "COUNT", "50"}, strings);
  check({"MATCH", "h:1*", "TYPE", "hash", "COUNT", "5"},
        {"h:1", "h:10", "h:11", "h:12", "h:13", "h:14", "h:15", "h:16", "h:17", "h:18", "h:19"});
  check({"MATCH", "h:1*", "TYPE", "string"}, {});

  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  std::set<std::string> db1;
  for (int i = 0; i < 500; ++i) db1.insert("db1:" + std::to_string(i));
  check({"COUNT", "20"}, db1);
  EXPECT_EQ(Run({"SELECT", "2"}), "OK");
  check({}, {});
}

TEST_F(KeyspaceFamily, ScanKeepsKeysThatStayDuringTheWalk) {
  for (int i = 0; i < 200; ++i) ASSERT_EQ(Run({"SET", "stay:" + std::to_string(i), "v"}), "OK");
  std::map<std::string, int> seen;
  std::string cursor = "0";
  int added = 0;
  do {
    Reply r = t_.Run({"SCAN", cursor, "COUNT", "10"});
    ASSERT_EQ(r.elems.size(), 2u);
    cursor = r.elems[0].str;
    for (const Reply& k : r.elems[1].elems) seen[k.str]++;
    // Keys come and go meanwhile; the ones present throughout must each come back once.
    for (int j = 0; j < 20; ++j) {
      ASSERT_EQ(Run({"SET", "new:" + std::to_string(added++), "v"}), "OK");
    }
    ASSERT_EQ(Run({"DEL", "new:" + std::to_string(added / 2)}), "(integer) 1");
  } while (cursor != "0" && added < 200000);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(seen["stay:" + std::to_string(i)], 1) << i;
}

TEST_F(KeyspaceFamily, RandomKey) {
  EXPECT_EQ(Run({"RANDOMKEY"}), "(nil)");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"SET", "only-in-1", "v"}), "OK");
  EXPECT_EQ(Run({"RANDOMKEY"}), "only-in-1");
  EXPECT_EQ(t_.Run({"RANDOMKEY"}).type, Reply::kBulk);
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"RANDOMKEY"}), "(nil)") << "another database's keys are not returned";

  const std::set<std::string> keys = {"a", "b", "c", "d", "e"};
  for (const std::string& k : keys) ASSERT_EQ(Run({"SET", k, "v"}), "OK");
  PutHash("h");
  std::set<std::string> got;
  for (int i = 0; i < 300; ++i) got.insert(Run({"RANDOMKEY"}));
  for (const std::string& k : got) {
    EXPECT_TRUE(keys.count(k) || k == "h") << k;
  }
  EXPECT_GE(got.size(), 3u) << "keys are picked at random";

  EXPECT_EQ(Run({"FLUSHDB"}), "OK");
  EXPECT_EQ(Run({"SET", "soon", "v", "PX", "10"}), "OK");
  EXPECT_EQ(Run({"RANDOMKEY"}), "soon");
  now_ += 10;
  EXPECT_EQ(Run({"RANDOMKEY"}), "(nil)") << "expired keys are not returned";
  EXPECT_EQ(Run({"RANDOMKEY", "x"}), Arity("randomkey"));
}

// RANDOMKEY in a small database among large ones walks much of the engine: in steps, as KEYS.
TEST_F(KeyspaceFamily, RandomKeyInASmallDatabaseWalksInSteps) {
  for (int i = 0; i < 400000; ++i) Put("k" + std::to_string(i), ValueKind::kString);
  Put("only", ValueKind::kString, 1);
  Connection& a = t_.conn();
  a.FeedForTest("SELECT 1\r\n");
  ASSERT_TRUE(a.ProcessInput());
  EXPECT_EQ(TestClient::TakeOutput(a), "+OK\r\n");
  std::unique_ptr<Connection> b = t_.NewConnection();
  int calls_in_steps = 0;
  for (int i = 0; i < 10; ++i) {
    a.FeedForTest("RANDOMKEY\r\n");
    ASSERT_TRUE(a.ProcessInput());
    if (a.blocked) ++calls_in_steps;
    while (a.blocked) {
      EXPECT_EQ(t_.RunOn(*b, {"PING"}).str, "PONG") << "others are served between the steps";
      ASSERT_EQ(t_.server().RunLocalCompletions(1000), 1u);
    }
    EXPECT_EQ(TestClient::TakeOutput(a), "$4\r\nonly\r\n");
  }
  // From a random place in 400k keys, most calls take more than one step of 1 ms.
  EXPECT_GT(calls_in_steps, 0);
}

TEST_F(KeyspaceFamily, Rename) {
  EXPECT_EQ(Run({"RENAME", "nope", "x"}), "(error) ERR no such key");
  EXPECT_EQ(Run({"RENAME", "nope", "nope"}), "(error) ERR no such key");
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "5000"}), "OK");
  EXPECT_EQ(Run({"RENAME", "a", "a"}), "OK");
  EXPECT_EQ(Run({"GET", "a"}), "1");
  EXPECT_EQ(Run({"RENAME", "a", "b"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"GET", "b"}), "1");
  EXPECT_EQ(ExpiresAt("b"), now_ + 5000) << "the expiry moves with the value";

  EXPECT_EQ(Run({"SET", "c", "3"}), "OK");
  EXPECT_EQ(Run({"RENAME", "c", "b"}), "OK") << "overwrites the destination";
  EXPECT_EQ(Run({"GET", "b"}), "3");
  EXPECT_EQ(ExpiresAt("b"), 0) << "and its expiry";

  PutHash("h");
  EXPECT_EQ(Run({"RENAME", "h", "b"}), "OK") << "a string is overwritten by a hash";
  EXPECT_EQ(Run({"TYPE", "b"}), "hash");
  EXPECT_EQ(cache().Get(Key("b")).value(), "payload:h");
  EXPECT_EQ(Run({"SET", "s", "str"}), "OK");
  EXPECT_EQ(Run({"RENAME", "s", "b"}), "OK") << "and the other way";
  EXPECT_EQ(Run({"TYPE", "b"}), "string");

  EXPECT_EQ(Run({"RENAME", "b"}), Arity("rename"));
  EXPECT_EQ(Run({"RENAME", "a", "b", "c"}), Arity("rename"));
}

TEST_F(KeyspaceFamily, RenameNx) {
  EXPECT_EQ(Run({"RENAMENX", "nope", "x"}), "(error) ERR no such key");
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), "OK");
  EXPECT_EQ(Run({"RENAMENX", "a", "b"}), "(integer) 0");
  EXPECT_EQ(Run({"MGET", "a", "b"}), "[1, 2]");
  EXPECT_EQ(Run({"RENAMENX", "a", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"PEXPIRE", "a", "700"}), "(integer) 1");
  EXPECT_EQ(Run({"RENAMENX", "a", "c"}), "(integer) 1");
  EXPECT_EQ(Run({"MGET", "a", "c"}), "[(nil), 1]");
  EXPECT_EQ(Run({"PTTL", "c"}), "(integer) 700");
  EXPECT_EQ(Run({"RENAMENX", "a"}), Arity("renamenx"));
}

TEST_F(KeyspaceFamily, RenameStaysInTheDatabase) {
  EXPECT_EQ(Run({"SELECT", "3"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "v"}), "OK");
  EXPECT_EQ(Run({"RENAME", "a", "b"}), "OK");
  EXPECT_EQ(Run({"KEYS", "*"}), "[b]");
  EXPECT_TRUE(cache().Contains(Key("b", 3)));
  EXPECT_FALSE(cache().Contains(Key("b", 0)));
}

TEST_F(KeyspaceFamily, RenameInsideATransaction) {
  EXPECT_EQ(Run({"SET", "a", "v"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"RENAME", "a", "b"}), "QUEUED");
  EXPECT_EQ(Run({"COPY", "b", "c"}), "QUEUED");
  EXPECT_EQ(Run({"FLUSHDB"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK, (integer) 1, OK]");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
}

TEST_F(KeyspaceFamily, Copy) {
  EXPECT_EQ(Run({"COPY", "nope", "x"}), "(integer) 0");
  EXPECT_EQ(Run({"SET", "a", "1", "EX", "100"}), "OK");
  EXPECT_EQ(Run({"COPY", "a", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"MGET", "a", "b"}), "[1, 1]");
  EXPECT_EQ(ExpiresAt("b"), now_ + 100000) << "the expiry is copied";
  EXPECT_EQ(Run({"SET", "c", "3"}), "OK");
  EXPECT_EQ(Run({"COPY", "c", "b"}), "(integer) 0") << "the destination exists";
  EXPECT_EQ(Run({"GET", "b"}), "1");
  EXPECT_EQ(Run({"COPY", "c", "b", "replace"}), "(integer) 1");
  EXPECT_EQ(Run({"GET", "b"}), "3");
  EXPECT_EQ(ExpiresAt("b"), 0);
  EXPECT_EQ(Run({"COPY", "a", "a"}), "(error) ERR source and destination objects are the same");
  EXPECT_EQ(Run({"COPY", "a", "a", "DB", "0"}),
            "(error) ERR source and destination objects are the same");

  PutHash("h");
  EXPECT_EQ(Run({"COPY", "h", "h2"}), "(integer) 1");
  EXPECT_EQ(Run({"TYPE", "h2"}), "hash");
  EXPECT_EQ(cache().Get(Key("h2")).value(), "payload:h");
  EXPECT_EQ(Run({"COPY", "h", "c", "REPLACE"}), "(integer) 1");
  EXPECT_EQ(Run({"TYPE", "c"}), "hash");

  EXPECT_EQ(Run({"COPY", "a"}), Arity("copy"));
  EXPECT_EQ(Run({"COPY", "a", "z", "BOGUS"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"COPY", "a", "z", "DB"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
}

TEST_F(KeyspaceFamily, CopyToAnotherDatabase) {
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "900"}), "OK");
  EXPECT_EQ(Run({"COPY", "a", "a", "DB", "1"}), "(integer) 1") << "same name, other database";
  EXPECT_EQ(Run({"COPY", "a", "a", "DB", "1"}), "(integer) 0");
  EXPECT_EQ(Run({"COPY", "a", "b", "db", "1", "REPLACE"}), "(integer) 1");
  EXPECT_EQ(Run({"COPY", "a", "b", "REPLACE", "DB", "1"}), "(integer) 1") << "options in any order";
  EXPECT_EQ(Run({"COPY", "a", "b", "DB", "16"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(Run({"COPY", "a", "b", "DB", "-1"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(Run({"COPY", "a", "b", "DB", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"COPY", "a", "b", "DB", "4294967296"}),
            "(error) ERR value is out of range, value must between -2147483648 and 2147483647");
  EXPECT_EQ(Run({"MOVE", "a", "-2147483649"}),
            "(error) ERR value is out of range, value must between -2147483648 and 2147483647");
  EXPECT_EQ(Run({"KEYS", "*"}), "[a]") << "db 0 is unchanged";
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Keys("*"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(Run({"PTTL", "b"}), "(integer) 900");
  EXPECT_EQ(Run({"COPY", "b", "c", "DB", "0"}), "(integer) 1") << "from the current database";
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"GET", "c"}), "1");
}

TEST_F(KeyspaceFamily, Move) {
  EXPECT_EQ(Run({"MOVE", "nope", "1"}), "(integer) 0");
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "300"}), "OK");
  EXPECT_EQ(Run({"MOVE", "a", "0"}), "(error) ERR source and destination objects are the same");
  EXPECT_EQ(Run({"MOVE", "a", "16"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(Run({"MOVE", "a", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"MOVE", "a", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 0");
  EXPECT_EQ(ExpiresAt("a", 1), now_ + 300);
  EXPECT_EQ(Run({"SET", "a", "2"}), "OK");
  EXPECT_EQ(Run({"MOVE", "a", "1"}), "(integer) 0") << "the destination has the key";
  EXPECT_EQ(Run({"GET", "a"}), "2");
  PutHash("h");
  EXPECT_EQ(Run({"MOVE", "h", "2"}), "(integer) 1");
  EXPECT_EQ(Run({"SELECT", "2"}), "OK");
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  EXPECT_EQ(Run({"MOVE", "h"}), Arity("move"));
}

// RENAME and MOVE of a large value hand its memory to the new key, as Redis moves a pointer;
// a value a reader pins is copied instead, and the reader keeps what it saw.
TEST_F(KeyspaceFamily, RenameAndMoveOfALargeValueMoveItsMemory) {
  std::string value(20 << 20, 'v');
  value[12345] = 'x';
  EXPECT_EQ(Run({"SET", "big", value, "PX", "500000"}), "OK");
  const char* at = cache().Peek("big").value().data();
  EXPECT_EQ(Run({"RENAME", "big", "renamed"}), "OK");
  EXPECT_EQ(cache().Peek("renamed").value().data(), at) << "moved, not copied";
  EXPECT_EQ(Run({"EXISTS", "big"}), "(integer) 0");
  EXPECT_EQ(ExpiresAt("renamed"), now_ + 500000);
  EXPECT_EQ(Run({"SET", "other", "o"}), "OK");
  EXPECT_EQ(Run({"RENAMENX", "renamed", "other"}), "(integer) 0");
  EXPECT_EQ(Run({"RENAME", "renamed", "other"}), "OK") << "replacing a small value";
  EXPECT_EQ(Run({"MOVE", "other", "3"}), "(integer) 1");
  EXPECT_EQ(Run({"SELECT", "3"}), "OK");
  EXPECT_EQ(cache().Peek(EngineKey(3, "other")).value().data(), at);
  EXPECT_TRUE(t_.Run({"GET", "other"}).str == value);
  {
    Handle reader = cache().Peek(EngineKey(3, "other"));
    EXPECT_EQ(Run({"RENAME", "other", "copied"}), "OK");
    EXPECT_NE(cache().Peek(EngineKey(3, "copied")).value().data(), at);
    EXPECT_TRUE(reader.value() == value);
  }
  EXPECT_TRUE(t_.Run({"GET", "copied"}).str == value);
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("copied", 3), now_ + 500000);
}

// COPY of a large value copies it in steps, between which other clients are served and see
// the key as it was; it takes effect at its end, on what the keys hold then.
TEST_F(KeyspaceFamily, CopyOfALargeValueCopiesInSteps) {
  const size_t mib = size_t{1} << 20;
  std::string value(24 * mib, 'v');
  value[12345] = 'x';
  ASSERT_EQ(Run({"SET", "big", value, "PX", "500000"}), "OK");
  std::unique_ptr<Connection> other = t_.NewConnection();
  int steps = 0;
  std::vector<Reply> r = t_.RunInSteps(
      t_.conn(), "COPY big copy\r\nSTRLEN copy\r\n",
      [&] {
        EXPECT_EQ(t_.RunOn(*other, {"EXISTS", "copy"}).integer, 0) << "not there until the end";
        EXPECT_EQ(t_.RunOn(*other, {"SET", "k", "1"}).str, "OK") << "others are served";
      },
      &steps);
  EXPECT_GE(steps, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].integer, 1);
  EXPECT_EQ(r[1].integer, static_cast<int64_t>(value.size())) << "the next command waited";
  EXPECT_TRUE(t_.Run({"GET", "copy"}).str == value);
  EXPECT_NE(cache().Peek("copy").value().data(), cache().Peek("big").value().data());
  EXPECT_EQ(ExpiresAt("copy"), now_ + 500000) << "the expiry is copied";
  EXPECT_TRUE(t_.Run({"GET", "big"}).str == value) << "the source is untouched";

  // Another client replaces the source meanwhile: the copy is of what it wrote.
  r = t_.RunInSteps(
      t_.conn(), "COPY big copy REPLACE\r\n",
      [&] {
        EXPECT_EQ(t_.RunOn(*other, {"SET", "big", "small"}).str, "OK");
      },
      &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, 1);
  EXPECT_EQ(Run({"GET", "copy"}), "small");
  EXPECT_EQ(ExpiresAt("copy"), 0);

  // Another client creates the destination meanwhile: without REPLACE, nothing is copied.
  ASSERT_EQ(Run({"SET", "big", value}), "OK");
  ASSERT_EQ(Run({"DEL", "copy"}), "(integer) 1");
  r = t_.RunInSteps(
      t_.conn(), "COPY big copy DB 2\r\n",
      [&] {
        EXPECT_EQ(t_.RunOn(*other, {"COPY", "k", "copy", "DB", "2"}).integer, steps == 0 ? 1 : 0);
      },
      &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, 0);
  EXPECT_EQ(cache().Peek(Key("copy", 2)).value(), "1");

  // The source deleted meanwhile: nothing to copy, the destination stays.
  r = t_.RunInSteps(
      t_.conn(), "COPY big copy REPLACE DB 2\r\n",
      [&] {
        EXPECT_EQ(t_.RunOn(*other, {"DEL", "big"}).integer, steps == 0 ? 1 : 0);
      },
      &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, 0);
  EXPECT_EQ(cache().Peek(Key("copy", 2)).value(), "1");

  // Inside EXEC the steps run at once.
  ASSERT_EQ(Run({"SET", "big", value}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"COPY", "big", "copy", "DB", "2", "REPLACE"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[(integer) 1]");
  EXPECT_TRUE(cache().Peek(Key("copy", 2)).value() == value);
  // Nothing is charged twice or left behind: the large value, its copy and k.
  const CacheStats st = cache().Stats();
  EXPECT_EQ(st.items, 3u);
  EXPECT_GT(st.item_bytes, 48 * mib);
  EXPECT_LT(st.item_bytes, 49 * mib);
}

TEST_F(KeyspaceFamily, FlushDbClearsOnlyTheCurrentDatabase) {
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ(Run({"SET", "k" + std::to_string(i), "v"}), "OK");
  }
  PutHash("h");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(Run({"SET", "one" + std::to_string(i), "v"}), "OK");
  }
  PutHash("h", 1);
  EXPECT_EQ(Run({"FLUSHDB"}), "OK");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
  EXPECT_EQ(Run({"KEYS", "*"}), "[]");
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 3001");
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  // Now db 0 holds every key: the engine is cleared at once.
  EXPECT_EQ(Run({"FLUSHDB", "SYNC"}), "OK");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
  EXPECT_EQ(Run({"SET", "a", "v"}), "OK");
  EXPECT_EQ(Run({"flushdb", "async"}), "OK");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
  EXPECT_EQ(Run({"FLUSHDB", "NOW"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"FLUSHDB", "SYNC", "ASYNC"}), "(error) ERR syntax error");
}

// SWAPDB exchanges two databases for every client at once, commands that name a database
// (MOVE, COPY ... DB) and the keyspace statistics included; and fails the transactions that
// watch a key of either which exists on either side (Redis's touchAllWatchedKeysInDb).
TEST_F(KeyspaceFamily, SwapDb) {
  std::unique_ptr<Connection> other = t_.NewConnection();
  auto on_other = [&](const std::vector<std::string>& args) {
    return t_.RunOn(*other, args).ToString();
  };
  EXPECT_EQ(Run({"SET", "zero", "0"}), "OK");
  EXPECT_EQ(Run({"SET", "shared", "from 0"}), "OK");
  EXPECT_EQ(on_other({"SELECT", "1"}), "OK");
  EXPECT_EQ(on_other({"SET", "one", "1"}), "OK");
  EXPECT_EQ(on_other({"SET", "shared", "from 1"}), "OK");
  EXPECT_EQ(on_other({"EXPIRE", "one", "100"}), "(integer) 1");
  EXPECT_EQ(on_other({"SET", "also", "1"}), "OK");

  EXPECT_EQ(Run({"SWAPDB", "0", "1"}), "OK");
  EXPECT_EQ(Run({"GET", "shared"}), "from 1");
  EXPECT_EQ(Run({"GET", "zero"}), "(nil)");
  EXPECT_EQ(Run({"TTL", "one"}), "(integer) 100");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 3");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "100", "MATCH", "o*"}), "[0, [one]]");
  EXPECT_EQ(on_other({"GET", "shared"}), "from 0") << "a client in db 1 sees db 0's keys";
  EXPECT_EQ(on_other({"EXISTS", "zero", "shared", "one"}), "(integer) 2");
  const std::string keyspace = t_.Run({"INFO", "keyspace"}).str;
  EXPECT_NE(keyspace.find("db0:keys=3,expires=1,"), std::string::npos) << keyspace;
  EXPECT_NE(keyspace.find("db1:keys=2,expires=0,"), std::string::npos) << keyspace;

  // Database numbers in arguments name the swapped databases too.
  EXPECT_EQ(Run({"MOVE", "also", "1"}), "(integer) 1");
  EXPECT_EQ(on_other({"GET", "also"}), "1");
  EXPECT_EQ(Run({"COPY", "one", "copied", "DB", "1"}), "(integer) 1");
  EXPECT_EQ(on_other({"GET", "copied"}), "1");
  // Swapped back, and a database swapped with itself, change nothing.
  EXPECT_EQ(Run({"SWAPDB", "1", "0"}), "OK");
  EXPECT_EQ(Run({"SWAPDB", "0", "0"}), "OK");
  EXPECT_EQ(Run({"GET", "shared"}), "from 0");
  EXPECT_EQ(Run({"GET", "also"}), "1");
  // Three databases in a cycle.
  EXPECT_EQ(on_other({"SELECT", "2"}), "OK");
  EXPECT_EQ(on_other({"SET", "two", "2"}), "OK");
  EXPECT_EQ(Run({"SWAPDB", "0", "2"}), "OK");
  EXPECT_EQ(Run({"SWAPDB", "1", "2"}), "OK");
  EXPECT_EQ(Run({"GET", "two"}), "2");
  EXPECT_EQ(on_other({"GET", "one"}), "1") << "db 2 holds what db 1 held";
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"GET", "zero"}), "0") << "db 1 holds what db 0 held";
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");

  // WATCH: a key that exists on the other side only fails EXEC; one on neither side does not.
  EXPECT_EQ(Run({"WATCH", "only-in-3"}), "OK");
  EXPECT_EQ(on_other({"SELECT", "3"}), "OK");
  EXPECT_EQ(on_other({"SET", "only-in-3", "x"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"PING"}), "QUEUED");
  EXPECT_EQ(on_other({"SWAPDB", "0", "3"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  EXPECT_EQ(Run({"WATCH", "nowhere"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"PING"}), "QUEUED");
  EXPECT_EQ(on_other({"SWAPDB", "0", "3"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "[PONG]");

  EXPECT_EQ(Run({"SWAPDB", "x", "1"}), "(error) ERR invalid first DB index");
  EXPECT_EQ(Run({"SWAPDB", "1", "1.5"}), "(error) ERR invalid second DB index");
  EXPECT_EQ(Run({"SWAPDB", "4294967296", "x"}), "(error) ERR invalid first DB index");
  EXPECT_EQ(Run({"SWAPDB", "0", "16"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(Run({"SWAPDB", "-1", "0"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(Run({"SWAPDB", "0"}), "(error) ERR wrong number of arguments for 'swapdb' command");
}

TEST_F(KeyspaceFamily, FlushAll) {
  EXPECT_EQ(Run({"SET", "a", "v"}), "OK");
  PutHash("h", 5);
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"SET", "b", "v"}), "OK");
  EXPECT_EQ(Run({"FLUSHALL"}), "OK");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
  EXPECT_FALSE(cache().Contains(Key("a")));
  EXPECT_FALSE(cache().Contains(Key("h", 5)));
  EXPECT_EQ(Run({"FLUSHALL", "ASYNC"}), "OK");
  EXPECT_EQ(Run({"FLUSHALL", "sync"}), "OK");
  EXPECT_EQ(Run({"FLUSHALL", "x"}), "(error) ERR syntax error");
}

TEST_F(KeyspaceFamily, ExpireAndVariants) {
  EXPECT_EQ(Run({"EXPIRE", "nope", "10"}), "(integer) 0");
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"EXPIRE", "k", "10"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 10000);
  EXPECT_EQ(Run({"PEXPIRE", "k", "1234"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 1234);
  EXPECT_EQ(Run({"EXPIREAT", "k", std::to_string(now_ / 1000 + 50)}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), (now_ / 1000 + 50) * 1000);
  EXPECT_EQ(Run({"PEXPIREAT", "k", std::to_string(now_ + 77)}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 77);
  EXPECT_EQ(Run({"GET", "k"}), "v") << "the value stays";
  now_ += 77;
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0") << "and goes at its time";

  PutHash("h");
  EXPECT_EQ(Run({"EXPIRE", "h", "5"}), "(integer) 1") << "any type";
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  EXPECT_EQ(Run({"TTL", "h"}), "(integer) 5");

  EXPECT_EQ(Run({"EXPIRE", "k", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"EXPIRE", "k", "1.5"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"EXPIRE", "k"}), Arity("expire"));
  EXPECT_EQ(Run({"PEXPIRE", "k"}), Arity("pexpire"));
  EXPECT_EQ(Run({"EXPIREAT", "k"}), Arity("expireat"));
  EXPECT_EQ(Run({"PEXPIREAT", "k"}), Arity("pexpireat"));
}

TEST_F(KeyspaceFamily, ExpireInThePastDeletes) {
  for (const char* k : {"a", "b", "c", "d", "e"}) ASSERT_EQ(Run({"SET", k, "v"}), "OK");
  EXPECT_EQ(Run({"EXPIRE", "a", "0"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIRE", "b", "-100"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIREAT", "c", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIREAT", "d", std::to_string(now_)}), "(integer) 1") << "now is the past";
  EXPECT_EQ(Run({"PEXPIREAT", "e", std::to_string(now_ + 1)}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "a", "b", "c", "d", "e"}), "(integer) 1");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 1") << "deleted, not just expired";
  EXPECT_EQ(Run({"EXPIRE", "a", "-1"}), "(integer) 0") << "a missing key stays a 0";
}

TEST_F(KeyspaceFamily, ExpireOverflow) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  const std::string max = "9223372036854775807", min = "-9223372036854775808";
  EXPECT_EQ(Run({"EXPIRE", "k", max}), "(error) ERR invalid expire time in 'expire' command");
  EXPECT_EQ(Run({"EXPIRE", "k", min}), "(error) ERR invalid expire time in 'expire' command");
  EXPECT_EQ(Run({"EXPIRE", "k", "9223372036854775"}),
            "(error) ERR invalid expire time in 'expire' command")
      << "fits in ms, not once now is added";
  EXPECT_EQ(Run({"PEXPIRE", "k", max}), "(error) ERR invalid expire time in 'pexpire' command");
  EXPECT_EQ(Run({"EXPIREAT", "k", max}), "(error) ERR invalid expire time in 'expireat' command");
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIRE", "k", min}), "(integer) 1") << "very negative is fine: deletes";
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"PEXPIREAT", "k", max}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIRETIME", "k"}), "(integer) " + max);
  EXPECT_EQ(Run({"EXPIREAT", "k", "9223372036854775"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), "(integer) 9223372036854775");
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "XX"}),
            "(error) ERR NX and XX, GT or LT options at the same time are not compatible")
      << "options are checked before the time";
}

TEST_F(KeyspaceFamily, ExpireOptionErrors) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  const std::string nx =
      "(error) ERR NX and XX, GT or LT options at the same time are not compatible";
  const std::string gtlt = "(error) ERR GT and LT options at the same time are not compatible";
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "XX"}), nx);
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "GT"}), nx);
  EXPECT_EQ(Run({"PEXPIRE", "k", "10", "LT", "NX"}), nx);
  EXPECT_EQ(Run({"EXPIREAT", "k", "10", "GT", "LT"}), gtlt);
  EXPECT_EQ(Run({"PEXPIREAT", "k", "10", "xx", "gt", "lt"}), gtlt);
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "FOO"}), "(error) ERR Unsupported option FOO");
  // Redis's formatting: the option ends at a NUL byte; a CR or LF at the end is dropped.
  EXPECT_EQ(Run({"EXPIRE", "k", "10", std::string("a\0b", 3)}), "(error) ERR Unsupported option a");
  EXPECT_EQ(Run({"PEXPIREAT", "k", "10", "x\r\n"}), "(error) ERR Unsupported option x");
  EXPECT_EQ(Run({"PEXPIREAT", "k", "10", "x\ry"}), "(error) ERR Unsupported option x y");
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "bar"}), "(error) ERR Unsupported option bar");
  EXPECT_EQ(Run({"EXPIRE", "k", "x", "FOO"}), "(error) ERR Unsupported option FOO");
  EXPECT_EQ(ExpiresAt("k"), 0) << "nothing changed";
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "NX"}), "(integer) 1") << "repeats are fine";
}

TEST_F(KeyspaceFamily, ExpireNxXx) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "XX"}), "(integer) 0") << "no expiry yet";
  EXPECT_EQ(ExpiresAt("k"), 0);
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "nx"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRE", "k", "200", "NX"}), "(integer) 0") << "has an expiry";
  EXPECT_EQ(ExpiresAt("k"), now_ + 100000);
  EXPECT_EQ(Run({"EXPIRE", "k", "200", "XX"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 200000);
  EXPECT_EQ(Run({"EXPIRE", "nope", "200", "NX"}), "(integer) 0");
  EXPECT_EQ(Run({"EXPIRE", "k", "-1", "NX"}), "(integer) 0") << "NX fails before deleting";
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRE", "k", "-1", "XX"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0");
}

TEST_F(KeyspaceFamily, ExpireGtLt) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  // No expiry counts as an infinite one: nothing is greater, everything is less.
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "GT"}), "(integer) 0");
  EXPECT_EQ(ExpiresAt("k"), 0);
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "LT"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 100000);
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "GT"}), "(integer) 0") << "equal is not greater";
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "LT"}), "(integer) 0") << "equal is not less";
  EXPECT_EQ(Run({"EXPIRE", "k", "50", "GT"}), "(integer) 0");
  EXPECT_EQ(Run({"EXPIRE", "k", "150", "GT"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 150000);
  EXPECT_EQ(Run({"EXPIRE", "k", "200", "LT"}), "(integer) 0");
  EXPECT_EQ(Run({"PEXPIRE", "k", "149999", "LT"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 149999);
  EXPECT_EQ(Run({"PEXPIRE", "k", "150000", "XX", "GT"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIRE", "k", "100", "XX", "LT"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("k"), now_ + 100);
  EXPECT_EQ(Run({"PERSIST", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIRE", "k", "100", "XX", "LT"}), "(integer) 0") << "XX wants an expiry";
  EXPECT_EQ(Run({"EXPIRE", "k", "-5", "GT"}), "(integer) 0") << "a past time is not greater";
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRE", "k", "-5", "LT"}), "(integer) 1") << "but less than infinity";
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0");
  EXPECT_EQ(Run({"EXPIRE", "nope", "5", "LT"}), "(integer) 0");
}

TEST_F(KeyspaceFamily, TtlAndVariants) {
  EXPECT_EQ(Run({"TTL", "nope"}), "(integer) -2");
  EXPECT_EQ(Run({"PTTL", "nope"}), "(integer) -2");
  EXPECT_EQ(Run({"EXPIRETIME", "nope"}), "(integer) -2");
  EXPECT_EQ(Run({"PEXPIRETIME", "nope"}), "(integer) -2");
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) -1");
  EXPECT_EQ(Run({"PTTL", "k"}), "(integer) -1");
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), "(integer) -1");
  EXPECT_EQ(Run({"PEXPIRETIME", "k"}), "(integer) -1");

  EXPECT_EQ(Run({"PEXPIRE", "k", "10000"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) 10");
  EXPECT_EQ(Run({"PTTL", "k"}), "(integer) 10000");
  EXPECT_EQ(Run({"PEXPIRETIME", "k"}), "(integer) " + std::to_string(now_ + 10000));
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), "(integer) " + std::to_string((now_ + 10000) / 1000));
  // Seconds round to nearest, halves up: (ms + 500) / 1000.
  now_ += 8501;  // 1499 ms left
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"PTTL", "k"}), "(integer) 1499");
  now_ -= 1;  // 1500 ms left
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) 2");
  now_ += 1002;  // 498 ms left
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) 0");
  now_ -= 2;  // 500 ms left
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"PEXPIREAT", "k", "1700000100499"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), "(integer) 1700000100");
  EXPECT_EQ(Run({"PEXPIREAT", "k", "1700000100500"}), "(integer) 1");
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), "(integer) 1700000101");

  EXPECT_EQ(Run({"TTL"}), Arity("ttl"));
  EXPECT_EQ(Run({"PTTL", "a", "b"}), Arity("pttl"));
  EXPECT_EQ(Run({"EXPIRETIME"}), Arity("expiretime"));
  EXPECT_EQ(Run({"PEXPIRETIME"}), Arity("pexpiretime"));
}

TEST_F(KeyspaceFamily, Persist) {
  EXPECT_EQ(Run({"PERSIST", "nope"}), "(integer) 0");
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"PERSIST", "k"}), "(integer) 0") << "no expiry to remove";
  EXPECT_EQ(Run({"EXPIRE", "k", "10"}), "(integer) 1");
  EXPECT_EQ(Run({"PERSIST", "k"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) -1");
  now_ += 20000;
  EXPECT_EQ(Run({"GET", "k"}), "v") << "it no longer expires";
  EXPECT_EQ(Run({"PERSIST"}), Arity("persist"));
}

TEST_F(KeyspaceFamily, ExpiryIsPerDatabase) {
  EXPECT_EQ(Run({"SET", "k", "db0"}), "OK");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "db1"}), "OK");
  EXPECT_EQ(Run({"EXPIRE", "k", "-1"}), "(integer) 1");
  EXPECT_EQ(Run({"DEL", "k"}), "(integer) 0");
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "db0");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) -1");
}

TEST_F(KeyspaceFamily, RegistryFlags) {
  const CommandRegistry& r = t_.server().commands();
  for (const char* name : {"rename", "renamenx", "copy", "move", "flushdb", "flushall", "swapdb"}) {
    ASSERT_NE(r.Find(name), nullptr) << name;
    EXPECT_TRUE(r.Find(name)->flags & cmd::kExclusive) << name;
  }
  for (const char* name : {"del", "unlink", "exists", "type", "keys", "scan", "randomkey", "touch",
                           "expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl",
                           "expiretime", "pexpiretime", "persist"}) {
    ASSERT_NE(r.Find(name), nullptr) << name;
    EXPECT_FALSE(r.Find(name)->flags & cmd::kExclusive) << name;
    EXPECT_NE(r.Find(name)->summary[0], '\0') << name;
  }
  for (const char* name : {"exists", "type", "keys", "scan", "randomkey", "touch", "ttl", "pttl",
                           "expiretime", "pexpiretime"}) {
    EXPECT_TRUE(r.Find(name)->flags & cmd::kReadOnly) << name;
  }
  EXPECT_EQ(r.Find("rename")->last_key, 2);
  EXPECT_EQ(r.Find("del")->last_key, -1);
  EXPECT_EQ(r.Find("keys")->first_key, 0);
}

// RENAME is exclusive, so a reader of both names never sees the key twice or not at all.
TEST_F(KeyspaceFamily, RenameIsAtomicForOtherClients) {
  ASSERT_EQ(Run({"SET", "x", "v"}), "OK");
  std::atomic<bool> started{false}, stop{false};
  std::atomic<int> renames{0};
  std::thread renamer([&] {
    auto conn = t_.NewConnection();
    started = true;
    while (!stop) {
      EXPECT_EQ(t_.RunOn(*conn, {"RENAME", "x", "y"}).ToString(), "OK");
      EXPECT_EQ(t_.RunOn(*conn, {"RENAME", "y", "x"}).ToString(), "OK");
      renames += 2;
    }
  });
  while (!started) std::this_thread::yield();
  auto conn = t_.NewConnection();
  int failures = 0;
  for (int i = 0; i < 20000 && failures < 10; ++i) {
    if (t_.RunOn(*conn, {"EXISTS", "x", "y"}).ToString() != "(integer) 1") ++failures;
  }
  stop = true;
  renamer.join();
  EXPECT_EQ(failures, 0) << renames << " renames";
  EXPECT_GT(renames, 0) << "the two clients overlapped";
  EXPECT_EQ(Run({"EXISTS", "x"}), "(integer) 1");
}

}  // namespace
}  // namespace kvcache::server
