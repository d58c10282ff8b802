// Tensor commands, in-process: every command and error, conversions, MGET gathering and the
// slower tier (write-through, write-back, read-through of .npy rows).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvcache/tensor.h"
#include "server/test_client.h"

namespace kvcache::server {
namespace {

const char* kWrongType =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  size_t i = 0;
  for (T v : values) std::memcpy(s.data() + sizeof(T) * i++, &v, sizeof(T));
  return s;
}

float Float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

class TensorFamily : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args) { return t_.Run(args).ToString(); }
  Reply R(const std::vector<std::string>& args) { return t_.Run(args); }
  TestClient t_;
};

TEST_F(TensorFamily, SetAndGetBlob) {
  const std::string data = Bytes<float>({1, 2, 3, 4, 5, 6});
  EXPECT_EQ(Run({"TENSOR.SET", "t", "f32", "2", "3", "BLOB", data}), "OK");
  Reply r = R({"TENSOR.GET", "t"});
  ASSERT_EQ(r.type, Reply::kArray);
  ASSERT_EQ(r.elems.size(), 3u);
  EXPECT_EQ(r.elems[0].ToString(), "f32");
  EXPECT_EQ(r.elems[1].ToString(), "[(integer) 2, (integer) 3]");
  EXPECT_EQ(r.elems[2].type, Reply::kBulk);
  EXPECT_EQ(r.elems[2].str, data);
  EXPECT_EQ(R({"TENSOR.GET", "t", "BLOB"}).elems[2].str, data);
  EXPECT_EQ(Run({"TENSOR.GET", "t", "META"}), "[f32, [(integer) 2, (integer) 3]]");
  EXPECT_EQ(Run({"tensor.get", "t", "meta", "as", "F16"}), "[f16, [(integer) 2, (integer) 3]]");
  EXPECT_EQ(Run({"GET", "t"}), data) << "GET answers a tensor's data";
  EXPECT_EQ(Run({"MGET", "t", "nope"}), "[" + data + ", (nil)]");
  EXPECT_EQ(Run({"TYPE", "t"}), "tensor");
  EXPECT_EQ(Run({"TENSOR.GET", "nope"}), "(nil)");
  EXPECT_EQ(Run({"TENSOR.GET", "nope", "META"}), "(nil)");
  // Case-insensitive dtype and keywords; any dtype.
  EXPECT_EQ(Run({"tensor.set", "u", "U8", "4", "blob", "abcd"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "u"}), "[u8, [(integer) 4], abcd]");
  // NumPy's and PyTorch's dtype names work too; replies use the short ones.
  EXPECT_EQ(Run({"TENSOR.SET", "n", "float32", "2", "3", "BLOB", data}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "n", "META", "AS", "bfloat16"}),
            "[bf16, [(integer) 2, (integer) 3]]");
  EXPECT_EQ(Run({"TENSOR.SET", "n", "UInt8", "4", "BLOB", "abcd"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "n", "META"}), "[u8, [(integer) 4]]");
  EXPECT_EQ(Run({"TENSOR.SET", "e", "f32", "0", "3", "BLOB", ""}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "e"}), "[f32, [(integer) 0, (integer) 3], ]");
  EXPECT_EQ(Run({"TENSOR.SET", "e", "i8", "0", "VALUES"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "e", "VALUES"}), "[i8, [(integer) 0], []]");
  // A large tensor is an external item: still sent whole.
  std::string big(1 << 20, 'x');
  EXPECT_EQ(Run({"TENSOR.SET", "big", "u8", "1024", "1024", "BLOB", big}), "OK");
  EXPECT_EQ(R({"TENSOR.GET", "big"}).elems[2].str, big);
  EXPECT_EQ(Run({"GET", "big"}), big);
}

TEST_F(TensorFamily, SetReplacesAnyValueAndClearsTtl) {
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "100"}), "OK");
  EXPECT_EQ(Run({"TENSOR.SET", "k", "i32", "1", "VALUES", "7"}), "OK");
  EXPECT_EQ(Run({"TTL", "k"}), "(integer) -1");
  EXPECT_EQ(Run({"TENSOR.GET", "k", "VALUES"}), "[i32, [(integer) 1], [7]]");
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "(integer) 1");
  EXPECT_EQ(Run({"TENSOR.SET", "h", "i32", "1", "VALUES", "8"}), "OK");
  EXPECT_EQ(Run({"TYPE", "h"}), "tensor");
  EXPECT_EQ(Run({"SET", "k", "plain"}), "OK");
  EXPECT_EQ(Run({"TYPE", "k"}), "string");
}

