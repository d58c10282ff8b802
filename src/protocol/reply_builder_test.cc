// ReplyBuilder: exact RESP2 and RESP3 bytes, external runs released exactly when written, and
// iovecs across chunk boundaries.
#include "protocol/reply_builder.h"

#include <gtest/gtest.h>
#include <sys/uio.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace kvcache::protocol {
namespace {

using namespace std::string_literals;

// Everything pending, read through FillIovec, without consuming it.
std::string Pending(const ReplyBuilder& b) {
  std::vector<iovec> iov(1 << 16);
  const size_t n = b.FillIovec(iov.data(), iov.size());
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(out.size(), b.WritableBytes());
  return out;
}

// Bytes of one reply written by `write` with the given protocol.
std::string Encode(int resp, const std::function<void(ReplyBuilder&)>& write) {
  ReplyBuilder b(resp);
  write(b);
  return Pending(b);
}

// Counts its own destruction.
struct CountingOwner : ReplyBuilder::Owner {
  explicit CountingOwner(int* destroyed) : destroyed(destroyed) {}
  ~CountingOwner() override { ++*destroyed; }
  int* destroyed;
};

TEST(ReplyBuilder, SimpleTypesInBothProtocols) {
  for (int resp : {2, 3}) {
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.SimpleString("OK"); }), "+OK\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Error("ERR unknown command 'x'"); }),
              "-ERR unknown command 'x'\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Integer(0); }), ":0\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Integer(-42); }), ":-42\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Integer(INT64_MIN); }),
              ":-9223372036854775808\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Integer(INT64_MAX); }),
              ":9223372036854775807\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Bulk("hello"); }), "$5\r\nhello\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Bulk(""); }), "$0\r\n\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.Bulk("a\r\n\0"s); }), "$4\r\na\r\n\0\r\n"s);
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.ArrayHeader(3); }), "*3\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.ArrayHeader(0); }), "*0\r\n");
    EXPECT_EQ(Encode(resp, [](ReplyBuilder& b) { b.AppendRaw("+PONG\r\n"); }), "+PONG\r\n");
  }
}

TEST(ReplyBuilder, ErrorsAndStatusesStayOnOneLine) {
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.Error("WRONGTYPE bad\r\nthing\n"); }),
            "-WRONGTYPE bad  thing\r\n");  // as Redis: trailing CR/LF dropped, inner ones spaces
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.SimpleString("a\rb"); }), "+a b\r\n");
}

TEST(ReplyBuilder, CountsErrorReplies) {
  ReplyBuilder b;
  b.SimpleString("OK");
  EXPECT_EQ(b.error_count(), 0u);
  b.Error("ERR one");
  b.Error("WRONGTYPE two");
  EXPECT_EQ(b.error_count(), 2u);
  b.Consume(b.PendingBytes());
  EXPECT_EQ(b.error_count(), 2u);
}

TEST(ReplyBuilder, NullsResp2) {
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.Null(); }), "$-1\r\n");
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.NullArray(); }), "*-1\r\n");
}

TEST(ReplyBuilder, NullsResp3) {
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.Null(); }), "_\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.NullArray(); }), "_\r\n");
}

TEST(ReplyBuilder, AggregatesResp2) {
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.MapHeader(2); }), "*4\r\n");
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.MapHeader(0); }), "*0\r\n");
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.SetHeader(3); }), "*3\r\n");
}

TEST(ReplyBuilder, AggregatesResp3) {
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.MapHeader(2); }), "%2\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.MapHeader(0); }), "%0\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.SetHeader(3); }), "~3\r\n");
}

TEST(ReplyBuilder, BoolAndVerbatim) {
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.Bool(true); }), ":1\r\n");
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.Bool(false); }), ":0\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.Bool(true); }), "#t\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.Bool(false); }), "#f\r\n");
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.Verbatim("txt", "Some string"); }),
            "$11\r\nSome string\r\n");
  EXPECT_EQ(Encode(3, [](ReplyBuilder& b) { b.Verbatim("txt", "Some string"); }),
            "=15\r\ntxt:Some string\r\n");
}

