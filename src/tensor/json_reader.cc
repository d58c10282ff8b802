// JsonReader: the scanning parts (UTF-8, strings, numbers, skipping).
#include "tensor/json_reader.h"

namespace kvcache::tensor {

namespace {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

bool JsonReader::Fail(std::string what) {
  if (error_.empty()) error_ = "at byte " + std::to_string(pos_) + ": " + std::move(what);
  return false;
}

void JsonReader::SkipSpace() {
  while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
}

char JsonReader::PeekChar() {
  SkipSpace();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool JsonReader::Enter() {
  if (++depth_ > max_depth_) return Fail("nested deeper than " + std::to_string(max_depth_));
  return true;
}

bool JsonReader::ExpectEnd() {
  SkipSpace();
  if (pos_ != text_.size()) return Fail("unexpected text after the JSON value");
  return true;
}

// Well-formed UTF-8 as Unicode defines it (Table 3-7): no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool JsonReader::CheckUtf8() {
  const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
  const size_t n = text_.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      pos_ = i;
      return Fail("invalid UTF-8");
    }
    bool ok = n - i >= len && s[i + 1] >= lo && s[i + 1] <= hi;
    for (size_t k = 2; ok && k < len; ++k) ok = s[i + k] >= 0x80 && s[i + k] <= 0xBF;
    if (!ok) {
      pos_ = i;
      return Fail("invalid UTF-8");
    }
    i += len;
  }
  return true;
}

bool JsonReader::ReadHex4(uint32_t* out) {
  if (text_.size() - pos_ < 4) return Fail("truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_++];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v |= static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return Fail("bad \\u escape");
    }
  }
  *out = v;
  return true;
}

bool JsonReader::ReadString(std::string* out) {
  if (!Consume('"')) return Fail("expected a string");
  out->clear();
  while (true) {
    if (pos_ >= text_.size()) return Fail("unterminated string");
    const char c = text_[pos_++];
    if (c == '"') return true;
    if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    const char e = text_[pos_++];
    static constexpr std::string_view kEscaped = "\"\\/bfnrt", kMeant = "\"\\/\b\f\n\r\t";
    if (const size_t k = kEscaped.find(e); k != std::string_view::npos) {
      out->push_back(kMeant[k]);
      continue;
    }
    if (e != 'u') return Fail("bad escape in a string");
    uint32_t cp;
    if (!ReadHex4(&cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t low;
      if (text_.substr(pos_, 2) != "\\u") return Fail("lone high surrogate in \\u escape");
      pos_ += 2;
      if (!ReadHex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return Fail("lone high surrogate in \\u escape");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
  }
}

bool JsonReader::ReadUint64(uint64_t* out) {
  SkipSpace();
  const size_t begin = pos_;
  uint64_t v = 0;
  while (pos_ < text_.size() && IsDigit(text_[pos_])) {
    const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
    if (v > (UINT64_MAX - digit) / 10) return Fail("integer does not fit 64 bits");
    v = v * 10 + digit;
    ++pos_;
  }
  if (pos_ == begin) return Fail("expected a non-negative integer");
  if (pos_ - begin > 1 && text_[begin] == '0') return Fail("leading zero in a number");
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    return Fail("expected an integer, not a fraction");
  }
  *out = v;
  return true;
}

bool JsonReader::SkipNumber() {
  auto digits = [&] {
    const size_t begin = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    return pos_ > begin;
  };
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  const size_t int_begin = pos_;
  if (!digits()) return Fail("bad number");
  if (pos_ - int_begin > 1 && text_[int_begin] == '0') return Fail("leading zero in a number");
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    if (!digits()) return Fail("bad number");
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (!digits()) return Fail("bad number");
  }
  return true;
}

bool JsonReader::SkipLiteral(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) return Fail("unexpected character");
  pos_ += word.size();
  return true;
}

bool JsonReader::SkipValue() {
  std::string scratch;
  switch (PeekChar()) {
    case '{':
      return ReadObject([&](const std::string&) { return SkipValue(); });
    case '[':
      return ReadArray([&] { return SkipValue(); });
    case '"':
      return ReadString(&scratch);
    case 't':
      return SkipLiteral("true");
    case 'f':
      return SkipLiteral("false");
    case 'n':
      return SkipLiteral("null");
    case '\0':
      if (pos_ >= text_.size()) return Fail("unexpected end of the text");
      return Fail("unexpected character");
    default:
      if (text_[pos_] == '-' || IsDigit(text_[pos_])) return SkipNumber();
      return Fail("unexpected character");
  }
}

}  // namespace kvcache::tensor
