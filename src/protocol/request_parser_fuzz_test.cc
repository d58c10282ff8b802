// Runs the fuzz target's checks (request_parser_fuzz.cc) on a few thousand deterministic inputs,
// so that CI exercises them with any compiler: random bytes, and valid streams with mutations.
#include "protocol/request_parser_fuzz.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kvcache::protocol {
namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull | 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

std::string RandomWord(Rng& rng) {
  static const char kChars[] = "abcXYZ019 \t\r\n\"'\\*$-x\v";
  std::string w;
  const size_t n = rng.Below(6) == 0 ? rng.Below(200) : rng.Below(8);
  for (size_t i = 0; i < n; ++i) {
    w += rng.Below(10) == 0 ? static_cast<char>(rng.Next()) : kChars[rng.Below(sizeof(kChars) - 1)];
  }
  return w;
}

// A stream of mostly well-formed requests of every kind the parser knows.
std::string ValidStream(Rng& rng) {
  std::string s;
  const size_t requests = 1 + rng.Below(12);
  for (size_t r = 0; r < requests; ++r) {
    switch (rng.Below(6)) {
      case 0:
      case 1: {
        const size_t argc = 1 + rng.Below(rng.Below(4) == 0 ? 20 : 4);
        s += "*" + std::to_string(argc) + "\r\n";
        for (size_t i = 0; i < argc; ++i) {
          const std::string w = RandomWord(rng);
          s += "$" + std::to_string(w.size()) + "\r\n" + w + "\r\n";
        }
        break;
      }
      case 2: {
        const size_t argc = 1 + rng.Below(4);
        for (size_t i = 0; i < argc; ++i) {
          if (i) s += ' ';
          switch (rng.Below(4)) {
            case 0:
              s += "\"a\\x4" + std::to_string(rng.Below(10)) + "\\n b\"";
              break;
            case 1:
              s += "'it\\'s'";
              break;
            default:
              s += "word" + std::to_string(rng.Below(100));
          }
        }
        s += rng.Below(2) ? "\r\n" : "\n";
        break;
      }
      case 3:
        s += rng.Below(2) ? "*0\r\n" : "*-1\r\n";
        break;
      case 4:
        s += rng.Below(2) ? "\r\n" : "  \n";
        break;
      default:
        s += "*1\r\n$" + std::to_string(40 + rng.Below(100)) + "\r\n";
        s += std::string(40 + rng.Below(100), 'B') + "\r\n";  // length may not match
    }
  }
  return s;
}

void Mutate(Rng& rng, std::string* s) {
  const size_t edits = rng.Below(4);
  for (size_t e = 0; e < edits && !s->empty(); ++e) {
    const size_t at = rng.Below(s->size());
    switch (rng.Below(4)) {
      case 0:
        (*s)[at] = static_cast<char>(rng.Next());
        break;
      case 1:
        s->insert(at, 1, "\r\n*$0-\"'"[rng.Below(8)]);
        break;
      case 2:
        s->erase(at, 1 + rng.Below(3));
        break;
      default:
        s->resize(at);
    }
  }
}

void Check(const std::string& input) {
  std::string failure;
  ASSERT_TRUE(
      CheckRequestParser(reinterpret_cast<const uint8_t*>(input.data()), input.size(), &failure))
      << failure << "\ninput (" << input.size() << " bytes): " << ::testing::PrintToString(input);
}

TEST(RequestParserFuzz, RandomBytes) {
  Rng rng(1);
  for (int i = 0; i < 1500; ++i) {
    std::string input(1 + rng.Below(300), '\0');
    for (char& c : input) c = static_cast<char>(rng.Next());
    // Bias the first request byte towards the two request forms.
    if (input.size() > 1 && rng.Below(2)) input[1] = '*';
    Check(input);
  }
}

TEST(RequestParserFuzz, MutatedValidStreams) {
  Rng rng(2);
  for (int i = 0; i < 3000; ++i) {
    std::string input(1, static_cast<char>(rng.Next()));  // limits, auth, piece sizes
    input += ValidStream(rng);
    if (rng.Below(4) != 0) Mutate(rng, &input);
    Check(input);
  }
}

TEST(RequestParserFuzz, LongLinesAtTheLimits) {
  Rng rng(3);
  for (int i = 0; i < 64; ++i) {
    // Pieces of random sizes (modes 2 and 3): moving a 64 KiB line byte by byte is quadratic.
    std::string input(1, static_cast<char>((i & 3) | (2 + (i >> 2) % 2) << 2));
    const size_t n = 65536 - 2 + rng.Below(5);
    switch (i % 3) {
      case 0:
        input += std::string(n, 'a');
        break;
      case 1:
        input += "*" + std::string(n, '1');
        break;
      default:
        input += "*2\r\n$1\r\nx\r\n$" + std::string(n, '2');
    }
    if (rng.Below(2)) input += "\r\n";
    Check(input);
  }
}

}  // namespace
}  // namespace kvcache::protocol
