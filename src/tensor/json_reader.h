// JsonReader: a strict, pull-style reader of one JSON text (RFC 8259), for the safetensors
// header. It builds no tree: the caller walks objects and arrays with callbacks and reads or
// skips each value, so a 100 MB header costs no more memory than the names it keeps.
//
// Strict means: UTF-8 only (checked up front), no comments, no trailing commas, no leading zeros,
// no control characters or lone surrogates in strings, nothing but whitespace after the value.
// Nesting deeper than max_depth is refused, so hostile input cannot exhaust the stack.
//
// Not synchronized; one reader per text. The reader keeps a view of the text, which must
// outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace kvcache::tensor {

class JsonReader {
 public:
  explicit JsonReader(std::string_view text, int max_depth = 64)
      : text_(text), max_depth_(max_depth) {}

  // Every method returns false on an error, after which error() says what and where; the
  // reader is then unusable.

  // Checks that the whole text is valid UTF-8. Call first.
  bool CheckUtf8();

  // Reads an object: on_member(key) is called for each member with the reader positioned at
  // its value, which it must read or skip (returning false stops with an error).
  template <typename F>
  bool ReadObject(F&& on_member);
  // Reads an array: on_element() is called for each element, which it must read or skip.
  template <typename F>
  bool ReadArray(F&& on_element);

  bool ReadString(std::string* out);
  // A non-negative integer without fraction or exponent that fits 64 bits.
  bool ReadUint64(uint64_t* out);
  // Any value, checked but not kept.
  bool SkipValue();
  // Only whitespace remains.
  bool ExpectEnd();

  // The next non-whitespace character, or 0 at the end.
  char PeekChar();
  bool Fail(std::string what);
  const std::string& error() const { return error_; }

 private:
  void SkipSpace();
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Enter();
  bool ReadHex4(uint32_t* out);
  bool SkipNumber();
  bool SkipLiteral(std::string_view word);

  std::string_view text_;
  int max_depth_;
  int depth_ = 0;
  size_t pos_ = 0;
  std::string error_;
};

template <typename F>
bool JsonReader::ReadObject(F&& on_member) {
  if (!Consume('{')) return Fail("expected '{'");
  if (!Enter()) return false;
  if (!Consume('}')) {
    std::string key;
    do {
      SkipSpace();
      if (!ReadString(&key)) return false;
      if (!Consume(':')) return Fail("expected ':' after a key");
      if (!on_member(std::as_const(key))) return false;
    } while (Consume(','));
    if (!Consume('}')) return Fail("expected ',' or '}'");
  }
  --depth_;
  return true;
}

template <typename F>
bool JsonReader::ReadArray(F&& on_element) {
  if (!Consume('[')) return Fail("expected '['");
  if (!Enter()) return false;
  if (!Consume(']')) {
    do {
      if (!on_element()) return false;
    } while (Consume(','));
    if (!Consume(']')) return Fail("expected ',' or ']'");
  }
  --depth_;
  return true;
}

}  // namespace kvcache::tensor
