// Tensor commands: TENSOR.SET, TENSOR.MSET, TENSOR.GET, TENSOR.MGET and TENSOR.INFO. A tensor is
// one item of ValueKind::kTensor in the format of kvcache/tensor.h: its data first (64-byte
// aligned by the engine), then a dtype/shape trailer. So a plain GET answers its data, and reads
// send the data from the pinned item or, converted (AS), from one buffer built for the reply.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "kvcache/tensor.h"
#include "server/command.h"
#include "server/server.h"
#include "tensor/dtype.h"

namespace kvcache::server {
namespace {

// ---- arguments

bool ParseDtypeArg(CommandContext& c, std::string_view arg, Dtype* out) {
  char lower[8];
  if (arg.size() <= sizeof(lower)) {
    for (size_t i = 0; i < arg.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(arg[i])));
    }
    if (DtypeFromName(std::string_view(lower, arg.size()), out)) return true;
  }
  c.reply.Error("ERR unknown dtype '" + std::string(arg.substr(0, 64)) +
                "' (f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)");
  return false;
}

std::string ShapeText(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Dimensions args[begin, end) of a tensor of `dtype`; *bytes is its data size.
bool ParseShape(CommandContext& c, size_t begin, size_t end, Dtype dtype,
                std::vector<int64_t>* shape, uint64_t* bytes) {
  const size_t rank = end - begin;
  if (rank < 1 || rank > static_cast<size_t>(kMaxRank)) {
    c.reply.Error("ERR a tensor has 1 to " + std::to_string(kMaxRank) + " dimensions, got " +
                  std::to_string(rank));
    return false;
  }
  for (size_t i = begin; i < end; ++i) {
    std::string_view a = c.arg(i);
    int64_t d = -1;
    auto r = std::from_chars(a.data(), a.data() + a.size(), d);
    if (r.ec != std::errc() || r.ptr != a.data() + a.size() || d < 0) {
      c.reply.Error("ERR dimension '" + std::string(a.substr(0, 64)) +
                    "' is not a non-negative integer");
      return false;
    }
    shape->push_back(d);
  }
  if (!TensorDataBytes(dtype, *shape, bytes)) {
    c.reply.Error("ERR shape " + ShapeText(*shape) + " of " + std::string(DtypeName(dtype)) +
                  " is too large");
    return false;
  }
  return true;
}

bool CheckBlob(CommandContext& c, std::string_view blob, Dtype dtype,
               std::span<const int64_t> shape, uint64_t bytes, std::string_view key_note) {
  if (blob.size() == bytes) return true;
  c.reply.Error("ERR blob is " + std::to_string(blob.size()) + " bytes, shape " + ShapeText(shape) +
                " of " + std::string(DtypeName(dtype)) + " needs " + std::to_string(bytes) +
                std::string(key_note));
  return false;
}

// d rounded to a float with round-to-odd: exact values stay, inexact ones become the float
// toward zero with its last bit set. Rounding that float to f16 or bf16 (at most 11 bits of
// precision, against the float's 24) then gives d correctly rounded, not rounded twice.
float ToFloatRoundOdd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) --bits;  // back toward zero
  bits |= 1;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool IsFloat(Dtype d) {
  return d == Dtype::kF64 || d == Dtype::kF32 || d == Dtype::kF16 || d == Dtype::kBF16;
}

enum class Parsed { kOk, kBad, kRange };

