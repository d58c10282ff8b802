// Hash commands, in-process: every command and error path, RESP2 and RESP3 replies, field order,
// expiry kept by writes, binary safety, large hashes and corrupt values.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "server/hash_codec.h"
#include "server/test_client.h"

namespace kvcache::server {
namespace {

const char* kWrongType =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";
const char* kCorrupt = "(error) ERR hash value is corrupt";

class HashFamily : public ::testing::Test {
 protected:
  HashFamily() : t_(ServerConfig{}, [this] { return now_.load(); }) {}
  std::string Run(const std::vector<std::string>& args) { return t_.Run(args).ToString(); }
  static std::string EngineKey(const std::string& key) { return key; }
  Cache& cache() { return t_.server().cache(); }
  void PutRaw(const std::string& key, const std::string& value, ValueKind kind) {
    WriteOptions o;
    o.kind = kind;
    ASSERT_TRUE(cache().Write(EngineKey(key), value, o).ok());
  }
  void SetExpiry(const std::string& key, int64_t at_ms) {
    ASSERT_TRUE(cache()
                    .Update(EngineKey(key),
                            [&](const ItemView*, Mutation* m) {
                              m->action = Mutation::Action::kSetExpiry;
                              m->expires_at_ms = at_ms;
                            })
                    .ok());
  }
  int64_t ExpiresAt(const std::string& key) { return cache().Get(EngineKey(key)).expires_at_ms(); }

  std::atomic<int64_t> now_{1'700'000'000'000};
  TestClient t_;
};

TEST_F(HashFamily, HSetHGetHMSet) {
  EXPECT_EQ(Run({"HGET", "h", "f"}), "(nil)");
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "(integer) 1");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "v");
  EXPECT_EQ(t_.Run({"HGET", "h", "f"}).type, Reply::kBulk);
  EXPECT_EQ(Run({"HGET", "h", "nope"}), "(nil)");
  EXPECT_EQ(Run({"HSET", "h", "f", "v2", "g", "w"}), "(integer) 1") << "one added, one updated";
  EXPECT_EQ(Run({"HGET", "h", "f"}), "v2");
  EXPECT_EQ(Run({"HSET", "h", "x", "1", "x", "2"}), "(integer) 1")
      << "a repeated field counts once";
  EXPECT_EQ(Run({"HGET", "h", "x"}), "2") << "the last value wins";
  EXPECT_EQ(Run({"HMSET", "h", "y", "1", "f", "v3"}), "OK");
  EXPECT_EQ(t_.Run({"HMSET", "h", "y", "1"}).type, Reply::kSimple);
  EXPECT_EQ(Run({"HGET", "h", "f"}), "v3");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 4");

  EXPECT_EQ(Run({"HSET", "h", "f"}), "(error) ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(Run({"HSET", "h", "f", "v", "g"}),
            "(error) ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(Run({"HMSET", "h", "f", "v", "g"}),
            "(error) ERR wrong number of arguments for 'hmset' command");
  EXPECT_EQ(Run({"HGET", "h"}), "(error) ERR wrong number of arguments for 'hget' command");
  EXPECT_EQ(Run({"HGET", "h", "f", "g"}),
            "(error) ERR wrong number of arguments for 'hget' command");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 4") << "failed writes change nothing";
  EXPECT_EQ(Run({"hset", "h", "lower", "1"}), "(integer) 1") << "names are case-insensitive";
}

TEST_F(HashFamily, HSetNx) {
  EXPECT_EQ(Run({"HSETNX", "h", "f", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"HSETNX", "h", "f", "2"}), "(integer) 0");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "1");
  EXPECT_EQ(Run({"HSETNX", "h", "g", "2"}), "(integer) 1");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
  EXPECT_EQ(Run({"HSETNX", "h", "f"}),
            "(error) ERR wrong number of arguments for 'hsetnx' command");
}

TEST_F(HashFamily, HMGet) {
  EXPECT_EQ(Run({"HMGET", "nope", "a", "b"}), "[(nil), (nil)]");
  EXPECT_EQ(Run({"HSET", "h", "a", "1", "b", "2"}), "(integer) 2");
  EXPECT_EQ(Run({"HMGET", "h", "b", "zz", "a", "b"}), "[2, (nil), 1, 2]");
  EXPECT_EQ(Run({"HMGET", "h"}), "(error) ERR wrong number of arguments for 'hmget' command");
}

