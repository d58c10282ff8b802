// String commands, in-process: every option, wrong arity, wrong type, bad numbers.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <stdexcept>

#include "server/test_client.h"

namespace kvcache::server {
namespace {

class StringFamily : public ::testing::Test {
 protected:
  StringFamily() : t_(OneUnitSteps(), [this] { return now_.load(); }) {}
  std::string Run(const std::vector<std::string>& args) { return t_.Run(args).ToString(); }
  // A hash under `key` in db 0, to check WRONGTYPE without depending on the hash commands.
  void PutHash(const std::string& key) {
    WriteOptions o;
    o.kind = ValueKind::kHash;
    ASSERT_TRUE(t_.server().cache().Write(key, "x", o).ok());
  }
  std::atomic<int64_t> now_{1'700'000'000'000};
  TestClient t_;
};

const char* kWrongType = "(error) WRONGTYPE Operation against a key holding the wrong kind of value";

TEST_F(StringFamily, GetSet) {
  EXPECT_EQ(Run({"GET", "k"}), "(nil)");
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "v");
  EXPECT_EQ(Run({"get", "k"}), "v") << "command names are case-insensitive";
  EXPECT_EQ(Run({"SET", "k", ""}), "OK");
  EXPECT_EQ(t_.Run({"GET", "k"}).type, Reply::kBulk);
  EXPECT_EQ(Run({"GET"}), "(error) ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(Run({"SET", "k"}), "(error) ERR wrong number of arguments for 'set' command");
  std::string big(1 << 20, 'b');
  EXPECT_EQ(Run({"SET", "big", big}), "OK");
  EXPECT_EQ(Run({"GET", "big"}), big);
  PutHash("h");
  EXPECT_EQ(Run({"GET", "h"}), kWrongType);
  EXPECT_EQ(Run({"SET", "h", "now a string"}), "OK");
  EXPECT_EQ(Run({"GET", "h"}), "now a string");
}

// A large value arriving in pieces is received into the engine's memory for the new item;
// every way of splitting it, and a request pipelined after it, must come out the same.
TEST_F(StringFamily, LargeValueArrivingInPieces) {
  std::string value(100000, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 131 + i / 7);
  auto multibulk = [](const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  };
  const std::vector<std::vector<std::string>> requests = {
      {"SET", "big", value}, {"SETEX", "big", "100", value}, {"SET", "big", value, "PX", "100000"},
      {"MSET", "big", value, "other", value}};
  for (const auto& request : requests) {
    const std::string stream = multibulk(request) + multibulk({"STRLEN", "big"});
    for (size_t cut : {size_t{20}, size_t{40}, stream.size() / 2, stream.size() - 30}) {
      Run({"DEL", "big"});
      std::vector<Reply> replies = t_.RunRaw(stream.substr(0, cut));
      for (Reply& r : t_.RunRaw(stream.substr(cut))) replies.push_back(std::move(r));
      ASSERT_EQ(replies.size(), 2u) << request[0] << " cut at " << cut;
      EXPECT_EQ(replies[0].ToString(), "OK");
      EXPECT_EQ(replies[1].ToString(), "(integer) 100000");
      EXPECT_EQ(Run({"GET", "big"}), value);
    }
  }
  // In another database, the key the value was received under is that database's.
  EXPECT_EQ(Run({"SELECT", "3"}), "OK");
  const std::string stream = multibulk({"SET", "big", value});
  EXPECT_TRUE(t_.RunRaw(stream.substr(0, 100)).empty());
  EXPECT_EQ(t_.RunRaw(stream.substr(100)).at(0).ToString(), "OK");
  EXPECT_EQ(Run({"GET", "big"}), value);
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"GET", "big"}), value);
  EXPECT_EQ(Run({"DEL", "big"}), "(integer) 1");
}

