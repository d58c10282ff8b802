// RedisOrigin against a real redis-server started by the test: reads, writes, scans, binary
// data, and faults (a stalled, killed and restarted server).
#include "origin/redis_origin.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "origin/origin_test_util.h"

namespace kvcache {
namespace {

using testing::FreePort;
using testing::GetOne;
using testing::KV;
using testing::ScanAll;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 200;
// Upper bound for a call against a dead or stalled server: generous for a busy machine.
constexpr auto kFaultBound = std::chrono::milliseconds(5 * kTimeoutMs);

std::string FindRedisServer() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// Sends one command on a fresh connection; the reply, or nullptr.
redisReply* Command(int port, std::vector<std::string> args) {
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, {0, 200 * 1000});
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, {1, 0});
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  void* reply = redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  redisFree(c);
  return static_cast<redisReply*>(reply);
}

// A redis-server child process on a port of its own, without persistence.
class RedisServer {
 public:
  ~RedisServer() { Kill(); }

  // Starts the server on `port` (0: a free one) and waits until it answers PING.
  bool Start(int port = 0) {
    port_ = port != 0 ? port : FreePort();
    std::string binary = FindRedisServer();
    if (port_ <= 0 || binary.empty()) return false;
    std::string port_arg = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
      // Die with the test, even when it crashes before the destructor runs.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null = open("/dev/null", O_RDWR);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      execl(binary.c_str(), binary.c_str(), "--port", port_arg.c_str(), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Poll with a deadline rather than sleeping a fixed time: a busy machine may be slow.
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      if (redisReply* r = Command(port_, {"PING"}); r != nullptr) {
        bool pong = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (pong) return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken meanwhile
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
    return false;
  }

  void Stop() { kill(pid_, SIGSTOP); }
  void Continue() { kill(pid_, SIGCONT); }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class RedisOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (FindRedisServer().empty()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.Start()) << "redis-server did not start";
    origin_ = Open(server_.url());
    ASSERT_NE(origin_, nullptr);
  }

  static std::unique_ptr<Origin> Open(const std::string& url, bool connect_at_open = true) {
    RedisOriginOptions options;
    options.timeout_ms = kTimeoutMs;
    options.max_connections = 4;
    options.connect_at_open = connect_at_open;
    std::unique_ptr<Origin> origin;
    Status s = OpenRedisOrigin(url, options, &origin);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return origin;
  }

  // True once a read through the origin works (the value of "probe" is irrelevant).
  bool Works() { return GetOne(origin_.get(), "probe").status.IsNotFound(); }

  RedisServer server_;
  std::unique_ptr<Origin> origin_;
};

TEST(RedisAddress, Parses) {
  RedisAddress a;
  ASSERT_TRUE(ParseRedisAddress("redis://localhost", &a).ok());
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  EXPECT_EQ(a.HostPort(), "localhost:6379");

  ASSERT_TRUE(ParseRedisAddress("redis://10.0.0.2:7000/3", &a).ok());
  EXPECT_EQ(a.host, "10.0.0.2");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.db, 3);

  ASSERT_TRUE(ParseRedisAddress("redis://[::1]:6380", &a).ok());
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.HostPort(), "[::1]:6380");
  ASSERT_TRUE(ParseRedisAddress("redis://[::1]", &a).ok());
  EXPECT_EQ(a.port, 6379);

  ASSERT_TRUE(ParseRedisAddress("redis://app:s3:cr@t@db:1", &a).ok());
  EXPECT_EQ(a.user, "app");
  EXPECT_EQ(a.password, "s3:cr@t");
  EXPECT_EQ(a.host, "db");
  ASSERT_TRUE(ParseRedisAddress("redis://:pw@db", &a).ok());
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "pw");
}

