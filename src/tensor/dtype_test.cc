// Dtype names and parsing, and the f16 / bf16 conversions checked exhaustively against
// independent references: ldexp for decoding, and for encoding a nearest-value search over the
// sorted table of all finite values (ties to the even pattern).
#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace kvcache::tensor {
namespace {

constexpr Dtype kAll[] = {Dtype::kF64, Dtype::kF32, Dtype::kF16, Dtype::kBF16, Dtype::kI64,
                          Dtype::kI32, Dtype::kI16, Dtype::kI8,  Dtype::kU8,   Dtype::kBool};

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t b) { return std::bit_cast<float>(b); }

TEST(DtypeTest, NamesSizesAndRoundTrips) {
  const char* names[] = {"f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool"};
  const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
  for (int i = 0; i < kNumDtypes; ++i) {
    const Dtype d = kAll[i];
    EXPECT_EQ(DtypeName(d), names[i]);
    EXPECT_EQ(DtypeSize(d), sizes[i]);
    Dtype parsed;
    ASSERT_TRUE(ParseDtype(names[i], &parsed).ok());
    EXPECT_EQ(parsed, d);
    ASSERT_TRUE(DtypeFromSafetensors(DtypeSafetensorsName(d), &parsed).ok()) << names[i];
    EXPECT_EQ(parsed, d);
    if (d != Dtype::kBF16) {
      ASSERT_TRUE(DtypeFromNumpyDescr(DtypeNumpyDescr(d), &parsed).ok()) << names[i];
      EXPECT_EQ(parsed, d);
    }
  }
  EXPECT_EQ(DtypeNumpyDescr(Dtype::kBF16), "");
}

TEST(DtypeTest, ParseRefusesUnknownNames) {
  Dtype d;
  for (const char* bad : {"F32", "float32", "f8", "", "u16", "bool "}) {
    Status s = ParseDtype(bad, &d);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad;
  }
  EXPECT_NE(ParseDtype("F32", &d).message().find("'F32'"), std::string::npos);
}

TEST(DtypeTest, NumpyDescrs) {
  struct Case {
    const char* descr;
    Dtype dtype;
  } ok[] = {{"<f8", Dtype::kF64}, {"<f4", Dtype::kF32}, {"<f2", Dtype::kF16}, {"=f4", Dtype::kF32},
            {"f4", Dtype::kF32},  {"<i8", Dtype::kI64}, {"<i4", Dtype::kI32}, {"<i2", Dtype::kI16},
            {"|i1", Dtype::kI8},  {"<i1", Dtype::kI8},  {"|u1", Dtype::kU8},  {">u1", Dtype::kU8},
            {"|b1", Dtype::kBool}};
  for (const Case& c : ok) {
    Dtype d;
    ASSERT_TRUE(DtypeFromNumpyDescr(c.descr, &d).ok()) << c.descr;
    EXPECT_EQ(d, c.dtype) << c.descr;
  }
  Dtype d;
  Status s = DtypeFromNumpyDescr(">f4", &d);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("big-endian"), std::string::npos) << s.message();
  EXPECT_TRUE(DtypeFromNumpyDescr(">i8", &d).IsInvalidArgument());
  for (const char* bad : {"<u2", "<u4", "<u8", "<c8", "|O", "<U3", "|S4", "|V2", "<f16", "<M8", "",
                          "<", "f", "<f4 ", "<<f4", "<f0", "<i3"}) {
    s = DtypeFromNumpyDescr(bad, &d);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad;
    EXPECT_NE(s.message().find("unsupported NumPy dtype"), std::string::npos) << s.message();
  }
}