TEST_F(HashFamily, HGetAllHKeysHValsKeepFieldOrder) {
  EXPECT_EQ(Run({"HGETALL", "nope"}), "[]");
  EXPECT_EQ(Run({"HKEYS", "nope"}), "[]");
  EXPECT_EQ(Run({"HVALS", "nope"}), "[]");
  EXPECT_EQ(Run({"HSET", "h", "z", "1", "a", "2", "m", "3"}), "(integer) 3");
  EXPECT_EQ(Run({"HSET", "h", "a", "20"}), "(integer) 0");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[z, 1, a, 20, m, 3]") << "an update keeps the field's place";
  EXPECT_EQ(Run({"HDEL", "h", "z"}), "(integer) 1");
  EXPECT_EQ(Run({"HSET", "h", "z", "4"}), "(integer) 1");
  EXPECT_EQ(Run({"HKEYS", "h"}), "[a, m, z]") << "a re-added field goes last";
  EXPECT_EQ(Run({"HVALS", "h"}), "[20, 3, 4]");
  EXPECT_EQ(t_.Run({"HGETALL", "h"}).type, Reply::kArray) << "RESP2: a flat array";
}

TEST_F(HashFamily, Resp3RepliesHGetAllAsAMap) {
  ASSERT_EQ(t_.Run({"HELLO", "3"}).type, Reply::kMap);
  EXPECT_EQ(Run({"HSET", "h", "f1", "v1", "f2", "v2"}), "(integer) 2");
  Reply all = t_.Run({"HGETALL", "h"});
  ASSERT_EQ(all.type, Reply::kMap);
  EXPECT_EQ(all.ToString(), "{f1: v1, f2: v2}");
  Reply empty = t_.Run({"HGETALL", "nope"});
  EXPECT_EQ(empty.type, Reply::kMap);
  EXPECT_TRUE(empty.elems.empty());
  EXPECT_EQ(t_.Run({"HKEYS", "h"}).type, Reply::kArray);
  EXPECT_EQ(t_.Run({"HVALS", "h"}).type, Reply::kArray);
  EXPECT_EQ(t_.Run({"HGET", "h", "nope"}).type, Reply::kNull);
  EXPECT_EQ(t_.Run({"HEXISTS", "h", "f1"}).type, Reply::kInteger) << "an integer, not a boolean";
  Reply f = t_.Run({"HINCRBYFLOAT", "h", "n", "1.5"});
  EXPECT_EQ(f.type, Reply::kBulk) << "a bulk string in RESP3 too";
  EXPECT_EQ(f.str, "1.5");
}

TEST_F(HashFamily, HDelRemovesTheKeyWithItsLastField) {
  EXPECT_EQ(Run({"HDEL", "nope", "f"}), "(integer) 0");
  EXPECT_FALSE(cache().Contains(EngineKey("nope"))) << "HDEL creates nothing";
  EXPECT_EQ(Run({"HSET", "h", "a", "1", "b", "2", "c", "3"}), "(integer) 3");
  EXPECT_EQ(Run({"HDEL", "h", "a", "zz", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"HDEL", "h", "zz"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
  EXPECT_EQ(Run({"HDEL", "h", "b", "c"}), "(integer) 2");
  EXPECT_FALSE(cache().Contains(EngineKey("h"))) << "an empty hash is removed";
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[]");
  EXPECT_EQ(Run({"HDEL", "h"}), "(error) ERR wrong number of arguments for 'hdel' command");
}

TEST_F(HashFamily, HExistsHLenHStrlen) {
  EXPECT_EQ(Run({"HEXISTS", "h", "f"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HSTRLEN", "h", "f"}), "(integer) 0");
  EXPECT_EQ(Run({"HSET", "h", "f", "hello", "e", ""}), "(integer) 2");
  EXPECT_EQ(Run({"HEXISTS", "h", "f"}), "(integer) 1");
  EXPECT_EQ(Run({"HEXISTS", "h", "e"}), "(integer) 1") << "an empty value exists";
  EXPECT_EQ(Run({"HEXISTS", "h", "g"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
  EXPECT_EQ(Run({"HSTRLEN", "h", "f"}), "(integer) 5");
  EXPECT_EQ(Run({"HSTRLEN", "h", "e"}), "(integer) 0");
  EXPECT_EQ(Run({"HSTRLEN", "h", "g"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h", "x"}), "(error) ERR wrong number of arguments for 'hlen' command");
}

TEST_F(HashFamily, HIncrBy) {
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "5"}), "(integer) 5");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "-7"}), "(integer) -2");
  EXPECT_EQ(Run({"HGET", "h", "n"}), "-2");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "1.5"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HSET", "h", "s", "abc", "sp", " 1", "max", "9223372036854775807", "min",
                 "-9223372036854775808"}),
            "(integer) 4");
  EXPECT_EQ(Run({"HINCRBY", "h", "s", "1"}), "(error) ERR hash value is not an integer");
  EXPECT_EQ(Run({"HINCRBY", "h", "sp", "1"}), "(error) ERR hash value is not an integer");
  EXPECT_EQ(Run({"HINCRBY", "h", "max", "1"}), "(error) ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"HINCRBY", "h", "min", "-1"}),
            "(error) ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"HINCRBY", "h", "max", "-1"}), "(integer) 9223372036854775806");
  EXPECT_EQ(Run({"HGET", "h", "s"}), "abc") << "a failed increment changes nothing";
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "0"}), "(integer) -2");
  EXPECT_EQ(Run({"HINCRBY", "h", "n"}),
            "(error) ERR wrong number of arguments for 'hincrby' command");
  EXPECT_EQ(Run({"HINCRBY", "new", "n", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_FALSE(cache().Contains(EngineKey("new")));
}

TEST_F(HashFamily, HIncrByFloat) {
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "10.5"}), "10.5");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "0.1"}), "10.6");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "10.6");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "-5.6"}), "5");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "5.0e3"}), "5005");
  EXPECT_EQ(Run({"HINCRBY", "h", "f", "1"}), "(integer) 5006") << "a float result that is whole";
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "abc"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "inf"}), "(error) ERR value is NaN or Infinity");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "-inf"}), "(error) ERR value is NaN or Infinity");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "nan"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HSET", "h", "s", "abc", "big", "1e4932"}), "(integer) 2");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "s", "1"}), "(error) ERR hash value is not a float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "big", "1e4932"}),
            "(error) ERR increment would produce NaN or Infinity");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "5006");
}