// One VALUES number as an element of `dtype`, written (little-endian) at dst.
Parsed ParseElement(std::string_view s, Dtype dtype, char* dst) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return Parsed::kBad;
  if (IsFloat(dtype)) {
    const std::string text(s);  // strtod needs the terminating NUL
    char* end = nullptr;
    errno = 0;
    if (dtype == Dtype::kF32) {
      const float f = std::strtof(text.c_str(), &end);
      if (end != text.c_str() + text.size()) return Parsed::kBad;
      if (errno == ERANGE && std::isinf(f)) return Parsed::kRange;
      std::memcpy(dst, &f, 4);
      return Parsed::kOk;
    }
    const double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return Parsed::kBad;
    if (errno == ERANGE && std::isinf(d)) return Parsed::kRange;
    if (dtype == Dtype::kF64) {
      std::memcpy(dst, &d, 8);
      return Parsed::kOk;
    }
    const float f = ToFloatRoundOdd(d);
    const uint16_t h = dtype == Dtype::kF16 ? tensor::F32ToF16(f) : tensor::F32ToBF16(f);
    const float back = dtype == Dtype::kF16 ? tensor::F16ToF32(h) : tensor::BF16ToF32(h);
    if (std::isinf(back) && !std::isinf(d)) return Parsed::kRange;
    std::memcpy(dst, &h, 2);
    return Parsed::kOk;
  }
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return Parsed::kBad;
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec == std::errc::result_out_of_range) return Parsed::kRange;
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return Parsed::kBad;
  auto in = [&](int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  switch (dtype) {
    case Dtype::kI64:
      std::memcpy(dst, &v, 8);
      return Parsed::kOk;
    case Dtype::kI32: {
      if (!in(INT32_MIN, INT32_MAX)) return Parsed::kRange;
      const int32_t x = static_cast<int32_t>(v);
      std::memcpy(dst, &x, 4);
      return Parsed::kOk;
    }
    case Dtype::kI16: {
      if (!in(INT16_MIN, INT16_MAX)) return Parsed::kRange;
      const int16_t x = static_cast<int16_t>(v);
      std::memcpy(dst, &x, 2);
      return Parsed::kOk;
    }
    case Dtype::kI8:
      if (!in(INT8_MIN, INT8_MAX)) return Parsed::kRange;
      *dst = static_cast<char>(static_cast<int8_t>(v));
      return Parsed::kOk;
    case Dtype::kU8:
      if (!in(0, UINT8_MAX)) return Parsed::kRange;
      *dst = static_cast<char>(static_cast<uint8_t>(v));
      return Parsed::kOk;
    case Dtype::kBool:
      if (!in(0, 1)) return Parsed::kRange;
      *dst = static_cast<char>(v);
      return Parsed::kOk;
    default:
      return Parsed::kBad;
  }
}

// TENSOR.SET key DTYPE dim... (BLOB bytes | VALUES v...)
bool ParseSet(CommandContext& c, std::vector<TensorWrite>* out) {
  Dtype dtype;
  if (!ParseDtypeArg(c, c.arg(2), &dtype)) return false;
  size_t data_at = 3;  // the BLOB or VALUES token; dimensions are never either
  while (data_at < c.argc() && !EqualsIgnoreCase(c.arg(data_at), "BLOB") &&
         !EqualsIgnoreCase(c.arg(data_at), "VALUES")) {
    ++data_at;
  }
  if (data_at == c.argc()) {
    c.reply.Error("ERR syntax error: the shape must be followed by BLOB or VALUES");
    return false;
  }
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  if (!ParseShape(c, 3, data_at, dtype, &shape, &bytes)) return false;
  TensorWrite w;
  w.key = c.arg(1);
  if (EqualsIgnoreCase(c.arg(data_at), "BLOB")) {
    if (c.argc() != data_at + 2) {
      c.reply.Error("ERR syntax error: BLOB takes exactly one argument");
      return false;
    }
    if (!CheckBlob(c, c.arg(data_at + 1), dtype, shape, bytes, "")) return false;
    w.value = EncodeTensor(dtype, shape, c.arg(data_at + 1));
  } else {
    const size_t given = c.argc() - data_at - 1;
    const uint64_t elements = bytes / DtypeSize(dtype);
    if (given != elements) {
      c.reply.Error("ERR VALUES has " + std::to_string(given) + " numbers, shape " +
                    ShapeText(shape) + " needs " + std::to_string(elements));
      return false;
    }
    w.value.resize(bytes);
    const size_t size = DtypeSize(dtype);
    for (size_t i = 0; i < given; ++i) {
      std::string_view v = c.arg(data_at + 1 + i);
      const Parsed p = ParseElement(v, dtype, w.value.data() + i * size);
      if (p != Parsed::kOk) {
        c.reply.Error("ERR value '" + std::string(v.substr(0, 64)) +
                      (p == Parsed::kBad ? "' is not a valid " : "' is out of range for ") +
                      std::string(DtypeName(dtype)));
        return false;
      }
    }
    AppendTensorTrailer(dtype, shape, &w.value);
  }
  out->push_back(std::move(w));
  return true;
}

// TENSOR.MSET's first key: the token before the first BLOB that leaves room for a dimension (so a
// first key may itself be called BLOB). 0 if there is none.
size_t MSetFirstKey(std::span<const std::string_view> args) {
  for (size_t i = 4; i < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "BLOB")) return i - 1;
  }
  return 0;
}