TEST_F(TensorFamily, ValuesOfEveryDtypeInResp2) {
  EXPECT_EQ(Run({"TENSOR.SET", "a", "i8", "3", "VALUES", "-128", "0", "+127"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[i8, [(integer) 3], [-128, 0, 127]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "u8", "2", "VALUES", "0", "255"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[u8, [(integer) 2], [0, 255]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "i16", "2", "VALUES", "-32768", "32767"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[i16, [(integer) 2], [-32768, 32767]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "i32", "1", "1", "VALUES", "-2147483648"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[i32, [(integer) 1, (integer) 1], [-2147483648]]");
  EXPECT_EQ(
      Run({"TENSOR.SET", "a", "i64", "2", "VALUES", "-9223372036854775808", "9223372036854775807"}),
      "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}),
            "[i64, [(integer) 2], [-9223372036854775808, 9223372036854775807]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "bool", "3", "VALUES", "1", "0", "1"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[bool, [(integer) 3], [1, 0, 1]]");
  EXPECT_EQ(Run({"GET", "a"}), std::string("\x01\x00\x01", 3));
  // Floats in the shortest text that reads back as the same value of their dtype.
  EXPECT_EQ(Run({"TENSOR.SET", "a", "f64", "3", "VALUES", "0.1", "-2.5e300", "inf"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[f64, [(integer) 3], [0.1, -2.5e+300, inf]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "f32", "3", "VALUES", "0.1", "1e-45", "-0"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[f32, [(integer) 3], [0.1, 1e-45, -0]]");
  EXPECT_EQ(Run({"GET", "a"}), Bytes<float>({0.1f, Float(1), -0.0f}));
  // 0.1 in f16 is 0.0999755859375 (0x2E66) and in bf16 0.10009765625 (0x3DCD).
  EXPECT_EQ(Run({"TENSOR.SET", "a", "f16", "2", "VALUES", "0.1", "65504"}), "OK");
  EXPECT_EQ(Run({"GET", "a"}), Bytes<uint16_t>({0x2E66, 0x7BFF}));
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[f16, [(integer) 2], [0.099975586, 65504]]");
  EXPECT_EQ(Run({"TENSOR.SET", "a", "bf16", "1", "VALUES", "0.1"}), "OK");
  EXPECT_EQ(Run({"GET", "a"}), Bytes<uint16_t>({0x3DCD}));
  EXPECT_EQ(Run({"TENSOR.GET", "a", "VALUES"}), "[bf16, [(integer) 1], [0.100097656]]");
}

TEST_F(TensorFamily, ValuesInResp3AreNumbers) {
  ASSERT_EQ(R({"HELLO", "3"}).type, Reply::kMap);
  EXPECT_EQ(Run({"TENSOR.SET", "f", "f32", "2", "VALUES", "1.5", "-2.25"}), "OK");
  Reply r = R({"TENSOR.GET", "f", "VALUES"});
  ASSERT_EQ(r.elems.size(), 3u);
  ASSERT_EQ(r.elems[2].elems.size(), 2u);
  EXPECT_EQ(r.elems[2].elems[0].type, Reply::kDouble);
  EXPECT_EQ(r.elems[2].ToString(), "[(double) 1.5, (double) -2.25]");
  EXPECT_EQ(Run({"TENSOR.SET", "i", "u8", "2", "VALUES", "3", "200"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "i", "VALUES"}),
            "[u8, [(integer) 2], [(integer) 3, (integer) 200]]");
  EXPECT_EQ(Run({"TENSOR.SET", "b", "bool", "2", "VALUES", "0", "1"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "b", "VALUES"}),
            "[bool, [(integer) 2], [(integer) 0, (integer) 1]]");
  EXPECT_EQ(Run({"TENSOR.GET", "nope"}), "(nil)");
}

TEST_F(TensorFamily, BadInputIsRefusedAndChangesNothing) {
  const std::string data = Bytes<float>({1, 2});
  EXPECT_EQ(Run({"TENSOR.SET", "t", "f32", "2", "BLOB", data}), "OK");
  const std::string before = Run({"TENSOR.GET", "t"});
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"TENSOR.SET", "t", "f32", "2", "3", "BLOB", "12345"},
       "ERR blob is 5 bytes, shape [2, 3] of f32 needs 24"},
      {{"TENSOR.SET", "t", "f8", "2", "BLOB", "xx"},
       "ERR unknown dtype 'f8' (f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)"},
      {{"TENSOR.SET", "t", "f32", "1", "1", "1", "1", "1", "1", "1", "1", "BLOB", "abcd"},
       "ERR a tensor has 1 to 7 dimensions, got 8"},
      {{"TENSOR.SET", "t", "f32", "BLOB", "abcd"}, "ERR a tensor has 1 to 7 dimensions, got 0"},
      {{"TENSOR.SET", "t", "f32", "-1", "BLOB", ""},
       "ERR dimension '-1' is not a non-negative integer"},
      {{"TENSOR.SET", "t", "f32", "two", "BLOB", ""},
       "ERR dimension 'two' is not a non-negative integer"},
      {{"TENSOR.SET", "t", "f64", "4294967296", "4294967296", "BLOB", ""},
       "ERR shape [4294967296, 4294967296] of f64 is too large"},
      {{"TENSOR.SET", "t", "f32", "2", "1", "2"},
       "ERR syntax error: the shape must be followed by BLOB or VALUES"},
      {{"TENSOR.SET", "t", "f32", "2", "BLOB", data, "extra"},
       "ERR syntax error: BLOB takes exactly one argument"},
      {{"TENSOR.SET", "t", "f32", "2", "VALUES", "1"},
       "ERR VALUES has 1 numbers, shape [2] needs 2"},
      {{"TENSOR.SET", "t", "f32", "2", "VALUES", "1", "abc"}, "ERR value 'abc' is not a valid f32"},
      {{"TENSOR.SET", "t", "f32", "2", "VALUES", "1", " 2"}, "ERR value ' 2' is not a valid f32"},
      {{"TENSOR.SET", "t", "f32", "1", "VALUES", "1e39"},
       "ERR value '1e39' is out of range for f32"},
      {{"TENSOR.SET", "t", "f16", "1", "VALUES", "65520"},
       "ERR value '65520' is out of range for f16"},
      {{"TENSOR.SET", "t", "f64", "1", "VALUES", "1e999"},
       "ERR value '1e999' is out of range for f64"},
      {{"TENSOR.SET", "t", "u8", "1", "VALUES", "256"}, "ERR value '256' is out of range for u8"},
      {{"TENSOR.SET", "t", "u8", "1", "VALUES", "-1"}, "ERR value '-1' is out of range for u8"},
      {{"TENSOR.SET", "t", "i8", "1", "VALUES", "-129"}, "ERR value '-129' is out of range for i8"},
      {{"TENSOR.SET", "t", "i64", "1", "VALUES", "9223372036854775808"},
       "ERR value '9223372036854775808' is out of range for i64"},
      {{"TENSOR.SET", "t", "bool", "1", "VALUES", "2"}, "ERR value '2' is out of range for bool"},
      {{"TENSOR.SET", "t", "i32", "1", "VALUES", "1.5"}, "ERR value '1.5' is not a valid i32"},
      {{"TENSOR.SET", "t", "i32", "1", "VALUES", "++1"}, "ERR value '++1' is not a valid i32"},
      {{"TENSOR.SET", "t", "f32", "2"}, "ERR wrong number of arguments for 'tensor.set' command"},
      {{"TENSOR.GET"}, "ERR wrong number of arguments for 'tensor.get' command"},
      {{"TENSOR.GET", "t", "BLOB", "VALUES"}, "ERR syntax error"},
      {{"TENSOR.GET", "t", "META", "VALUES"}, "ERR syntax error"},
      {{"TENSOR.GET", "t", "AS"}, "ERR syntax error"},
      {{"TENSOR.GET", "t", "AS", "f16", "AS", "f32"}, "ERR syntax error"},
      {{"TENSOR.GET", "t", "BOGUS"}, "ERR syntax error"},
      {{"TENSOR.GET", "t", "AS", "f128"},
       "ERR unknown dtype 'f128' (f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)"},
      {{"TENSOR.GET", "t", "AS", "i8"},
       "ERR cannot convert f32 to i8 (only between f32, f16 and bf16)"},
      {{"TENSOR.INFO"}, "ERR wrong number of arguments for 'tensor.info' command"},
      {{"TENSOR.INFO", "t", "x"}, "ERR wrong number of arguments for 'tensor.info' command"},
      {{"TENSOR.MGET"}, "ERR wrong number of arguments for 'tensor.mget' command"},
      {{"TENSOR.MGET", "AS", "f16"}, "ERR wrong number of arguments for 'tensor.mget' command"},
      {{"TENSOR.MGET", "MISSING", "MAYBE", "t"}, "ERR syntax error"},
      {{"TENSOR.MGET", "AS", "f16", "AS", "f32", "t"}, "ERR syntax error"},
      {{"TENSOR.MGET", "AS", "i8", "t"},
       "ERR cannot convert f32 to i8 (only between f32, f16 and bf16)"},
  };
  for (const auto& [args, error] : cases) {
    EXPECT_EQ(Run(args), "(error) " + error) << args[0] << " " << args.size();
  }
  EXPECT_EQ(Run({"TENSOR.GET", "t"}), before) << "failed commands change nothing";
  EXPECT_EQ(Run({"SET", "s", "str"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "s"}), kWrongType);
  EXPECT_EQ(Run({"TENSOR.GET", "s", "META"}), kWrongType);
  EXPECT_EQ(Run({"TENSOR.INFO", "s"}), kWrongType);
  EXPECT_EQ(Run({"TENSOR.MGET", "t", "s"}), kWrongType);
  EXPECT_EQ(Run({"GET", "s"}), "str");
}

// Conversions are exact where the value is representable and correctly rounded (to nearest,
// ties to even) where it is not.
TEST_F(TensorFamily, ConversionsAreExactOrCorrectlyRounded) {
  // 1, -2.5, 0.5, 65504 (f16's largest), 2^-24 (its smallest subnormal), 2^-14 (smallest normal).
  const std::string f32 =
      Bytes<float>({1.0f, -2.5f, 0.5f, 65504.0f, Float(0x33800000), Float(0x38800000)});
  const std::string f16 = Bytes<uint16_t>({0x3C00, 0xC100, 0x3800, 0x7BFF, 0x0001, 0x0400});
  EXPECT_EQ(Run({"TENSOR.SET", "x", "f32", "6", "BLOB", f32}), "OK");
  Reply r = R({"TENSOR.GET", "x", "AS", "f16"});
  EXPECT_EQ(r.elems[0].str, "f16");
  EXPECT_EQ(r.elems[2].str, f16);
  EXPECT_EQ(Run({"TENSOR.SET", "h", "f16", "6", "BLOB", f16}), "OK");
  EXPECT_EQ(R({"TENSOR.GET", "h", "AS", "f32"}).elems[2].str, f32) << "f32 -> f16 -> f32";
  EXPECT_EQ(R({"TENSOR.GET", "h", "AS", "f16"}).elems[2].str, f16) << "identity";
  EXPECT_EQ(R({"TENSOR.GET", "h", "BLOB", "AS", "bf16"}).elems[0].str, "bf16");
  // Ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 (goes down to 1), 1 + 3 * 2^-11
  // halfway between 1 + 2^-10 and 1 + 2^-9 (goes up, to the even one).
  EXPECT_EQ(Run({"TENSOR.SET", "x", "f32", "2", "BLOB",
                 Bytes<float>({1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f})}),
            "OK");
  EXPECT_EQ(R({"TENSOR.GET", "x", "AS", "f16"}).elems[2].str, Bytes<uint16_t>({0x3C00, 0x3C02}));
  EXPECT_EQ(R({"TENSOR.GET", "x", "AS", "f16", "VALUES"}).elems[2].ToString(), "[1, 1.0019531]");
  EXPECT_EQ(Run({"TENSOR.SET", "x", "f32", "2", "BLOB",
                 Bytes<float>({1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f})}),
            "OK");
  EXPECT_EQ(R({"TENSOR.GET", "x", "AS", "bf16"}).elems[2].str, Bytes<uint16_t>({0x3F80, 0x3F82}));
  // VALUES round the number itself, not a float rounded from it: 1 + 2^-11 + 2^-30 is just above
  // the halfway point (a float would round it onto it, and then to 1).
  EXPECT_EQ(Run({"TENSOR.SET", "x", "f16", "2", "VALUES", "1.000488282181322574615478515625",
                 "1.000488279853016138076782226562"}),
            "OK");
  EXPECT_EQ(Run({"GET", "x"}), Bytes<uint16_t>({0x3C01, 0x3C00}));
}

TEST_F(TensorFamily, MGetGathersInKeyOrder) {
  EXPECT_EQ(Run({"TENSOR.SET", "a", "f32", "2", "BLOB", Bytes<float>({1, 2})}), "OK");
  EXPECT_EQ(Run({"TENSOR.SET", "b", "f32", "2", "VALUES", "3", "4"}), "OK");
  EXPECT_EQ(Run({"TENSOR.SET", "c", "f32", "2", "BLOB", Bytes<float>({5, 6})}), "OK");
  Reply r = R({"TENSOR.MGET", "c", "nope", "a", "b", "gone"});
  ASSERT_EQ(r.elems.size(), 4u);
  EXPECT_EQ(r.elems[0].ToString(), "f32");
  EXPECT_EQ(r.elems[1].ToString(), "[(integer) 5, (integer) 2]");
  EXPECT_EQ(r.elems[2].str, Bytes<float>({5, 6, 0, 0, 1, 2, 3, 4, 0, 0}));
  EXPECT_EQ(r.elems[3].ToString(), "[(integer) 1, (integer) 4]");
  r = R({"TENSOR.MGET", "MISSING", "zero", "AS", "f16", "a", "b"});
  EXPECT_EQ(r.elems[0].ToString(), "f16");
  EXPECT_EQ(r.elems[2].str, Bytes<uint16_t>({0x3C00, 0x4000, 0x4200, 0x4400}));
  EXPECT_EQ(r.elems[3].ToString(), "[]");
  EXPECT_EQ(Run({"TENSOR.MGET", "MISSING", "ERROR", "a", "nope", "gone"}),
            "(error) ERR key 'nope' not found (MISSING ERROR)");
  // Nothing found: no dtype unless AS names one; shape [n], no bytes, every index missing.
  EXPECT_EQ(Run({"TENSOR.MGET", "x", "y"}), "[(nil), [(integer) 2], , [(integer) 0, (integer) 1]]");
  EXPECT_EQ(Run({"TENSOR.MGET", "AS", "bf16", "x"}), "[bf16, [(integer) 1], , [(integer) 0]]");
  // Rows must agree.
  EXPECT_EQ(Run({"TENSOR.SET", "d", "f32", "3", "BLOB", Bytes<float>({1, 2, 3})}), "OK");
  EXPECT_EQ(Run({"TENSOR.SET", "e", "i32", "2", "VALUES", "1", "2"}), "OK");
  EXPECT_EQ(Run({"TENSOR.MGET", "a", "d"}),
            "(error) ERR tensors differ: 'a' is f32 [2], 'd' is f32 [3]");
  EXPECT_EQ(Run({"TENSOR.MGET", "nope", "a", "e"}),
            "(error) ERR tensors differ: 'a' is f32 [2], 'e' is i32 [2]");
  // Keys may look like options once the options are over.
  EXPECT_EQ(Run({"TENSOR.SET", "AS", "u8", "1", "VALUES", "9"}), "OK");
  EXPECT_EQ(Run({"TENSOR.MGET", "MISSING", "ZERO", "AS"}).substr(0, 20), "[u8, [(integer) 1, (");
  // RESP3: the same shapes (nil is RESP3's null).
  ASSERT_EQ(R({"HELLO", "3"}).type, Reply::kMap);
  r = R({"TENSOR.MGET", "a", "zz"});
  EXPECT_EQ(r.elems[2].str, Bytes<float>({1, 2, 0, 0}));
  EXPECT_EQ(r.elems[3].ToString(), "[(integer) 1]");
}

TEST_F(TensorFamily, MSetIsAllOrNothing) {
  const std::string two = Bytes<float>({1, 2}), other = Bytes<float>({3, 4});
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "2", "1", "BLOB", two, "2", "BLOB", other}), "OK");
  EXPECT_EQ(Run({"TENSOR.MGET", "1", "2"}).substr(0, 4), "[f32");
  EXPECT_EQ(R({"TENSOR.MGET", "1", "2"}).elems[2].str, two + other) << "numeric keys";
  EXPECT_EQ(Run({"TENSOR.GET", "1", "META"}), "[f32, [(integer) 2]]");
  // Two dimensions; a first key that is itself called BLOB.
  EXPECT_EQ(Run({"TENSOR.MSET", "u8", "2", "2", "k1", "BLOB", "abcd", "k2", "BLOB", "efgh"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "k2"}), "[u8, [(integer) 2, (integer) 2], efgh]");
  EXPECT_EQ(Run({"TENSOR.MSET", "u8", "4", "BLOB", "BLOB", "abcd", "k", "BLOB", "efgh"}), "OK");
  EXPECT_EQ(Run({"TENSOR.GET", "BLOB"}), "[u8, [(integer) 4], abcd]");
  EXPECT_EQ(Run({"TENSOR.GET", "k"}), "[u8, [(integer) 4], efgh]");
  // A bad pair anywhere writes nothing.
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "2", "x", "BLOB", two, "y", "BLOB", "1234567"}),
            "(error) ERR blob is 7 bytes, shape [2] of f32 needs 8 (key 'y')");
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "2", "x", "BLOB", two, "y", "BLOG", two}),
            "(error) ERR syntax error: expected BLOB after key 'y'");
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "2", "x", "BLOB", two, "y", "BLOB"}),
            "(error) ERR wrong number of arguments for 'tensor.mset' command");
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "2", "x", "VALUES", "1", "2"}),
            "(error) ERR syntax error: expected DTYPE dim [dim ...] key BLOB bytes [key BLOB ...]");
  EXPECT_EQ(Run({"TENSOR.MSET", "f99", "2", "x", "BLOB", two}),
            "(error) ERR unknown dtype 'f99' (f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)");
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "-2", "x", "BLOB", two}),
            "(error) ERR dimension '-2' is not a non-negative integer");
  EXPECT_EQ(Run({"TENSOR.MSET", "f32", "x", "BLOB", two}),
            "(error) ERR wrong number of arguments for 'tensor.mset' command");
  EXPECT_EQ(Run({"EXISTS", "x", "y"}), "(integer) 0");
  EXPECT_EQ(R({"TENSOR.MGET", "1", "2"}).elems[2].str, two + other) << "unchanged";
}