// Redis 7.0's addReplyDouble uses "%.17g".
TEST(ReplyBuilder, DoubleResp3) {
  auto d = [](double v) { return Encode(3, [v](ReplyBuilder& b) { b.Double(v); }); };
  EXPECT_EQ(d(1.5), ",1.5\r\n");
  EXPECT_EQ(d(3), ",3\r\n");
  EXPECT_EQ(d(0.1), ",0.10000000000000001\r\n");
  EXPECT_EQ(d(-2.5e-5), ",-2.5000000000000001e-05\r\n");
  EXPECT_EQ(d(1e300), ",1.0000000000000001e+300\r\n");
  EXPECT_EQ(d(123456789012345678.0), ",1.2345678901234568e+17\r\n");
  EXPECT_EQ(d(-0.0), ",-0\r\n");
  EXPECT_EQ(d(std::numeric_limits<double>::infinity()), ",inf\r\n");
  EXPECT_EQ(d(-std::numeric_limits<double>::infinity()), ",-inf\r\n");
  EXPECT_EQ(d(std::nan("")), ",nan\r\n");
}

TEST(ReplyBuilder, DoubleResp2IsABulkString) {
  auto d = [](double v) { return Encode(2, [v](ReplyBuilder& b) { b.Double(v); }); };
  EXPECT_EQ(d(1.5), "$3\r\n1.5\r\n");
  EXPECT_EQ(d(0.1), "$19\r\n0.10000000000000001\r\n");
  EXPECT_EQ(d(std::numeric_limits<double>::infinity()), "$3\r\ninf\r\n");
  EXPECT_EQ(d(-std::numeric_limits<double>::infinity()), "$4\r\n-inf\r\n");
}

TEST(ReplyBuilder, ProtocolSwitchesBetweenReplies) {
  ReplyBuilder b;
  EXPECT_EQ(b.resp_version(), 2);
  b.Null();
  b.set_resp_version(3);
  EXPECT_EQ(b.resp_version(), 3);
  b.Null();
  b.MapHeader(1);
  b.set_resp_version(2);
  b.MapHeader(1);
  EXPECT_EQ(Pending(b), "$-1\r\n_\r\n%1\r\n*2\r\n");
}

TEST(ReplyBuilder, PipelineOfSmallRepliesIsAFewIovecs) {
  ReplyBuilder b;
  std::string want;
  for (int i = 0; i < 5000; ++i) {
    b.SimpleString("OK");
    b.Bulk("value-" + std::to_string(i));
    b.Integer(i);
    want += "+OK\r\n$" + std::to_string(6 + std::to_string(i).size()) + "\r\nvalue-" +
            std::to_string(i) + "\r\n:" + std::to_string(i) + "\r\n";
  }
  EXPECT_EQ(b.PendingBytes(), want.size());
  iovec iov[64];
  const size_t n = b.FillIovec(iov, 64);
  EXPECT_LE(n, want.size() / ReplyBuilder::kDefaultChunkSize + 1);
  EXPECT_EQ(Pending(b), want);
}

// A deferred header holds its place: what precedes it, its elements (across chunk boundaries,
// a nested deferred array among them) and what follows come out in order, and the chunks stay
// recyclable once everything is written.
TEST(ReplyBuilder, DeferredArrayHeaderIsWrittenInPlace) {
  for (size_t chunk : {size_t{64}, size_t{100}, ReplyBuilder::kDefaultChunkSize}) {
    ReplyBuilder b(2, chunk);
    b.SimpleString("before");
    const size_t outer = b.DeferArrayHeader();
    std::string want = "+before\r\n";
    std::string elements;
    for (int i = 0; i < 300; ++i) {
      b.Bulk("key:" + std::to_string(i));
      elements += "$" + std::to_string(4 + std::to_string(i).size()) +
                  "\r\nkey:" + std::to_string(i) + "\r\n";
    }
    const size_t inner = b.DeferArrayHeader();
    b.Integer(1);
    b.Integer(2);
    b.SetDeferredArrayHeader(inner, 2);
    b.SetDeferredArrayHeader(outer, 301);
    b.Integer(-5);
    want += "*301\r\n" + elements + "*2\r\n:1\r\n:2\r\n:-5\r\n";
    EXPECT_EQ(Pending(b), want) << "chunk " << chunk;
    b.Consume(b.PendingBytes());
    EXPECT_TRUE(b.empty());
    b.ArrayHeader(0);
    EXPECT_EQ(Pending(b), "*0\r\n");
  }
  // An empty deferred array.
  EXPECT_EQ(Encode(2, [](ReplyBuilder& b) { b.SetDeferredArrayHeader(b.DeferArrayHeader(), 0); }),
            "*0\r\n");
}

