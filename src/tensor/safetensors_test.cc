// SafetensorsFile: files written by a Python function that follows the format, headers that lie
// or are not JSON, and every truncation and many corruptions of a small file (run under
// AddressSanitizer to prove no read leaves the buffer).
#include "tensor/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tensor/json_reader.h"
#include "tensor/tensor_test_util.h"

namespace kvcache::tensor {
namespace {

using testing::Bytes;
using testing::ReadFile;
using testing::RunPython;
using testing::TempDir;
using testing::WriteFile;

// A file with `header` as its JSON (not padded) and `data` after it.
std::string MakeSafetensors(std::string_view header, std::string_view data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + std::string(header) + std::string(data);
}

Status Parse(std::string_view file, SafetensorsLayout* layout = nullptr) {
  SafetensorsLayout unused;
  const std::vector<uint8_t> bytes = Bytes(file);
  return ParseSafetensors(bytes, "t.safetensors", layout ? layout : &unused);
}

std::string Refusal(std::string_view file) {
  Status s = Parse(file);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(s.message().rfind("t.safetensors: ", 0), 0u) << s.message();
  return s.message();
}

TEST(SafetensorsTest, ReadsEveryDtype) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
t = {}
for code in ['<f8', '<f4', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '|b1']:
    t['w_' + code[1:]] = (np.arange(12).reshape(3, 4) * 3 - 5).astype(code)
t['w_bf16'] = ('BF16', [3, 4], bf16(np.arange(12, dtype='<f4') / 8 - 0.5))
t['scalar'] = np.array(2.5, dtype='<f8')
t['empty'] = np.zeros((0, 3), dtype='<f4')
t['vec'] = np.arange(5, dtype='<i4')
t['cube'] = np.arange(24, dtype='<i2').reshape(2, 3, 4)
t['caf\u00e9/\u65e5\u672c'] = np.arange(2, dtype='|u1')
write_safetensors('all.safetensors', t, metadata={'format': 'pt', 'note': 'x'})
for name, v in t.items():
    raw = v[2] if isinstance(v, tuple) else np.ascontiguousarray(v).tobytes()
    open(name.encode('utf-8').hex() + '.bin', 'wb').write(raw)
)PY"));
  std::unique_ptr<SafetensorsFile> st;
  Status s = SafetensorsFile::Open(dir / "all.safetensors", &st);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(st->tensors().size(), 15u);
  for (size_t i = 1; i < st->tensors().size(); ++i) {
    EXPECT_LT(st->tensors()[i - 1].name, st->tensors()[i].name) << "sorted by name";
  }
  uint64_t total = 0;
  for (const SafetensorsTensor& t : st->tensors()) {
    std::string hex;
    for (unsigned char c : t.name) {
      const char* digits = "0123456789abcdef";
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    const std::string expected = ReadFile(dir / (hex + ".bin"));
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(st->data(t)), t.bytes()), expected)
        << t.name;
    EXPECT_EQ(st->Find(t.name), &t);
    total += t.bytes();
  }
  EXPECT_EQ(st->data_bytes(), total);
  EXPECT_EQ(st->Find("nope"), nullptr);
  EXPECT_EQ(st->Find("w_f4")->dtype, Dtype::kF32);
  EXPECT_EQ(st->Find("w_f4")->shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(st->Find("w_bf16")->dtype, Dtype::kBF16);
  EXPECT_EQ(st->Find("w_b1")->dtype, Dtype::kBool);
  EXPECT_EQ(st->Find("w_u1")->dtype, Dtype::kU8);
  EXPECT_EQ(st->Find("w_f2")->dtype, Dtype::kF16);
  EXPECT_EQ(st->Find("scalar")->shape, std::vector<int64_t>{});
  EXPECT_EQ(st->Find("empty")->bytes(), 0u);
  ASSERT_NE(st->Find("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac"), nullptr) << "escaped UTF-8 name";
}

