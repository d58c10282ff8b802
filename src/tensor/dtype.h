// Dtype: the element types kvcache stores in tensor values, their names in NumPy and
// safetensors files, and the float conversions that TENSOR.GET ... AS serves.
//
// Names are the lower-case strings of TensorInfo::dtype ("f32", "bf16", ...). Data is always
// little-endian; a big-endian .npy descr is refused rather than byte-swapped.
//
// The conversions round to nearest, ties to even, as IEEE 754 does: values too large for the
// narrow type become infinity, values too small become (signed) zero or a subnormal, a NaN stays
// a NaN of the same sign with the top bits of its payload (quietened only when the kept payload
// would be zero). Widening (f16/bf16 -> f32) is exact and keeps every bit pattern, so every f16
// and bf16 value, NaNs included, survives a round trip through f32. The bulk loops are branch-free
// so that the compiler vectorises them; they need no alignment. Thread-safe: everything here is a
// pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kvcache/status.h"
#include "kvcache/tensor.h"

namespace kvcache::tensor {

// The dtype enum and the tensor value format are public (kvcache/tensor.h).
using ::kvcache::Dtype;
using ::kvcache::DtypeName;
using ::kvcache::DtypeSize;
using ::kvcache::kNumDtypes;
// The descr NumPy writes for it ("<f4", "|u1", "|b1", ...). bf16 has no NumPy type: "<V2"
// would lose its meaning, so it returns "" and such data cannot be written as .npy.
std::string_view DtypeNumpyDescr(Dtype d);
// "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
std::string_view DtypeSafetensorsName(Dtype d);

// Parses one of DtypeName's strings (exactly, lower case).
Status ParseDtype(std::string_view name, Dtype* out);
// Parses a NumPy array-protocol descr: byte order '<', '|', '=' or none, then kind and size
// ("<f4", "|u1", "<f2", "|b1", "<i8"). '>' is refused for multi-byte types (kvcache does not
// byte-swap); for one-byte types the order means nothing and any is accepted.
Status DtypeFromNumpyDescr(std::string_view descr, Dtype* out);
// Parses a safetensors dtype name. Known but unsupported ones (U16, U32, U64, the FP8 kinds...)
// are refused with a message that says so.
Status DtypeFromSafetensors(std::string_view name, Dtype* out);

// One value. The bulk functions below do the same for n values.
uint16_t F32ToF16(float f);
float F16ToF32(uint16_t h);
uint16_t F32ToBF16(float f);
float BF16ToF32(uint16_t b);

// Bulk conversions of n elements from src to dst. src and dst need no alignment and must not
// overlap. Sizes: f32 is 4 bytes, f16 and bf16 are 2.
void ConvertF32ToF16(const void* src, size_t n, void* dst);
void ConvertF16ToF32(const void* src, size_t n, void* dst);
void ConvertF32ToBF16(const void* src, size_t n, void* dst);
void ConvertBF16ToF32(const void* src, size_t n, void* dst);

// Whether Convert can turn `from` into `to`: the same dtype, or two of f32, f16, bf16.
bool CanConvert(Dtype from, Dtype to);
// Converts n elements. REQUIRES: CanConvert(from, to); dst holds n * DtypeSize(to) bytes and
// does not overlap src.
void Convert(Dtype from, const void* src, size_t n, Dtype to, void* dst);

}  // namespace kvcache::tensor