TEST_F(HashFamily, WrongTypeBothWays) {
  EXPECT_EQ(Run({"SET", "s", "v"}), "OK");
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"HGET", "s", "f"},
                                             {"HMGET", "s", "f"},
                                             {"HGETALL", "s"},
                                             {"HKEYS", "s"},
                                             {"HVALS", "s"},
                                             {"HLEN", "s"},
                                             {"HEXISTS", "s", "f"},
                                             {"HSTRLEN", "s", "f"},
                                             {"HSET", "s", "f", "v"},
                                             {"HMSET", "s", "f", "v"},
                                             {"HSETNX", "s", "f", "v"},
                                             {"HDEL", "s", "f"},
                                             {"HINCRBY", "s", "f", "1"},
                                             {"HINCRBYFLOAT", "s", "f", "1"},
                                             {"HRANDFIELD", "s"},
                                             {"HRANDFIELD", "s", "2"}}) {
    EXPECT_EQ(Run(cmd), kWrongType) << cmd[0];
  }
  EXPECT_EQ(Run({"GET", "s"}), "v") << "a failed hash write leaves the string alone";
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "(integer) 1");
  EXPECT_EQ(Run({"GET", "h"}), kWrongType);
  EXPECT_EQ(Run({"INCR", "h"}), kWrongType);
  EXPECT_EQ(Run({"APPEND", "h", "x"}), kWrongType);
  EXPECT_EQ(Run({"HGET", "h", "f"}), "v");
  EXPECT_EQ(Run({"SET", "h", "now a string"}), "OK") << "SET replaces any kind";
  EXPECT_EQ(Run({"HGET", "h", "f"}), kWrongType);
}

TEST_F(HashFamily, BinarySafeFieldsAndValues) {
  const std::string field("f\0\r\nx", 5);
  const std::string value("\0v\0\r\n", 5);
  EXPECT_EQ(Run({"HSET", "h", field, value, "", "empty field", "e", ""}), "(integer) 3");
  EXPECT_EQ(Run({"HGET", "h", field}), value);
  EXPECT_EQ(Run({"HGET", "h", std::string("f", 1)}), "(nil)") << "no match on a prefix";
  EXPECT_EQ(Run({"HGET", "h", ""}), "empty field");
  EXPECT_EQ(Run({"HGET", "h", "e"}), "");
  EXPECT_EQ(Run({"HSTRLEN", "h", field}), "(integer) 5");
  Reply all = t_.Run({"HGETALL", "h"});
  ASSERT_EQ(all.elems.size(), 6u);
  EXPECT_EQ(all.elems[0].str, field);
  EXPECT_EQ(all.elems[1].str, value);
  EXPECT_EQ(Run({"HDEL", "h", field}), "(integer) 1");
  EXPECT_EQ(Run({"HKEYS", "h"}), "[, e]");
}

