// .npy parsing: magic, version, header length, then the header dict, read by a small parser for
// the subset of Python literals that numpy.lib.format writes.
#include "tensor/npy.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace kvcache::tensor {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Reads the header dict, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".
// Accepts what ast.literal_eval would for these three keys and value types, and nothing more:
// strings without escapes, True/False, a tuple of non-negative decimal integers (with the
// Python 2 'L' suffix that NumPy also accepts in versions 1 and 2).
class HeaderParser {
 public:
  HeaderParser(std::string_view text, int version) : text_(text), version_(version) {}

  // On failure returns false and sets error().
  bool Parse(std::string* descr, bool* fortran_order, std::vector<int64_t>* shape) {
    SkipSpace();
    if (!Consume('{')) return Fail("the header does not start with '{'");
    bool have_descr = false, have_order = false, have_shape = false;
    SkipSpace();
    while (!Peek('}')) {
      std::string_view key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':' after '" + std::string(key) + "'");
      SkipSpace();
      bool* seen;
      if (key == "descr") {
        seen = &have_descr;
        if (Peek('[')) return Fail("structured dtypes (a list as 'descr') are not supported");
        std::string_view value;
        if (!ParseString(&value)) return false;
        descr->assign(value);
      } else if (key == "fortran_order") {
        seen = &have_order;
        if (!ParseBool(fortran_order)) return false;
      } else if (key == "shape") {
        seen = &have_shape;
        if (!ParseShape(shape)) return false;
      } else {
        return Fail("unexpected key '" + std::string(key) +
                    "' (the keys are 'descr', 'fortran_order' and 'shape')");
      }
      if (*seen) return Fail("key '" + std::string(key) + "' appears twice");
      *seen = true;
      SkipSpace();
      if (!Consume(',')) break;
      SkipSpace();
    }
    if (!Consume('}')) return Fail("expected ',' or '}'");
    SkipSpace();
    if (pos_ != text_.size()) return Fail("unexpected text after the closing '}'");
    if (!have_descr) return Fail("the header has no 'descr'");
    if (!have_order) return Fail("the header has no 'fortran_order'");
    if (!have_shape) return Fail("the header has no 'shape'");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string what) {
    error_ = "bad header at byte " + std::to_string(pos_) + ": " + std::move(what);
    return false;
  }
  bool Peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool ParseString(std::string_view* out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Fail("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return Fail("escapes in strings are not supported");
      if (text_[pos_] == '\n') return Fail("unterminated string");
      ++pos_;
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    *out = text_.substr(begin, pos_ - begin);
    ++pos_;
    return true;
  }
  bool ParseBool(bool* out) {
    const std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("True")) {
      *out = true;
      pos_ += 4;
    } else if (rest.starts_with("False")) {
      *out = false;
      pos_ += 5;
    } else {
      return Fail("'fortran_order' must be True or False");
    }
    return true;
  }
  bool ParseShape(std::vector<int64_t>* shape) {
    if (!Consume('(')) return Fail("'shape' must be a tuple such as (3, 4)");
    shape->clear();
    bool trailing_comma = false;
    SkipSpace();
    while (!Peek(')')) {
      int64_t dim = 0;
      if (!ParseDim(&dim)) return false;
      shape->push_back(dim);
      SkipSpace();
      trailing_comma = Consume(',');
      if (!trailing_comma) break;
      SkipSpace();
    }
    if (!Consume(')')) return Fail("expected ',' or ')' in 'shape'");
    if (shape->size() == 1 && !trailing_comma) {
      return Fail("'shape' (n) is not a tuple; a 1-D shape is written (n,)");
    }
    return true;
  }
  bool ParseDim(int64_t* out) {
    if (Peek('-')) return Fail("a dimension is negative");
    const size_t begin = pos_;
    uint64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) {
        return Fail("a dimension is larger than 2^63 - 1");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ == begin) return Fail("a dimension must be a decimal integer");
    if (version_ <= 2 && (Peek('L') || Peek('l'))) ++pos_;  // Python 2's long suffix
    *out = static_cast<int64_t>(value);
    return true;
  }

  std::string_view text_;
  int version_;
  size_t pos_ = 0;
  std::string error_;
};

uint32_t ReadLE(const uint8_t* p, size_t bytes) {
  uint32_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}

}  // namespace