// TENSOR.MSET DTYPE dim... key BLOB bytes [key BLOB bytes ...]
bool ParseMSet(CommandContext& c, std::vector<TensorWrite>* out) {
  Dtype dtype;
  if (!ParseDtypeArg(c, c.arg(1), &dtype)) return false;
  const size_t first = MSetFirstKey(c.args);
  if (first == 0) {
    c.reply.Error("ERR syntax error: expected DTYPE dim [dim ...] key BLOB bytes [key BLOB ...]");
    return false;
  }
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  if (!ParseShape(c, 2, first, dtype, &shape, &bytes)) return false;
  if ((c.argc() - first) % 3 != 0) {
    c.reply.Error("ERR wrong number of arguments for 'tensor.mset' command");
    return false;
  }
  for (size_t i = first; i < c.argc(); i += 3) {
    if (!EqualsIgnoreCase(c.arg(i + 1), "BLOB")) {
      c.reply.Error("ERR syntax error: expected BLOB after key '" +
                    std::string(c.arg(i).substr(0, 64)) + "'");
      return false;
    }
    const std::string note = " (key '" + std::string(c.arg(i).substr(0, 64)) + "')";
    if (!CheckBlob(c, c.arg(i + 2), dtype, shape, bytes, note)) return false;
  }
  out->reserve((c.argc() - first) / 3);
  for (size_t i = first; i < c.argc(); i += 3) {
    out->push_back(TensorWrite{c.arg(i), EncodeTensor(dtype, shape, c.arg(i + 2))});
  }
  return true;
}

}  // namespace

bool ParseTensorWrites(CommandContext& c, std::vector<TensorWrite>* out) {
  return EqualsIgnoreCase(c.arg(0), "tensor.mset") ? ParseMSet(c, out) : ParseSet(c, out);
}

namespace {

// ---- writes

void StoreAll(CommandContext& c) {
  std::vector<TensorWrite> writes;
  if (!ParseTensorWrites(c, &writes)) return;
  WriteOptions o;
  o.ttl = kNoExpiry;  // replaces the value and its TTL, as SET does
  o.kind = ValueKind::kTensor;
  for (const TensorWrite& w : writes) {
    Status st = c.cache.Write(c.KeyOf(w.key), w.value, o);
    if (!st.ok()) return c.ErrorFromStatus(st);
  }
  c.reply.SimpleString("OK");
}

void CmdTensorSet(CommandContext& c) { StoreAll(c); }
// Atomic: the command takes the world lock exclusively (kExclusive), and every pair is checked
// before the first is written.
void CmdTensorMSet(CommandContext& c) { StoreAll(c); }

void MSetKeys(std::span<const std::string_view> args, std::vector<size_t>* positions) {
  const size_t first = MSetFirstKey(args);
  if (first == 0) return;
  for (size_t i = first; i < args.size(); i += 3) positions->push_back(i);
}

// ---- reads

// Keeps a reply's converted or gathered bytes alive until the socket has taken them.
struct BufferOwner final : protocol::ReplyBuilder::Owner {
  explicit BufferOwner(std::unique_ptr<char[]> b) : bytes(std::move(b)) {}
  std::unique_ptr<char[]> bytes;
};

void BulkOwned(CommandContext& c, std::unique_ptr<char[]> bytes, size_t size) {
  const char* data = bytes.get();
  c.reply.BulkExternal(data, size, std::make_unique<BufferOwner>(std::move(bytes)));
}

// An uninitialised reply buffer of `size` bytes, or nullptr (after replying the error) when it
// would exceed proto-max-bulk-len or memory.
std::unique_ptr<char[]> ReplyBuffer(CommandContext& c, unsigned __int128 size) {
  const auto limit = static_cast<uint64_t>(c.server.config().proto_max_bulk_len);
  if (size > limit) {
    c.reply.Error("ERR the reply would be " + std::to_string(static_cast<uint64_t>(size)) +
                  " bytes, above proto-max-bulk-len (" + std::to_string(limit) + ")");
    return nullptr;
  }
  std::unique_ptr<char[]> b(new (std::nothrow) char[static_cast<size_t>(size) + 1]);
  if (b == nullptr) c.ErrorOom();
  return b;
}

void ShapeReply(CommandContext& c, std::span<const int64_t> shape) {
  c.reply.ArrayHeader(shape.size());
  for (int64_t d : shape) c.reply.Integer(d);
}

// One element as RESP3 a double or an integer; RESP2 a bulk string (floats in the shortest
// text that reads back as the same value of their dtype).
void ElementReply(CommandContext& c, Dtype dtype, const char* p) {
  const bool resp3 = c.reply.resp_version() == 3;
  char text[64];
  if (IsFloat(dtype)) {
    double d;
    float f = 0;
    if (dtype == Dtype::kF64) {
      std::memcpy(&d, p, 8);
    } else {
      if (dtype == Dtype::kF32) {
        std::memcpy(&f, p, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, p, 2);
        f = dtype == Dtype::kF16 ? tensor::F16ToF32(h) : tensor::BF16ToF32(h);
      }
      d = f;
    }
    if (resp3) return c.reply.Double(d);
    auto r = dtype == Dtype::kF64 ? std::to_chars(text, text + sizeof(text), d)
                                  : std::to_chars(text, text + sizeof(text), f);
    return c.reply.Bulk(std::string_view(text, static_cast<size_t>(r.ptr - text)));
  }
  int64_t v = 0;
  switch (dtype) {
    case Dtype::kI64:
      std::memcpy(&v, p, 8);
      break;
    case Dtype::kI32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      v = x;
      break;
    }
    case Dtype::kI16: {
      int16_t x;
      std::memcpy(&x, p, 2);
      v = x;
      break;
    }
    case Dtype::kI8:
      v = static_cast<int8_t>(*p);
      break;
    case Dtype::kU8:
      v = static_cast<uint8_t>(*p);
      break;
    default:  // bool
      v = *p != 0;
      break;
  }
  if (resp3) return c.reply.Integer(v);
  auto r = std::to_chars(text, text + sizeof(text), v);
  c.reply.Bulk(std::string_view(text, static_cast<size_t>(r.ptr - text)));
}

