// RequestParser: Redis 7.0's request reading (networking.c), made resumable by offsets.
#include "protocol/request_parser.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace kvcache::protocol {
namespace {

// Redis's string2ll(): an optional '-', then "0" alone or digits without a leading zero, at
// most 20 characters, no sign '+', no blanks, within long long. A count or length that Redis
// refuses is refused here too, so "$03" or "$+3" are invalid bulk lengths as they are there.
bool String2ll(const char* s, size_t len, int64_t* value) {
  if (len == 0 || len >= 21) return false;
  if (len == 1 && s[0] == '0') {
    *value = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    if (++i == len) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = static_cast<uint64_t>(s[i++] - '0');
  for (; i < len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *value = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *value = static_cast<int64_t>(v);
  }
  return true;
}

// The usual header line read in one pass: at p, the prefix byte ('*' or '$') and 1 to 18 digits
// without a leading zero, then '\r' and one more byte, all before end. Sets *value and *cr (the
// '\r'). False for anything else, which the general path (FindHeaderEnd, String2ll) then reads,
// with its errors.
inline bool ReadShortHeader(const char* p, const char* end, int64_t* value, const char** cr) {
  const char* q = p + 1;
  if (end - q < 3 || *q < '1' || *q > '9') return false;
  int64_t v = *q++ - '0';
  const char* last = std::min(end, p + 19);
  while (q < last && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
  if (end - q < 2 || *q != '\r') return false;
  *value = v;
  *cr = q;
  return true;
}

// isspace() in the C locale, which is what sdssplitargs() sees.
inline bool IsSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

inline bool IsHexDigit(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

inline int HexValue(unsigned char c) {
  if (c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}

inline char Unescape(unsigned char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return static_cast<char>(c);
  }
}

// Positive counts compared with a size_t limit without signed/unsigned surprises.
inline bool Exceeds(int64_t n, size_t limit) { return n > 0 && static_cast<uint64_t>(n) > limit; }

}  // namespace

RequestParser::RequestParser(const ParserLimits* limits) : limits_(limits) {}

void RequestParser::Reset() {
  mode_ = Mode::kIdle;
  have_count_ = false;
  args_left_ = 0;
  bulk_len_ = -1;
  bulk_elsewhere_ = nullptr;
  pos_ = 0;
  scan_from_ = 0;
  spans_.clear();
  bytes_needed_ = 0;
}

bool RequestParser::PendingBulk(size_t* offset, size_t* length) const {
  if (mode_ != Mode::kMultibulk || !have_count_ || bulk_len_ < 0 || bulk_elsewhere_ != nullptr) {
    return false;
  }
  *offset = pos_;
  *length = static_cast<size_t>(bulk_len_);
  return true;
}

void RequestParser::CompleteArgs(const char* data, std::vector<std::string_view>* out) const {
  out->clear();
  if (mode_ != Mode::kMultibulk) return;
  for (const Span& s : spans_) {
    out->emplace_back(s.elsewhere != nullptr ? s.elsewhere : data + s.offset, s.length);
  }
}

void RequestParser::BulkReceivedElsewhere(const char* bulk) {
  assert(mode_ == Mode::kMultibulk && bulk_len_ >= 0 && bulk_elsewhere_ == nullptr);
  bulk_elsewhere_ = bulk;
}

ParseResult RequestParser::Parse(const char* data, size_t size, bool authenticated,
                                 size_t* consumed) {
  *consumed = 0;
  bytes_needed_ = 0;
  // A shorter buffer than before cannot be the same request grown; start over rather than read
  // past its end.
  if (mode_ != Mode::kIdle && size < std::max(pos_, scan_from_)) Reset();
  if (mode_ == Mode::kIdle) {
    if (size == 0) return ParseResult::kNeedMore;
    mode_ = data[0] == '*' ? Mode::kMultibulk : Mode::kInline;
  }
  if (mode_ == Mode::kMultibulk) return ParseMultibulk(data, size, authenticated, consumed);
  return ParseInline(data, size, consumed);
}

ParseResult RequestParser::Finish(ParseResult result, size_t consumed_bytes, size_t* consumed) {
  *consumed = consumed_bytes;
  mode_ = Mode::kIdle;
  have_count_ = false;
  args_left_ = 0;
  bulk_len_ = -1;
  bulk_elsewhere_ = nullptr;
  pos_ = 0;
  scan_from_ = 0;
  return result;
}

ParseResult RequestParser::Fail(std::string_view message) {
  error_.assign(message);
  args_.clear();
  Reset();
  return ParseResult::kError;
}

// Inline commands (processInlineBuffer): the line up to \n, minus a \r before it, split by
// sdssplitargs(). Redis puts no pre-authentication limits on this form; the line length bounds it.
ParseResult RequestParser::ParseInline(const char* data, size_t size, size_t* consumed) {
  const char* from = data + scan_from_;
  const char* newline = static_cast<const char*>(memchr(from, '\n', size - scan_from_));
  if (newline == nullptr) {
    scanned_ += size - scan_from_;
    scan_from_ = size;
    if (size > limits_->max_inline_len) return Fail("Protocol error: too big inline request");
    return ParseResult::kNeedMore;
  }
  scanned_ += static_cast<size_t>(newline - from) + 1;
  size_t end = static_cast<size_t>(newline - data);
  const size_t next = end + 1;
  if (end > 0 && data[end - 1] == '\r') --end;
  scanned_ += end;
  if (!SplitInline(data, end)) return Fail("Protocol error: unbalanced quotes in request");
  return Finish(args_.empty() ? ParseResult::kEmpty : ParseResult::kCommand, next, consumed);
}

// sdssplitargs(): words separated by blanks; "double quotes" with \n \r \t \b \a \xHH and
// \<any> escapes, 'single quotes' with \' only; a closing quote must be followed by a blank or
// the end. A NUL byte ends the line, as it ends the C string Redis splits. Plain words view the
// input; words that had quotes are unescaped into unescaped_, reserved once for the whole line
// (unescaping never lengthens) so that earlier views stay valid.
bool RequestParser::SplitInline(const char* line, size_t length) {
  auto at = [line, length](size_t i) -> unsigned char {
    return i < length ? static_cast<unsigned char>(line[i]) : 0;
  };
  args_.clear();
  bool reserved = false;
  size_t i = 0;
  while (true) {
    while (at(i) != 0 && IsSpace(at(i))) ++i;
    if (at(i) == 0) return true;
    const size_t start = i;
    unsigned char c;
    while (true) {
      c = at(i);
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0 || c == '"' || c == '\'') {
        break;
      }
      ++i;
    }
    if (c != '"' && c != '\'') {
      args_.emplace_back(line + start, i - start);
      continue;
    }
    if (!reserved) {
      unescaped_.clear();
      unescaped_.reserve(length);
      reserved = true;
    }
    const size_t out = unescaped_.size();
    unescaped_.append(line + start, i - start);
    const bool double_quoted = c == '"';
    ++i;
    while (true) {
      c = at(i);
      if (c == 0) return false;  // unterminated quotes
      if (double_quoted) {
        if (c == '\\' && at(i + 1) == 'x' && IsHexDigit(at(i + 2)) && IsHexDigit(at(i + 3))) {
          unescaped_.push_back(static_cast<char>(HexValue(at(i + 2)) * 16 + HexValue(at(i + 3))));
          i += 4;
        } else if (c == '\\' && at(i + 1) != 0) {
          unescaped_.push_back(Unescape(at(i + 1)));
          i += 2;
        } else if (c == '"') {
          if (at(i + 1) != 0 && !IsSpace(at(i + 1))) return false;
          ++i;
          break;
        } else {
          unescaped_.push_back(static_cast<char>(c));
          ++i;
        }
      } else {
        if (c == '\\' && at(i + 1) == '\'') {
          unescaped_.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (at(i + 1) != 0 && !IsSpace(at(i + 1))) return false;
          ++i;
          break;
        } else {
          unescaped_.push_back(static_cast<char>(c));
          ++i;
        }
      }
    }
    assert(unescaped_.size() <= length);
    args_.emplace_back(unescaped_.data() + out, unescaped_.size() - out);
  }
}

bool RequestParser::FindHeaderEnd(const char* data, size_t size, std::string_view too_long,
                                  size_t* cr, ParseResult* wait) {
  const char* from = data + scan_from_;
  const char* p = static_cast<const char*>(memchr(from, '\r', size - scan_from_));
  if (p == nullptr) {
    scanned_ += size - scan_from_;
    scan_from_ = size;
    *wait = size - pos_ > limits_->max_inline_len ? Fail(too_long) : ParseResult::kNeedMore;
    return false;
  }
  scanned_ += static_cast<size_t>(p - from) + 1;
  scan_from_ = static_cast<size_t>(p - data);
  // Redis needs one byte after the '\r' and skips it without looking at it.
  if (scan_from_ + 1 >= size) {
    *wait = ParseResult::kNeedMore;
    return false;
  }
  *cr = scan_from_;
  return true;
}

// Inlined: it runs for every header of every request.
[[gnu::always_inline]] inline bool RequestParser::ShortHeader(const char* data, size_t size,
                                                              int64_t* value, size_t* cr) {
  const char* at;
  if (scan_from_ != pos_ || !ReadShortHeader(data + pos_, data + size, value, &at)) return false;
  *cr = static_cast<size_t>(at - data);
  scanned_ += *cr - pos_ + 1;
  scan_from_ = *cr;
  return true;
}

// Multibulk requests (processMultibulkBuffer), with the same order of checks and texts.
ParseResult RequestParser::ParseMultibulk(const char* data, size_t size, bool authenticated,
                                          size_t* consumed) {
  size_t cr = 0;
  if (!have_count_) {
    int64_t count = 0;
    if (!ShortHeader(data, size, &count, &cr)) {
      ParseResult wait;
      if (!FindHeaderEnd(data, size, "Protocol error: too big mbulk count string", &cr, &wait)) {
        return wait;
      }
      if (!String2ll(data + pos_ + 1, cr - pos_ - 1, &count)) {
        return Fail("Protocol error: invalid multibulk length");
      }
    }
    if (Exceeds(count, limits_->max_multibulk_len)) {
      return Fail("Protocol error: invalid multibulk length");
    }
    if (!authenticated && Exceeds(count, limits_->unauth_max_args)) {
      return Fail("Protocol error: unauthenticated multibulk length");
    }
    pos_ = cr + 2;
    scan_from_ = pos_;
    if (count <= 0) {
      args_.clear();
      return Finish(ParseResult::kEmpty, pos_, consumed);
    }
    have_count_ = true;
    args_left_ = static_cast<size_t>(count);
    spans_.clear();
    // The count is the client's word, not memory it has sent: grow with the arguments.
    spans_.reserve(std::min<size_t>(args_left_, 1024));
  }

  while (args_left_ > 0) {
    if (bulk_len_ < 0) {
      int64_t len = 0;
      if (pos_ >= size || data[pos_] != '$' || !ShortHeader(data, size, &len, &cr)) {
        ParseResult wait;
        if (!FindHeaderEnd(data, size, "Protocol error: too big bulk count string", &cr, &wait)) {
          return wait;
        }
        if (data[pos_] != '$') {
          std::string message = "Protocol error: expected '$', got '";
          message += data[pos_];
          message += '\'';
          return Fail(message);
        }
        if (!String2ll(data + pos_ + 1, cr - pos_ - 1, &len) || len < 0) {
          return Fail("Protocol error: invalid bulk length");
        }
      }
      if (Exceeds(len, limits_->max_bulk_len)) return Fail("Protocol error: invalid bulk length");
      if (!authenticated && Exceeds(len, limits_->unauth_max_bulk_len)) {
        return Fail("Protocol error: unauthenticated bulk length");
      }
      pos_ = cr + 2;
      bulk_len_ = len;
    }
    // The bulk (unless received elsewhere) and the two bytes after it, which Redis skips
    // without checking.
    const size_t in_stream = bulk_elsewhere_ != nullptr ? 0 : static_cast<size_t>(bulk_len_);
    const size_t end = pos_ + in_stream + 2;
    if (size < end) {
      bytes_needed_ = end;
      return ParseResult::kNeedMore;
    }
    spans_.push_back({pos_, static_cast<size_t>(bulk_len_), bulk_elsewhere_});
    pos_ = end;
    scan_from_ = end;
    bulk_len_ = -1;
    bulk_elsewhere_ = nullptr;
    --args_left_;
  }

  args_.clear();
  for (const Span& s : spans_) {
    args_.emplace_back(s.elsewhere != nullptr ? s.elsewhere : data + s.offset, s.length);
  }
  return Finish(ParseResult::kCommand, pos_, consumed);
}

}  // namespace kvcache::protocol