TEST_F(HashFamily, LargeHashes) {
  constexpr int kFields = 2000;
  std::vector<std::string> args = {"HSET", "big"};
  for (int i = 0; i < kFields; ++i) {
    args.push_back("field:" + std::to_string(i));
    args.push_back("value:" + std::to_string(i * 3));
  }
  EXPECT_EQ(Run(args), "(integer) 2000");
  EXPECT_EQ(Run(args), "(integer) 0") << "all present: updates only";
  EXPECT_EQ(Run({"HLEN", "big"}), "(integer) 2000");
  EXPECT_EQ(Run({"HGET", "big", "field:1999"}), "value:5997");
  EXPECT_EQ(Run({"HGET", "big", "field:0"}), "value:0");
  // Field by field, as a feature store writes: each one a read-modify-write of the whole item.
  for (int i = 0; i < kFields; ++i) {
    ASSERT_EQ(Run({"HSET", "one", "f" + std::to_string(i), std::to_string(i)}), "(integer) 1");
  }
  Reply keys = t_.Run({"HKEYS", "one"});
  ASSERT_EQ(keys.elems.size(), static_cast<size_t>(kFields));
  for (int i = 0; i < kFields; ++i) ASSERT_EQ(keys.elems[i].str, "f" + std::to_string(i));
  // Many fields at once: HMGET and HDEL through their indexes.
  std::vector<std::string> get = {"HMGET", "big"};
  std::vector<std::string> del = {"HDEL", "big"};
  for (int i = 0; i < kFields; i += 2) {
    get.push_back("field:" + std::to_string(i));
    del.push_back("field:" + std::to_string(i));
  }
  get.push_back("missing");
  Reply values = t_.Run(get);
  ASSERT_EQ(values.elems.size(), static_cast<size_t>(kFields / 2 + 1));
  EXPECT_EQ(values.elems[10].str, "value:60");
  EXPECT_TRUE(values.elems.back().is_null());
  EXPECT_EQ(Run(del), "(integer) 1000");
  EXPECT_EQ(Run({"HLEN", "big"}), "(integer) 1000");
  EXPECT_EQ(Run({"HEXISTS", "big", "field:2"}), "(integer) 0");
  EXPECT_EQ(Run({"HGET", "big", "field:3"}), "value:9");
  Reply all = t_.Run({"HGETALL", "big"});
  ASSERT_EQ(all.elems.size(), 2000u);
  EXPECT_EQ(all.elems[0].str, "field:1");
  EXPECT_EQ(all.elems[1998].str, "field:1999");
}

// HGETALL of a big hash is written in steps, other clients served in between; the reply is the
// hash as it was when the command ran, whatever they write to it meanwhile.
TEST_F(HashFamily, HGetAllOfABigHashRunsInStepsAndStaysWhole) {
  constexpr int kFields = 40000;
  std::vector<std::string> hset = {"HSET", "big"};
  for (int i = 0; i < kFields; ++i) {
    hset.push_back("f" + std::to_string(i));
    hset.push_back("v" + std::to_string(i));
  }
  ASSERT_EQ(Run(hset), "(integer) 40000");
  Connection& a = t_.conn();
  a.FeedForTest("HGETALL big\r\nHLEN big\r\n");
  ASSERT_TRUE(a.ProcessInput());
  ASSERT_TRUE(a.blocked) << "40000 entries are not written in one step";
  std::string out = TestClient::TakeOutput(a);  // the reply's start goes out already
  std::unique_ptr<Connection> b = t_.NewConnection();
  int steps = 0;
  while (a.blocked) {
    // Between two steps: change an entry, add one, delete one.
    const std::string i = std::to_string(steps);
    EXPECT_EQ(t_.RunOn(*b, {"HSET", "big", "f" + i, "changed", "new" + i, "x"}).integer, 1);
    EXPECT_EQ(t_.RunOn(*b, {"HDEL", "big", "f" + std::to_string(kFields - 1 - steps)}).integer, 1);
    ASSERT_EQ(t_.server().RunLocalCompletions(1000), 1u);
    out += TestClient::TakeOutput(a);
    ++steps;
  }
  EXPECT_GE(steps, 2);
  ASSERT_TRUE(a.ProcessInput());  // the HLEN that waited
  out += TestClient::TakeOutput(a);
  Reply all, len;
  const size_t used = DecodeReply(out, 0, &all);
  ASSERT_GT(used, 0u);
  ASSERT_EQ(DecodeReply(out, used, &len), out.size() - used);
  ASSERT_EQ(all.elems.size(), 2u * kFields);
  for (int i = 0; i < kFields; ++i) {
    ASSERT_EQ(all.elems[2 * i].str, "f" + std::to_string(i));
    ASSERT_EQ(all.elems[2 * i + 1].str, "v" + std::to_string(i)) << "as it was";
  }
  EXPECT_EQ(len.integer, kFields) << "as many added as deleted";
  EXPECT_EQ(Run({"HGET", "big", "f0"}), "changed");
  EXPECT_EQ(Run({"HEXISTS", "big", "f" + std::to_string(kFields - 1)}), "(integer) 0");
  EXPECT_EQ(t_.Run({"HKEYS", "big"}).elems.size(), static_cast<size_t>(kFields));
}