bool CheckConvert(CommandContext& c, Dtype from, Dtype to) {
  if (tensor::CanConvert(from, to)) return true;
  c.reply.Error("ERR cannot convert " + std::string(DtypeName(from)) + " to " +
                std::string(DtypeName(to)) + " (only between f32, f16 and bf16)");
  return false;
}

// A pinned tensor of a read command. False (after replying) when there is none to answer: nil for
// a missing key, WRONGTYPE for another kind.
bool OpenTensor(CommandContext& c, std::string_view key, Handle* h, TensorView* t) {
  *h = c.cache.Get(key);
  if (!*h) {
    c.reply.Null();
    return false;
  }
  if (h->kind() != ValueKind::kTensor) {
    c.ErrorWrongType();
    return false;
  }
  if (!DecodeTensor(h->value(), t)) {
    c.reply.Error("ERR tensor value is corrupt");
    return false;
  }
  return true;
}

// TENSOR.GET key [META] [BLOB | VALUES] [AS DTYPE]
void CmdTensorGet(CommandContext& c) {
  bool meta = false, blob = false, values = false, as_given = false;
  Dtype as = Dtype::kF32;
  for (size_t i = 2; i < c.argc(); ++i) {
    std::string_view a = c.arg(i);
    if (EqualsIgnoreCase(a, "META") && !meta) {
      meta = true;
    } else if (EqualsIgnoreCase(a, "BLOB") && !blob && !values) {
      blob = true;
    } else if (EqualsIgnoreCase(a, "VALUES") && !blob && !values) {
      values = true;
    } else if (EqualsIgnoreCase(a, "AS") && !as_given && i + 1 < c.argc()) {
      if (!ParseDtypeArg(c, c.arg(++i), &as)) return;
      as_given = true;
    } else {
      return c.ErrorSyntax();
    }
  }
  if (meta && (blob || values)) return c.ErrorSyntax();
  Handle h;
  TensorView t;
  if (!OpenTensor(c, c.Key(1), &h, &t)) return;
  const Dtype out = as_given ? as : t.dtype;
  if (!CheckConvert(c, t.dtype, out)) return;
  const size_t n = static_cast<size_t>(t.elements());
  const char* data = t.data.data();
  std::unique_ptr<char[]> converted;
  if (!meta && out != t.dtype) {
    converted = ReplyBuffer(c, static_cast<unsigned __int128>(n) * DtypeSize(out));
    if (converted == nullptr) return;
    tensor::Convert(t.dtype, data, n, out, converted.get());
    data = converted.get();
  }
  c.reply.ArrayHeader(meta ? 2 : 3);
  c.reply.Bulk(DtypeName(out));
  ShapeReply(c, t.shape());
  if (meta) return;
  if (values) {
    c.reply.ArrayHeader(n);
    for (size_t i = 0; i < n; ++i) ElementReply(c, out, data + i * DtypeSize(out));
    return;
  }
  if (converted != nullptr) return BulkOwned(c, std::move(converted), n * DtypeSize(out));
  const size_t size = t.data.size();
  c.BulkFromHandle(std::move(h), 0, size);  // the data leads the value: sent from the item
}