// A large BLOB is received into memory of its own as it arrives; every way of splitting the
// stream, and a request pipelined after it, must come out as the small-value path does.
// Refused blobs store nothing.
TEST_F(TensorFamily, LargeBlobArrivingInPieces) {
  std::string data(100000, '\0');  // f32 [250, 100]
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + i / 7);
  std::string other = data;
  std::reverse(other.begin(), other.end());
  auto multibulk = [](const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  };
  const std::string meta = "[f32, [(integer) 250, (integer) 100]]";
  struct Case {
    std::vector<std::string> request;
    std::string reply;
    std::string big;  // what TENSOR.GET big BLOB gives after it ("" = nothing stored)
  };
  const std::vector<Case> cases = {
      {{"TENSOR.SET", "big", "f32", "250", "100", "BLOB", data}, "OK", data},
      {{"tensor.set", "big", "F32", "250", "100", "blob", data}, "OK", data},
      {{"TENSOR.MSET", "f32", "250", "100", "big", "BLOB", other, "b2", "BLOB", data}, "OK", other},
      {{"TENSOR.SET", "big", "f32", "250", "101", "BLOB", data},
       "ERR blob is 100000 bytes, shape [250, 101] of f32 needs 101000",
       ""},
      {{"TENSOR.SET", "big", "f32", "1", "1", "1", "1", "1", "1", "1", "25000", "BLOB", data},
       "ERR a tensor has 1 to 7 dimensions, got 8",
       ""},
      {{"TENSOR.SET", "big", "f99", "25000", "BLOB", data},
       "ERR unknown dtype 'f99' (f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool)",
       ""},
      {{"TENSOR.MSET", "f32", "250", "100", "big", "BLOB", data, "b2", "BLOB", data + "x"},
       "ERR blob is 100001 bytes, shape [250, 100] of f32 needs 100000 (key 'b2')",
       ""},
      {{"TENSOR.SET", "big", "f32", "1", "VALUES", std::string(100000, 'z')},
       "ERR value '" + std::string(64, 'z') + "' is not a valid f32",
       ""},
  };
  for (const Case& k : cases) {
    const std::string stream = multibulk(k.request) + multibulk({"TENSOR.GET", "big", "META"});
    for (size_t cut : {size_t{30}, size_t{60}, stream.size() / 2, stream.size() - 30}) {
      Run({"DEL", "big", "b2"});
      std::vector<Reply> replies = t_.RunRaw(stream.substr(0, cut));
      for (Reply& r : t_.RunRaw(stream.substr(cut))) replies.push_back(std::move(r));
      ASSERT_EQ(replies.size(), 2u) << k.request[0] << " cut at " << cut;
      EXPECT_EQ(replies[0].type == Reply::kError ? replies[0].str : replies[0].ToString(), k.reply)
          << k.request[0] << " cut at " << cut;
      if (k.big.empty()) {
        EXPECT_EQ(replies[1].ToString(), "(nil)");
        EXPECT_EQ(Run({"EXISTS", "big", "b2"}), "(integer) 0");
        continue;
      }
      EXPECT_EQ(replies[1].ToString(), meta);
      EXPECT_EQ(R({"TENSOR.GET", "big", "BLOB"}).elems[2].str, k.big);
      EXPECT_EQ(Run({"GET", "big"}), k.big);
      EXPECT_EQ(Run({"TENSOR.GET", "big", "VALUES"}).substr(0, 4), "[f32");
    }
  }
  // In another database, and inside a transaction (queued, so stored from a copy).
  EXPECT_EQ(Run({"SELECT", "5"}), "OK");
  const std::string stream = multibulk({"TENSOR.SET", "big", "f32", "25000", "BLOB", data});
  EXPECT_TRUE(t_.RunRaw(stream.substr(0, 100)).empty());
  EXPECT_EQ(t_.RunRaw(stream.substr(100)).at(0).ToString(), "OK");
  EXPECT_EQ(R({"TENSOR.GET", "big"}).elems[2].str, data);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(
      t_.RunRaw(multibulk({"TENSOR.SET", "b2", "u8", "100000", "BLOB", other})).at(0).ToString(),
      "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK]");
  EXPECT_EQ(R({"TENSOR.GET", "b2"}).elems[2].str, other);
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "big", "b2"}), "(integer) 0");
}

