// NpyFile: real files written by NumPy (every supported dtype, format versions 1, 2 and 3),
// files NumPy writes that kvcache refuses, hand-made headers that lie, and every truncation and
// many single-byte corruptions of small files (run under AddressSanitizer to prove no read
// leaves the buffer).
#include "tensor/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tensor/tensor_test_util.h"

namespace kvcache::tensor {
namespace {

using testing::Bytes;
using testing::ReadFile;
using testing::RunPython;
using testing::TempDir;
using testing::WriteFile;

// A .npy file around `dict`, padded as NumPy pads it (data on a 64-byte boundary, '\n' last).
std::string MakeNpy(int major, std::string_view dict, std::string_view data, int minor = 0) {
  std::string header(dict);
  const size_t fixed = major == 1 ? 10 : 12;
  header.append((64 - (fixed + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  for (size_t i = 0; i < fixed - 8; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + std::string(data);
}

Status Parse(std::string_view file, NpyLayout* layout = nullptr) {
  NpyLayout unused;
  const std::vector<uint8_t> bytes = Bytes(file);
  return ParseNpy(bytes, "t.npy", layout ? layout : &unused);
}

// The error message of parsing `file`, which must fail.
std::string Refusal(std::string_view file) {
  Status s = Parse(file);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(s.message().rfind("t.npy: ", 0), 0u) << s.message();
  return s.message();
}

TEST(NpyTest, ReadsEveryDtypeAndVersionNumPyWrites) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
for code in ['<f8', '<f4', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '|b1']:
    a = (np.arange(15).reshape(5, 3) * 7 - 20).astype(code)
    for v in (1, 2, 3):
        with open(f'{code[1:]}_v{v}.npy', 'wb') as f:
            np.lib.format.write_array(f, a, version=(v, 0))
    open(f'{code[1:]}.bin', 'wb').write(a.tobytes())
)PY"));
  const struct {
    const char* code;
    Dtype dtype;
  } cases[] = {{"f8", Dtype::kF64}, {"f4", Dtype::kF32}, {"f2", Dtype::kF16},
               {"i8", Dtype::kI64}, {"i4", Dtype::kI32}, {"i2", Dtype::kI16},
               {"i1", Dtype::kI8},  {"u1", Dtype::kU8},  {"b1", Dtype::kBool}};
  for (const auto& c : cases) {
    const std::string expected = ReadFile(dir / (std::string(c.code) + ".bin"));
    for (int v = 1; v <= 3; ++v) {
      const std::string path = dir / (std::string(c.code) + "_v" + std::to_string(v) + ".npy");
      std::unique_ptr<NpyFile> npy;
      Status s = NpyFile::Open(path, &npy);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(npy->path(), path);
      EXPECT_EQ(npy->version(), v);
      EXPECT_EQ(npy->dtype(), c.dtype) << path;
      EXPECT_EQ(npy->shape(), (std::vector<int64_t>{5, 3}));
      ASSERT_EQ(npy->row_shape().size(), 1u);
      EXPECT_EQ(npy->row_shape()[0], 3);
      EXPECT_EQ(npy->rows(), 5u);
      EXPECT_EQ(npy->row_bytes(), 3 * DtypeSize(c.dtype));
      EXPECT_EQ(npy->data_bytes(), expected.size());
      for (uint64_t r = 0; r < npy->rows(); ++r) {
        EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(npy->row(r)), npy->row_bytes()),
                  std::string_view(expected).substr(r * npy->row_bytes(), npy->row_bytes()))
            << path << " row " << r;
      }
    }
  }
}

TEST(NpyTest, OneDimensionalAndEmptyTables) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
np.save('vec.npy', np.array([1.5, -2.0, 3.25], dtype='<f4'))
np.save('no_rows.npy', np.zeros((0, 4), dtype='<i4'))
np.save('no_cols.npy', np.zeros((4, 0), dtype='<i4'))
np.save('empty_vec.npy', np.zeros((0,), dtype='|u1'))
np.save('wide.npy', np.arange(1000 * 17, dtype='<f4').reshape(1000, 17))
)PY"));
  std::unique_ptr<NpyFile> npy;
  ASSERT_TRUE(NpyFile::Open(dir / "vec.npy", &npy).ok());
  EXPECT_EQ(npy->rows(), 3u);
  EXPECT_EQ(npy->row_bytes(), 4u);
  EXPECT_TRUE(npy->row_shape().empty());
  float f;
  std::memcpy(&f, npy->row(2), 4);
  EXPECT_EQ(f, 3.25f);