TEST(SafetensorsTest, RefusesUnsupportedDtypesByName) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
write_safetensors('u32.safetensors', {'a': np.zeros(2, '<f4'), 'ids': np.zeros(3, '<u4')})
write_safetensors('fp8.safetensors', {'q': ('F8_E4M3', [4], b'\0' * 4)})
write_safetensors('big_endian_lie.safetensors', {'x': ('F32', [2], b'\0' * 7)})
)PY"));
  std::unique_ptr<SafetensorsFile> st;
  Status s = SafetensorsFile::Open(dir / "u32.safetensors", &st);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("tensor 'ids': safetensors dtype U32 is not supported"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(dir / "u32.safetensors"), std::string::npos) << s.message();
  s = SafetensorsFile::Open(dir / "fp8.safetensors", &st);
  EXPECT_NE(s.message().find("F8_E4M3 is not supported"), std::string::npos) << s.message();
  s = SafetensorsFile::Open(dir / "big_endian_lie.safetensors", &st);
  EXPECT_NE(s.message().find("has 7 bytes but shape [2] of F32 needs 8"), std::string::npos)
      << s.message();
}

TEST(SafetensorsTest, AcceptsWhatTheReferenceAccepts) {
  SafetensorsLayout layout;
  // No tensors at all.
  ASSERT_TRUE(Parse(MakeSafetensors("{}", ""), &layout).ok());
  EXPECT_TRUE(layout.tensors.empty());
  ASSERT_TRUE(Parse(MakeSafetensors("{}        ", ""), &layout).ok()) << "space padding";
  // Offsets in any order in the JSON, unknown fields, metadata of any shape, zero-size tensors
  // at the same offset, whitespace everywhere, escaped names.
  const std::string header = R"({
    "b": {"data_offsets": [4, 8], "shape": [2], "dtype": "I16", "extra": {"k": [1, 2.5e3]}},
    "__metadata__": {"format": "pt", "n": null, "list": [true, false, -1.5E-3]},
    "a": {"dtype": "U8", "shape": [2, 2], "data_offsets": [0, 4]},
    "z1": {"dtype": "F32", "shape": [0, 5], "data_offsets": [8, 8]},
    "z0": {"dtype": "F32", "shape": [5, 0], "data_offsets": [8, 8]},
    "\u00e9\ud83d\ude00\n\"\\\/": {"dtype": "BOOL", "shape": [], "data_offsets": [8, 9]}
  }   )";
  Status s = Parse(MakeSafetensors(header, "abcdefghi"), &layout);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(layout.tensors.size(), 5u);
  EXPECT_EQ(layout.tensors[0].name, "a");
  EXPECT_EQ(layout.tensors[1].name, "b");
  EXPECT_EQ(layout.tensors[1].begin, 4u);
  EXPECT_EQ(layout.tensors[1].dtype, Dtype::kI16);
  EXPECT_EQ(layout.tensors[4].name, "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/");
  EXPECT_EQ(layout.data_offset, 8 + header.size());
  EXPECT_EQ(layout.data_bytes, 9u);
}