TEST(RedisAddress, RejectsMalformed) {
  RedisAddress a;
  for (const char* bad :
       {"redis://", "redis://:6379", "redis://host:", "redis://host:0", "redis://host:65536",
        "redis://host:12ab", "redis://::1:6379", "redis://[::1", "redis://[::1]x", "redis://host/x",
        "http://host", "rediss://host"}) {
    Status s = ParseRedisAddress(bad, &a);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad << " -> " << s.ToString();
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.ToString();
  }
}

TEST(RedisOriginOpen, DownServerIsUnavailableAtOpen) {
  int port = FreePort();
  RedisOriginOptions options;
  options.timeout_ms = kTimeoutMs;
  std::unique_ptr<Origin> origin;
  const std::string hostport = "127.0.0.1:" + std::to_string(port);
  Status s = OpenRedisOrigin("redis://" + hostport, options, &origin);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("redis origin " + hostport + ": "), std::string::npos) << s.ToString();
  EXPECT_EQ(origin, nullptr);

  options.timeout_ms = 0;
  EXPECT_TRUE(OpenRedisOrigin("redis://" + hostport, options, &origin).IsInvalidArgument());
}

TEST_F(RedisOriginTest, PutGetErase) {
  EXPECT_EQ(origin_->name(), server_.url());
  EXPECT_FALSE(origin_->read_only());
  KV kvs[] = {{"alpha", "one"}, {"beta", "two"}, {"empty", ""}};
  ASSERT_TRUE(origin_->MultiPut(kvs, true).ok());
  std::string_view keys[] = {"alpha", "missing", "beta", "empty"};
  std::vector<OriginValue> got;
  origin_->MultiGet(keys, &got);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].value, "one");
  EXPECT_TRUE(got[1].status.IsNotFound()) << got[1].status.ToString();
  EXPECT_EQ(got[2].value, "two");
  EXPECT_TRUE(got[3].status.ok());
  EXPECT_EQ(got[3].value, "");

  std::string_view erase[] = {"alpha", "never-there"};
  ASSERT_TRUE(origin_->MultiErase(erase, false).ok());
  EXPECT_TRUE(GetOne(origin_.get(), "alpha").status.IsNotFound());
  EXPECT_EQ(GetOne(origin_.get(), "beta").value, "two");
  EXPECT_TRUE(origin_->MultiPut({}, false).ok());
  EXPECT_TRUE(origin_->MultiErase({}, false).ok());
}

TEST_F(RedisOriginTest, BinaryKeysAndValues) {
  const std::string key("bin\0key\r\n", 9);
  std::string value("\0\r\n$-1\r\n\0", 10);
  value += std::string(1 << 20, '\0');  // and a large one, past any single read buffer
  KV kvs[] = {{key, value}};
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  OriginValue v = GetOne(origin_.get(), key);
  ASSERT_TRUE(v.status.ok()) << v.status.ToString();
  EXPECT_EQ(v.value, value);
  EXPECT_TRUE(GetOne(origin_.get(), std::string_view("bin\0key", 7)).status.IsNotFound());
}

TEST_F(RedisOriginTest, BatchesLargerThanThePipelineDepth) {
  constexpr int kKeys = 2000;
  std::vector<std::string> names;
  for (int i = 0; i < kKeys; ++i) names.push_back("k" + std::to_string(i));
  std::vector<std::string> values;
  for (const std::string& n : names) values.push_back(n + "-value");
  std::vector<KV> kvs;
  for (int i = 0; i < kKeys; ++i) kvs.emplace_back(names[i], values[i]);
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  std::vector<std::string_view> keys(names.begin(), names.end());
  std::vector<OriginValue> got;
  origin_->MultiGet(keys, &got);
  ASSERT_EQ(got.size(), names.size());
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(got[i].value, names[i] + "-value") << i;
  ASSERT_TRUE(origin_->MultiErase(keys, false).ok());
  EXPECT_TRUE(ScanAll(origin_.get()).empty());
}