// A reply built over several steps (KEYS): what was answered before its deferred header goes
// out meanwhile, nothing from the header on until it is set, and handles survive the runs
// dropped from the front as the output is consumed.
TEST(ReplyBuilder, OpenDeferredHeaderHoldsBackWhatFollowsIt) {
  ReplyBuilder b(2, 64);
  int destroyed = 0;
  std::vector<std::string> earlier;
  for (int i = 0; i < 100; ++i) earlier.push_back(":" + std::to_string(i) + "\r\n");
  std::string before;
  for (const std::string& e : earlier) {  // one run each: enough for the front to be dropped
    b.AppendExternal(e.data(), e.size(), std::make_unique<CountingOwner>(&destroyed));
    before += e;
  }
  const size_t outer = b.DeferArrayHeader();
  std::string elements;
  for (int i = 0; i < 50; ++i) {
    b.Bulk("k" + std::to_string(i));
    elements +=
        "$" + std::to_string(1 + std::to_string(i).size()) + "\r\nk" + std::to_string(i) + "\r\n";
  }
  EXPECT_EQ(Pending(b), before);
  EXPECT_EQ(b.PendingBytes(), before.size() + elements.size());
  b.Consume(7);
  EXPECT_EQ(Pending(b), before.substr(7));
  b.Consume(b.WritableBytes());
  EXPECT_EQ(destroyed, 100);
  EXPECT_EQ(b.WritableBytes(), 0u);
  iovec iov[4];
  EXPECT_EQ(b.FillIovec(iov, 4), 0u);
  EXPECT_FALSE(b.empty());
  // More elements, and an array nested in the open one.
  const std::string big(5000, 'v');
  b.BulkExternal(big.data(), big.size(), std::make_unique<CountingOwner>(&destroyed));
  elements += "$5000\r\n" + big + "\r\n";
  const size_t inner = b.DeferArrayHeader();
  b.Integer(1);
  b.SetDeferredArrayHeader(outer, 52);
  // The output now stops at the inner header.
  EXPECT_EQ(Pending(b), "*52\r\n" + elements);
  b.SetDeferredArrayHeader(inner, 1);
  EXPECT_EQ(Pending(b), "*52\r\n" + elements + "*1\r\n:1\r\n");
  EXPECT_EQ(b.WritableBytes(), b.PendingBytes());
  b.Consume(b.PendingBytes());
  EXPECT_EQ(destroyed, 101);
  EXPECT_TRUE(b.empty());
}

// An array that stays empty while its header is open: the builder has no bytes to write, yet its
// chunk holds the header and must survive a connection's release of idle memory.
TEST(ReplyBuilder, OpenDeferredHeaderOfAnEmptyArrayKeepsItsChunk) {
  ReplyBuilder b(2, 64);
  const size_t header = b.DeferArrayHeader();
  EXPECT_EQ(b.PendingBytes(), 0u);
  EXPECT_FALSE(b.empty());
  b.ReleaseIdleMemory();
  EXPECT_EQ(b.AllocatedBytes(), 64u);
  b.SetDeferredArrayHeader(header, 0);
  EXPECT_EQ(Pending(b), "*0\r\n");
  b.Consume(b.PendingBytes());
  EXPECT_TRUE(b.empty());
  b.ReleaseIdleMemory();
  EXPECT_EQ(b.AllocatedBytes(), 0u);
}