// TENSOR.MGET's options come first; the keys start at the first other token.
size_t MGetFirstKey(std::span<const std::string_view> args) {
  size_t i = 1;
  while (i + 1 < args.size() &&
         (EqualsIgnoreCase(args[i], "AS") || EqualsIgnoreCase(args[i], "MISSING"))) {
    i += 2;
  }
  return i;
}

void MGetKeys(std::span<const std::string_view> args, std::vector<size_t>* positions) {
  for (size_t i = MGetFirstKey(args); i < args.size(); ++i) positions->push_back(i);
}

// TENSOR.MGET [AS DTYPE] [MISSING ZERO | ERROR] key [key ...]
void CmdTensorMGet(CommandContext& c) {
  bool as_given = false, missing_error = false, missing_given = false;
  Dtype as = Dtype::kF32;
  const size_t first = MGetFirstKey(c.args);
  for (size_t i = 1; i < first; i += 2) {
    if (EqualsIgnoreCase(c.arg(i), "AS") && !as_given) {
      if (!ParseDtypeArg(c, c.arg(i + 1), &as)) return;
      as_given = true;
    } else if (EqualsIgnoreCase(c.arg(i), "MISSING") && !missing_given &&
               (EqualsIgnoreCase(c.arg(i + 1), "ZERO") ||
                EqualsIgnoreCase(c.arg(i + 1), "ERROR"))) {
      missing_error = EqualsIgnoreCase(c.arg(i + 1), "ERROR");
      missing_given = true;
    } else {
      return c.ErrorSyntax();
    }
  }
  if (first >= c.argc()) {
    return c.reply.Error("ERR wrong number of arguments for 'tensor.mget' command");
  }
  const size_t n = c.argc() - first;
  std::vector<std::string_view> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = c.Key(first + i);
  std::vector<Handle> rows = c.cache.MultiGet(keys);
  c.FillJustLoaded(keys, &rows);
  // Every found row must be a tensor of the first one's dtype and shape; check all before
  // building anything.
  std::vector<int64_t> missing;
  TensorView like;
  size_t like_row = n;
  for (size_t i = 0; i < n; ++i) {
    if (!rows[i]) {
      missing.push_back(static_cast<int64_t>(i));
      continue;
    }
    if (rows[i].kind() != ValueKind::kTensor) return c.ErrorWrongType();
    TensorView t;
    if (!DecodeTensor(rows[i].value(), &t)) return c.reply.Error("ERR tensor value is corrupt");
    if (like_row == n) {
      like = t;
      like_row = i;
    } else if (t.dtype != like.dtype || t.rank != like.rank ||
               !std::equal(t.dims, t.dims + t.rank, like.dims)) {
      return c.reply.Error("ERR tensors differ: '" +
                           std::string(c.arg(first + like_row).substr(0, 64)) + "' is " +
                           std::string(DtypeName(like.dtype)) + " " + ShapeText(like.shape()) +
                           ", '" + std::string(c.arg(first + i).substr(0, 64)) + "' is " +
                           std::string(DtypeName(t.dtype)) + " " + ShapeText(t.shape()));
    }
  }
  if (missing_error && !missing.empty()) {
    return c.reply.Error("ERR key '" + std::string(c.arg(first + missing[0]).substr(0, 64)) +
                         "' not found (MISSING ERROR)");
  }
  if (like_row == n) {  // nothing found: no dtype or row shape to report
    c.reply.ArrayHeader(4);
    if (as_given) {
      c.reply.Bulk(DtypeName(as));
    } else {
      c.reply.Null();
    }
    c.reply.ArrayHeader(1);
    c.reply.Integer(static_cast<int64_t>(n));
    c.reply.Bulk("");
  } else {
    const Dtype out = as_given ? as : like.dtype;
    if (!CheckConvert(c, like.dtype, out)) return;
    const size_t elements = static_cast<size_t>(like.elements());
    const size_t row_bytes = elements * DtypeSize(out);
    std::unique_ptr<char[]> blob = ReplyBuffer(c, static_cast<unsigned __int128>(n) * row_bytes);
    if (blob == nullptr) return;
    char* dst = blob.get();
    for (size_t i = 0; i < n; ++i, dst += row_bytes) {
      if (!rows[i]) {
        std::memset(dst, 0, row_bytes);  // zero in every dtype
      } else if (out == like.dtype) {
        std::memcpy(dst, rows[i].value().data(), row_bytes);
      } else {
        tensor::Convert(like.dtype, rows[i].value().data(), elements, out, dst);
      }
    }
    c.reply.ArrayHeader(4);
    c.reply.Bulk(DtypeName(out));
    c.reply.ArrayHeader(1 + like.rank);
    c.reply.Integer(static_cast<int64_t>(n));
    for (int64_t d : like.shape()) c.reply.Integer(d);
    BulkOwned(c, std::move(blob), n * row_bytes);
  }
  c.reply.ArrayHeader(missing.size());
  for (int64_t i : missing) c.reply.Integer(i);
}