TEST_F(RedisOriginTest, WrongTypeIsAnErrorForThatKeyOnly) {
  redisReply* r = Command(server_.port(), {"RPUSH", "list", "x"});
  ASSERT_NE(r, nullptr);
  freeReplyObject(r);
  KV kvs[] = {{"str", "v"}};
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  std::string_view keys[] = {"str", "list", "nope"};
  std::vector<OriginValue> got;
  origin_->MultiGet(keys, &got);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].value, "v");
  EXPECT_FALSE(got[1].status.ok());
  EXPECT_FALSE(got[1].status.IsNotFound());
  EXPECT_NE(got[1].status.message().find("WRONGTYPE"), std::string::npos)
      << got[1].status.ToString();
  EXPECT_NE(got[1].status.message().find("list"), std::string::npos);
  EXPECT_TRUE(got[2].status.IsNotFound());
}

TEST_F(RedisOriginTest, ScanRanges) {
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("a:" + std::to_string(100 + i));
  for (int i = 0; i < 30; ++i) names.push_back("b:" + std::to_string(100 + i));
  names.push_back("a*[weird]?");
  std::vector<std::string> values;
  for (const std::string& n : names) values.push_back("v" + n);
  std::vector<KV> kvs;
  for (size_t i = 0; i < names.size(); ++i) kvs.emplace_back(names[i], values[i]);
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  redisReply* r = Command(server_.port(), {"RPUSH", "a:list", "x"});  // not a string: skipped
  ASSERT_NE(r, nullptr);
  freeReplyObject(r);

  auto all = ScanAll(origin_.get());
  EXPECT_EQ(all.size(), names.size());
  EXPECT_EQ(all["b:105"], "vb:105");

  auto a = ScanAll(origin_.get(), "a:", "a;");
  EXPECT_EQ(a.size(), 50u);
  auto some = ScanAll(origin_.get(), "a:110", "a:120");
  EXPECT_EQ(some.size(), 10u);
  EXPECT_EQ(some.begin()->first, "a:110");
  EXPECT_EQ(some.rbegin()->first, "a:119");
  auto tail = ScanAll(origin_.get(), "b:", "");
  EXPECT_EQ(tail.size(), 30u);
  auto glob = ScanAll(origin_.get(), "a*[", "a*\\");  // metacharacters in the common prefix
  EXPECT_EQ(glob.size(), 1u);
  EXPECT_TRUE(ScanAll(origin_.get(), "z", "a").empty());

  int calls = 0;
  Status s = origin_->Scan("", "", [&](std::string_view, std::string_view) { return ++calls < 5; });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 5);
}

TEST_F(RedisOriginTest, ManyThreadsShareTheConnections) {
  constexpr int kThreads = 8;  // twice the connections
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string k = "t" + std::to_string(t) + ":" + std::to_string(i);
        KV kvs[] = {{k, k}};
        if (!origin_->MultiPut(kvs, false).ok()) ++errors;
        if (GetOne(origin_.get(), k).value != k) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(ScanAll(origin_.get()).size(), static_cast<size_t>(kThreads * 100));
}

