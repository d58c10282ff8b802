// Pub/sub in-process: the replies and messages byte for byte as Redis 7.0.15 sends them (each
// expected string was read from redis-server for the same commands), the RESP2 subscriber
// context, PUBSUB's introspection, and the delivery rules of this server: messages wait while a
// subscriber's command runs in steps, are dropped once it unsubscribed, and a subscriber that
// does not read is closed at the output limit.
#include "server/pubsub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "server/test_client.h"

namespace kvcache::server {
namespace {

std::string Resp(const std::vector<std::string>& args) {
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return req;
}

class PubSubTest : public ::testing::Test {
 protected:
  PubSubTest() : t_(OneUnitSteps()) {}

  // Runs one command on c and returns everything c has been sent since the last call (its
  // replies, and the messages delivered meanwhile).
  std::string Send(Connection& c, const std::vector<std::string>& args) {
    c.FeedForTest(Resp(args));
    EXPECT_TRUE(c.ProcessInput());
    return Delivered(c);
  }
  // Runs the pushes and completions posted so far, then takes c's output.
  std::string Delivered(Connection& c) {
    while (t_.server().RunLocalCompletions(0) != 0) {
    }
    return TestClient::TakeOutput(c);
  }
  std::string Str(const std::vector<std::string>& args) { return t_.Run(args).ToString(); }

  TestClient t_;
};

TEST_F(PubSubTest, MessagesReachChannelAndPatternSubscribers) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  std::unique_ptr<Connection> b = t_.NewConnection();
  EXPECT_EQ(
      Send(*a, {"SUBSCRIBE", "c1", "c2"}),
      "*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nc2\r\n:2\r\n");
  EXPECT_EQ(Send(*a, {"PSUBSCRIBE", "c*"}), "*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n");
  EXPECT_EQ(Send(*a, {"SUBSCRIBE", "c1"}), "*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:3\r\n")
      << "subscribing twice counts once";
  EXPECT_EQ(Send(*b, {"SUBSCRIBE", "c1"}), "*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n");

  EXPECT_EQ(Str({"PUBLISH", "c1", "hello"}), "(integer) 3") << "a by channel and pattern, b";
  EXPECT_EQ(Delivered(*a),
            "*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$5\r\nhello\r\n"
            "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nc1\r\n$5\r\nhello\r\n");
  EXPECT_EQ(Delivered(*b), "*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$5\r\nhello\r\n");
  EXPECT_EQ(Str({"PUBLISH", "cx", std::string("\0\r\n", 3)}), "(integer) 1");
  EXPECT_EQ(Delivered(*a), "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\ncx\r\n$3\r\n" +
                               std::string("\0\r\n", 3) + "\r\n");
  EXPECT_EQ(Str({"PUBLISH", "other", "x"}), "(integer) 0");
  EXPECT_EQ(Delivered(*a), "");

  // Shard channels are a name space of their own, with their own count.
  EXPECT_EQ(Send(*a, {"SSUBSCRIBE", "s1"}), "*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n");
  EXPECT_EQ(Str({"PUBLISH", "s1", "x"}), "(integer) 0");
  EXPECT_EQ(Str({"SPUBLISH", "s1", "hi"}), "(integer) 1");
  EXPECT_EQ(Str({"SPUBLISH", "c1", "hi"}), "(integer) 0");
  EXPECT_EQ(Delivered(*a), "*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nhi\r\n");