TEST(DtypeTest, SafetensorsNames) {
  Dtype d;
  for (const char* unsupported : {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64"}) {
    Status s = DtypeFromSafetensors(unsupported, &d);
    EXPECT_TRUE(s.IsInvalidArgument()) << unsupported;
    EXPECT_NE(s.message().find("not supported"), std::string::npos) << s.message();
  }
  for (const char* unknown : {"f32", "FLOAT", "", "F32 "}) {
    Status s = DtypeFromSafetensors(unknown, &d);
    EXPECT_TRUE(s.IsInvalidArgument()) << unknown;
    EXPECT_NE(s.message().find("unknown"), std::string::npos) << s.message();
  }
}

// ---------------------------------------------------------------- f16

// The value of an f16 pattern, from its fields.
double HalfValue(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  double v = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -v : v;
}

TEST(F16Test, DecodesEveryPatternExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    const int exponent = (h >> 10) & 0x1F;
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
    if (exponent == 31) {
      if ((h & 0x3FF) == 0) {
        EXPECT_TRUE(std::isinf(f)) << std::hex << h;
      } else {
        ASSERT_TRUE(std::isnan(f)) << std::hex << h;
        EXPECT_EQ((Bits(f) >> 13) & 0x3FF, h & 0x3FF) << "payload of " << std::hex << h;
      }
    } else {
      ASSERT_EQ(static_cast<double>(f), HalfValue(static_cast<uint16_t>(h))) << std::hex << h;
    }
  }
}

TEST(F16Test, EveryPatternRoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_EQ(F32ToF16(F16ToF32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  std::vector<float> wide(65536);
  std::vector<uint16_t> back(65536);
  ConvertF16ToF32(all.data(), all.size(), wide.data());
  ConvertF32ToF16(wide.data(), wide.size(), back.data());
  EXPECT_EQ(back, all);
}

// Every midpoint between neighbouring f16 values (both signs, subnormals, and the step from
// 65504 to the overflow threshold) ties to the even pattern; the floats just either side of it
// round to the nearer neighbour.
TEST(F16Test, RoundsBoundariesToNearestEven) {
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t h = 0; h < 0x7C00; ++h) {
      const double lo = std::fabs(HalfValue(static_cast<uint16_t>(h)));
      const double hi = h == 0x7BFF ? 65536.0 : std::fabs(HalfValue(static_cast<uint16_t>(h + 1)));
      const float mid = static_cast<float>((lo + hi) / 2);  // exact: 12 significant bits
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      const float s = sign ? -1.0f : 1.0f;
      const uint32_t even = (h & 1) ? h + 1 : h;
      ASSERT_EQ(F32ToF16(s * mid), even | sign) << std::hex << h;
      ASSERT_EQ(F32ToF16(s * std::nextafter(mid, 0.0f)), h | sign) << std::hex << h;
      ASSERT_EQ(F32ToF16(s * std::nextafter(mid, 1e30f)), (h + 1) | sign) << std::hex << h;
      ASSERT_EQ(F32ToF16(s * static_cast<float>(lo)), h | sign) << std::hex << h;
    }
  }
}

TEST(F16Test, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(F32ToF16(0.0f), 0x0000);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65519.996f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(F32ToF16(inf), 0x7C00);
  EXPECT_EQ(F32ToF16(-inf), 0xFC00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);  // half of it: tie to even (zero)
  EXPECT_EQ(F32ToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 steps: tie to even (2)
  EXPECT_EQ(F32ToF16(-std::ldexp(1.0f, -26)), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(F32ToF16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  // NaNs stay NaNs, keep their sign and the top of their payload.
  EXPECT_EQ(F32ToF16(FromBits(0x7FC00000)), 0x7E00);
  EXPECT_EQ(F32ToF16(FromBits(0xFFC00000)), 0xFE00);
  EXPECT_EQ(F32ToF16(FromBits(0x7F800001)), 0x7E00);  // payload only in dropped bits
  EXPECT_EQ(F32ToF16(FromBits(0x7FFFFFFF)), 0x7FFF);
  EXPECT_EQ(F32ToF16(FromBits(0x7F802000)), 0x7C01);  // signalling, payload kept
}

// Correctly rounded f16 of a finite float by search over the sorted positive f16 values.
uint16_t ReferenceF16(float f) {
  static const std::vector<double> values = [] {
    std::vector<double> v;
    for (uint32_t h = 0; h < 0x7C00; ++h) v.push_back(HalfValue(static_cast<uint16_t>(h)));
    v.push_back(65536.0);  // infinity's place in rounding: the next step above 65504
    return v;
  }();
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a >= 65536.0) return sign | 0x7C00;
  const size_t hi = std::lower_bound(values.begin(), values.end(), a) - values.begin();
  if (values[hi] == a) return static_cast<uint16_t>(sign | hi);
  const size_t lo = hi - 1;
  const double dl = a - values[lo], dh = values[hi] - a;
  const size_t pick = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<uint16_t>(sign | pick);
}

TEST(F16Test, MatchesReferenceAcrossF32) {
  // A stride through every bit pattern plus random ones.
  std::vector<float> in;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 65521) in.push_back(FromBits(uint32_t(b)));
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) in.push_back(FromBits(rng()));
  std::vector<uint16_t> out(in.size());
  ConvertF32ToF16(in.data(), in.size(), out.data());
  for (size_t i = 0; i < in.size(); ++i) {
    const float f = in[i];
    ASSERT_EQ(out[i], F32ToF16(f)) << "bulk differs from scalar at " << std::hex << Bits(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(F16ToF32(out[i]))) << std::hex << Bits(f);
      ASSERT_EQ(out[i] & 0x8000, (Bits(f) >> 16) & 0x8000);
    } else {
      ASSERT_EQ(out[i], ReferenceF16(f)) << std::hex << Bits(f);
    }
  }
}