TEST(ReplyBuilder, LargeCopiedBulkSpansChunks) {
  ReplyBuilder b(2, 1024);
  const std::string value(10000, 'x');
  b.SimpleString("OK");
  b.Bulk(value);
  b.Integer(7);
  EXPECT_EQ(Pending(b), "+OK\r\n$10000\r\n" + value + "\r\n:7\r\n");
  // Chunks are filled to the end: 10000 bytes take about 10 chunks of 1 KiB.
  iovec iov[32];
  EXPECT_LE(b.FillIovec(iov, 32), 11u);
  EXPECT_LE(b.AllocatedBytes(), 11u * 1024);
}

TEST(ReplyBuilder, IovecsAcrossChunkBoundariesAndPartialConsume) {
  ReplyBuilder b(2, 64);
  std::string want;
  for (int i = 0; i < 40; ++i) {
    b.Bulk("v" + std::to_string(i));
    want +=
        "$" + std::to_string(1 + std::to_string(i).size()) + "\r\nv" + std::to_string(i) + "\r\n";
  }
  // Consume in odd steps; after each, the iovecs must describe exactly the rest.
  size_t done = 0;
  for (size_t step : {1, 5, 63, 64, 65, 7, 100, 3}) {
    step = std::min(step, want.size() - done);
    b.Consume(step);
    done += step;
    EXPECT_EQ(Pending(b), want.substr(done)) << "after " << done;
    // A limited iovec array gives a prefix of the rest.
    iovec iov[2];
    const size_t n = b.FillIovec(iov, 2);
    std::string prefix;
    for (size_t i = 0; i < n; ++i)
      prefix.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
    EXPECT_EQ(prefix, want.substr(done, prefix.size()));
  }
  b.Consume(b.PendingBytes());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.FillIovec(nullptr, 0), 0u);
}

TEST(ReplyBuilder, ExternalBulkIsReleasedExactlyWhenWritten) {
  int destroyed = 0;
  const std::string value(100000, 'e');
  ReplyBuilder b;
  b.SimpleString("OK");
  b.BulkExternal(value.data(), value.size(), std::make_unique<CountingOwner>(&destroyed));
  b.Integer(1);
  const std::string want = "+OK\r\n$100000\r\n" + value + "\r\n:1\r\n";
  EXPECT_EQ(Pending(b), want);
  iovec iov[8];
  const size_t n = b.FillIovec(iov, 8);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(iov[1].iov_base, value.data());  // not copied

  const size_t payload_end = 5 + 9 + value.size();
  b.Consume(10);
  EXPECT_EQ(destroyed, 0);
  b.Consume(payload_end - 1 - 10);  // one byte of the payload still unwritten
  EXPECT_EQ(destroyed, 0);
  EXPECT_EQ(Pending(b), want.substr(payload_end - 1));
  b.Consume(1);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(Pending(b), "\r\n:1\r\n");
  b.Consume(b.PendingBytes());
  EXPECT_EQ(destroyed, 1);
}

TEST(ReplyBuilder, SmallExternalBulkIsCopied) {
  int destroyed = 0;
  std::string value(100, 's');
  ReplyBuilder b;
  b.BulkExternal(value.data(), value.size(), std::make_unique<CountingOwner>(&destroyed));
  EXPECT_EQ(destroyed, 1);
  value.assign(100, 'z');  // the reply holds its own copy
  EXPECT_EQ(Pending(b), "$100\r\n" + std::string(100, 's') + "\r\n");
  iovec iov[4];
  EXPECT_EQ(b.FillIovec(iov, 4), 1u);
}