TEST_F(RedisOriginTest, StalledServerGivesUnavailableWithinTheTimeout) {
  ASSERT_TRUE(Works());
  server_.Stop();
  auto start = Clock::now();
  OriginValue v = GetOne(origin_.get(), "probe");
  auto took = Clock::now() - start;
  EXPECT_EQ(v.status.code(), Status::Code::kUnavailable) << v.status.ToString();
  EXPECT_NE(v.status.message().find("redis origin 127.0.0.1:" + std::to_string(server_.port())),
            std::string::npos)
      << v.status.ToString();
  EXPECT_LT(took, kFaultBound);
  EXPECT_GE(took, std::chrono::milliseconds(kTimeoutMs / 2)) << "gave up before the timeout";

  // Writes, scans, and callers on several threads at once (more than the pool holds) too.
  start = Clock::now();
  KV kvs[] = {{"k", "v"}};
  EXPECT_EQ(origin_->MultiPut(kvs, false).code(), Status::Code::kUnavailable);
  EXPECT_EQ(origin_->Scan("", "", [](auto, auto) { return true; }).code(),
            Status::Code::kUnavailable);
  EXPECT_LT(Clock::now() - start, 2 * kFaultBound);
  std::vector<std::thread> threads;
  std::atomic<int> slow{0};
  std::atomic<int> not_unavailable{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      auto s0 = Clock::now();
      if (GetOne(origin_.get(), "probe").status.code() != Status::Code::kUnavailable) {
        ++not_unavailable;
      }
      if (Clock::now() - s0 > kFaultBound) ++slow;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(not_unavailable.load(), 0);
  EXPECT_EQ(slow.load(), 0);

  server_.Continue();
  EXPECT_TRUE(Works()) << "the origin must recover once the server runs again";
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  EXPECT_EQ(GetOne(origin_.get(), "k").value, "v");
}

TEST_F(RedisOriginTest, KilledServerGivesUnavailableAndARestartedOneIsUsedAgain) {
  KV kvs[] = {{"k", "v"}};
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  const int port = server_.port();
  server_.Kill();
  auto start = Clock::now();
  OriginValue v = GetOne(origin_.get(), "k");
  EXPECT_EQ(v.status.code(), Status::Code::kUnavailable) << v.status.ToString();
  EXPECT_LT(Clock::now() - start, kFaultBound);
  EXPECT_EQ(origin_->MultiErase(std::vector<std::string_view>{"k"}, false).code(),
            Status::Code::kUnavailable);

  ASSERT_TRUE(server_.Start(port));
  // The same origin object, not reopened; the new server is empty.
  EXPECT_TRUE(GetOne(origin_.get(), "k").status.IsNotFound());
  ASSERT_TRUE(origin_->MultiPut(kvs, false).ok());
  EXPECT_EQ(GetOne(origin_.get(), "k").value, "v");
}

// Pooled connections to a server that has since restarted are stale; the first call after the
// restart must not fail because of them.
TEST_F(RedisOriginTest, StalePooledConnectionsAreReplacedTransparently) {
  ASSERT_TRUE(Works());
  const int port = server_.port();
  server_.Kill();
  ASSERT_TRUE(server_.Start(port));
  // A value larger than the socket buffers: writing it to the dead connection fails with EPIPE,
  // which must not kill the process with SIGPIPE.
  const std::string big(8 << 20, 'x');
  KV kvs[] = {{"big", big}};
  Status s = origin_->MultiPut(kvs, false);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Works());
  EXPECT_EQ(GetOne(origin_.get(), "big").value.size(), big.size());
}

TEST_F(RedisOriginTest, OpenWithoutConnectingRecoversWhenTheServerComesUp) {
  const int port = server_.port();
  server_.Kill();
  origin_ = Open("redis://127.0.0.1:" + std::to_string(port), /*connect_at_open=*/false);
  ASSERT_NE(origin_, nullptr);
  EXPECT_EQ(GetOne(origin_.get(), "probe").status.code(), Status::Code::kUnavailable);
  ASSERT_TRUE(server_.Start(port));
  EXPECT_TRUE(Works());
}

TEST_F(RedisOriginTest, SelectsTheDatabaseFromTheUrl) {
  auto db2 = Open(server_.url() + "/2");
  ASSERT_NE(db2, nullptr);
  EXPECT_EQ(db2->name(), server_.url() + "/2");
  KV kvs[] = {{"k", "in db 2"}};
  ASSERT_TRUE(db2->MultiPut(kvs, false).ok());
  EXPECT_EQ(GetOne(db2.get(), "k").value, "in db 2");
  EXPECT_TRUE(GetOne(origin_.get(), "k").status.IsNotFound());
}

}  // namespace
}  // namespace kvcache