// A small hash that no one is reading is changed where it lies when every change keeps a
// value's size (a feature overwritten with a value of its width); a reader's pinned copy stays
// as it was, and any other change makes a new value.
TEST_F(HashFamily, SameSizeWritesToASmallHashChangeItInPlace) {
  ASSERT_EQ(Run({"HSET", "h", "a", "1111", "b", "2222"}), "(integer) 2");
  auto where = [&] { return cache().Get(EngineKey("h")).value().data(); };
  const char* before = where();
  EXPECT_EQ(Run({"HSET", "h", "a", "3333"}), "(integer) 0");
  EXPECT_EQ(Run({"HINCRBY", "h", "b", "1"}), "(integer) 2223");
  EXPECT_EQ(where(), before) << "changed in place";
  EXPECT_EQ(Run({"HGETALL", "h"}), "[a, 3333, b, 2223]");
  {
    Handle reader = cache().Get(EngineKey("h"));
    EXPECT_EQ(Run({"HSET", "h", "a", "4444"}), "(integer) 0");
    EXPECT_EQ(reader.value(), EncodeHash({{"a", "3333"}, {"b", "2223"}})) << "the pinned copy";
  }
  EXPECT_EQ(Run({"HGETALL", "h"}), "[a, 4444, b, 2223]");
  before = where();
  EXPECT_EQ(Run({"HSET", "h", "a", "55555"}), "(integer) 0");
  EXPECT_NE(where(), before) << "a value of another size makes a new item";
  EXPECT_EQ(Run({"HGETALL", "h"}), "[a, 55555, b, 2223]");
  EXPECT_EQ(Run({"HDEL", "h", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[a, 55555]");
}

TEST_F(HashFamily, LargeValuesAreSentWhole) {
  // Past the zero-copy threshold, values are referenced in the pinned item rather than copied.
  const std::string a(100 << 10, 'a');
  const std::string b(40 << 10, 'b');
  EXPECT_EQ(Run({"HSET", "h", "a", a, "small", "s", "b", b}), "(integer) 3");
  EXPECT_EQ(Run({"HGET", "h", "a"}), a);
  Reply all = t_.Run({"HGETALL", "h"});
  ASSERT_EQ(all.elems.size(), 6u);
  EXPECT_EQ(all.elems[1].str, a);
  EXPECT_EQ(all.elems[3].str, "s");
  EXPECT_EQ(all.elems[5].str, b);
  EXPECT_EQ(Run({"HSET", "h", "a", "short"}), "(integer) 0");
  EXPECT_EQ(Run({"HMGET", "h", "b", "a"}), "[" + b + ", short]");
}

TEST_F(HashFamily, WritesKeepTheKeysExpiry) {
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("h"), 0);
  const int64_t at = now_ + 10'000;
  SetExpiry("h", at);
  EXPECT_EQ(Run({"HSET", "h", "g", "w"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("h"), at);
  EXPECT_EQ(Run({"HMSET", "h", "g", "x"}), "OK");
  EXPECT_EQ(Run({"HSETNX", "h", "k", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "n", "0.5"}), "1.5");
  EXPECT_EQ(Run({"HDEL", "h", "f"}), "(integer) 1");
  EXPECT_EQ(ExpiresAt("h"), at);
  now_ += 10'000;
  EXPECT_EQ(Run({"HGET", "h", "g"}), "(nil)") << "the hash expires as a whole";
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HSET", "h", "g", "new"}), "(integer) 1") << "a new hash after expiry";
  EXPECT_EQ(ExpiresAt("h"), 0);
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 1");
}

TEST_F(HashFamily, CorruptValuesAreRefused) {
  const std::string good = EncodeHash({{"f", "v"}});
  for (const std::string& bad :
       {std::string("x"), std::string(), good.substr(0, good.size() - 1), good + "!"}) {
    PutRaw("bad", bad, ValueKind::kHash);
    EXPECT_EQ(Run({"HGET", "bad", "f"}), kCorrupt);
    EXPECT_EQ(Run({"HMGET", "bad", "f"}), kCorrupt);
    EXPECT_EQ(Run({"HGETALL", "bad"}), kCorrupt);
    EXPECT_EQ(Run({"HLEN", "bad"}), kCorrupt);
    EXPECT_EQ(Run({"HEXISTS", "bad", "f"}), kCorrupt);
    EXPECT_EQ(Run({"HRANDFIELD", "bad", "-3"}), kCorrupt);
    EXPECT_EQ(Run({"HSCAN", "bad", "0"}), kCorrupt);
    EXPECT_EQ(Run({"HSET", "bad", "f", "v"}), kCorrupt);
    EXPECT_EQ(Run({"HDEL", "bad", "f"}), kCorrupt);
    EXPECT_EQ(Run({"HINCRBY", "bad", "f", "1"}), kCorrupt);
    EXPECT_EQ(cache().Get(EngineKey("bad")).value(), bad) << "a refused write leaves it alone";
  }
  PutRaw("bad", good, ValueKind::kHash);
  EXPECT_EQ(Run({"HGET", "bad", "f"}), "v") << "a hand-made valid encoding reads back";
}

// One HSCAN call: the next cursor and the field/value pairs it returned (checked as pairs).
std::string HScanStep(TestClient& t, const std::vector<std::string>& args,
                      std::vector<std::pair<std::string, std::string>>* pairs) {
  Reply r = t.Run(args);
  EXPECT_EQ(r.type, Reply::kArray) << r.ToString();
  if (r.type != Reply::kArray || r.elems.size() != 2) return "0";
  EXPECT_EQ(r.elems[0].type, Reply::kBulk);
  EXPECT_EQ(r.elems[1].elems.size() % 2, 0u);
  for (size_t i = 0; i + 1 < r.elems[1].elems.size(); i += 2) {
    pairs->emplace_back(r.elems[1].elems[i].str, r.elems[1].elems[i + 1].str);
  }
  return r.elems[0].str;
}

TEST_F(HashFamily, HScanReturnsASmallHashWholeAndWalksABigOne) {
  EXPECT_EQ(Run({"HSCAN", "none", "0"}), "[0, []]");
  EXPECT_EQ(Run({"HSCAN", "none", "0", "COUNT", "0"}), "[0, []]")
      << "Redis reads the options only for an existing hash";
  EXPECT_EQ(Run({"HSET", "small", "a", "1", "b", "2", "ab", "3"}), "(integer) 3");
  EXPECT_EQ(Run({"HSCAN", "small", "0"}), "[0, [a, 1, b, 2, ab, 3]]");
  EXPECT_EQ(Run({"HSCAN", "small", "17", "COUNT", "1"}), "[0, [a, 1, b, 2, ab, 3]]")
      << "a list-layout hash is returned whole whatever the cursor and COUNT, as a listpack";
  EXPECT_EQ(Run({"HSCAN", "small", "0", "MATCH", "a*"}), "[0, [a, 1, ab, 3]]");
  EXPECT_EQ(Run({"HSCAN", "small", "0", "MATCH", ""}), "[0, []]");

  // Errors, as Redis 7.0 words them.
  EXPECT_EQ(Run({"HSCAN", "small", "x"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"HSCAN", "small", " 1"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"HSCAN", "small", "0", "COUNT", "0"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HSCAN", "small", "0", "COUNT", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HSCAN", "small", "0", "MATCH"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HSCAN", "small", "0", "TYPE", "hash"}), "(error) ERR syntax error")
      << "TYPE is SCAN's alone";
  EXPECT_EQ(Run({"SET", "s", "v"}), "OK");
  EXPECT_EQ(Run({"HSCAN", "s", "0"}), kWrongType);
  EXPECT_EQ(Run({"HSCAN", "small"}), "(error) ERR wrong number of arguments for 'hscan' command");

  // An indexed hash, walked a few fields at a time: every field exactly once with its value.
  constexpr int kFields = 3000;
  std::vector<std::string> hset = {"HSET", "big"};
  for (int i = 0; i < kFields; ++i) {
    hset.push_back("f" + std::to_string(i));
    hset.push_back("v" + std::to_string(i));
  }
  ASSERT_EQ(Run(hset), "(integer) 3000");
  std::map<std::string, int> seen;
  std::string cursor = "0";
  int calls = 0;
  size_t most = 0;
  do {
    std::vector<std::pair<std::string, std::string>> pairs;
    cursor = HScanStep(t_, {"HSCAN", "big", cursor, "COUNT", "7"}, &pairs);
    most = std::max(most, pairs.size());
    for (const auto& [f, v] : pairs) {
      EXPECT_EQ(v, "v" + f.substr(1));
      ++seen[f];
    }
  } while (cursor != "0" && ++calls < 100000);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kFields));
  for (const auto& [f, n] : seen) EXPECT_EQ(n, 1) << f;
  EXPECT_GT(calls, kFields / 14) << "COUNT bounds each step";
  EXPECT_LT(most, 7u + 8) << "a step stops after its slot once COUNT is reached";

  // MATCH filters a step's fields: f1, f10-f19, f100-f199 and f1000-f1999.
  seen.clear();
  cursor = "0";
  do {
    std::vector<std::pair<std::string, std::string>> pairs;
    cursor = HScanStep(t_, {"HSCAN", "big", cursor, "MATCH", "f1*", "COUNT", "50"}, &pairs);
    for (const auto& p : pairs) ++seen[p.first];
  } while (cursor != "0");
  EXPECT_EQ(seen.size(), 1u + 10 + 100 + 1000);
  EXPECT_EQ(seen.count("f2"), 0u);
}

// Redis's guarantee: a field present from a scan's start to its end is returned at least once,
// even when the hash is rebuilt with a larger table, or a smaller one, between the steps.
TEST_F(HashFamily, HScanReturnsEveryLastingFieldWhileTheHashGrowsAndShrinks) {
  std::vector<std::string> hset = {"HSET", "h"};
  for (int i = 0; i < 1000; ++i) {
    hset.push_back("keep" + std::to_string(i));
    hset.push_back("x");
  }
  ASSERT_EQ(Run(hset), "(integer) 1000");
  auto hlen = [&] { return std::stoi(Run({"HLEN", "h"}).substr(10)); };
  int added = 0, removed = 0;
  for (bool grow : {true, false}) {
    std::set<std::string> seen;
    std::string cursor = "0";
    int steps = 0;
    do {
      std::vector<std::pair<std::string, std::string>> pairs;
      cursor = HScanStep(t_, {"HSCAN", "h", cursor, "COUNT", "20"}, &pairs);
      for (const auto& p : pairs) seen.insert(p.first);
      // Meanwhile other fields come (the table doubles, more than once) or go (the hash is
      // compacted into a smaller table).
      std::vector<std::string> change = {grow ? "HSET" : "HDEL", "h"};
      for (int i = 0; i < 50 && (grow || removed < added); ++i) {
        change.push_back("tmp" + std::to_string(grow ? added++ : removed++));
        if (grow) change.push_back("y");
      }
      if (change.size() > 2) {
        ASSERT_EQ(Run(change), "(integer) 50") << steps;
      }
    } while (cursor != "0" && ++steps < 10000);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen.count("keep" + std::to_string(i)), 1u) << i;
    if (grow) {
      EXPECT_GE(hlen(), 4000) << "the table grew during the scan";
    } else {
      EXPECT_EQ(hlen(), 1000) << "every added field went during the scan";
    }
  }
}

TEST_F(HashFamily, HRandField) {
  EXPECT_EQ(Run({"HRANDFIELD", "nope"}), "(nil)");
  EXPECT_EQ(Run({"HRANDFIELD", "nope", "3"}), "[]");
  EXPECT_EQ(Run({"HRANDFIELD", "nope", "-3", "WITHVALUES"}), "[]");
  EXPECT_EQ(Run({"HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"}), "(integer) 5");
  const std::set<std::string> fields = {"a", "b", "c", "d", "e"};
  auto value_of = [](const std::string& f) { return std::to_string(f[0] - 'a' + 1); };
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(fields.count(Run({"HRANDFIELD", "h"}))) << i;
  EXPECT_EQ(Run({"HRANDFIELD", "h", "0"}), "[]");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "5"}), "[a, b, c, d, e]") << "all of it, in order";
  EXPECT_EQ(Run({"HRANDFIELD", "h", "100"}), "[a, b, c, d, e]");
  for (int i = 0; i < 20; ++i) {
    Reply r = t_.Run({"HRANDFIELD", "h", "3"});
    ASSERT_EQ(r.elems.size(), 3u);
    std::set<std::string> seen;
    for (const Reply& e : r.elems) seen.insert(e.str);
    EXPECT_EQ(seen.size(), 3u) << "distinct fields";
    for (const std::string& f : seen) EXPECT_TRUE(fields.count(f));
  }
  Reply reps = t_.Run({"HRANDFIELD", "h", "-50"});
  ASSERT_EQ(reps.elems.size(), 50u) << "repetitions when negative";
  for (const Reply& e : reps.elems) EXPECT_TRUE(fields.count(e.str));
  Reply flat = t_.Run({"HRANDFIELD", "h", "-4", "withvalues"});
  ASSERT_EQ(flat.elems.size(), 8u) << "RESP2 flattens the pairs";
  for (size_t i = 0; i < 8; i += 2) EXPECT_EQ(flat.elems[i + 1].str, value_of(flat.elems[i].str));
  Reply two = t_.Run({"HRANDFIELD", "h", "2", "WITHVALUES"});
  ASSERT_EQ(two.elems.size(), 4u);

  EXPECT_EQ(Run({"HRANDFIELD", "h", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "-9223372036854775808"}),
            "(error) ERR value is out of range, value must between -9223372036854775807 and "
            "9223372036854775807");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "1", "VALUES"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "1", "WITHVALUES", "x"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"}),
            "(error) ERR value is out of range");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "-9223372036854775807"}), "(error) ERR value is out of range")
      << "a reply larger than proto-max-bulk-len is refused";

  ASSERT_EQ(t_.Run({"HELLO", "3"}).type, Reply::kMap);
  Reply nested = t_.Run({"HRANDFIELD", "h", "-3", "WITHVALUES"});
  ASSERT_EQ(nested.elems.size(), 3u) << "RESP3 nests each pair";
  for (const Reply& pair : nested.elems) {
    ASSERT_EQ(pair.type, Reply::kArray);
    ASSERT_EQ(pair.elems.size(), 2u);
    EXPECT_EQ(pair.elems[1].str, value_of(pair.elems[0].str));
  }
  EXPECT_EQ(t_.Run({"HRANDFIELD", "nope"}).type, Reply::kNull);
}

