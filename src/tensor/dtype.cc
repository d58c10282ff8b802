// Dtype names and the f32 <-> f16 / bf16 conversions, written as integer bit manipulation with
// selects instead of branches so that the loops vectorise.
#include "tensor/dtype.h"

#include <bit>
#include <cstring>
#include <string>

namespace kvcache::tensor {

static_assert(std::endian::native == std::endian::little,
              "tensor data is little-endian; a big-endian host would need byte swapping");

namespace {

struct DtypeEntry {
  Dtype dtype;
  uint8_t size;
  char kind;  // NumPy's kind letter; 0 for bf16, which NumPy lacks
  std::string_view name;
  std::string_view numpy_descr;
  std::string_view safetensors_name;
};

// Indexed by Dtype.
constexpr DtypeEntry kDtypeTable[kNumDtypes] = {
    {Dtype::kF64, 8, 'f', "f64", "<f8", "F64"}, {Dtype::kF32, 4, 'f', "f32", "<f4", "F32"},
    {Dtype::kF16, 2, 'f', "f16", "<f2", "F16"}, {Dtype::kBF16, 2, 0, "bf16", "", "BF16"},
    {Dtype::kI64, 8, 'i', "i64", "<i8", "I64"}, {Dtype::kI32, 4, 'i', "i32", "<i4", "I32"},
    {Dtype::kI16, 2, 'i', "i16", "<i2", "I16"}, {Dtype::kI8, 1, 'i', "i8", "|i1", "I8"},
    {Dtype::kU8, 1, 'u', "u8", "|u1", "U8"},    {Dtype::kBool, 1, 'b', "bool", "|b1", "BOOL"},
};

constexpr bool TableInOrder() {
  for (int i = 0; i < kNumDtypes; ++i) {
    if (static_cast<int>(kDtypeTable[i].dtype) != i) return false;
  }
  return true;
}
static_assert(TableInOrder());

const DtypeEntry& Info(Dtype d) { return kDtypeTable[static_cast<int>(d)]; }

// Safetensors dtypes that exist but kvcache does not store.
constexpr std::string_view kUnsupportedSafetensors[] = {
    "U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

uint32_t LoadU32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t LoadU16(const unsigned char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void StoreU32(unsigned char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void StoreU16(unsigned char* p, uint16_t v) { std::memcpy(p, &v, 2); }

// f32 bits -> f16 bits, round to nearest even. Every path is computed and one is selected.
inline uint16_t HalfFromFloatBits(uint32_t x) {
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7FFFFFFFu;
  // Normal results: rebias the exponent (127 -> 15) and round the 13 dropped bits; a carry
  // out of the mantissa bumps the exponent, up to infinity, which is the right answer.
  const uint32_t normal = (a - 0x38000000u + 0x0FFFu + ((a >> 13) & 1u)) >> 13;
  // Subnormal results (|f| < 2^-14): adding 0.5f puts the unit of the last place at 2^-24, the
  // f16 subnormal step, so the FPU's own round-to-nearest-even does the rounding. The sum is a
  // normal float, so flush-to-zero modes cannot change it.
  const uint32_t subnormal = std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0.5f) - 0x3F000000u;
  // NaN: keep the top of the payload; if that is zero, set the quiet bit so it stays a NaN.
  const uint32_t payload = (a >> 13) & 0x3FFu;
  const uint32_t nan = 0x7C00u | payload | (payload == 0 ? 0x200u : 0u);
  uint32_t h = a < 0x38800000u ? subnormal : normal;
  h = a >= 0x47800000u ? 0x7C00u : h;  // |f| >= 65536: infinity (65520..65536 rounds there too)
  h = a > 0x7F800000u ? nan : h;
  return static_cast<uint16_t>(h | sign);
}

// f16 bits -> f32 bits, exact.
inline uint32_t FloatBitsFromHalf(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exponent = h & 0x7C00u;
  const uint32_t shifted = (h & 0x7FFFu) << 13;
  // Normal: rebias 15 -> 127. Infinity and NaN: exponent 31 -> 255, payload kept bit for bit.
  uint32_t f = shifted + (exponent == 0x7C00u ? 0x70000000u : 0x38000000u);
  // Subnormal (and zero): m * 2^-24, computed exactly as (0.5 + m * 2^-24) - 0.5.
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(0x3F000000u | (h & 0x3FFu)) - 0.5f);
  f = exponent == 0 ? subnormal : f;
  return f | sign;
}

inline uint16_t BrainFromFloatBits(uint32_t x) {
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest even; carries run into the
  // exponent and up to infinity as they should. Only NaNs need their own path, or a payload in
  // the dropped bits would round into infinity.
  const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
  const uint32_t truncated = x >> 16;
  const uint32_t nan = truncated | ((truncated & 0x7Fu) == 0 ? 0x40u : 0u);
  return static_cast<uint16_t>((x & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
}

}  // namespace

std::string_view DtypeNumpyDescr(Dtype d) { return Info(d).numpy_descr; }
std::string_view DtypeSafetensorsName(Dtype d) { return Info(d).safetensors_name; }

Status ParseDtype(std::string_view name, Dtype* out) {
  for (const DtypeEntry& info : kDtypeTable) {
    if (info.name == name) {
      *out = info.dtype;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unknown dtype '" + std::string(name) +
                                 "' (known: f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)");
}

Status DtypeFromNumpyDescr(std::string_view descr, Dtype* out) {
  std::string_view rest = descr;
  char order = '=';
  if (!rest.empty() && (rest[0] == '<' || rest[0] == '>' || rest[0] == '|' || rest[0] == '=')) {
    order = rest[0];
    rest.remove_prefix(1);
  }
  if (rest.size() == 2 && rest[1] >= '1' && rest[1] <= '8') {
    const char kind = rest[0];
    const size_t size = static_cast<size_t>(rest[1] - '0');
    for (const DtypeEntry& info : kDtypeTable) {
      if (info.kind != kind || info.size != size) continue;
      if (order == '>' && size > 1) {
        return Status::InvalidArgument("big-endian dtype '" + std::string(descr) +
                                       "' is not supported (kvcache reads little-endian data; "
                                       "convert with arr.astype(arr.dtype.newbyteorder('<')))");
      }
      *out = info.dtype;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unsupported NumPy dtype '" + std::string(descr) +
                                 "' (supported: <f8, <f4, <f2, <i8, <i4, <i2, |i1, |u1, |b1)");
}

Status DtypeFromSafetensors(std::string_view name, Dtype* out) {
  for (const DtypeEntry& info : kDtypeTable) {
    if (info.safetensors_name == name) {
      *out = info.dtype;
      return Status::OK();
    }
  }
  for (std::string_view unsupported : kUnsupportedSafetensors) {
    if (unsupported == name) {
      return Status::InvalidArgument("safetensors dtype " + std::string(name) +
                                     " is not supported (supported: F64, F32, F16, BF16, I64, "
                                     "I32, I16, I8, U8, BOOL)");
    }
  }
  return Status::InvalidArgument("unknown safetensors dtype '" + std::string(name) + "'");
}

uint16_t F32ToF16(float f) { return HalfFromFloatBits(std::bit_cast<uint32_t>(f)); }
float F16ToF32(uint16_t h) { return std::bit_cast<float>(FloatBitsFromHalf(h)); }
uint16_t F32ToBF16(float f) { return BrainFromFloatBits(std::bit_cast<uint32_t>(f)); }
float BF16ToF32(uint16_t b) { return std::bit_cast<float>(uint32_t{b} << 16); }

void ConvertF32ToF16(const void* src, size_t n, void* dst) {
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i) StoreU16(out + 2 * i, HalfFromFloatBits(LoadU32(in + 4 * i)));
}

void ConvertF16ToF32(const void* src, size_t n, void* dst) {
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i) StoreU32(out + 4 * i, FloatBitsFromHalf(LoadU16(in + 2 * i)));
}

void ConvertF32ToBF16(const void* src, size_t n, void* dst) {
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i) StoreU16(out + 2 * i, BrainFromFloatBits(LoadU32(in + 4 * i)));
}

void ConvertBF16ToF32(const void* src, size_t n, void* dst) {
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i) StoreU32(out + 4 * i, uint32_t{LoadU16(in + 2 * i)} << 16);
}

bool CanConvert(Dtype from, Dtype to) {
  auto is_float = [](Dtype d) { return d == Dtype::kF32 || d == Dtype::kF16 || d == Dtype::kBF16; };
  return from == to || (is_float(from) && is_float(to));
}

void Convert(Dtype from, const void* src, size_t n, Dtype to, void* dst) {
  if (from == to) {
    if (n > 0) std::memcpy(dst, src, n * DtypeSize(from));
    return;
  }
  if (from == Dtype::kF32) {
    (to == Dtype::kF16 ? ConvertF32ToF16 : ConvertF32ToBF16)(src, n, dst);
    return;
  }
  if (to == Dtype::kF32) {
    (from == Dtype::kF16 ? ConvertF16ToF32 : ConvertBF16ToF32)(src, n, dst);
    return;
  }
  // f16 <-> bf16 through f32, a block at a time. Each step is exact or correctly rounded once,
  // since f32 holds every f16 and bf16 value exactly.
  constexpr size_t kBlock = 256;
  float block[kBlock];
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t done = 0; done < n; done += kBlock) {
    const size_t count = n - done < kBlock ? n - done : kBlock;
    (from == Dtype::kF16 ? ConvertF16ToF32 : ConvertBF16ToF32)(in + 2 * done, count, block);
    (to == Dtype::kF16 ? ConvertF32ToF16 : ConvertF32ToBF16)(block, count, out + 2 * done);
  }
}

}  // namespace kvcache::tensor