// TENSOR.INFO key. Read under the shard's lock (an Update that keeps the item), which is where
// the engine tells what the item costs.
void CmdTensorInfo(CommandContext& c) {
  enum { kMissing, kFound, kWrongType, kCorrupt } outcome = kMissing;
  TensorView t;
  size_t memory = 0;
  bool aligned = false;
  Status st = c.cache.Update(c.Key(1), [&](const ItemView* cur, Mutation*) {
    if (cur == nullptr) return;
    if (cur->kind != ValueKind::kTensor) {
      outcome = kWrongType;
      return;
    }
    if (!DecodeTensor(cur->value, &t)) {
      outcome = kCorrupt;
      return;
    }
    outcome = kFound;
    t.data = {};  // the view ends with the callback
    memory = cur->memory_bytes;
    aligned = reinterpret_cast<uintptr_t>(cur->value.data()) % 64 == 0;
  });
  if (!st.ok()) return c.ErrorFromStatus(st);
  if (outcome == kMissing) return c.reply.Null();
  if (outcome == kWrongType) return c.ErrorWrongType();
  if (outcome == kCorrupt) return c.reply.Error("ERR tensor value is corrupt");
  c.reply.MapHeader(6);
  c.reply.Bulk("dtype");
  c.reply.Bulk(DtypeName(t.dtype));
  c.reply.Bulk("shape");
  ShapeReply(c, t.shape());
  c.reply.Bulk("elements");
  c.reply.Integer(t.elements());
  c.reply.Bulk("data_bytes");
  c.reply.Integer(t.elements() * static_cast<int64_t>(DtypeSize(t.dtype)));
  c.reply.Bulk("memory_bytes");
  c.reply.Integer(static_cast<int64_t>(memory));
  c.reply.Bulk("aligned");
  c.reply.Integer(aligned ? 1 : 0);
}

}  // namespace

void RegisterTensorFamily(CommandRegistry* r) {
  using namespace cmd;
  const uint32_t kW = kWrite | kDenyOom;
  r->Add({"tensor.set", -5, kW | kNoLoad, 1, 1, 1, CmdTensorSet, "tensor",
          "Stores a tensor (dtype, shape and data as a blob or as numbers) under a key."});
  r->Add({"tensor.mset", -6, kW | kExclusive | kNoLoad, 0, 0, 0, CmdTensorMSet, "tensor",
          "Atomically stores tensors of one dtype and shape under several keys.", MSetKeys});
  r->Add({"tensor.get", -2, kReadOnly, 1, 1, 1, CmdTensorGet, "tensor",
          "Returns a tensor's dtype, shape and data (bytes or numbers), optionally converted."});
  r->Add({"tensor.mget", -2, kReadOnly, 1, -1, 1, CmdTensorMGet, "tensor",
          "Gathers tensors of one dtype and shape into one batch, with the indices of missing "
          "keys.",
          MGetKeys});
  r->Add({"tensor.info", 2, kReadOnly | kFast, 1, 1, 1, CmdTensorInfo, "tensor",
          "Returns a tensor's dtype, shape, sizes, memory cost and alignment."});
}

}  // namespace kvcache::server
