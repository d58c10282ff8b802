// libFuzzer target for RequestParser; CheckRequestParser is also run by GoogleTest.
#include "protocol/request_parser_fuzz.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "protocol/request_parser.h"

namespace kvcache::protocol {
namespace {

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  size_t empties = 0;
  std::string error;  // empty unless the run ended in kError
};

// Deterministic piece sizes for one input.
class PieceSizes {
 public:
  PieceSizes(uint8_t mode, uint64_t seed) : mode_(mode), state_(seed | 1) {}
  size_t Next() {
    switch (mode_) {
      case 0:
        return 1;
      case 1:
        return 7;
      case 2:
        return 1 + Random() % 64;
      default:
        return 1 + Random() % 4096;
    }
  }

 private:
  uint64_t Random() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  uint8_t mode_;
  uint64_t state_;
};

bool IsTooBig(const std::string& error) { return error.find("too big") != std::string::npos; }

#define KV_FUZZ_CHECK(cond)              \
  do {                                   \
    if (!(cond)) {                       \
      *failure = "check failed: " #cond; \
      return false;                      \
    }                                    \
  } while (0)

// Feeds `input` in pieces of `sizes` (everything at once when sizes is null).
bool Run(const ParserLimits& limits, bool authenticated, std::string_view input, PieceSizes* sizes,
         Outcome* out, std::string* failure) {
  RequestParser parser(&limits);
  std::string buffer;
  size_t start = 0;
  size_t fed = 0;
  while (fed < input.size()) {
    const size_t piece =
        sizes == nullptr ? input.size() : std::min(sizes->Next(), input.size() - fed);
    // The unconsumed bytes move to a new address, as a connection's buffer may.
    std::string next;
    next.reserve(buffer.size() - start + piece);
    next.append(buffer, start, std::string::npos);
    next.append(input.substr(fed, piece));
    buffer.swap(next);
    start = 0;
    fed += piece;
    while (true) {
      const char* data = buffer.data() + start;
      const size_t size = buffer.size() - start;
      size_t consumed = size + 1;
      const ParseResult r = parser.Parse(data, size, authenticated, &consumed);
      KV_FUZZ_CHECK(consumed <= size);
      if (r == ParseResult::kNeedMore) {
        KV_FUZZ_CHECK(consumed == 0);
        KV_FUZZ_CHECK(parser.bytes_needed() == 0 || parser.bytes_needed() > size);
        break;
      }
      if (r == ParseResult::kError) {
        KV_FUZZ_CHECK(consumed == 0);
        KV_FUZZ_CHECK(!parser.error().empty());
        out->error = parser.error();
        return true;
      }
      KV_FUZZ_CHECK(consumed > 0);
      if (r == ParseResult::kEmpty) {
        KV_FUZZ_CHECK(parser.args().empty());
        ++out->empties;
      } else {
        KV_FUZZ_CHECK(!parser.args().empty());
        std::vector<std::string> command;
        for (std::string_view arg : parser.args()) {
          if (data[0] == '*') {
            KV_FUZZ_CHECK(arg.data() >= data && arg.data() + arg.size() <= data + consumed);
          }
          command.emplace_back(arg);
        }
        out->commands.push_back(std::move(command));
      }
      start += consumed;
    }
  }
  // Every byte is searched for a line end about once, plus a byte more for each wait on a '\r'
  // that ended a piece: resuming never rescans.
  KV_FUZZ_CHECK(parser.scanned_bytes() <= 3 * input.size() + 16);
  return true;
}

}  // namespace

bool CheckRequestParser(const uint8_t* data, size_t size, std::string* failure) {
  if (size == 0) return true;
  const uint8_t config = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ParserLimits limits;
  if (config & 2) {
    limits.max_bulk_len = 64;
    limits.max_inline_len = 32;
    limits.max_multibulk_len = 16;
    limits.unauth_max_args = 3;
    limits.unauth_max_bulk_len = 8;
  }
  const bool authenticated = (config & 1) != 0;
  uint64_t seed = 1469598103934665603ull;
  for (unsigned char c : input) seed = (seed ^ c) * 1099511628211ull;

  Outcome whole;
  Outcome pieces;
  PieceSizes sizes(static_cast<uint8_t>((config >> 2) & 3), seed);
  if (!Run(limits, authenticated, input, nullptr, &whole, failure)) return false;
  if (!Run(limits, authenticated, input, &sizes, &pieces, failure)) return false;

  // Fed in pieces, a line may be refused as too long before its end arrives; otherwise the
  // outcome cannot depend on how the bytes were cut.
  if (IsTooBig(pieces.error)) {
    KV_FUZZ_CHECK(pieces.commands.size() <= whole.commands.size());
    for (size_t i = 0; i < pieces.commands.size(); ++i) {
      KV_FUZZ_CHECK(pieces.commands[i] == whole.commands[i]);
    }
    return true;
  }
  KV_FUZZ_CHECK(pieces.error == whole.error);
  KV_FUZZ_CHECK(pieces.empties == whole.empties);
  KV_FUZZ_CHECK(pieces.commands == whole.commands);
  return true;
}

}  // namespace kvcache::protocol

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string failure;
  if (!kvcache::protocol::CheckRequestParser(data, size, &failure)) {
    fprintf(stderr, "%s\n", failure.c_str());
    abort();
  }
  return 0;
}