TEST(SafetensorsTest, RefusesLiesAndBadJson) {
  const std::string a = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::string data8(8, '\0');
  auto one = [&](const std::string& entry, std::string_view data = std::string(8, '\0')) {
    return MakeSafetensors("{" + entry + "}", data);
  };
  std::string huge_n(8, '\0');
  huge_n[0] = '\x01';
  huge_n[3] = '\x06';  // 0x06000001 > 100,000,000
  const struct {
    std::string file;
    const char* says;
  } cases[] = {
      {"", "0 bytes, too short"},
      {std::string("\x02\0\0\0", 4), "4 bytes, too short"},
      {huge_n + "{}", "header length 100663297 is over the limit of 100000000 bytes"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8), "header length 18446744073709551615"},
      {std::string("\x10\0\0\0\0\0\0\0{}", 10), "runs past the end of the file (10 bytes)"},
      {MakeSafetensors("", ""), "does not start with '{'"},
      {MakeSafetensors(" {}", ""), "does not start with '{'"},
      {MakeSafetensors("[]", ""), "does not start with '{'"},
      {MakeSafetensors("{", ""), "expected a string"},
      {MakeSafetensors("{}}", ""), "unexpected text after the JSON value"},
      {MakeSafetensors(std::string("{}\0", 3), ""), "unexpected text"},
      {MakeSafetensors("{'a': 1}", ""), "expected a string"},
      {MakeSafetensors("{\"a\" {}}", ""), "expected ':'"},
      {MakeSafetensors("{" + a + ",}", data8), "expected a string"},
      {MakeSafetensors("{" + a + " " + a + "}", data8), "expected ',' or '}'"},
      {MakeSafetensors("{\"\xff\": 1}", ""), "invalid UTF-8"},
      {MakeSafetensors("{\"\xc0\xaf\": 1}", ""), "invalid UTF-8"},      // overlong '/'
      {MakeSafetensors("{\"\xed\xa0\x80\": 1}", ""), "invalid UTF-8"},  // surrogate
      {MakeSafetensors("{\"\xe6\x97\": 1}", ""), "invalid UTF-8"},      // cut short
      {MakeSafetensors("{\"a\tb\": 1}", ""), "control character"},
      {MakeSafetensors("{\"\\ud800\": 1}", ""), "lone high surrogate"},
      {MakeSafetensors("{\"\\udc00\": 1}", ""), "lone low surrogate"},
      {MakeSafetensors("{\"\\x41\": 1}", ""), "bad escape"},
      {MakeSafetensors("{\"\\u12G4\": 1}", ""), "bad \\u escape"},
      {one(R"("a": 5)"), "tensor 'a' must be an object with dtype, shape and data_offsets"},
      {one(R"("a": {"shape": [2], "data_offsets": [0, 8]})"), "tensor 'a' has no dtype"},
      {one(R"("a": {"dtype": "F32", "data_offsets": [0, 8]})"), "tensor 'a' has no shape"},
      {one(R"("a": {"dtype": "F32", "shape": [2]})"), "tensor 'a' has no data_offsets"},
      {one(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0]})"), "two elements"},
      {one(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 8]})"), "two elements"},
      {one(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8,]})"), "two elements"},
      {one(R"("a": {"dtype": "F32", "shape": [2,], "data_offsets": [0, 8]})"),
       "expected a non-negative integer"},
      {one(R"("a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]})"),
       "expected a non-negative integer"},
      {one(R"("a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]})"), "not a fraction"},
      {one(R"("a": {"dtype": "F32", "shape": [2e0], "data_offsets": [0, 8]})"), "not a fraction"},
      {one(R"("a": {"dtype": "F32", "shape": [02], "data_offsets": [0, 8]})"), "leading zero"},
      {one(R"("a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]})"),
       "expected a non-negative integer"},
      {one(R"("a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]})"), "expected '['"},
      {one(R"("a": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]})"), "expected a string"},
      {one(R"("a": {"dtype": "F32", "shape": [18446744073709551616], "data_offsets": [0, 8]})"),
       "does not fit 64 bits"},
      {one(R"("a": {"dtype": "F32", "shape": [9223372036854775808], "data_offsets": [0, 8]})"),
       "dimension over 2^63 - 1"},
      {one(R"("a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]})",
           ""),
       "whose size overflows"},
      {one(R"("a": {"dtype": "F32", "shape": [0, 4611686018427387904], "data_offsets": [0, 0]})",
           ""),
       "whose size overflows"},
      {one(R"("a": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]})"),
       "unknown safetensors dtype 'F99'"},
      {one(R"("a": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]})"), "not supported"},
      {one(R"("a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]})"),
       "tensor 'a' has 8 bytes but shape [3] of F32 needs 12"},
      {one(R"("a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 8]})"),
       "has 8 bytes but shape [2] of F16 needs 4"},
      {one(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]})", std::string(12, 0)),
       "must continue at 0"},
      {one(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]})"),
       "has data_offsets [8, 0]"},
      {one(a + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]})",
           std::string(12, 0)),
       "tensor 'b' has data_offsets [4, 12] but the data must continue at 8"},
      {one(a + R"(, "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]})",
           std::string(16, 0)),
       "must continue at 8"},
      {one(a + ", " + a), "tensor 'a' appears twice"},
      {one(a, std::string(6, '\0')), "cover 8 bytes of data but the file has 6 (truncated file?)"},
      {one(a, std::string(9, '\0')), "cover 8 bytes of data but the file has 9 (trailing bytes)"},
      {one(a + R"(, "b": {"dtype": "F32", "shape": [1000000], "data_offsets": [8, 4000008]})"),
       "truncated file?"},
      {one(R"("__metadata__": {"a": tru})"), "unexpected character"},
      {one(R"("__metadata__": {"a": 1.})"), "bad number"},
      {one(R"("__metadata__": {"a": -})"), "bad number"},
      {one(R"("__metadata__": {"a": 01})"), "leading zero"},
      {one(R"("__metadata__": {"a": NaN})"), "unexpected character"},
      {one(R"("__metadata__": {"a": "x})"), "unterminated string"},
      {one(R"("__metadata__": )"), "unexpected character"},
      {one("\"__metadata__\": " + std::string(100000, '[') + std::string(100000, ']')),
       "nested deeper than 64"},
  };
  for (const auto& c : cases) {
    const std::string message = Refusal(c.file);
    EXPECT_NE(message.find(c.says), std::string::npos)
        << "expected \"" << c.says << "\" in: " << message;
  }
}