TEST(HashFamilyLimits, AHashTooLargeForTheCacheIsRefused) {
  ServerConfig config;
  config.maxmemory = 4 << 20;
  config.shards = 1;
  TestClient t(config);
  EXPECT_EQ(t.Run({"HSET", "h", "f", "v"}).ToString(), "(integer) 1");
  Reply r = t.Run({"HSET", "h", "big", std::string(8 << 20, 'x')});
  EXPECT_EQ(r.str.rfind("ERR hash exceeds maximum allowed size (", 0), 0u) << r.ToString();
  EXPECT_EQ(t.Run({"HGETALL", "h"}).ToString(), "[f, v]") << "the hash is unchanged";
}

TEST_F(HashFamily, DatabasesAreApart) {
  EXPECT_EQ(Run({"HSET", "h", "f", "db0"}), "(integer) 1");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "(nil)");
  EXPECT_EQ(Run({"HSET", "h", "f", "db1"}), "(integer) 1");
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "db0");
}

TEST_F(HashFamily, Registration) {
  const CommandSpec* hset = t_.server().commands().Find("hset");
  ASSERT_NE(hset, nullptr);
  EXPECT_EQ(hset->arity, -4);
  EXPECT_TRUE(hset->flags & cmd::kWrite);
  EXPECT_TRUE(hset->flags & cmd::kDenyOom);
  EXPECT_EQ(std::string(hset->group), "hash");
  const CommandSpec* hgetall = t_.server().commands().Find("hgetall");
  ASSERT_NE(hgetall, nullptr);
  EXPECT_TRUE(hgetall->flags & cmd::kReadOnly);
  EXPECT_FALSE(hgetall->flags & cmd::kFast);
  const CommandSpec* hdel = t_.server().commands().Find("hdel");
  ASSERT_NE(hdel, nullptr);
  EXPECT_FALSE(hdel->flags & cmd::kDenyOom) << "deleting never needs memory";
  for (const char* name :
       {"hset", "hmset", "hsetnx", "hget", "hmget", "hgetall", "hkeys", "hvals", "hlen", "hexists",
        "hstrlen", "hdel", "hincrby", "hincrbyfloat", "hrandfield", "hscan"}) {
    const CommandSpec* spec = t_.server().commands().Find(name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->first_key, 1) << name;
    EXPECT_EQ(spec->last_key, 1) << name;
  }
}

}  // namespace
}  // namespace kvcache::server
