// TensorValue: how a tensor is stored as one cache value (ValueKind::kTensor): a 64-byte
// header — magic, dtype, rank, shape — then the data, row-major and little-endian. With the
// header a multiple of 64 bytes, data that starts a 64-byte aligned value stays aligned.
//
//   bytes 0-3   "KVT" 0x01
//   byte 4      dtype code (DtypeCode below)
//   byte 5      rank (at most 7)
//   bytes 6-7   zero
//   bytes 8-63  shape: rank little-endian int64 dimensions, then zeros
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace kvcache::tensor {

inline constexpr size_t kTensorHeaderBytes = 64;
inline constexpr int kMaxRank = 7;

struct DtypeInfo {
  const char* name;
  uint8_t code;
  uint8_t bytes;
};

// The dtypes a tensor value may have; codes are part of the stored format.
inline constexpr DtypeInfo kDtypes[] = {
    {"f64", 1, 8}, {"f32", 2, 4}, {"f16", 3, 2}, {"bf16", 4, 2}, {"i64", 5, 8},
    {"i32", 6, 4}, {"i16", 7, 2}, {"i8", 8, 1},  {"u8", 9, 1},   {"bool", 10, 1},
};

inline const DtypeInfo* DtypeByName(std::string_view name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}
inline const DtypeInfo* DtypeByCode(uint8_t code) {
  for (const DtypeInfo& d : kDtypes) {
    if (code == d.code) return &d;
  }
  return nullptr;
}

// A decoded view of a stored tensor; points into the value.
struct TensorView {
  const DtypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  std::string_view data;
};

// The header for dtype and shape. REQUIRES: a known dtype, rank <= kMaxRank.
inline std::string EncodeTensorHeader(const DtypeInfo& dtype, const std::vector<int64_t>& shape) {
  std::string h(kTensorHeaderBytes, '\0');
  std::memcpy(h.data(), "KVT\x01", 4);
  h[4] = static_cast<char>(dtype.code);
  h[5] = static_cast<char>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) std::memcpy(h.data() + 8 + 8 * i, &shape[i], 8);
  return h;
}

// Checks a stored value and points *out at its parts. False if it is not a valid tensor value
// (bad magic, unknown dtype, rank, data length not matching the shape).
inline bool DecodeTensor(std::string_view v, TensorView* out) {
  if (v.size() < kTensorHeaderBytes || std::memcmp(v.data(), "KVT\x01", 4) != 0) return false;
  const DtypeInfo* d = DtypeByCode(static_cast<uint8_t>(v[4]));
  const int rank = static_cast<uint8_t>(v[5]);
  if (d == nullptr || rank > kMaxRank) return false;
  out->shape.resize(rank);
  __int128 elements = 1;
  for (int i = 0; i < rank; ++i) {
    int64_t dim;
    std::memcpy(&dim, v.data() + 8 + 8 * i, 8);
    if (dim < 0) return false;
    out->shape[i] = dim;
    elements *= dim;
    if (elements > (static_cast<__int128>(1) << 62)) return false;
  }
  if (static_cast<__int128>(v.size() - kTensorHeaderBytes) != elements * d->bytes) return false;
  out->dtype = d;
  out->data = v.substr(kTensorHeaderBytes);
  return true;
}

}  // namespace kvcache::tensor