  ASSERT_TRUE(NpyFile::Open(dir / "no_rows.npy", &npy).ok());
  EXPECT_EQ(npy->rows(), 0u);
  EXPECT_EQ(npy->row_bytes(), 16u);
  EXPECT_EQ(npy->data_bytes(), 0u);
  ASSERT_TRUE(NpyFile::Open(dir / "no_cols.npy", &npy).ok());
  EXPECT_EQ(npy->rows(), 4u);
  EXPECT_EQ(npy->row_bytes(), 0u);
  ASSERT_TRUE(NpyFile::Open(dir / "empty_vec.npy", &npy).ok());
  EXPECT_EQ(npy->rows(), 0u);

  ASSERT_TRUE(NpyFile::Open(dir / "wide.npy", &npy).ok());
  EXPECT_EQ(npy->rows(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(npy->data()) % 64, 0u) << "NumPy aligns data to 64";
  std::memcpy(&f, npy->row(999) + 16 * 4, 4);
  EXPECT_EQ(f, 999 * 17 + 16);
}

TEST(NpyTest, RefusesWhatNumPyWritesButKvcacheDoesNotRead) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
np.save('big_endian.npy', np.arange(6, dtype='>f4').reshape(2, 3))
np.save('fortran.npy', np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)))
np.save('three_d.npy', np.zeros((2, 3, 4), dtype='<f4'))
np.save('scalar.npy', np.float32(1.0))
np.save('structured.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))
np.save('unicode.npy', np.array(['abc', 'de']))
np.save('complex.npy', np.zeros((2, 2), dtype='<c8'))
np.save('uint32.npy', np.zeros((2, 2), dtype='<u4'))
np.save('objects.npy', np.array([{}, 1], dtype=object), allow_pickle=True)
open('empty.npy', 'wb').close()
open('text.npy', 'w').write('hello, this is not numpy\n')
)PY"));
  const struct {
    const char* file;
    const char* says;
  } cases[] = {
      {"big_endian.npy", "big-endian dtype '>f4'"},
      {"fortran.npy", "fortran_order is True"},
      {"three_d.npy", "shape (2, 3, 4) is 3-D; a table must be 1-D or 2-D"},
      {"scalar.npy", "shape () is 0-D"},
      {"structured.npy", "structured dtypes"},
      {"unicode.npy", "unsupported NumPy dtype '<U3'"},
      {"complex.npy", "unsupported NumPy dtype '<c8'"},
      {"uint32.npy", "unsupported NumPy dtype '<u4'"},
      {"objects.npy", "unsupported NumPy dtype '|O'"},
      {"empty.npy", "file is 0 bytes, too short"},
      {"text.npy", "not a .npy file"},
  };
  for (const auto& c : cases) {
    std::unique_ptr<NpyFile> npy;
    Status s = NpyFile::Open(dir / c.file, &npy);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.file << ": " << s.ToString();
    EXPECT_NE(s.message().find(dir / c.file), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
  }
  std::unique_ptr<NpyFile> npy;
  EXPECT_EQ(NpyFile::Open(dir / "missing.npy", &npy).code(), Status::Code::kIOError);
  EXPECT_TRUE(NpyFile::Open(dir.path(), &npy).IsInvalidArgument()) << "a directory";
}

TEST(NpyTest, AcceptsHeaderVariantsNumPyAccepts) {
  const std::string data(24, '\x01');
  NpyLayout layout;
  for (const char* dict : {
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
           "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
           "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
           "{ 'descr' : '<f4' ,\n 'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) }",
       }) {
    for (int v = 1; v <= 3; ++v) {
      Status s = Parse(MakeNpy(v, dict, data), &layout);
      ASSERT_TRUE(s.ok()) << dict << " v" << v << ": " << s.ToString();
      EXPECT_EQ(layout.shape, (std::vector<int64_t>{2, 3}));
      EXPECT_EQ(layout.dtype, Dtype::kF32);
      EXPECT_EQ(layout.version, v);
    }
  }
  // Python 2 longs ("2L"), which NumPy filters out of version 1 and 2 headers only.
  const char* longs = "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }";
  EXPECT_TRUE(Parse(MakeNpy(1, longs, data)).ok());
  EXPECT_TRUE(Parse(MakeNpy(2, longs, data)).ok());
  EXPECT_TRUE(Parse(MakeNpy(3, longs, data)).IsInvalidArgument());
  // No padding and no newline: NumPy reads that too.
  std::string bare = "\x93NUMPY\x01";
  bare += '\0';
  const std::string dict = "{'descr':'|u1','fortran_order':False,'shape':(3,)}";
  bare += static_cast<char>(dict.size());
  bare += '\0';
  ASSERT_TRUE(Parse(bare + dict + "abc", &layout).ok());
  EXPECT_EQ(layout.data_offset, 10 + dict.size());
}