TEST_F(StringFamily, SetOptions) {
  EXPECT_EQ(Run({"SET", "k", "1", "NX"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "2", "NX"}), "(nil)");
  EXPECT_EQ(Run({"SET", "other", "2", "XX"}), "(nil)");
  EXPECT_EQ(Run({"SET", "k", "3", "XX"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "3");
  EXPECT_EQ(Run({"SET", "k", "4", "NX", "XX"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SET", "k", "4", "EX", "10", "PX", "100"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SET", "k", "4", "EX"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SET", "k", "4", "BOGUS"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SET", "k", "4", "EX", "0"}), "(error) ERR invalid expire time in 'set' command");
  EXPECT_EQ(Run({"SET", "k", "4", "EX", "-1"}), "(error) ERR invalid expire time in 'set' command");
  EXPECT_EQ(Run({"SET", "k", "4", "EX", "ten"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"GET", "k"}), "3") << "failed SETs change nothing";

  EXPECT_EQ(Run({"SET", "k", "5", "EX", "10"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 10000);
  EXPECT_EQ(Run({"SET", "k", "6", "PX", "1500"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 1500);
  EXPECT_EQ(Run({"SET", "k", "7", "KEEPTTL"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 1500);
  EXPECT_EQ(Run({"SET", "k", "8", "EXAT", std::to_string(now_ / 1000 + 100)}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(),
            (now_ / 1000 + 100) * 1000);
  EXPECT_EQ(Run({"SET", "k", "9", "PXAT", std::to_string(now_ + 42)}), "OK");
  EXPECT_EQ(Run({"SET", "k", "10"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), 0)
      << "a plain SET clears the expiry";
  EXPECT_EQ(Run({"SET", "k", "11", "PX", "100"}), "OK");
  now_ += 100;
  EXPECT_EQ(Run({"GET", "k"}), "(nil)");

  // As Redis: an expiry option may repeat; the last counts and only its argument is read.
  EXPECT_EQ(Run({"SET", "k", "12", "EX", "abc", "EX", "100"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 100000);
  EXPECT_EQ(Run({"SET", "k", "13", "KEEPTTL", "keepttl"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 100000);
  EXPECT_EQ(Run({"SET", "k", "14", "PX", "100000", "PX", "1.5"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SET", "k", "14", "px", "abc", "px", "-9223372036854775808"}),
            "(error) ERR invalid expire time in 'set' command");
  EXPECT_EQ(Run({"SET", "k", "14", "EX", "10", "PX", "10"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SET", "k", "14", "KEEPTTL", "EX", "10"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"GET", "k"}), "13") << "failed SETs change nothing";

  EXPECT_EQ(Run({"SET", "g", "old"}), "OK");
  EXPECT_EQ(Run({"SET", "g", "new", "GET"}), "old");
  EXPECT_EQ(Run({"SET", "nothing", "new", "GET"}), "(nil)");
  EXPECT_EQ(Run({"GET", "nothing"}), "new");
  EXPECT_EQ(Run({"SET", "g", "newer", "NX", "GET"}), "new") << "NX fails, the old value returns";
  EXPECT_EQ(Run({"GET", "g"}), "new");
  PutHash("h");
  EXPECT_EQ(Run({"SET", "h", "x", "GET"}), kWrongType);
}

TEST_F(StringFamily, SetNxSetExPSetEx) {
  EXPECT_EQ(Run({"SETNX", "k", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"SETNX", "k", "b"}), "(integer) 0");
  EXPECT_EQ(Run({"GET", "k"}), "a");
  EXPECT_EQ(Run({"SETEX", "k", "5", "b"}), "OK");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 5000);
  EXPECT_EQ(Run({"SETEX", "k", "0", "b"}), "(error) ERR invalid expire time in 'setex' command");
  EXPECT_EQ(Run({"PSETEX", "k", "250", "c"}), "OK");
  EXPECT_EQ(Run({"PSETEX", "k", "-5", "c"}), "(error) ERR invalid expire time in 'psetex' command");
  EXPECT_EQ(Run({"SETEX", "k", "x", "c"}), "(error) ERR value is not an integer or out of range");
}

TEST_F(StringFamily, GetSetGetDelGetEx) {
  EXPECT_EQ(Run({"GETSET", "k", "1"}), "(nil)");
  EXPECT_EQ(Run({"GETSET", "k", "2"}), "1");
  EXPECT_EQ(Run({"GETDEL", "k"}), "2");
  EXPECT_EQ(Run({"GETDEL", "k"}), "(nil)");
  EXPECT_EQ(Run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(Run({"GETEX", "k", "EX", "100"}), "v");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), now_ + 100000);
  EXPECT_EQ(Run({"GETEX", "k", "PERSIST"}), "v");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), 0);
  EXPECT_EQ(Run({"GETEX", "k", "PX", "10", "EX", "5"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"GETEX", "k", "EX"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"GETEX", "missing", "EX", "5"}), "(nil)");
  PutHash("h");
  EXPECT_EQ(Run({"GETSET", "h", "x"}), kWrongType);
  EXPECT_EQ(Run({"GETDEL", "h"}), kWrongType);
  EXPECT_EQ(Run({"GETEX", "h"}), kWrongType);
  // As Redis: option names first, then a missing key, then the key's type, then the number.
  EXPECT_EQ(Run({"GETEX", "k", "PX", "abc", "LT"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"GETEX", "h", "PX", "abc"}), kWrongType);
  EXPECT_EQ(Run({"GETEX", "k", "PX", "abc"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"GETEX", "missing", "EX", "abc"}), "(nil)");
  EXPECT_EQ(Run({"GETEX", "k", "EX", "0"}), "(error) ERR invalid expire time in 'getex' command");
  // As SET's: the same option again is allowed, the last one counts.
  EXPECT_EQ(Run({"GETEX", "k", "PERSIST", "PERSIST"}), "v");
  EXPECT_EQ(Run({"GETEX", "k", "EXAT", "4000000000", "exat", "4000000001"}), "v");
  EXPECT_EQ(t_.server().cache().Get("k").expires_at_ms(), int64_t{4000000001} * 1000);
  EXPECT_EQ(Run({"GETEX", "h", "PERSIST", "PERSIST"}), kWrongType);
  EXPECT_EQ(Run({"GETEX", "k", "PERSIST", "EX", "5"}), "(error) ERR syntax error");
}

TEST_F(StringFamily, MGetMSetMSetNx) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), "OK");
  EXPECT_EQ(Run({"MSET", "a", "1", "b"}), "(error) ERR wrong number of arguments for 'mset' command");
  PutHash("h");
  EXPECT_EQ(Run({"MGET", "a", "b", "nope", "h"}), "[1, 2, (nil), (nil)]");
  EXPECT_EQ(Run({"MSETNX", "a", "9", "c", "3"}), "(integer) 0");
  EXPECT_EQ(Run({"GET", "c"}), "(nil)") << "MSETNX sets nothing when one key exists";
  EXPECT_EQ(Run({"MSETNX", "c", "3", "d", "4"}), "(integer) 1");
  EXPECT_EQ(Run({"MGET", "c", "d"}), "[3, 4]");
}

TEST_F(StringFamily, AppendStrlenGetRangeSetRange) {
  EXPECT_EQ(Run({"APPEND", "k", "Hello"}), "(integer) 5");
  EXPECT_EQ(Run({"APPEND", "k", " World"}), "(integer) 11");
  EXPECT_EQ(Run({"STRLEN", "k"}), "(integer) 11");
  EXPECT_EQ(Run({"STRLEN", "nope"}), "(integer) 0");
  EXPECT_EQ(Run({"GETRANGE", "k", "0", "4"}), "Hello");
  EXPECT_EQ(Run({"GETRANGE", "k", "-5", "-1"}), "World");
  EXPECT_EQ(Run({"GETRANGE", "k", "5", "2"}), "");
  EXPECT_EQ(Run({"GETRANGE", "k", "0", "100"}), "Hello World");
  EXPECT_EQ(Run({"GETRANGE", "k", "-100", "2"}), "Hel");
  EXPECT_EQ(Run({"GETRANGE", "nope", "0", "-1"}), "");
  EXPECT_EQ(Run({"GETRANGE", "k", "a", "1"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SETRANGE", "k", "6", "Redis"}), "(integer) 11");
  EXPECT_EQ(Run({"GET", "k"}), "Hello Redis");
  EXPECT_EQ(Run({"SETRANGE", "pad", "3", "x"}), "(integer) 4");
  EXPECT_EQ(Run({"GET", "pad"}), std::string("\0\0\0x", 4));
  EXPECT_EQ(Run({"SETRANGE", "empty", "5", ""}), "(integer) 0");
  EXPECT_EQ(Run({"GET", "empty"}), "(nil)");
  EXPECT_EQ(Run({"SETRANGE", "k", "-1", "x"}), "(error) ERR offset is out of range");
  EXPECT_EQ(Run({"SETRANGE", "k", "536870911", "xx"}),
            "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  PutHash("h");
  EXPECT_EQ(Run({"APPEND", "h", "x"}), kWrongType);
  EXPECT_EQ(Run({"STRLEN", "h"}), kWrongType);
  EXPECT_EQ(Run({"SETRANGE", "h", "0", "x"}), kWrongType);
}

// SETRANGE and APPEND past what the cache can hold are refused before the value is built
// (the refusal names the value's length, where the engine's names the whole item's): a SETRANGE
// at a 500 MB offset used to zero-fill and copy 500 MB under the shard's lock first.
TEST(StringFamilyLimits, ValuesTooLargeForTheShardAreRefusedBeforeTheyAreBuilt) {
  ServerConfig config;
  config.maxmemory = 4 << 20;
  config.shards = 1;
  TestClient t(config);
  EXPECT_EQ(t.Run({"SET", "k", "v"}).ToString(), "OK");
  const Reply r = t.Run({"SETRANGE", "k", "500000000", "x"});
  EXPECT_EQ(r.str.rfind("ERR string exceeds maximum allowed size (a value of 500000001 bytes is "
                        "larger than the cache can hold (",
                        0),
            0u)
      << r.ToString();
  const Reply a = t.Run({"APPEND", "k", std::string(5 << 20, 'x')});
  EXPECT_EQ(a.str.rfind("ERR string exceeds maximum allowed size (a value of 5242881 bytes", 0), 0u)
      << a.ToString();
  EXPECT_EQ(t.Run({"GET", "k"}).ToString(), "v") << "unchanged";
  EXPECT_EQ(t.Run({"SETRANGE", "new", "500000000", "x"}).type, Reply::kError);
  EXPECT_EQ(t.Run({"EXISTS", "new"}).ToString(), "(integer) 0");
  // Within the limit both still work.
  EXPECT_EQ(t.Run({"SETRANGE", "k", "100000", "x"}).ToString(), "(integer) 100001");
  EXPECT_EQ(t.Run({"APPEND", "k", "yz"}).ToString(), "(integer) 100003");
}

// A large string built by APPENDs grows in place into room left by the previous copy, except
// while a reader pins it: then it is copied, and the reader keeps what it saw.
TEST_F(StringFamily, AppendGrowsLargeValuesInPlaceUnlessPinned) {
  std::string want;
  const uint64_t items_before = t_.server().cache().Stats().item_bytes;
  for (int i = 0; i < 400; ++i) {
    const std::string piece(1000 + i, static_cast<char>('a' + i % 26));
    want += piece;
    ASSERT_EQ(Run({"APPEND", "big", piece}), "(integer) " + std::to_string(want.size()));
    if (i == 100) {
      Handle pinned = t_.server().cache().Get("big");
      const std::string seen(pinned.value());
      for (int j = 0; j < 3; ++j) {
        const std::string more(5000, 'P');
        want += more;
        ASSERT_EQ(Run({"APPEND", "big", more}), "(integer) " + std::to_string(want.size()));
      }
      EXPECT_EQ(pinned.value(), seen) << "a pinned value is not changed under its reader";
    }
  }
  EXPECT_EQ(Run({"GET", "big"}), want);
  EXPECT_EQ(Run({"STRLEN", "big"}), "(integer) " + std::to_string(want.size()));
  // The room is charged: at most twice the value (Redis's sds doubling) and the item's header.
  const uint64_t charged = t_.server().cache().Stats().item_bytes - items_before;
  EXPECT_GE(charged, want.size());
  EXPECT_LE(charged, 2 * want.size() + 4096);
  EXPECT_EQ(Run({"SETRANGE", "big", "0", "Z"}), "(integer) " + std::to_string(want.size()));
  want[0] = 'Z';
  EXPECT_EQ(Run({"GET", "big"}), want);
  // SETRANGE in place too, within the value, past its end (zeros between), and while pinned.
  EXPECT_EQ(Run({"SETRANGE", "big", "1000", "middle"}), "(integer) " + std::to_string(want.size()));
  want.replace(1000, 6, "middle");
  {
    Handle pinned = t_.server().cache().Get("big");
    const std::string seen(pinned.value());
    EXPECT_EQ(Run({"SETRANGE", "big", "5", "PINNED"}), "(integer) " + std::to_string(want.size()));
    want.replace(5, 6, "PINNED");
    EXPECT_EQ(pinned.value(), seen);
  }
  const size_t end = want.size() + 10;
  EXPECT_EQ(Run({"SETRANGE", "big", std::to_string(end), "tail"}),
            "(integer) " + std::to_string(end + 4));
  want += std::string(10, '\0') + "tail";
  EXPECT_EQ(Run({"GET", "big"}), want);
  // A new key past a large offset: zeros, then the piece, built in the value's own block.
  EXPECT_EQ(Run({"SETRANGE", "fresh", "200000", "end"}), "(integer) 200003");
  EXPECT_EQ(Run({"GET", "fresh"}), std::string(200000, '\0') + "end");
}

// SETRANGE and APPEND that build a large value anew do it in steps, outside the shard's lock:
// other clients meanwhile see the old value, and a change they make to the key meanwhile is
// not lost (the command then runs again on what they wrote).
TEST_F(StringFamily, LargeValuesBuiltAnewAreBuiltInSteps) {
  const size_t mib = size_t{1} << 20;
  ASSERT_EQ(Run({"SET", "big", std::string(24 * mib, 'a'), "EX", "1000"}), "OK");
  std::unique_ptr<Connection> other = t_.NewConnection();
  int steps = 0;
  const std::string offset = std::to_string(40 * mib);
  std::vector<Reply> r = t_.RunInSteps(
      t_.conn(), "SETRANGE big " + offset + " xyz\r\nSTRLEN big\r\n",
      [&] {
        EXPECT_EQ(t_.RunOn(*other, {"STRLEN", "big"}).integer, static_cast<int64_t>(24 * mib))
            << "the old value until the new one is stored";
        EXPECT_EQ(t_.RunOn(*other, {"GET", "k"}).type, Reply::kNull) << "others are served";
      },
      &steps);
  EXPECT_GE(steps, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].integer, static_cast<int64_t>(40 * mib + 3));
  EXPECT_EQ(r[1].integer, static_cast<int64_t>(40 * mib + 3)) << "the next command waited";
  std::string want = std::string(24 * mib, 'a') + std::string(16 * mib, '\0') + "xyz";
  EXPECT_TRUE(t_.Run({"GET", "big"}).str == want);
  EXPECT_EQ(Run({"TTL", "big"}), "(integer) 1000") << "the expiry is kept";
  // APPEND, while another client replaces the value: the append applies to what it wrote. (A
  // reader's pin keeps the APPEND from writing in place, into the page the block ends in.)
  Handle reader = t_.server().cache().Get("big");
  r = t_.RunInSteps(
      t_.conn(), "APPEND big tail\r\n",
      [&] {
        if (t_.RunOn(*other, {"GET", "small"}).type == Reply::kNull) {
          EXPECT_EQ(t_.RunOn(*other, {"SET", "big", "replaced"}).str, "OK");
          EXPECT_EQ(t_.RunOn(*other, {"SET", "small", "1"}).str, "OK");
        }
      },
      &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, 12);
  EXPECT_TRUE(Run({"GET", "big"}) == "replacedtail");
  EXPECT_EQ(reader.value().size(), 40 * mib + 3) << "the reader's value is untouched";
  reader.Reset();
  // A key deleted meanwhile is created anew; and a new key at a large offset.
  ASSERT_EQ(Run({"SET", "big", std::string(12 * mib, 'b')}), "OK");
  bool deleted = false;
  r = t_.RunInSteps(
      t_.conn(), "SETRANGE big " + std::to_string(13 * mib) + " Z\r\n",
      [&] {
        if (!deleted) {
          EXPECT_EQ(t_.RunOn(*other, {"DEL", "big"}).integer, 1);
          deleted = true;
        }
      },
      &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, static_cast<int64_t>(13 * mib + 1));
  EXPECT_TRUE(t_.Run({"GET", "big"}).str == std::string(13 * mib, '\0') + "Z");
  r = t_.RunInSteps(
      t_.conn(), "SETRANGE fresh " + std::to_string(20 * mib) + " end\r\n", [] {}, &steps);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].integer, static_cast<int64_t>(20 * mib + 3));
  EXPECT_TRUE(t_.Run({"GET", "fresh"}).str == std::string(20 * mib, '\0') + "end");
  // Inside EXEC the steps run at once.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SETRANGE", "fresh", std::to_string(30 * mib), "!"}), "QUEUED");
  const Reply exec = t_.Run({"EXEC"});
  ASSERT_EQ(exec.elems.size(), 1u);
  EXPECT_EQ(exec.elems[0].integer, static_cast<int64_t>(30 * mib + 1));
  // Nothing is charged twice or left behind: the two values and one small key.
  const CacheStats st = t_.server().cache().Stats();
  EXPECT_EQ(st.items, 3u);
  EXPECT_GT(st.item_bytes, 43 * mib);
  EXPECT_LT(st.item_bytes, 44 * mib);
}

TEST_F(StringFamily, Counters) {
  EXPECT_EQ(Run({"INCR", "n"}), "(integer) 1");
  EXPECT_EQ(Run({"INCRBY", "n", "41"}), "(integer) 42");
  EXPECT_EQ(Run({"DECR", "n"}), "(integer) 41");
  EXPECT_EQ(Run({"DECRBY", "n", "50"}), "(integer) -9");
  EXPECT_EQ(Run({"INCRBY", "n", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SET", "s", "abc"}), "OK");
  EXPECT_EQ(Run({"INCR", "s"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SET", "s", " 1"}), "OK");
  EXPECT_EQ(Run({"INCR", "s"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"SET", "max", "9223372036854775807"}), "OK");
  EXPECT_EQ(Run({"INCR", "max"}), "(error) ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"DECRBY", "n", "-9223372036854775808"}), "(error) ERR decrement would overflow");
  EXPECT_EQ(Run({"SET", "t", "5", "EX", "100"}), "OK");
  EXPECT_EQ(Run({"INCR", "t"}), "(integer) 6");
  EXPECT_EQ(t_.server().cache().Get("t").expires_at_ms(), now_ + 100000)
      << "INCR keeps the expiry";
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "10.5"}), "10.5");
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "0.1"}), "10.6");
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "-5.6"}), "5");
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "5.0e3"}), "5005");
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "abc"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "inf"}), "(error) ERR increment would produce NaN or Infinity");
  EXPECT_EQ(Run({"INCRBYFLOAT", "s", "1"}), "(error) ERR value is not a valid float");
  PutHash("h");
  EXPECT_EQ(Run({"INCR", "h"}), kWrongType);
  EXPECT_EQ(Run({"INCRBYFLOAT", "h", "1"}), kWrongType);
  // Which error comes first, as Redis: INCRBYFLOAT checks the type before the increment,
  // INCRBY the increment before the type.
  EXPECT_EQ(Run({"INCRBYFLOAT", "h", "abc"}), kWrongType);
  EXPECT_EQ(Run({"INCRBY", "h", "abc"}), "(error) ERR value is not an integer or out of range");
  // Large results in full, as Redis's %.17Lf (no exponent).
  const std::string big = Run({"INCRBYFLOAT", "g", "1e308"});
  EXPECT_EQ(big.size(), 308u) << big;
  EXPECT_EQ(big.find_first_not_of("0123456789"), std::string::npos) << big;
  EXPECT_EQ(big.substr(0, 20), "99999999999999999996");
}

TEST_F(StringFamily, FullMemoryAnswersOomWithNoEviction) {
  ServerConfig config;
  config.maxmemory = 1 << 20;
  config.maxmemory_policy = "noeviction";
  config.shards = 1;
  TestClient t(config);
  std::string v(4096, 'v');
  std::string last;
  int stored = 0;
  for (int i = 0; i < 1000; ++i) {
    last = t.Run({"SET", "k" + std::to_string(i), v}).ToString();
    if (last != "OK") break;
    ++stored;
  }
  EXPECT_EQ(last, "(error) OOM command not allowed when used memory > 'maxmemory'.");
  EXPECT_GT(stored, 100);
  EXPECT_EQ(t.Run({"GET", "k0"}).ToString(), v) << "nothing was evicted";
  EXPECT_EQ(t.Run({"DBSIZE"}).integer, stored);
}

}  // namespace
}  // namespace kvcache::server