TEST_F(TensorFamily, Info) {
  EXPECT_EQ(Run({"TENSOR.INFO", "nope"}), "(nil)");
  EXPECT_EQ(Run({"TENSOR.SET", "t", "f16", "3", "4", "BLOB", std::string(24, '\0')}), "OK");
  Reply r = R({"TENSOR.INFO", "t"});
  ASSERT_EQ(r.type, Reply::kArray) << "a flat array in RESP2";
  ASSERT_EQ(r.elems.size(), 12u);
  EXPECT_EQ(r.elems[0].str, "dtype");
  EXPECT_EQ(r.elems[1].str, "f16");
  EXPECT_EQ(r.elems[2].str, "shape");
  EXPECT_EQ(r.elems[3].ToString(), "[(integer) 3, (integer) 4]");
  EXPECT_EQ(r.elems[4].str, "elements");
  EXPECT_EQ(r.elems[5].integer, 12);
  EXPECT_EQ(r.elems[6].str, "data_bytes");
  EXPECT_EQ(r.elems[7].integer, 24);
  EXPECT_EQ(r.elems[8].str, "memory_bytes");
  // Header 16 + worst-case pad 56 + data and trailer 24 + 24 + key 1, in its size class.
  EXPECT_GE(r.elems[9].integer, 16 + 56 + 48 + 1);
  EXPECT_LE(r.elems[9].integer, 16 + 56 + 48 + 1 + 16);
  EXPECT_EQ(r.elems[10].str, "aligned");
  EXPECT_EQ(r.elems[11].integer, 1);
  ASSERT_EQ(R({"HELLO", "3"}).type, Reply::kMap);
  r = R({"TENSOR.INFO", "t"});
  EXPECT_EQ(r.type, Reply::kMap) << "a map in RESP3";
  EXPECT_EQ(r.elems.size(), 12u);
  // Every tensor's data is aligned, whatever its size, key or TTL.
  for (int size : {1, 7, 64, 100, 1000, 16000, 16350, 70000}) {
    for (const std::string& key :
         std::vector<std::string>{"k", "a-longer-key-of-some-length", std::string(300, 'z')}) {
      EXPECT_EQ(
          Run({"TENSOR.SET", key, "u8", std::to_string(size), "BLOB", std::string(size, 'd')}),
          "OK");
      EXPECT_EQ(R({"TENSOR.INFO", key}).elems[11].integer, 1) << size << " " << key.size();
      EXPECT_EQ(Run({"EXPIRE", key, "100"}), "(integer) 1");
      EXPECT_EQ(R({"TENSOR.INFO", key}).elems[11].integer, 1) << size << " " << key.size();
    }
  }
}