TEST(NpyTest, RefusesMalformedAndLyingHeaders) {
  const std::string f4 = "'descr': '<f4', 'fortran_order': False";
  const std::string data(24, '\0');
  auto dict = [&](const std::string& shape) { return "{" + f4 + ", 'shape': " + shape + ", }"; };
  const struct {
    std::string file;
    const char* says;
  } cases[] = {
      {"", "0 bytes, too short"},
      {"\x93NUM", "too short"},
      {"\x93NUMPZ\x01", "not a .npy file"},
      {"PK\x03\x04 a zip file", "not a .npy file"},
      {"\x93NUMPY\x01", "too short"},
      {std::string("\x93NUMPY\x01\x00\x10", 9), "too short"},
      {std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11), "too short"},
      {MakeNpy(4, dict("(2, 3)"), data), "version 4.0"},
      {MakeNpy(1, dict("(2, 3)"), data, 1), "version 1.1"},
      {MakeNpy(0, dict("(2, 3)"), data), "version 0.0"},
      {std::string("\x93NUMPY\x01\x00\xff\xff", 10) + std::string(70000, ' '),
       "header length 65535 is over NumPy's limit of 10000 bytes"},
      {std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12), "header length 4294967295 is over"},
      {std::string("\x93NUMPY\x02\x00\x11\x27\x00\x00", 12) + std::string(10001, ' '),
       "header length 10001 is over"},
      {std::string("\x93NUMPY\x01\x00\x40\x00", 10) + "{}", "runs past the end of the file"},
      {MakeNpy(1, "", data), "does not start with '{'"},
      {MakeNpy(1, "[1, 2]", data), "does not start with '{'"},
      {MakeNpy(1, "{" + f4 + ", 'shape': (2, 3)", data), "expected ',' or '}'"},
      {MakeNpy(1, "{" + f4 + "}", data), "no 'shape'"},
      {MakeNpy(1, "{'fortran_order': False, 'shape': (2, 3)}", data), "no 'descr'"},
      {MakeNpy(1, "{'descr': '<f4', 'shape': (2, 3)}", data), "no 'fortran_order'"},
      {MakeNpy(1, "{" + f4 + ", 'shape': (2, 3), 'extra': 1}", data), "unexpected key 'extra'"},
      {MakeNpy(1, "{" + f4 + ", 'descr': '<f4', 'shape': (2, 3)}", data), "appears twice"},
      {MakeNpy(1, "{'descr': <f4, 'fortran_order': False, 'shape': (2, 3)}", data),
       "expected a quoted string"},
      {MakeNpy(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", data),
       "expected ',' or '}'"},
      {MakeNpy(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", data),
       "expected ':' after 'descr'"},
      {MakeNpy(1, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2, 3)}", data),
       "escapes"},
      {MakeNpy(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", data), "True or False"},
      {MakeNpy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", data),
       "fortran_order is True"},
      {MakeNpy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}", data), "big-endian"},
      {MakeNpy(1, "{'descr': '<q9', 'fortran_order': False, 'shape': (2, 3)}", data),
       "unsupported NumPy dtype '<q9'"},
      {MakeNpy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", data),
       "structured dtypes"},
      {MakeNpy(1, dict("[2, 3]"), data), "must be a tuple"},
      {MakeNpy(1, dict("(6)"), data), "is not a tuple"},
      {MakeNpy(1, dict("(2, -3)"), data), "negative"},
      {MakeNpy(1, dict("(2, 3.0)"), data), "expected ',' or ')'"},
      {MakeNpy(1, dict("(2, 0x3)"), data), "expected ',' or ')'"},
      {MakeNpy(1, dict("(2, three)"), data), "decimal integer"},
      {MakeNpy(1, dict("(2,, 3)"), data), "decimal integer"},
      {MakeNpy(1, dict("(9223372036854775808, 1)"), data), "larger than 2^63 - 1"},
      {MakeNpy(1, dict("(4294967296, 4294967296)"), data), "overflows a 64-bit byte count"},
      {MakeNpy(1, dict("(0, 4611686018427387904)"), ""), "overflows"},
      {MakeNpy(1, dict("(2, 3, 1)"), data), "is 3-D"},
      {MakeNpy(1, dict("()"), data), "is 0-D"},
      {MakeNpy(1, dict("(3, 3)"), data), "data is 24 bytes but shape (3, 3) of <f4 needs 36"},
      {MakeNpy(1, dict("(1000000, 3)"), data), "truncated file?"},
      {MakeNpy(1, dict("(2, 3)"), data + "x"), "trailing bytes"},
      {MakeNpy(1, dict("(2, 3)"), ""), "data is 0 bytes"},
      {MakeNpy(1, dict("(2, 3)") + "#", data), "unexpected text after the closing '}'"},
  };
  for (const auto& c : cases) {
    const std::string message = Refusal(c.file);
    EXPECT_NE(message.find(c.says), std::string::npos)
        << "expected \"" << c.says << "\" in: " << message;
  }
}

// The small files the truncation and corruption tests chew on: NumPy's own when available,
// otherwise hand-made ones of the same layout.
std::vector<std::string> SmallFiles(const TempDir& dir) {
  std::vector<std::string> files;
  if (testing::HaveNumpy() && RunPython(dir, R"PY(
a = np.arange(15, dtype='<f4').reshape(3, 5)
for v in (1, 2, 3):
    with open(f'small_v{v}.npy', 'wb') as f:
        np.lib.format.write_array(f, a, version=(v, 0))
np.save('small_1d.npy', np.array([1, 2, 3], dtype='<i2'))
)PY")) {
    for (const char* f : {"small_v1.npy", "small_v2.npy", "small_v3.npy", "small_1d.npy"}) {
      files.push_back(ReadFile(dir / f));
    }
  } else {
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }";
    for (int v = 1; v <= 3; ++v) files.push_back(MakeNpy(v, dict, std::string(60, '\x07')));
  }
  return files;
}