Status ParseNpy(std::span<const uint8_t> bytes, std::string_view name, NpyLayout* out) {
  const std::string prefix = std::string(name) + ": ";
  auto invalid = [&](const std::string& what) { return Status::InvalidArgument(prefix + what); };
  const size_t size = bytes.size();
  if (size > 0 && std::memcmp(bytes.data(), kMagic, std::min(size, kMagicBytes)) != 0) {
    return invalid("not a .npy file (it does not start with \\x93NUMPY)");
  }
  if (size < kMagicBytes + 2) {
    return invalid("file is " + std::to_string(size) + " bytes, too short for a .npy header");
  }
  const int major = bytes[6], minor = bytes[7];
  if (major < 1 || major > 3 || minor != 0) {
    return invalid("unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (known: 1.0, 2.0, 3.0)");
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t header_offset = kMagicBytes + 2 + length_bytes;
  if (size < header_offset) {
    return invalid("file is " + std::to_string(size) + " bytes, too short for a .npy header");
  }
  const size_t header_bytes = ReadLE(bytes.data() + kMagicBytes + 2, length_bytes);
  if (header_bytes > kNpyMaxHeaderBytes) {
    return invalid("header length " + std::to_string(header_bytes) + " is over NumPy's limit of " +
                   std::to_string(kNpyMaxHeaderBytes) + " bytes");
  }
  if (header_bytes > size - header_offset) {
    return invalid("header length " + std::to_string(header_bytes) +
                   " runs past the end of the file (" + std::to_string(size) + " bytes)");
  }

  std::string descr;
  bool fortran_order = false;
  NpyLayout layout;
  HeaderParser parser(
      std::string_view(reinterpret_cast<const char*>(bytes.data()) + header_offset, header_bytes),
      major);
  if (!parser.Parse(&descr, &fortran_order, &layout.shape)) return invalid(parser.error());
  Status s = DtypeFromNumpyDescr(descr, &layout.dtype);
  if (!s.ok()) return invalid(s.message());
  if (fortran_order) {
    return invalid(
        "fortran_order is True; only C-order tables are read "
        "(save np.ascontiguousarray(a) instead)");
  }
  if (layout.shape.size() != 1 && layout.shape.size() != 2) {
    return invalid("shape " + ShapeText(layout.shape) + " is " +
                   std::to_string(layout.shape.size()) + "-D; a table must be 1-D or 2-D");
  }
  const size_t itemsize = DtypeSize(layout.dtype);
  // Like NumPy, refuse a shape whose size overflows even when another dimension is zero, so
  // that the row size is always representable.
  uint64_t need = itemsize, bound = itemsize;
  for (int64_t dim : layout.shape) {
    const uint64_t d = static_cast<uint64_t>(dim);
    if (__builtin_mul_overflow(bound, d == 0 ? 1 : d, &bound)) {
      return invalid("shape " + ShapeText(layout.shape) + " of " + descr +
                     " overflows a 64-bit byte count");
    }
    need *= d;
  }
  layout.version = major;
  layout.data_offset = header_offset + header_bytes;
  layout.data_bytes = size - layout.data_offset;
  if (layout.data_bytes != need) {
    return invalid("the data is " + std::to_string(layout.data_bytes) + " bytes but shape " +
                   ShapeText(layout.shape) + " of " + descr + " needs " + std::to_string(need) +
                   (layout.data_bytes < need ? " (truncated file?)" : " (trailing bytes)"));
  }
  *out = std::move(layout);
  return Status::OK();
}

NpyFile::NpyFile(std::unique_ptr<MappedFile> file, NpyLayout layout)
    : file_(std::move(file)), layout_(std::move(layout)) {
  row_bytes_ = DtypeSize(layout_.dtype) * (layout_.shape.size() == 2 ? layout_.shape[1] : 1);
}

Status NpyFile::Open(const std::string& path, std::unique_ptr<NpyFile>* out) {
  std::unique_ptr<MappedFile> file;
  Status s = MappedFile::Open(path, &file);
  if (!s.ok()) return s;
  NpyLayout layout;
  s = ParseNpy(file->bytes(), path, &layout);
  if (!s.ok()) return s;
  out->reset(new NpyFile(std::move(file), std::move(layout)));
  return Status::OK();
}

}  // namespace kvcache::tensor
