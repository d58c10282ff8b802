// RequestParser: Redis 7.0's request forms, limits and error texts, pipelining, and resuming
// a request that arrives in pieces without rescanning it.
#include "protocol/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace kvcache::protocol {
namespace {

using Args = std::vector<std::string>;
using namespace std::string_literals;

struct Parsed {
  ParseResult result;
  Args args;
  size_t consumed = 0;
  std::string error;
  size_t bytes_needed = 0;
};

// One Parse call on `input` with a fresh parser.
Parsed ParseOnce(std::string_view input, bool authenticated = true,
                 const ParserLimits& limits = ParserLimits()) {
  RequestParser parser(&limits);
  Parsed p;
  p.result = parser.Parse(input.data(), input.size(), authenticated, &p.consumed);
  for (std::string_view a : parser.args()) p.args.emplace_back(a);
  p.error = parser.error();
  p.bytes_needed = parser.bytes_needed();
  return p;
}

std::string Error(std::string_view input, bool authenticated = true,
                  const ParserLimits& limits = ParserLimits()) {
  Parsed p = ParseOnce(input, authenticated, limits);
  EXPECT_EQ(p.result, ParseResult::kError) << input;
  EXPECT_EQ(p.consumed, 0u);
  return p.error;
}

Args Command(std::string_view input, bool authenticated = true) {
  Parsed p = ParseOnce(input, authenticated);
  EXPECT_EQ(p.result, ParseResult::kCommand) << p.error;
  EXPECT_EQ(p.consumed, input.size());
  return p.args;
}

std::string Multibulk(const Args& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// The outcome of a whole stream: commands, with "<empty>" for kEmpty and "<error: ...>" last.
struct StreamResult {
  std::vector<Args> items;
  bool operator==(const StreamResult&) const = default;
};

// Feeds `stream` in pieces of `piece` bytes (0: all at once). When `move` is set, the unconsumed
// bytes are copied to a new allocation before every piece, as a connection may do.
StreamResult Feed(std::string_view stream, size_t piece, bool move, RequestParser* parser) {
  StreamResult out;
  std::string buffer;
  size_t start = 0;
  size_t fed = 0;
  while (fed < stream.size()) {
    const size_t n = piece == 0 ? stream.size() : std::min(piece, stream.size() - fed);
    if (move) {
      std::string next(buffer, start);
      next.append(stream.substr(fed, n));
      buffer.swap(next);
      start = 0;
    } else {
      buffer.append(stream.substr(fed, n));
    }
    fed += n;
    while (true) {
      size_t consumed = 0;
      ParseResult r = parser->Parse(buffer.data() + start, buffer.size() - start, true, &consumed);
      if (r == ParseResult::kNeedMore) {
        EXPECT_EQ(consumed, 0u);
        break;
      }
      if (r == ParseResult::kError) {
        out.items.push_back({"<error: " + parser->error() + ">"});
        return out;
      }
      if (r == ParseResult::kEmpty) {
        out.items.push_back({"<empty>"});
      } else {
        out.items.emplace_back(parser->args().begin(), parser->args().end());
      }
      start += consumed;
    }
  }
  return out;
}

// ---- multibulk ----

TEST(RequestParser, MultibulkCommand) {
  EXPECT_EQ(Command("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"),
            (Args{"SET", "key", "value"}));
  EXPECT_EQ(Command("*1\r\n$0\r\n\r\n"), (Args{""}));
}

TEST(RequestParser, MultibulkIsBinarySafe) {
  const std::string value = "a\r\nb\0c*$\n"s;
  EXPECT_EQ(Command(Multibulk({"SET", "k", value})), (Args{"SET", "k", value}));
}

TEST(RequestParser, ArgsViewTheInput) {
  ParserLimits limits;
  RequestParser parser(&limits);
  const std::string in = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  size_t consumed = 0;
  ASSERT_EQ(parser.Parse(in.data(), in.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(parser.args()[0].data(), in.data() + 8);
  EXPECT_EQ(parser.args()[1].data(), in.data() + 17);
}

// Redis skips the two bytes after a `*N` or `$N` line's '\r' and after a bulk without checking
// that they are "\r\n"; so does the parser, so that both read a stream the same way.
TEST(RequestParser, BytesAfterCarriageReturnAndBulkAreSkippedUnchecked) {
  EXPECT_EQ(Command("*1\rX$3\rYabcZW"), (Args{"abc"}));
}

TEST(RequestParser, NonPositiveCountIsEmpty) {
  for (std::string in : {"*0\r\n", "*-1\r\n", "*-100\r\n"}) {
    Parsed p = ParseOnce(in);
    EXPECT_EQ(p.result, ParseResult::kEmpty) << in;
    EXPECT_EQ(p.consumed, in.size());
    EXPECT_TRUE(p.args.empty());
  }
  // Before authentication too: the limit is on positive counts.
  EXPECT_EQ(ParseOnce("*-1\r\n", false).result, ParseResult::kEmpty);
}

TEST(RequestParser, IncompleteMultibulkNeedsMore) {
  for (std::string in : {"*", "*3", "*3\r", "*3\r\n", "*3\r\n$3", "*3\r\n$3\r", "*3\r\n$3\r\nSE",
                         "*3\r\n$3\r\nSET\r", "*1\r\n$3\r\nSET\r"}) {
    Parsed p = ParseOnce(in);
    EXPECT_EQ(p.result, ParseResult::kNeedMore) << in;
    EXPECT_EQ(p.consumed, 0u);
  }
}

TEST(RequestParser, BytesNeededCoversTheBulkBeingRead) {
  EXPECT_EQ(ParseOnce("*2\r\n$3\r\nGET\r\n$100\r\nab").bytes_needed, 13u + 6 + 100 + 2);
  EXPECT_EQ(ParseOnce("*2\r\n$3\r\nGET\r\n$1").bytes_needed, 0u);
  EXPECT_EQ(ParseOnce("*2\r\n$3\r\nGE").bytes_needed, 4u + 4 + 3 + 2);
}

// ---- multibulk errors, in Redis's words and order ----

TEST(RequestParser, InvalidMultibulkLength) {
  for (std::string in : {"*\r\n", "*x\r\n", "*03\r\n", "*+3\r\n", "* 3\r\n", "*3 \r\n",
                         "*2147483648\r\n", "*99999999999999999999\r\n", "*-\r\n"}) {
    EXPECT_EQ(Error(in), "Protocol error: invalid multibulk length") << in;
  }
  // The largest count Redis takes (INT_MAX) is accepted and waits for its arguments.
  EXPECT_EQ(ParseOnce("*2147483647\r\n").result, ParseResult::kNeedMore);
  ParserLimits limits;
  limits.max_multibulk_len = 5;
  EXPECT_EQ(Error("*6\r\n", true, limits), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseOnce("*5\r\n", true, limits).result, ParseResult::kNeedMore);
}

TEST(RequestParser, ExpectedDollar) {
  EXPECT_EQ(Error("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
            "Protocol error: expected '$', got 'f'");
  EXPECT_EQ(Error("*1\r\n:1\r\n"), "Protocol error: expected '$', got ':'");
  EXPECT_EQ(Error("*1\r\n\r\n"), "Protocol error: expected '$', got '\r'");
}

TEST(RequestParser, InvalidBulkLength) {
  for (std::string in : {"*1\r\n$\r\n", "*1\r\n$-1\r\n", "*1\r\n$x\r\n", "*1\r\n$03\r\n",
                         "*1\r\n$+3\r\n", "*1\r\n$536870913\r\n", "*1\r\n$-0\r\n"}) {
    EXPECT_EQ(Error(in), "Protocol error: invalid bulk length") << in;
  }
  // proto-max-bulk-len itself is allowed; the caller is told how much room to make.
  Parsed p = ParseOnce("*1\r\n$536870912\r\n");
  EXPECT_EQ(p.result, ParseResult::kNeedMore);
  EXPECT_EQ(p.bytes_needed, 16u + (512u << 20) + 2);
  ParserLimits limits;
  limits.max_bulk_len = 10;
  EXPECT_EQ(Error("*1\r\n$11\r\n", true, limits), "Protocol error: invalid bulk length");
}

// Lengths of every width, read whole (short headers take a one-pass path) and a byte at a time
// (the general one): the same result, up to the largest long long.
TEST(RequestParser, BulkLengthsOfEveryWidth) {
  ParserLimits limits;
  limits.max_bulk_len = SIZE_MAX;
  for (size_t digits = 1; digits <= 20; ++digits) {
    const std::string length = "1" + std::string(digits - 1, '0');
    const std::string in = "*1\r\n$" + length + "\r\n";
    Parsed whole = ParseOnce(in, true, limits);
    if (digits <= 19) {
      EXPECT_EQ(whole.result, ParseResult::kNeedMore) << length;
      EXPECT_EQ(whole.bytes_needed, in.size() + std::stoull(length) + 2) << length;
    } else {
      EXPECT_EQ(Error(in, true, limits), "Protocol error: invalid bulk length");
    }
    RequestParser bytewise(&limits);
    ParseResult r = ParseResult::kNeedMore;
    size_t consumed = 0;
    for (size_t n = 1; n <= in.size() && r == ParseResult::kNeedMore; ++n) {
      r = bytewise.Parse(in.data(), n, true, &consumed);
    }
    EXPECT_EQ(r, whole.result) << length;
  }
  // A header whose '\r' is the buffer's last byte waits for the byte after it.
  EXPECT_EQ(ParseOnce("*1\r\n$3\r").result, ParseResult::kNeedMore);
  EXPECT_EQ(ParseOnce("*1\r").result, ParseResult::kNeedMore);
  EXPECT_EQ(ParseOnce("*1\r\n$3\r\nabc\r\n").result, ParseResult::kCommand);
}

TEST(RequestParser, TooBigMbulkCountString) {
  ParserLimits limits;
  std::string header = "*" + std::string(limits.max_inline_len - 1, '1');  // 64 KiB in all
  EXPECT_EQ(ParseOnce(header).result, ParseResult::kNeedMore);
  header += '1';
  EXPECT_EQ(Error(header), "Protocol error: too big mbulk count string");
}

TEST(RequestParser, TooBigBulkCountString) {
  ParserLimits limits;
  const std::string prefix = "*2\r\n$1\r\na\r\n";
  std::string header = "$" + std::string(limits.max_inline_len - 1, '1');
  EXPECT_EQ(ParseOnce(prefix + header).result, ParseResult::kNeedMore);
  header += '1';
  EXPECT_EQ(Error(prefix + header), "Protocol error: too big bulk count string");
}

TEST(RequestParser, UnauthenticatedLimits) {
  EXPECT_EQ(Error("*11\r\n", false), "Protocol error: unauthenticated multibulk length");
  EXPECT_EQ(ParseOnce("*10\r\n", false).result, ParseResult::kNeedMore);
  EXPECT_EQ(ParseOnce("*11\r\n", true).result, ParseResult::kNeedMore);
  EXPECT_EQ(Error("*2\r\n$4\r\nAUTH\r\n$16385\r\n", false),
            "Protocol error: unauthenticated bulk length");
  EXPECT_EQ(ParseOnce("*2\r\n$4\r\nAUTH\r\n$16384\r\n", false).result, ParseResult::kNeedMore);
  EXPECT_EQ(ParseOnce("*2\r\n$4\r\nAUTH\r\n$16385\r\n", true).result, ParseResult::kNeedMore);
  // A malformed header gets the ordinary text, as in Redis (validity is checked first).
  EXPECT_EQ(Error("*x\r\n", false), "Protocol error: invalid multibulk length");
  EXPECT_EQ(Error("*1\r\n$x\r\n", false), "Protocol error: invalid bulk length");
  EXPECT_EQ(Error("*1\r\n$536870913\r\n", false), "Protocol error: invalid bulk length");
  // Redis limits only multibulk requests before authentication.
  std::string inline_cmd = "MGET";
  for (int i = 0; i < 20; ++i) inline_cmd += " k" + std::to_string(i);
  EXPECT_EQ(Command(inline_cmd + "\r\n", false).size(), 21u);
}

TEST(RequestParser, ConfiguredUnauthenticatedLimits) {
  ParserLimits limits;
  limits.unauth_max_args = 2;
  limits.unauth_max_bulk_len = 4;
  EXPECT_EQ(Error("*3\r\n", false, limits), "Protocol error: unauthenticated multibulk length");
  EXPECT_EQ(Error("*2\r\n$5\r\n", false, limits), "Protocol error: unauthenticated bulk length");
  EXPECT_EQ(ParseOnce("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", false, limits).result,
            ParseResult::kCommand);
}

// ---- inline ----

TEST(RequestParser, InlineCommands) {
  EXPECT_EQ(Command("PING\r\n"), (Args{"PING"}));
  EXPECT_EQ(Command("PING\n"), (Args{"PING"}));
  EXPECT_EQ(Command("  SET\tkey   value \r\n"), (Args{"SET", "key", "value"}));
  EXPECT_EQ(Command("GET a\rb\n"), (Args{"GET", "a", "b"}));
  // Only space, tab, CR and LF end a word; a vertical tab or form feed belongs to it, though
  // leading blanks of every kind are skipped.
  EXPECT_EQ(Command("\v\fGET a\vb\n"), (Args{"GET", "a\vb"}));
  // The request type is chosen by the first byte only.
  EXPECT_EQ(Command("$3 *2\n"), (Args{"$3", "*2"}));
}

TEST(RequestParser, InlineQuoting) {
  EXPECT_EQ(Command("SET \"a b\" 'c d'\n"), (Args{"SET", "a b", "c d"}));
  EXPECT_EQ(Command("SET k \"\\x41\\x6a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"),
            (Args{"SET", "k", "Aj\n\r\t\b\a\\\"q"}));
  EXPECT_EQ(Command("SET k \"\\x4\" \"\\xZZ\"\n"), (Args{"SET", "k", "x4", "xZZ"}));
  EXPECT_EQ(Command("SET k 'it\\'s \\n'\n"), (Args{"SET", "k", "it's \\n"}));
  EXPECT_EQ(Command("SET \"\" ''\n"), (Args{"SET", "", ""}));
  EXPECT_EQ(Command("SET foo\"bar baz\"\n"), (Args{"SET", "foobar baz"}));
  EXPECT_EQ(Command("ECHO \"a\"\r\n"), (Args{"ECHO", "a"}));
  EXPECT_EQ(Command("ECHO \"\\x00\"\n"), (Args{"ECHO", "\0"s}));
}

TEST(RequestParser, InlineQuotedArgsStayValidTogether) {
  // Many quoted words in one line: earlier views must survive later unescaping.
  std::string line = "MSET";
  Args want = {"MSET"};
  for (int i = 0; i < 200; ++i) {
    line += " \"k\\x4" + std::to_string(i % 10) + "\"";
    want.push_back("k" + std::string(1, static_cast<char>(0x40 + i % 10)));
  }
  EXPECT_EQ(Command(line + "\n"), want);
}

TEST(RequestParser, InlineNulEndsTheLine) {
  Parsed p = ParseOnce("GET a\0b c\nPING\n"s);
  EXPECT_EQ(p.result, ParseResult::kCommand);
  EXPECT_EQ(p.args, (Args{"GET", "a"}));
  EXPECT_EQ(p.consumed, 10u);
}

TEST(RequestParser, UnbalancedQuotes) {
  for (std::string in : {"SET \"abc\n"s, "SET 'abc\n"s, "SET \"a\"b\n"s, "SET 'a'b\n"s,
                         "SET \"a\\\"\n"s, "SET \"a\\\n"s, "\"\n"s, "GET \"a\0\"\n"s}) {
    EXPECT_EQ(Error(in), "Protocol error: unbalanced quotes in request") << in;
  }
}

TEST(RequestParser, EmptyInlineLines) {
  for (std::string in : {"\n"s, "\r\n"s, "   \r\n"s, "\t \n"s, "\0junk\n"s}) {
    Parsed p = ParseOnce(in);
    EXPECT_EQ(p.result, ParseResult::kEmpty);
    EXPECT_EQ(p.consumed, in.size());
  }
}

TEST(RequestParser, TooBigInlineRequest) {
  ParserLimits limits;
  std::string line(limits.max_inline_len, 'a');
  EXPECT_EQ(ParseOnce(line).result, ParseResult::kNeedMore);
  EXPECT_EQ(Error(line + "a"), "Protocol error: too big inline request");
  // As in Redis, the limit applies while waiting for the line end: a longer line that arrives
  // whole is taken.
  EXPECT_EQ(Command(line + "aa\n")[0].size(), limits.max_inline_len + 2);
  limits.max_inline_len = 8;
  EXPECT_EQ(Error("GET abcde", true, limits), "Protocol error: too big inline request");
}

// ---- streams ----

TEST(RequestParser, Pipeline) {
  const std::string stream = Multibulk({"SET", "a", "1"}) + "GET a\r\n" + "\r\n" + "*0\r\n" +
                             Multibulk({"GET", "a"}) + "*2\r\n$3\r\nGET";
  ParserLimits limits;
  RequestParser parser(&limits);
  std::vector<ParseResult> results;
  std::vector<Args> commands;
  size_t pos = 0;
  while (true) {
    size_t consumed = 0;
    ParseResult r = parser.Parse(stream.data() + pos, stream.size() - pos, true, &consumed);
    results.push_back(r);
    if (r == ParseResult::kNeedMore) break;
    if (r == ParseResult::kCommand)
      commands.emplace_back(parser.args().begin(), parser.args().end());
    pos += consumed;
  }
  EXPECT_EQ(results, (std::vector<ParseResult>{ParseResult::kCommand, ParseResult::kCommand,
                                               ParseResult::kEmpty, ParseResult::kEmpty,
                                               ParseResult::kCommand, ParseResult::kNeedMore}));
  EXPECT_EQ(commands, (std::vector<Args>{{"SET", "a", "1"}, {"GET", "a"}, {"GET", "a"}}));
  EXPECT_EQ(pos, stream.size() - 11);
}

std::string MixedStream() {
  std::string s;
  s += Multibulk({"SET", "key:000000000001", std::string(100, 'x')});
  s += "PING\r\n";
  s += "\n";
  s += "SET \"quoted key\" 'it\\'s' \"\\x41\\n\"\r\n";
  s += "*-1\r\n";
  s += Multibulk({"MSET", "a", "1", "b", "", "c", "3"});
  s += "*0\r\n";
  s += Multibulk({"SET", "big", std::string(20000, 'y')});
  s += "  \t \r\n";
  s += Multibulk({"GET", "a\r\nb"});
  s += "ECHO done\n";
  return s;
}

TEST(RequestParser, ByteByByteWithMovingBufferMatchesAllAtOnce) {
  const std::string stream = MixedStream();
  ParserLimits limits;
  RequestParser whole_parser(&limits);
  const StreamResult whole = Feed(stream, 0, false, &whole_parser);
  ASSERT_EQ(whole.items.size(), 11u);
  EXPECT_EQ(whole.items[3], (Args{"SET", "quoted key", "it's", "A\n"}));
  for (size_t piece : {1, 2, 3, 7, 64, 1000}) {
    RequestParser parser(&limits);
    EXPECT_EQ(Feed(stream, piece, true, &parser), whole) << "piece " << piece;
  }
}

TEST(RequestParser, HugeBulkInSmallPiecesIsNotRescanned) {
  const size_t kValue = 4 << 20;
  const std::string stream = Multibulk({"SET", "k", std::string(kValue, 'v')});
  ParserLimits limits;
  for (size_t piece : {1, 7}) {
    RequestParser parser(&limits);
    std::string buffer;
    buffer.reserve(stream.size());
    size_t calls = 0;
    size_t consumed = 0;
    ParseResult r = ParseResult::kNeedMore;
    for (size_t fed = 0; fed < stream.size() && r == ParseResult::kNeedMore;) {
      const size_t n = std::min(piece, stream.size() - fed);
      buffer.append(stream, fed, n);
      fed += n;
      r = parser.Parse(buffer.data(), buffer.size(), true, &consumed);
      ++calls;
      if (r == ParseResult::kNeedMore && fed > 30) {
        ASSERT_EQ(parser.bytes_needed(), stream.size());
      }
    }
    ASSERT_EQ(r, ParseResult::kCommand);
    EXPECT_EQ(consumed, stream.size());
    EXPECT_EQ(parser.args()[2].size(), kValue);
    EXPECT_EQ(calls, (stream.size() + piece - 1) / piece);
    // Only the header lines are ever examined, about once each: the payload is skipped.
    EXPECT_LT(parser.scanned_bytes(), 64u) << "piece " << piece;
  }
}

TEST(RequestParser, ManyArgumentsInSmallPiecesAreNotRescanned) {
  const size_t kArgs = 200000;
  std::string stream = "*" + std::to_string(kArgs) + "\r\n";
  for (size_t i = 0; i < kArgs; ++i) stream += "$1\r\nx\r\n";
  ParserLimits limits;
  RequestParser parser(&limits);
  std::string buffer;
  buffer.reserve(stream.size());
  size_t consumed = 0;
  ParseResult r = ParseResult::kNeedMore;
  for (size_t fed = 0; fed < stream.size(); fed += 3) {
    buffer.append(stream, fed, 3);
    r = parser.Parse(buffer.data(), buffer.size(), true, &consumed);
    if (r != ParseResult::kNeedMore) break;
  }
  ASSERT_EQ(r, ParseResult::kCommand);
  EXPECT_EQ(parser.args().size(), kArgs);
  EXPECT_EQ(consumed, stream.size());
  // Each byte of each `$1` line is searched once; a '\r' that ends a piece once more.
  EXPECT_LE(parser.scanned_bytes(), 2 * stream.size());
}

TEST(RequestParser, LongInlineLineInSmallPiecesIsNotRescanned) {
  const std::string line = "SET k " + std::string(60000, 'v') + "\r\n";
  ParserLimits limits;
  RequestParser parser(&limits);
  const StreamResult result = Feed(line, 1, false, &parser);
  ASSERT_EQ(result.items.size(), 1u);
  EXPECT_EQ(result.items[0][2].size(), 60000u);
  // Searched for '\n' once, then split once.
  EXPECT_LE(parser.scanned_bytes(), 2 * line.size());
}

TEST(RequestParser, ResetForgetsAPartialRequest) {
  ParserLimits limits;
  RequestParser parser(&limits);
  size_t consumed = 0;
  const std::string partial = "*2\r\n$3\r\nGET\r\n$5\r\nab";
  ASSERT_EQ(parser.Parse(partial.data(), partial.size(), true, &consumed), ParseResult::kNeedMore);
  parser.Reset();
  const std::string ping = "PING\r\n";
  ASSERT_EQ(parser.Parse(ping.data(), ping.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(parser.args()[0], "PING");
}

TEST(RequestParser, ShorterBufferThanBeforeStartsOver) {
  ParserLimits limits;
  RequestParser parser(&limits);
  size_t consumed = 0;
  const std::string partial = "*2\r\n$3\r\nGET\r\n$5\r\nab";
  ASSERT_EQ(parser.Parse(partial.data(), partial.size(), true, &consumed), ParseResult::kNeedMore);
  const std::string ping = "PING\r\n";
  ASSERT_EQ(parser.Parse(ping.data(), ping.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(parser.args()[0], "PING");
}

// A server receives a large bulk into memory of its own and takes its bytes out of the stream;
// the parser then views that memory for the argument and reads on after the bulk.
TEST(RequestParser, BulkReceivedElsewhere) {
  ParserLimits limits;
  RequestParser parser(&limits);
  size_t consumed = 0, offset = 0, length = 0;
  const std::string head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123";
  ASSERT_EQ(parser.Parse(head.data(), head.size(), true, &consumed), ParseResult::kNeedMore);
  ASSERT_TRUE(parser.PendingBulk(&offset, &length));
  EXPECT_EQ(offset, head.size() - 4);
  EXPECT_EQ(length, 10u);
  std::vector<std::string_view> done;
  parser.CompleteArgs(head.data(), &done);
  EXPECT_EQ(done, (std::vector<std::string_view>{"SET", "k"}));

  const std::string bulk = "0123456789";
  parser.BulkReceivedElsewhere(bulk.data());
  EXPECT_FALSE(parser.PendingBulk(&offset, &length));
  // The stream without the bulk's bytes: its end, then the next request.
  std::string rest = head.substr(0, head.size() - 4) + "\r";
  ASSERT_EQ(parser.Parse(rest.data(), rest.size(), true, &consumed), ParseResult::kNeedMore);
  rest += "\n" + Multibulk({"PING"});
  ASSERT_EQ(parser.Parse(rest.data(), rest.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(consumed, head.size() - 4 + 2);
  ASSERT_EQ(parser.args().size(), 3u);
  EXPECT_EQ(parser.args()[2], bulk);
  EXPECT_EQ(parser.args()[2].data(), bulk.data()) << "viewed where it was received, not copied";
  rest.erase(0, consumed);
  ASSERT_EQ(parser.Parse(rest.data(), rest.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(parser.args()[0], "PING");
}

TEST(RequestParser, ParserIsReusableAfterAnError) {
  ParserLimits limits;
  RequestParser parser(&limits);
  size_t consumed = 0;
  const std::string bad = "*1\r\n$x\r\n";
  ASSERT_EQ(parser.Parse(bad.data(), bad.size(), true, &consumed), ParseResult::kError);
  const std::string good = Multibulk({"PING"});
  ASSERT_EQ(parser.Parse(good.data(), good.size(), true, &consumed), ParseResult::kCommand);
  EXPECT_EQ(parser.args()[0], "PING");
}

}  // namespace
}  // namespace kvcache::protocol