TEST(NpyTest, RefusesEveryTruncation) {
  TempDir dir;
  for (const std::string& file : SmallFiles(dir)) {
    ASSERT_TRUE(Parse(file).ok());
    for (size_t len = 0; len < file.size(); ++len) {
      Status s = Parse(std::string_view(file).substr(0, len));
      ASSERT_TRUE(s.IsInvalidArgument()) << "truncated to " << len << " bytes was accepted";
    }
  }
}

// The same through real truncated files and the mapping.
TEST(NpyTest, RefusesEveryTruncatedFileOnDisk) {
  TempDir dir;
  const std::string file = SmallFiles(dir)[0];
  const std::string path = dir / "cut.npy";
  for (size_t len = 0; len < file.size(); ++len) {
    WriteFile(path, std::string_view(file).substr(0, len));
    std::unique_ptr<NpyFile> npy;
    Status s = NpyFile::Open(path, &npy);
    ASSERT_TRUE(s.IsInvalidArgument()) << len << ": " << s.ToString();
    ASSERT_NE(s.message().find(path), std::string::npos);
  }
}

// Every byte replaced by a few values: refused, or accepted with a layout that fits the file.
TEST(NpyTest, SurvivesEverySingleByteCorruption) {
  TempDir dir;
  for (const std::string& file : SmallFiles(dir)) {
    for (size_t i = 0; i < file.size(); ++i) {
      for (char c : {'\0', '\xff', '(', ')', ',', '9', '1', ' ', '\'', 'L', '>', '{', '}'}) {
        std::string bad = file;
        bad[i] = c;
        NpyLayout layout;
        if (!Parse(bad, &layout).ok()) continue;
        uint64_t elements = 1;
        for (int64_t d : layout.shape) elements *= static_cast<uint64_t>(d);
        ASSERT_EQ(layout.data_offset + layout.data_bytes, bad.size());
        ASSERT_EQ(elements * DtypeSize(layout.dtype), layout.data_bytes);
      }
    }
  }
}

}  // namespace
}  // namespace kvcache::tensor
