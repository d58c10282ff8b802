// Tensor values: the element types kvcache stores and how a tensor is stored as one cache value
// (ValueKind::kTensor): the data, row-major and little-endian, then a trailer that names dtype
// and shape.
//
//   [data: product(shape) * DtypeSize(dtype) bytes]
//   [shape: rank little-endian int64 dimensions]
//   [dtype code: 1 byte (the Dtype enum's value)] [rank: 1 byte, at most 7] [2 zero bytes]
//   ["KVT" 0x01]
//
// The data comes first so that it starts where the value starts: the engine places the values
// of tensor items at 64-byte aligned addresses (Cache::Write with ValueKind::kTensor), so the
// data is 64-byte aligned with no header to skip, and a plain GET of a tensor answers its data.
// The trailer costs 8 + 8 * rank bytes (16 for an embedding row).
//
// Everything here is a pure function of its arguments: thread-safe, no allocation except in
// EncodeTensor / AppendTensorTrailer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace kvcache {

// The element types; the values are part of the stored format.
enum class Dtype : uint8_t { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

inline constexpr int kNumDtypes = 10;

// Bytes per element.
constexpr size_t DtypeSize(Dtype d) {
  constexpr uint8_t kSizes[kNumDtypes] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
  return kSizes[static_cast<int>(d)];
}

// "f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool".
constexpr std::string_view DtypeName(Dtype d) {
  constexpr std::string_view kNames[kNumDtypes] = {"f64", "f32", "f16", "bf16", "i64",
                                                   "i32", "i16", "i8",  "u8",   "bool"};
  return kNames[static_cast<int>(d)];
}

// NumPy's and PyTorch's names of the same types: "float64", "float32", ..., "uint8", "bool".
constexpr std::string_view DtypeLongName(Dtype d) {
  constexpr std::string_view kNames[kNumDtypes] = {"float64", "float32", "float16", "bfloat16",
                                                   "int64",   "int32",   "int16",   "int8",
                                                   "uint8",   "bool"};
  return kNames[static_cast<int>(d)];
}

// Parses one of DtypeName's or DtypeLongName's strings (exactly, lower case).
constexpr bool DtypeFromName(std::string_view name, Dtype* out) {
  for (int i = 0; i < kNumDtypes; ++i) {
    if (DtypeName(static_cast<Dtype>(i)) == name || DtypeLongName(static_cast<Dtype>(i)) == name) {
      *out = static_cast<Dtype>(i);
      return true;
    }
  }
  return false;
}

inline constexpr int kMaxRank = 7;
inline constexpr char kTensorMagic[4] = {'K', 'V', 'T', '\x01'};

inline constexpr size_t TensorTrailerBytes(int rank) { return 8 + 8 * static_cast<size_t>(rank); }

// A decoded view of a stored tensor; points into the value. No allocation.
struct TensorView {
  Dtype dtype = Dtype::kU8;
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  std::string_view data;

  std::span<const int64_t> shape() const { return {dims, static_cast<size_t>(rank)}; }
  int64_t elements() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
};

// Bytes of data a tensor of this dtype and shape holds. False if a dimension is negative, the
// rank is above kMaxRank, or the size overflows (above 2^62 bytes).
inline bool TensorDataBytes(Dtype dtype, std::span<const int64_t> shape, uint64_t* bytes) {
  if (shape.size() > static_cast<size_t>(kMaxRank)) return false;
  unsigned __int128 n = DtypeSize(dtype);
  for (int64_t d : shape) {
    if (d < 0) return false;
    n *= static_cast<uint64_t>(d);
    if (n > (static_cast<unsigned __int128>(1) << 62)) return false;
  }
  *bytes = static_cast<uint64_t>(n);
  return true;
}

// Appends the trailer for dtype and shape to *out (after the data).
// REQUIRES: shape.size() <= kMaxRank.
inline void AppendTensorTrailer(Dtype dtype, std::span<const int64_t> shape, std::string* out) {
  const size_t at = out->size();
  out->resize(at + TensorTrailerBytes(static_cast<int>(shape.size())));
  char* p = out->data() + at;
  for (int64_t d : shape) {
    std::memcpy(p, &d, 8);
    p += 8;
  }
  p[0] = static_cast<char>(dtype);
  p[1] = static_cast<char>(shape.size());
  p[2] = 0;
  p[3] = 0;
  std::memcpy(p + 4, kTensorMagic, 4);
}

// data followed by the trailer. REQUIRES: data.size() matches TensorDataBytes(dtype, shape).
inline std::string EncodeTensor(Dtype dtype, std::span<const int64_t> shape,
                                std::string_view data) {
  std::string v;
  v.reserve(data.size() + TensorTrailerBytes(static_cast<int>(shape.size())));
  v.append(data);
  AppendTensorTrailer(dtype, shape, &v);
  return v;
}

// Checks a stored value and points *out at its parts. False if it is not a valid tensor value
// (bad magic, unknown dtype, rank, data length not matching the shape).
inline bool DecodeTensor(std::string_view v, TensorView* out) {
  if (v.size() < 8 || std::memcmp(v.data() + v.size() - 4, kTensorMagic, 4) != 0) return false;
  const char* tail = v.data() + v.size() - 8;
  const uint8_t code = static_cast<uint8_t>(tail[0]);
  const int rank = static_cast<uint8_t>(tail[1]);
  if (code >= kNumDtypes || rank > kMaxRank) return false;
  const size_t trailer = TensorTrailerBytes(rank);
  if (v.size() < trailer) return false;
  const char* dims = v.data() + v.size() - trailer;
  out->dtype = static_cast<Dtype>(code);
  out->rank = rank;
  for (int i = 0; i < rank; ++i) std::memcpy(&out->dims[i], dims + 8 * i, 8);
  uint64_t bytes = 0;
  if (!TensorDataBytes(out->dtype, out->shape(), &bytes)) return false;
  if (bytes != v.size() - trailer) return false;
  out->data = v.substr(0, bytes);
  return true;
}

// Bytes of data at the start of a stored tensor value (what GET answers), or the whole value if
// it does not decode.
inline size_t TensorDataSize(std::string_view v) {
  TensorView t;
  return DecodeTensor(v, &t) ? t.data.size() : v.size();
}

}  // namespace kvcache
