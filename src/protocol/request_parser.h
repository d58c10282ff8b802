// RequestParser: splits a client's byte stream into commands, as Redis 7.0 reads them.
//
// Two request forms are understood, chosen by the first byte as Redis does: RESP multibulk
// (`*N\r\n$len\r\n<bytes>\r\n...`) when it is '*', otherwise an inline command (words separated
// by blanks, ending in \n or \r\n, with Redis's quoting rules). Limits and error texts are those
// of networking.c (processMultibulkBuffer, processInlineBuffer); after kError the connection is
// to be closed, as Redis does.
//
// The parser is incremental without copying: the caller keeps the unconsumed bytes and calls
// Parse again with the same prefix plus whatever arrived since. The parser remembers, as offsets
// from the request's start, how far it got (the argument count, every complete argument, the
// length of the bulk being received), so a request with millions of arguments or a 512 MB bulk
// arriving in small pieces costs time linear in its size. Because only offsets are kept, the
// caller may move the unconsumed bytes to another address between calls.
//
// Contract: one parser per connection, not thread-safe. Between a kNeedMore and the next Parse
// the bytes already given must be passed again unchanged at the start of `data`; to give up on a
// partial request call Reset().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvcache::protocol {

struct ParserLimits {
  // Longest bulk argument (proto-max-bulk-len); a longer `$N` is "invalid bulk length".
  size_t max_bulk_len = 512ull << 20;
  // Longest inline command, and longest `*N` / `$N` header line, without its line end.
  size_t max_inline_len = 64 << 10;
  // Most arguments in one multibulk request; more is "invalid multibulk length".
  size_t max_multibulk_len = INT32_MAX;
  // Before authentication (Redis: more than 10 arguments or a bulk over 16 KB is refused).
  size_t unauth_max_args = 10;
  size_t unauth_max_bulk_len = 16 << 10;
};

enum class ParseResult {
  kCommand,   // args() holds a command; *consumed bytes belong to it
  kNeedMore,  // the request is incomplete; nothing consumed
  kEmpty,     // an empty inline line or `*0` / `*-1`: consume *consumed bytes and go on
  kError,     // error() says why; close the connection after replying
};

class RequestParser {
 public:
  // REQUIRES: limits outlives the parser.
  explicit RequestParser(const ParserLimits* limits);

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses the first request in data[0, size). On kCommand, args() views bytes of `data`
  // (an inline argument with quotes or escapes views the parser's own storage instead); the
  // views stay valid until the next Parse or Reset, or until `data` changes. `authenticated`
  // selects the pre-authentication limits when false.
  ParseResult Parse(const char* data, size_t size, bool authenticated, size_t* consumed);

  const std::vector<std::string_view>& args() const { return args_; }

  // After kNeedMore: the total number of bytes from data's start that the request is known to
  // need (a bulk whose header was read: up to its trailing \r\n), or 0 when not known. A caller
  // reserves room for this much so that a large bulk is received without reallocations.
  size_t bytes_needed() const { return bytes_needed_; }

  // After kNeedMore: whether the request waits for the bytes of a bulk whose header was read
  // (and which is not received elsewhere already); if so, *offset is where the bulk starts,
  // counted from data's start, and *length its length.
  bool PendingBulk(size_t* offset, size_t* length) const;

  // The arguments of the request in progress that are complete (a command name and key before
  // the large value still arriving), as views of `data` as given to the last Parse.
  void CompleteArgs(const char* data, std::vector<std::string_view>* out) const;

  // After PendingBulk: the caller has received that bulk's `length` bytes itself, at `bulk`,
  // and taken them out of the stream, which now continues at the bulk's offset with the two
  // bytes that end it. args() will view `bulk` for that argument, which must therefore stay
  // where it is until the command has run (or Reset). Lets a server receive a 16 MiB value
  // straight into the memory that will keep it, as Redis does for big arguments.
  void BulkReceivedElsewhere(const char* bulk);

  // After kError: Redis's text without the leading '-', e.g. "Protocol error: invalid bulk
  // length". The server replies with "-ERR " + error().
  const std::string& error() const { return error_; }

  // Forgets a partially parsed request.
  void Reset();
  // Whether a request is partly parsed (the last Parse answered kNeedMore).
  bool in_progress() const { return mode_ != Mode::kIdle; }

  // Bytes the parser has examined over its lifetime (searched for line ends or decoded as
  // numbers or inline words); bulk payloads are skipped, not examined. Tests use it to check
  // that resuming never rescans.
  uint64_t scanned_bytes() const { return scanned_; }

 private:
  enum class Mode : uint8_t { kIdle, kInline, kMultibulk };

  // An argument as an offset from the request's start, so it survives the buffer moving, or
  // as the address of a bulk received elsewhere.
  struct Span {
    size_t offset;
    size_t length;
    const char* elsewhere = nullptr;
  };

  ParseResult ParseInline(const char* data, size_t size, size_t* consumed);
  ParseResult ParseMultibulk(const char* data, size_t size, bool authenticated, size_t* consumed);
  // Looks for the '\r' ending the header line at pos_, resuming at scan_from_. True with *cr
  // set when found. Otherwise *wait says what to answer: kNeedMore (no '\r' yet, or it is the
  // last byte: Redis then waits for one more), or the failure `too_long` once the incomplete
  // line is longer than the inline limit.
  // The header line at pos_ when it has the usual shape and nothing of it was scanned yet
  // (ReadShortHeader in the .cc): its number and '\r' at once, the scan moved as FindHeaderEnd
  // moves it. False otherwise, with nothing changed.
  bool ShortHeader(const char* data, size_t size, int64_t* value, size_t* cr);
  bool FindHeaderEnd(const char* data, size_t size, std::string_view too_long, size_t* cr,
                     ParseResult* wait);
  bool SplitInline(const char* line, size_t length);
  ParseResult Fail(std::string_view message);
  ParseResult Finish(ParseResult result, size_t consumed_bytes, size_t* consumed);

  const ParserLimits* limits_;

  // Resume state of the request in progress; offsets are from the request's first byte.
  Mode mode_ = Mode::kIdle;
  bool have_count_ = false;               // the `*N` line has been read
  size_t args_left_ = 0;                  // arguments still to read
  int64_t bulk_len_ = -1;                 // length of the bulk at pos_, or -1 before its `$N` line
  const char* bulk_elsewhere_ = nullptr;  // that bulk's bytes, when received elsewhere
  size_t pos_ = 0;                        // first byte not yet parsed
  size_t scan_from_ = 0;                  // where the search for the current line's end resumes
  std::vector<Span> spans_;               // complete arguments of the request in progress

  std::vector<std::string_view> args_;
  std::string unescaped_;  // inline arguments that had quotes or escapes
  std::string error_;
  size_t bytes_needed_ = 0;
  uint64_t scanned_ = 0;
};

}  // namespace kvcache::protocol