TEST_F(TensorFamily, CommandInfoAndDocs) {
  EXPECT_EQ(Run({"COMMAND", "INFO", "tensor.get"}),
            "[[tensor.get, (integer) -2, [readonly], (integer) 1, (integer) 1, (integer) 1, "
            "[@tensor], [], [], []]]");
  EXPECT_EQ(Run({"COMMAND", "INFO", "tensor.mset"}),
            "[[tensor.mset, (integer) -6, [write, denyoom, movablekeys], (integer) 0, (integer) 0, "
            "(integer) 0, [@tensor], [], [], []]]");
  EXPECT_EQ(Run({"COMMAND", "INFO", "tensor.mget"}).find("movablekeys") != std::string::npos, true);
}

// ---- the slower tier

// A .npy table written by hand: float32 rows of `cols`, row r holding r * 10 + c.
std::string WriteNpy(const std::string& path, int rows, int cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string file = "\x93NUMPY\x01";
  file += '\0';
  const uint16_t len = static_cast<uint16_t>(header.size());
  file.append(reinterpret_cast<const char*>(&len), 2);
  file += header;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const float v = static_cast<float>(r * 10 + c);
      file.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  std::ofstream(path, std::ios::binary) << file;
  return path;
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kv_tensor_family.XXXXXX");
    path_ = mkdtemp(tmpl.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string Row(int r, int cols) {
  std::string s;
  for (int c = 0; c < cols; ++c) {
    const float v = static_cast<float>(r * 10 + c);
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

int64_t InfoField(TestClient& t, const std::string& field) {
  const std::string info = t.Run({"INFO", "origin"}).str;
  const size_t at = info.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + field.size() + 1));
}

TEST(TensorOrigin, MGetReadsMissingRowsThroughInOneBatch) {
  ScratchDir dir;
  ServerConfig config;
  config.origin = "npy:" + WriteNpy(dir / "emb.npy", 50, 3) + ":emb:";
  TestClient t(config);
  EXPECT_EQ(t.Run({"TENSOR.GET", "emb:7"}).ToString(), "[f32, [(integer) 3], " + Row(7, 3) + "]");
  EXPECT_EQ(InfoField(t, "origin_loads"), 1);
  Reply r = t.Run({"TENSOR.MGET", "emb:3", "emb:7", "emb:99", "emb:49", "emb:3"});
  ASSERT_EQ(r.elems.size(), 4u);
  EXPECT_EQ(r.elems[1].ToString(), "[(integer) 5, (integer) 3]");
  EXPECT_EQ(r.elems[2].str, Row(3, 3) + Row(7, 3) + std::string(12, '\0') + Row(49, 3) + Row(3, 3));
  EXPECT_EQ(r.elems[3].ToString(), "[(integer) 2]") << "emb:99 is past the table";
  EXPECT_EQ(InfoField(t, "origin_load_requests"), 2) << "one origin request for the batch";
  EXPECT_EQ(InfoField(t, "origin_loads"), 1 + 3);  // 3, 99 and 49 (7 was cached)
  // AS and MISSING before the keys: the options are not loaded as keys.
  r = t.Run({"TENSOR.MGET", "AS", "f16", "MISSING", "ZERO", "emb:1"});
  EXPECT_EQ(r.elems[0].str, "f16");
  EXPECT_EQ(InfoField(t, "origin_loads"), 1 + 3 + 1);
  EXPECT_EQ(t.Run({"TENSOR.INFO", "emb:20"}).elems[1].str, "f32") << "INFO reads through";
  EXPECT_EQ(t.Run({"TENSOR.MGET", "MISSING", "ERROR", "emb:1", "emb:500"}).ToString(),
            "(error) ERR key 'emb:500' not found (MISSING ERROR)");
}

TEST(TensorOrigin, WriteThroughStoresTensorsTheOriginGivesBack) {
  ScratchDir dir;
  ServerConfig config;
  config.origin = "rocksdb:" + (dir / "db");
  config.write_policy = "through";
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  {
    TestClient t(config);
    EXPECT_EQ(t.Run({"TENSOR.SET", "t", "f32", "2", "BLOB", Bytes<float>({1, 2})}).ToString(),
              "OK");
    EXPECT_EQ(t.Run({"TENSOR.MSET", "i8", "2", "a", "BLOB", "ab", "b", "BLOB", "cd"}).ToString(),
              "OK");
    EXPECT_EQ(t.Run({"TENSOR.MSET", "i8", "2", "c", "BLOB", "abc"}).ToString(),
              "(error) ERR blob is 3 bytes, shape [2] of i8 needs 2 (key 'c')");
    EXPECT_EQ(t.Run({"TENSOR.GET", "t", "VALUES"}).ToString(), "[f32, [(integer) 2], [1, 2]]");
    // A large BLOB, received in pieces, goes to the origin whole too.
    const std::string request =
        "*6\r\n$10\r\nTENSOR.SET\r\n$3\r\nbig\r\n$2\r\nu8\r\n$6\r\n100000\r\n$4\r\nBLOB\r\n"
        "$100000\r\n" +
        big + "\r\n";
    EXPECT_TRUE(t.RunRaw(request.substr(0, 100)).empty());
    EXPECT_EQ(t.RunRaw(request.substr(100)).at(0).ToString(), "OK");
    EXPECT_EQ(InfoField(t, "origin_writes"), 4);
    EXPECT_EQ(t.Run({"SET", "s", "plain"}).ToString(), "OK");
  }
  config.write_policy = "none";
  TestClient t(config);
  EXPECT_EQ(t.Run({"TENSOR.GET", "t", "VALUES"}).ToString(), "[f32, [(integer) 2], [1, 2]]");
  EXPECT_EQ(t.Run({"TYPE", "a"}).ToString(), "tensor");
  EXPECT_EQ(t.Run({"TENSOR.MGET", "a", "b", "c"}).ToString(),
            "[i8, [(integer) 3, (integer) 2], abcd" + std::string(2, '\0') + ", [(integer) 2]]");
  EXPECT_EQ(t.Run({"GET", "s"}).ToString(), "plain");
  EXPECT_EQ(t.Run({"TENSOR.GET", "big", "META"}).ToString(), "[u8, [(integer) 100000]]");
  EXPECT_EQ(t.Run({"GET", "big"}).str, big);
  // The origin keeps keys under their database: SWAPDB, which the cache alone would see, is
  // refused.
  EXPECT_EQ(t.Run({"SWAPDB", "0", "1"}).ToString(),
            "(error) ERR SWAPDB is not supported with a slower tier (origin)");
  EXPECT_EQ(t.Run({"GET", "s"}).ToString(), "plain");
}

TEST(TensorOrigin, WriteBackFlushesClientTensorsButNotLoadedRows) {
  ScratchDir dir;
  ServerConfig config;
  config.origin = "npy:" + WriteNpy(dir / "emb.npy", 10, 2) + ":emb: rocksdb:" + (dir / "db");
  config.write_policy = "back";
  {
    TestClient t(config);
    EXPECT_EQ(t.Run({"TENSOR.GET", "emb:4", "META"}).ToString(), "[f32, [(integer) 2]]");
    EXPECT_EQ(t.Run({"TENSOR.SET", "mine", "u8", "3", "VALUES", "1", "2", "3"}).ToString(), "OK");
    EXPECT_EQ(t.Run({"ORIGINFLUSH"}).ToString(), "OK");
    EXPECT_EQ(InfoField(t, "origin_flushed_items"), 1) << "the loaded row is not written back";
  }
  config.write_policy = "none";
  config.origin = "rocksdb:" + (dir / "db");
  TestClient t(config);
  EXPECT_EQ(t.Run({"TENSOR.GET", "mine", "VALUES"}).ToString(), "[u8, [(integer) 3], [1, 2, 3]]");
  EXPECT_EQ(t.Run({"TENSOR.GET", "emb:4"}).ToString(), "(nil)");
}

}  // namespace
}  // namespace kvcache::server