// ---------------------------------------------------------------- bf16

TEST(BF16Test, EveryPatternRoundTripsThroughF32) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = BF16ToF32(static_cast<uint16_t>(b));
    ASSERT_EQ(Bits(f), b << 16);
    ASSERT_EQ(F32ToBF16(f), b) << std::hex << b;
  }
  std::vector<uint16_t> all(65536);
  for (uint32_t b = 0; b < 65536; ++b) all[b] = static_cast<uint16_t>(b);
  std::vector<float> wide(65536);
  std::vector<uint16_t> back(65536);
  ConvertBF16ToF32(all.data(), all.size(), wide.data());
  ConvertF32ToBF16(wide.data(), wide.size(), back.data());
  EXPECT_EQ(back, all);
}

// Correctly rounded bf16 of a finite float: the two bf16 neighbours, compared in double.
uint16_t ReferenceBF16(float f) {
  const uint32_t bits = Bits(f);
  const uint32_t lo = bits & 0xFFFF0000u;  // toward zero
  const double a = std::fabs(static_cast<double>(f));
  const double vlo = std::fabs(static_cast<double>(FromBits(lo)));
  // The next pattern up in magnitude; past the largest finite one it is 2^128, infinity's place.
  const double vhi = (lo & 0x7FFFFFFF) == 0x7F7F0000u
                         ? std::ldexp(1.0, 128)
                         : std::fabs(static_cast<double>(FromBits(lo + 0x10000)));
  const uint32_t pick_lo = lo >> 16, pick_hi = (lo >> 16) + 1;
  const double dl = a - vlo, dh = vhi - a;
  return static_cast<uint16_t>(dl < dh   ? pick_lo
                               : dh < dl ? pick_hi
                                         : (pick_lo % 2 == 0 ? pick_lo : pick_hi));
}

TEST(BF16Test, RoundsBoundariesToNearestEven) {
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t b = 0; b < 0x7F80; ++b) {
      const uint32_t mid_bits = ((b | sign) << 16) | 0x8000u;  // halfway to the next pattern
      const uint32_t even = (b & 1) ? b + 1 : b;
      ASSERT_EQ(F32ToBF16(FromBits(mid_bits)), even | sign) << std::hex << b;
      ASSERT_EQ(F32ToBF16(FromBits(mid_bits - 1)), b | sign) << std::hex << b;
      ASSERT_EQ(F32ToBF16(FromBits(mid_bits + 1)), (b + 1) | sign) << std::hex << b;
    }
  }
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::max()), 0x7F80);  // rounds up to infinity
  EXPECT_EQ(F32ToBF16(FromBits(0x7F7F7FFF)), 0x7F7F);
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(F32ToBF16(FromBits(0x00008000)), 0x0000);  // tie to even
  EXPECT_EQ(F32ToBF16(FromBits(0x00018000)), 0x0002);  // tie to even
  EXPECT_EQ(F32ToBF16(FromBits(0x00008001)), 0x0001);
  EXPECT_EQ(F32ToBF16(FromBits(0x007FFFFF)), 0x0080);  // largest subnormal rounds to normal
  EXPECT_EQ(F32ToBF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(F32ToBF16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(F32ToBF16(FromBits(0x7FC00000)), 0x7FC0);
  EXPECT_EQ(F32ToBF16(FromBits(0xFF800001)), 0xFFC0);  // payload only in dropped bits
  EXPECT_EQ(F32ToBF16(FromBits(0x7FFFFFFF)), 0x7FFF);  // would carry into the sign if rounded
}

TEST(BF16Test, MatchesReferenceAcrossF32) {
  std::vector<float> in;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 65521) in.push_back(FromBits(uint32_t(b)));
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) in.push_back(FromBits(rng()));
  std::vector<uint16_t> out(in.size());
  ConvertF32ToBF16(in.data(), in.size(), out.data());
  for (size_t i = 0; i < in.size(); ++i) {
    const float f = in[i];
    ASSERT_EQ(out[i], F32ToBF16(f)) << std::hex << Bits(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(BF16ToF32(out[i]))) << std::hex << Bits(f);
    } else if (!std::isinf(f)) {
      ASSERT_EQ(out[i], ReferenceBF16(f)) << std::hex << Bits(f);
    }
  }
}