// A small real file for the truncation and corruption tests.
std::string SmallFile(const TempDir& dir) {
  if (testing::HaveNumpy() && RunPython(dir, R"PY(
write_safetensors('small.safetensors', {'w': np.arange(6, dtype='<f4').reshape(2, 3),
                                        'b': np.arange(3, dtype='<f2'), 'e': np.zeros(0, '<i8')},
                  metadata={'format': 'pt'})
)PY")) {
    return ReadFile(dir / "small.safetensors");
  }
  return MakeSafetensors(
      R"({"b":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
      R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[6,30]},"__metadata__":{"format":"pt"}})",
      std::string(30, '\x03'));
}

TEST(SafetensorsTest, RefusesEveryTruncation) {
  TempDir dir;
  const std::string file = SmallFile(dir);
  ASSERT_TRUE(Parse(file).ok());
  for (size_t len = 0; len < file.size(); ++len) {
    Status s = Parse(std::string_view(file).substr(0, len));
    ASSERT_TRUE(s.IsInvalidArgument()) << "truncated to " << len << " bytes was accepted";
  }
  const std::string path = dir / "cut.safetensors";
  for (size_t len = 0; len < file.size(); ++len) {
    WriteFile(path, std::string_view(file).substr(0, len));
    std::unique_ptr<SafetensorsFile> st;
    Status s = SafetensorsFile::Open(path, &st);
    ASSERT_TRUE(s.IsInvalidArgument()) << len << ": " << s.ToString();
    ASSERT_NE(s.message().find(path), std::string::npos);
  }
}

TEST(SafetensorsTest, SurvivesEverySingleByteCorruption) {
  TempDir dir;
  const std::string file = SmallFile(dir);
  for (size_t i = 0; i < file.size(); ++i) {
    for (char c : {'\0', '\xff', '\x80', '0', '9', '[', ']', '{', '}', ',', '"', ' ', ':', '\\'}) {
      std::string bad = file;
      bad[i] = c;
      SafetensorsLayout layout;
      if (!Parse(bad, &layout).ok()) continue;
      ASSERT_EQ(layout.data_offset + layout.data_bytes, bad.size());
      for (const SafetensorsTensor& t : layout.tensors) {
        ASSERT_LE(t.begin, t.end);
        ASSERT_LE(t.end, layout.data_bytes);
        uint64_t elements = 1;
        for (int64_t d : t.shape) elements *= static_cast<uint64_t>(d);
        ASSERT_EQ(elements * DtypeSize(t.dtype), t.bytes());
      }
    }
  }
}

TEST(JsonReaderTest, ReadsAndSkips) {
  JsonReader json(R"( {"k": [1, {"x": null}, "s\u0041"], "n": 18446744073709551615} )");
  ASSERT_TRUE(json.CheckUtf8());
  std::vector<std::string> keys;
  uint64_t n = 0;
  ASSERT_TRUE(json.ReadObject([&](const std::string& key) {
    keys.push_back(key);
    return key == "n" ? json.ReadUint64(&n) : json.SkipValue();
  })) << json.error();
  EXPECT_TRUE(json.ExpectEnd());
  EXPECT_EQ(keys, (std::vector<std::string>{"k", "n"}));
  EXPECT_EQ(n, UINT64_MAX);

  const std::string too_deep = std::string(65, '[') + std::string(65, ']');
  JsonReader deep(too_deep);
  EXPECT_FALSE(deep.SkipValue());
  EXPECT_NE(deep.error().find("nested deeper than 64"), std::string::npos);
  const std::string deepest = std::string(64, '[') + std::string(64, ']');
  JsonReader ok_depth(deepest);
  EXPECT_TRUE(ok_depth.SkipValue()) << ok_depth.error();
}

}  // namespace
}  // namespace kvcache::tensor