  // A closed subscriber is gone from every list.
  b.reset();
  EXPECT_EQ(Str({"PUBLISH", "c1", "again"}), "(integer) 2");
  EXPECT_EQ(Str({"PUBSUB", "NUMSUB", "c1"}), "[c1, (integer) 1]");
}

TEST_F(PubSubTest, UnsubscribeRepliesAsRedis) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  EXPECT_EQ(Send(*a, {"UNSUBSCRIBE"}), "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
  EXPECT_EQ(Send(*a, {"PUNSUBSCRIBE"}), "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
  EXPECT_EQ(Send(*a, {"SUNSUBSCRIBE"}), "*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
  Send(*a, {"SUBSCRIBE", "c1", "c2"});
  Send(*a, {"PSUBSCRIBE", "p*"});
  Send(*a, {"SSUBSCRIBE", "s1"});
  EXPECT_EQ(Send(*a, {"UNSUBSCRIBE", "c1", "zz"}),
            "*3\r\n$11\r\nunsubscribe\r\n$2\r\nc1\r\n:2\r\n"
            "*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n")
      << "a name not subscribed is answered with the count";
  EXPECT_EQ(Send(*a, {"UNSUBSCRIBE"}), "*3\r\n$11\r\nunsubscribe\r\n$2\r\nc2\r\n:1\r\n");
  EXPECT_EQ(Send(*a, {"PUNSUBSCRIBE"}), "*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n");
  EXPECT_EQ(Send(*a, {"GET", "k"}).substr(0, 25), "-ERR Can't execute 'get':")
      << "a shard subscription alone keeps the subscriber context";
  EXPECT_EQ(Send(*a, {"SUNSUBSCRIBE"}), "*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:0\r\n");
  EXPECT_EQ(Send(*a, {"GET", "k"}), "$-1\r\n") << "out of the subscriber context";
  EXPECT_EQ(Str({"SUBSCRIBE"}), "(error) ERR wrong number of arguments for 'subscribe' command");
  EXPECT_EQ(Str({"PUBLISH", "x"}), "(error) ERR wrong number of arguments for 'publish' command");
}

TEST_F(PubSubTest, Resp2SubscriberAcceptsOnlyPubSubCommands) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  Send(*a, {"SUBSCRIBE", "c"});
  const std::string tail =
      "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
      "context\r\n";
  EXPECT_EQ(Send(*a, {"GET", "k"}), "-ERR Can't execute 'get" + tail);
  EXPECT_EQ(Send(*a, {"client", "ID"}), "-ERR Can't execute 'client|id" + tail);
  EXPECT_EQ(Send(*a, {"HELLO", "3"}), "-ERR Can't execute 'hello" + tail);
  EXPECT_EQ(Send(*a, {"PUBLISH", "c", "x"}), "-ERR Can't execute 'publish" + tail);
  EXPECT_EQ(Send(*a, {"EXEC"}),
            "-EXECABORT Transaction discarded because of: Can't execute 'exec" + tail);
  EXPECT_EQ(Send(*a, {"PING"}), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  EXPECT_EQ(Send(*a, {"PING", "x"}), "*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
  EXPECT_EQ(Send(*a, {"RESET"}), "+RESET\r\n");
  EXPECT_EQ(Send(*a, {"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(Str({"PUBLISH", "c", "x"}), "(integer) 0") << "RESET unsubscribed it";
  EXPECT_EQ(Delivered(*a), "");

  // Queued in MULTI, SUBSCRIBE runs in EXEC, as Redis lets it.
  EXPECT_EQ(Send(*a, {"MULTI"}), "+OK\r\n");
  EXPECT_EQ(Send(*a, {"SUBSCRIBE", "x"}), "+QUEUED\r\n");
  EXPECT_EQ(Send(*a, {"EXEC"}), "*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
  EXPECT_EQ(Send(*a, {"QUIT"}), "+OK\r\n");
}

TEST_F(PubSubTest, Resp3SubscriberGetsPushesAndRunsAnyCommand) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  Send(*a, {"HELLO", "3"});
  EXPECT_EQ(Send(*a, {"UNSUBSCRIBE"}), ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
  EXPECT_EQ(Send(*a, {"SUBSCRIBE", "r3"}), ">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n");
  EXPECT_EQ(Send(*a, {"GET", "k"}), "_\r\n");
  EXPECT_EQ(Send(*a, {"PING"}), "+PONG\r\n");
  // Its own message comes before PUBLISH's reply, as Redis writes it.
  EXPECT_EQ(Send(*a, {"PUBLISH", "r3", "self"}),
            ">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$4\r\nself\r\n:1\r\n");
  // Inside EXEC it follows EXEC's reply, as Redis 7.2 sends it (7.0 wrote it inside the array).
  Send(*a, {"MULTI"});
  Send(*a, {"PUBLISH", "r3", "inexec"});
  Send(*a, {"SET", "k", "v"});
  EXPECT_EQ(Send(*a, {"EXEC"}),
            "*2\r\n:1\r\n+OK\r\n>3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$6\r\ninexec\r\n");
  EXPECT_EQ(Send(*a, {"PSUBSCRIBE", "r*"}), ">3\r\n$10\r\npsubscribe\r\n$2\r\nr*\r\n:2\r\n");
  EXPECT_EQ(Str({"PUBLISH", "r3", "two"}), "(integer) 2");
  EXPECT_EQ(Delivered(*a),
            ">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$3\r\ntwo\r\n"
            ">4\r\n$8\r\npmessage\r\n$2\r\nr*\r\n$2\r\nr3\r\n$3\r\ntwo\r\n");
  // Back to RESP2, the subscriber context applies.
  Send(*a, {"HELLO", "2"});
  EXPECT_EQ(Send(*a, {"GET", "k"}).substr(0, 25), "-ERR Can't execute 'get':");
}

TEST_F(PubSubTest, IntrospectionCountsChannelsPatternsAndSubscribers) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  std::unique_ptr<Connection> b = t_.NewConnection();
  Send(*a, {"SUBSCRIBE", "news.art", "news.tech"});
  Send(*b, {"SUBSCRIBE", "news.art"});
  Send(*a, {"PSUBSCRIBE", "news.*"});
  Send(*b, {"PSUBSCRIBE", "news.*", "x*"});
  Send(*b, {"SSUBSCRIBE", "s1"});
  std::vector<std::string> channels;
  for (const Reply& r : t_.Run({"PUBSUB", "CHANNELS"}).elems) channels.push_back(r.str);
  std::sort(channels.begin(), channels.end());
  EXPECT_EQ(channels, (std::vector<std::string>{"news.art", "news.tech"}));
  EXPECT_EQ(Str({"PUBSUB", "CHANNELS", "*tech"}), "[news.tech]");
  EXPECT_EQ(Str({"PUBSUB", "NUMSUB", "news.art", "news.tech", "nope"}),
            "[news.art, (integer) 2, news.tech, (integer) 1, nope, (integer) 0]");
  EXPECT_EQ(Str({"PUBSUB", "NUMSUB"}), "[]");
  EXPECT_EQ(Str({"PUBSUB", "NUMPAT"}), "(integer) 2") << "distinct patterns";
  EXPECT_EQ(Str({"PUBSUB", "SHARDCHANNELS"}), "[s1]");
  EXPECT_EQ(Str({"PUBSUB", "SHARDNUMSUB", "s1"}), "[s1, (integer) 1]");
  EXPECT_EQ(Str({"PUBSUB", "CHANNELS", "a", "b"}),
            "(error) ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try "
            "PUBSUB HELP.");
  EXPECT_EQ(Str({"PUBSUB", "NUMPAT", "x"}),
            "(error) ERR wrong number of arguments for 'pubsub|numpat' command");
  EXPECT_EQ(Str({"PUBSUB", "NOPE"}), "(error) ERR unknown subcommand 'NOPE'. Try PUBSUB HELP.");
  EXPECT_EQ(t_.Run({"PUBSUB", "HELP"}).elems.size(), 14u);

  const std::string info = t_.Run({"INFO", "stats"}).str;
  EXPECT_NE(info.find("pubsub_channels:2\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("pubsub_patterns:2\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("pubsubshard_channels:1\r\n"), std::string::npos) << info;

  // CLIENT LIST's sub, psub, ssub and flags, and its TYPE pubsub: tests/test_pubsub.py (in-process
  // connections are not listed).
  a.reset();
  b.reset();
  EXPECT_EQ(Str({"PUBSUB", "CHANNELS"}), "[]");
  EXPECT_EQ(Str({"PUBSUB", "NUMPAT"}), "(integer) 0");
  EXPECT_EQ(Str({"PUBSUB", "SHARDCHANNELS"}), "[]");
}

// A message published before the subscriber unsubscribed, and not yet written when it did, is
// dropped: a RESP2 client would take it for the reply to its next command.
TEST_F(PubSubTest, MessageForAChannelLeftMeanwhileIsDropped) {
  std::unique_ptr<Connection> a = t_.NewConnection();
  std::unique_ptr<Connection> b = t_.NewConnection();
  Send(*a, {"SUBSCRIBE", "c", "d"});
  EXPECT_EQ(t_.RunOn(*b, {"PUBLISH", "c", "late"}).integer, 1);
  EXPECT_EQ(t_.RunOn(*b, {"PUBLISH", "d", "kept"}).integer, 1);
  a->FeedForTest(Resp({"UNSUBSCRIBE", "c"}));
  ASSERT_TRUE(a->ProcessInput());  // before the worker delivers the messages
  EXPECT_EQ(Delivered(*a),
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:1\r\n"
            "*3\r\n$7\r\nmessage\r\n$1\r\nd\r\n$4\r\nkept\r\n");
}

// While a subscriber's command is answered in steps (KEYS over many keys), messages wait: its
// reply is written as it goes, and a message in the middle would split it.
TEST_F(PubSubTest, MessagesWaitForACommandRunningInSteps) {
  constexpr int kKeys = 50000;
  for (int i = 0; i < kKeys; i += 1000) {
    std::vector<std::string> mset = {"MSET"};
    for (int j = i; j < i + 1000; ++j) {
      mset.push_back("k" + std::to_string(j));
      mset.push_back("v");
    }
    ASSERT_EQ(Str(mset), "OK");
  }
  std::unique_ptr<Connection> a = t_.NewConnection();
  std::unique_ptr<Connection> b = t_.NewConnection();
  Send(*a, {"HELLO", "3"});
  Send(*a, {"SUBSCRIBE", "c"});
  int steps = 0, published = 0;
  const std::vector<Reply> replies = t_.RunInSteps(
      *a, Resp({"KEYS", "k*"}) + Resp({"ECHO", "after"}),
      [&] {
        EXPECT_EQ(t_.RunOn(*b, {"PUBLISH", "c", "m" + std::to_string(published++)}).integer, 1);
      },
      &steps);
  ASSERT_GT(steps, 1);
  ASSERT_GE(replies.size(), 3u);
  EXPECT_EQ(replies[0].type, Reply::kArray);
  EXPECT_EQ(replies[0].elems.size(), static_cast<size_t>(kKeys));
  // Then every message, in order, and the command that waited behind KEYS.
  std::vector<std::string> messages;
  for (size_t i = 1; i < replies.size(); ++i) {
    if (replies[i].type == Reply::kPush) {
      ASSERT_EQ(replies[i].elems.size(), 3u);
      messages.push_back(replies[i].elems[2].str);
    } else {
      EXPECT_EQ(replies[i].str, "after");
    }
  }
  std::string more = Delivered(*a);
  for (size_t pos = 0; pos < more.size();) {
    Reply r;
    const size_t used = DecodeReply(more, pos, &r);
    ASSERT_GT(used, 0u);
    messages.push_back(r.elems.at(2).str);
    pos += used;
  }
  ASSERT_EQ(messages.size(), static_cast<size_t>(published));
  for (int i = 0; i < published; ++i) EXPECT_EQ(messages[i], "m" + std::to_string(i));
}

// A subscriber that does not read is closed once its unsent output passes the limit (Redis's
// client-output-buffer-limit pubsub, 32 MB hard); the other subscribers get every message.
TEST_F(PubSubTest, SubscriberThatDoesNotReadIsClosedAtTheLimit) {
  std::unique_ptr<Connection> slow = t_.NewConnection();
  std::unique_ptr<Connection> reader = t_.NewConnection();
  Send(*slow, {"SUBSCRIBE", "flood"});
  Send(*reader, {"SUBSCRIBE", "flood"});
  const std::string payload(1 << 20, 'x');
  size_t read = 0;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(Str({"PUBLISH", "flood", payload}), "(integer) 2");
    while (t_.server().RunLocalCompletions(0) != 0) {
    }
    read += TestClient::TakeOutput(*reader).size();
    if (i < 30) {
      EXPECT_FALSE(slow->kill_requested.load()) << "closed before the limit, at " << i;
    }
  }
  EXPECT_TRUE(slow->kill_requested.load()) << "40 MB unsent";
  EXPECT_FALSE(reader->kill_requested.load());
  EXPECT_EQ(read,
            40 * (payload.size() +
                  std::string("*3\r\n$7\r\nmessage\r\n$5\r\nflood\r\n$1048576\r\n\r\n").size()));
}

// client-output-buffer-limit: Redis's value and errors, and the pubsub class's soft limit, which
// closes a subscriber whose unsent output stays above it for longer than its seconds.
TEST(PubSubLimits, SoftLimitClosesASubscriberThatStaysAboveIt) {
  std::atomic<int64_t> now{1000000};
  TestClient t(ServerConfig{}, [&] { return now.load(); });
  auto str = [&](const std::vector<std::string>& args) { return t.Run(args).ToString(); };
  EXPECT_EQ(str({"CONFIG", "GET", "client-output-buffer-limit"}),
            "[client-output-buffer-limit, normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 "
            "8388608 60]");
  const std::string failed =
      "(error) ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') "
      "- ";
  EXPECT_EQ(str({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 64mb 16mb"}),
            failed + "Wrong number of arguments in buffer limit configuration.");
  EXPECT_EQ(str({"CONFIG", "SET", "client-output-buffer-limit", "bogus 1 1 1"}),
            failed + "Invalid client class specified in buffer limit configuration.");
  EXPECT_EQ(str({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1x 1 1"}),
            failed + "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
  EXPECT_EQ(str({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1 1 -1"}),
            failed + "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
  EXPECT_EQ(str({"CONFIG", "SET", "client-output-buffer-limit", "replica 1 1 1 pubsub 0 1mb 10"}),
            "OK");
  EXPECT_EQ(str({"CONFIG", "GET", "client-output-buffer-limit"}),
            "[client-output-buffer-limit, normal 0 0 0 slave 1 1 1 pubsub 0 1048576 10]");

  std::unique_ptr<Connection> slow = t.NewConnection();
  std::unique_ptr<Connection> reader = t.NewConnection();
  t.RunOn(*slow, {"SUBSCRIBE", "c"});
  t.RunOn(*reader, {"SUBSCRIBE", "c"});
  const std::string payload(512 << 10, 'x');
  auto publish = [&] {
    EXPECT_EQ(t.Run({"PUBLISH", "c", payload}).integer, 2);
    while (t.server().RunLocalCompletions(0) != 0) {
    }
    TestClient::TakeOutput(*reader);  // the reader keeps up
  };
  for (int i = 0; i < 4; ++i) publish();  // 2 MB unsent: above the soft limit from now on
  now += 9000;
  publish();
  EXPECT_FALSE(slow->kill_requested.load()) << "9 s above the soft limit";
  now += 2000;
  publish();
  EXPECT_TRUE(slow->kill_requested.load()) << "11 s above the soft limit";
  EXPECT_FALSE(reader->kill_requested.load());
}

}  // namespace
}  // namespace kvcache::server