// ---------------------------------------------------------------- bulk and Convert

TEST(ConvertTest, BulkLoopsNeedNoAlignmentAndMatchScalar) {
  std::mt19937 rng(3);
  for (size_t n : {0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 67, 1000}) {
    for (size_t shift : {0, 1, 2, 3}) {
      std::vector<unsigned char> src(n * 4 + 8), dst(n * 4 + 8, 0xAB);
      std::vector<float> floats(n);
      for (float& f : floats) f = std::ldexp(static_cast<float>(rng() % 20000) - 10000.0f, -6);
      if (n > 0) std::memcpy(src.data() + shift, floats.data(), n * 4);
      ConvertF32ToF16(src.data() + shift, n, dst.data() + shift);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, dst.data() + shift + 2 * i, 2);
        ASSERT_EQ(h, F32ToF16(floats[i]));
      }
      EXPECT_EQ(dst[shift + 2 * n], 0xAB) << "wrote past the end";
      ConvertF32ToBF16(src.data() + shift, n, dst.data() + shift);
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, dst.data() + shift + 2 * i, 2);
        ASSERT_EQ(b, F32ToBF16(floats[i]));
      }
      std::vector<unsigned char> wide(n * 4 + 8, 0xCD);
      ConvertBF16ToF32(dst.data() + shift, n, wide.data() + shift);
      for (size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, wide.data() + shift + 4 * i, 4);
        ASSERT_EQ(Bits(f), Bits(BF16ToF32(F32ToBF16(floats[i]))));
      }
      EXPECT_EQ(wide[shift + 4 * n], 0xCD) << "wrote past the end";
    }
  }
}

TEST(ConvertTest, ConvertBetweenFloatTypes) {
  EXPECT_TRUE(CanConvert(Dtype::kF32, Dtype::kF16));
  EXPECT_TRUE(CanConvert(Dtype::kBF16, Dtype::kF16));
  EXPECT_TRUE(CanConvert(Dtype::kI8, Dtype::kI8));
  EXPECT_FALSE(CanConvert(Dtype::kF64, Dtype::kF32));
  EXPECT_FALSE(CanConvert(Dtype::kF32, Dtype::kI32));

  // f16 -> bf16 -> f16 over every f16 value through Convert (blocks of 256 and a tail).
  std::vector<uint16_t> half(65536 + 37), brain(half.size()), again(half.size());
  for (size_t i = 0; i < half.size(); ++i) half[i] = static_cast<uint16_t>(i * 40503u);
  Convert(Dtype::kF16, half.data(), half.size(), Dtype::kBF16, brain.data());
  for (size_t i = 0; i < half.size(); ++i) {
    ASSERT_EQ(brain[i], F32ToBF16(F16ToF32(half[i])));
  }
  Convert(Dtype::kBF16, brain.data(), brain.size(), Dtype::kF16, again.data());
  for (size_t i = 0; i < half.size(); ++i) {
    ASSERT_EQ(again[i], F32ToF16(BF16ToF32(brain[i])));
  }
  std::vector<float> wide(half.size());
  Convert(Dtype::kF16, half.data(), half.size(), Dtype::kF32, wide.data());
  std::vector<uint16_t> back(half.size());
  Convert(Dtype::kF32, wide.data(), wide.size(), Dtype::kF16, back.data());
  EXPECT_EQ(back, half);
  std::vector<uint16_t> copy(half.size());
  Convert(Dtype::kI16, half.data(), half.size(), Dtype::kI16, copy.data());
  EXPECT_EQ(copy, half);
}

}  // namespace
}  // namespace kvcache::tensor