TEST(ReplyBuilder, AppendExternalKeepsOrderAndOwners) {
  int destroyed = 0;
  const std::string a = "+first\r\n";
  const std::string c = "+third\r\n";
  ReplyBuilder b;
  b.AppendExternal(a.data(), a.size(), std::make_unique<CountingOwner>(&destroyed));
  b.SimpleString("second");
  b.AppendExternal(c.data(), c.size(), std::make_unique<CountingOwner>(&destroyed));
  b.AppendExternal(c.data(), 0, std::make_unique<CountingOwner>(&destroyed));  // nothing to keep
  EXPECT_EQ(destroyed, 1);
  b.AppendExternal(c.data(), c.size(), nullptr);  // static bytes need no owner
  EXPECT_EQ(Pending(b), "+first\r\n+second\r\n+third\r\n+third\r\n");
  b.Consume(a.size());
  EXPECT_EQ(destroyed, 2);
  b.Consume(9 + c.size() - 1);
  EXPECT_EQ(destroyed, 2);
  b.Consume(1);
  EXPECT_EQ(destroyed, 3);
  b.Consume(c.size());
  EXPECT_TRUE(b.empty());
}

TEST(ReplyBuilder, ClearAndDestructionReleaseOwners) {
  int destroyed = 0;
  const std::string value(8192, 'q');
  {
    ReplyBuilder b;
    b.BulkExternal(value.data(), value.size(), std::make_unique<CountingOwner>(&destroyed));
    b.BulkExternal(value.data(), value.size(), std::make_unique<CountingOwner>(&destroyed));
    b.Consume(3);
    b.Clear();
    EXPECT_EQ(destroyed, 2);
    EXPECT_TRUE(b.empty());
    b.BulkExternal(value.data(), value.size(), std::make_unique<CountingOwner>(&destroyed));
  }
  EXPECT_EQ(destroyed, 3);
}

TEST(ReplyBuilder, ChunksAreRecycled) {
  ReplyBuilder b(2, 1024);
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 200; ++i) b.Bulk("0123456789");
    // Drain in uneven writes, as a socket would take them.
    while (!b.empty()) b.Consume(std::min<size_t>(b.PendingBytes(), 777));
  }
  // Pending data once needed ~4 chunks; afterwards the tail and one spare remain.
  EXPECT_LE(b.AllocatedBytes(), 2u * 1024);
  b.ReleaseIdleMemory();
  EXPECT_EQ(b.AllocatedBytes(), 0u);
  b.Integer(5);
  EXPECT_EQ(Pending(b), ":5\r\n");
}

TEST(ReplyBuilder, ReleaseIdleMemoryKeepsPendingData) {
  ReplyBuilder b;
  b.SimpleString("OK");
  b.ReleaseIdleMemory();
  EXPECT_EQ(Pending(b), "+OK\r\n");
}

TEST(ReplyBuilder, InterleavedWritesAndConsumes) {
  // A long run of appends and partial writes, checked against a plain string.
  ReplyBuilder b(2, 256);
  std::string model;
  int destroyed = 0;
  int created = 0;
  std::vector<std::string> externals;
  externals.reserve(1000);
  uint64_t x = 12345;
  auto rnd = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 20000; ++i) {
    switch (rnd() % 5) {
      case 0:
        b.Integer(static_cast<int64_t>(rnd() % 100000));
        model.append(":").append(std::to_string(x % 100000)).append("\r\n");
        break;
      case 1: {
        std::string v(rnd() % 600, 'a' + static_cast<char>(i % 26));
        b.Bulk(v);
        model += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        break;
      }
      case 2:
        if (externals.size() < 1000) {
          externals.emplace_back(ReplyBuilder::kMinExternalBytes + rnd() % 100, 'E');
          const std::string& v = externals.back();
          ++created;
          b.BulkExternal(v.data(), v.size(), std::make_unique<CountingOwner>(&destroyed));
          model += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        }
        break;
      default: {
        const size_t n = std::min<size_t>(model.size(), rnd() % 3000);
        b.Consume(n);
        model.erase(0, n);
        break;
      }
    }
    ASSERT_EQ(b.PendingBytes(), model.size());
  }
  EXPECT_EQ(Pending(b), model);
  b.Consume(b.PendingBytes());
  EXPECT_EQ(destroyed, created);
}

}  // namespace
}  // namespace kvcache::protocol
