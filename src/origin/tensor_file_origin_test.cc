// Tensor-file origins: row and tensor lookups, key syntax, prefixes, Scan order and bounds,
// read-only errors, and concurrent readers, over files written by NumPy.
#include "origin/tensor_file_origin.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tensor/tensor_test_util.h"

namespace kvcache {
namespace {

using tensor::testing::ReadFile;
using tensor::testing::RunPython;
using tensor::testing::TempDir;

OriginValue GetOne(Origin* origin, std::string_view key) {
  std::vector<OriginValue> out;
  std::string_view keys[] = {key};
  origin->MultiGet(keys, &out);
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? OriginValue{} : out[0];
}

std::vector<std::pair<std::string, std::string>> ScanAll(Origin* origin,
                                                         std::string_view begin = "",
                                                         std::string_view end = "") {
  std::vector<std::pair<std::string, std::string>> out;
  Status s = origin->Scan(begin, end, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<std::string> ScanKeys(Origin* origin, std::string_view begin = "",
                                  std::string_view end = "") {
  std::vector<std::string> keys;
  for (auto& [k, v] : ScanAll(origin, begin, end)) keys.push_back(k);
  return keys;
}

// emb.npy: 12 x 4 f32 rows (row r holds r*10 .. r*10+3); vec.npy: 5 i16; rows.bin: emb's bytes.
// Written once for the suite.
class NpyOriginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tensor::testing::HaveNumpy()) return;
    dir_ = new TempDir;
    generated_ = RunPython(*dir_, R"PY(
a = (np.arange(12)[:, None] * 10 + np.arange(4)).astype('<f4')
np.save('emb.npy', a)
open('rows.bin', 'wb').write(a.tobytes())
np.save('vec.npy', np.array([5, -6, 7, -8, 9], dtype='<i2'))
)PY");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    KV_REQUIRE_NUMPY();
    ASSERT_TRUE(generated_);
    rows_ = ReadFile(dir() / "rows.bin");
    Status s = OpenNpyOrigin(dir() / "emb.npy", "", &origin_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  const TempDir& dir() const { return *dir_; }
  std::string Row(int r) const { return rows_.substr(r * 16, 16); }

  static inline TempDir* dir_ = nullptr;
  static inline ::testing::AssertionResult generated_ = ::testing::AssertionFailure();
  std::string rows_;
  std::unique_ptr<Origin> origin_;
};

TEST_F(NpyOriginTest, RowLookups) {
  EXPECT_EQ(origin_->name(), "npy:" + (dir() / "emb.npy") + ":emb:");
  EXPECT_TRUE(origin_->read_only());
  EXPECT_EQ(origin_->ApproximateBytes(), 12u * 16);
  for (int r = 0; r < 12; ++r) {
    OriginValue v = GetOne(origin_.get(), "emb:" + std::to_string(r));
    ASSERT_TRUE(v.status.ok()) << v.status.ToString();
    EXPECT_EQ(v.value, Row(r));
    EXPECT_TRUE(v.is_tensor);
    EXPECT_EQ(v.tensor.dtype, "f32");
    EXPECT_EQ(v.tensor.shape, std::vector<int64_t>{4});
  }
  float f;
  std::memcpy(&f, GetOne(origin_.get(), "emb:11").value.data() + 8, 4);
  EXPECT_EQ(f, 112.0f);
}

TEST_F(NpyOriginTest, BadRowKeysAreNotFound) {
  for (const char* key : {"emb:12",
                          "emb:100",
                          "emb:01",
                          "emb:00",
                          "emb:-1",
                          "emb:+1",
                          "emb:1x",
                          "emb:x1",
                          "emb:",
                          "emb: 1",
                          "emb:1 ",
                          "emb:1.0",
                          "emb:0x1",
                          "emb:18446744073709551615",
                          "emb:18446744073709551616",
                          "emb:99999999999999999999999",
                          "emb",
                          "emb1",
                          "Emb:1",
                          "vec:1",
                          "1",
                          ""}) {
    OriginValue v = GetOne(origin_.get(), key);
    EXPECT_TRUE(v.status.IsNotFound()) << key << ": " << v.status.ToString();
    EXPECT_FALSE(v.is_tensor) << key;
    EXPECT_TRUE(v.value.empty()) << key;
  }
}

TEST_F(NpyOriginTest, MultiGetAnswersInOrderAndOverwritesOldEntries) {
  std::vector<OriginValue> out(40);  // reused: stale entries must be overwritten, not kept
  out[1].status = Status::IOError("stale");
  out[1].value = "stale";
  out[2].is_tensor = true;
  out[2].tensor.shape = {1, 2, 3};
  std::vector<std::string> keys = {"emb:3", "emb:99", "emb:0", "emb:3"};
  std::vector<std::string_view> views(keys.begin(), keys.end());
  origin_->MultiGet(views, &out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].value, Row(3));
  EXPECT_TRUE(out[1].status.IsNotFound());
  EXPECT_TRUE(out[1].value.empty());
  EXPECT_EQ(out[2].value, Row(0));
  EXPECT_EQ(out[2].tensor.shape, std::vector<int64_t>{4});
  EXPECT_EQ(out[3].value, Row(3));
  origin_->MultiGet({}, &out);
  EXPECT_TRUE(out.empty());
}

TEST_F(NpyOriginTest, PrefixHandling) {
  std::unique_ptr<Origin> o;
  ASSERT_TRUE(OpenNpyOrigin(dir() / "emb.npy", "e/", &o).ok());
  EXPECT_EQ(o->name(), "npy:" + (dir() / "emb.npy") + ":e/");
  EXPECT_EQ(GetOne(o.get(), "e/5").value, Row(5));
  EXPECT_TRUE(GetOne(o.get(), "emb:5").status.IsNotFound());
  EXPECT_TRUE(GetOne(o.get(), "e/").status.IsNotFound());
  // A prefix that itself ends in digits: the row is what follows it.
  ASSERT_TRUE(OpenNpyOrigin(dir() / "emb.npy", "t1", &o).ok());
  EXPECT_EQ(GetOne(o.get(), "t10").value, Row(0));
  EXPECT_TRUE(GetOne(o.get(), "t1").status.IsNotFound());
}

TEST_F(NpyOriginTest, OneDimensionalTableGivesScalars) {
  std::unique_ptr<Origin> o;
  ASSERT_TRUE(OpenNpyOrigin(dir() / "vec.npy", "", &o).ok());
  EXPECT_EQ(o->name(), "npy:" + (dir() / "vec.npy") + ":vec:");
  OriginValue v = GetOne(o.get(), "vec:1");
  ASSERT_TRUE(v.status.ok());
  EXPECT_EQ(v.tensor.dtype, "i16");
  EXPECT_TRUE(v.tensor.shape.empty());
  int16_t x;
  ASSERT_EQ(v.value.size(), 2u);
  std::memcpy(&x, v.value.data(), 2);
  EXPECT_EQ(x, -6);
  EXPECT_TRUE(GetOne(o.get(), "vec:5").status.IsNotFound());
}

TEST_F(NpyOriginTest, ScanVisitsRowsInOrder) {
  auto all = ScanAll(origin_.get());
  ASSERT_EQ(all.size(), 12u);
  for (int r = 0; r < 12; ++r) {
    EXPECT_EQ(all[r].first, "emb:" + std::to_string(r));  // emb:10 after emb:9
    EXPECT_EQ(all[r].second, Row(r));
  }
  int seen = 0;
  EXPECT_TRUE(
      origin_->Scan("", "", [&](std::string_view, std::string_view) { return ++seen < 3; }).ok());
  EXPECT_EQ(seen, 3) << "Scan stops when fn returns false";
}

TEST_F(NpyOriginTest, ScanBoundsAreRowPositions) {
  using Keys = std::vector<std::string>;
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:3", "emb:6"), (Keys{"emb:3", "emb:4", "emb:5"}));
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:9", "emb:11"), (Keys{"emb:9", "emb:10"}));
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:10").size(), 2u);
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:3x", "emb:5").size(), 1u) << "just after row 3";
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:03", "emb:4"), Keys{"emb:3"});
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:99999999999999999999999").size(), 0u);
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:11", "emb:99999999999999999999").size(), 1u);
  EXPECT_EQ(ScanKeys(origin_.get(), "a", "z").size(), 12u) << "every emb: key is in [a, z)";
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:", "").size(), 12u);
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:-", "").size(), 12u);
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:a", "").size(), 0u);
  EXPECT_EQ(ScanKeys(origin_.get(), "zzz", "").size(), 0u);
  EXPECT_EQ(ScanKeys(origin_.get(), "", "emb:").size(), 0u);
  EXPECT_EQ(ScanKeys(origin_.get(), "", "emb").size(), 0u);
  EXPECT_EQ(ScanKeys(origin_.get(), "emb:6", "emb:2").size(), 0u);
}

TEST_F(NpyOriginTest, IsReadOnly) {
  std::pair<std::string_view, std::string_view> kv[] = {{"emb:1", "x"}};
  Status s = origin_->MultiPut(kv, true);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
  std::string_view keys[] = {"emb:1"};
  s = origin_->MultiErase(keys, false);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
  EXPECT_EQ(GetOne(origin_.get(), "emb:1").value, Row(1));
}

TEST_F(NpyOriginTest, ConcurrentReaders) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> keys;
      for (int i = 0; i < 512; ++i) keys.push_back("emb:" + std::to_string((i * 7 + t) % 13));
      std::vector<std::string_view> views(keys.begin(), keys.end());
      std::vector<OriginValue> out;
      for (int round = 0; round < 50; ++round) {
        origin_->MultiGet(views, &out);
        for (int i = 0; i < 512; ++i) {
          const int r = (i * 7 + t) % 13;
          if (r == 12 ? !out[i].status.IsNotFound() : out[i].value != Row(r)) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(NpyOriginOpenTest, ErrorsNameTheFile) {
  KV_REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_TRUE(RunPython(dir, R"PY(
np.save('cube.npy', np.zeros((2, 2, 2), dtype='<f4'))
open('cut.npy', 'wb').write(open('cube.npy', 'rb').read()[:100])
)PY"));
  std::unique_ptr<Origin> o;
  Status s = OpenNpyOrigin(dir / "missing.npy", "", &o);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find(dir / "missing.npy"), std::string::npos) << s.message();
  s = OpenNpyOrigin(dir / "cube.npy", "", &o);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("3-D"), std::string::npos) << s.message();
  s = OpenNpyOrigin(dir / "cut.npy", "", &o);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find(dir / "cut.npy"), std::string::npos) << s.message();
  EXPECT_EQ(o, nullptr);
}

// model.safetensors: "w" 3x4 f32, "b" 4 f16, "x:1" 2 i32 (a name with a colon), "bf" 2x2 bf16,
// "s" a 0-D f64, "e" 0x3 f32; NAME.bin holds each tensor's bytes. Written once for the suite.
class SafetensorsOriginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tensor::testing::HaveNumpy()) return;
    dir_ = new TempDir;
    generated_ = RunPython(*dir_, R"PY(
t = {'w': np.arange(12, dtype='<f4').reshape(3, 4), 'b': np.arange(4, dtype='<f2'),
     'x:1': np.array([7, 8], dtype='<i4'),
     'bf': ('BF16', [2, 2], bf16(np.array([1.0, 2.0, 3.0, 4.0]))),
     's': np.array(0.5, dtype='<f8'), 'e': np.zeros((0, 3), dtype='<f4')}
write_safetensors('model.safetensors', t, metadata={'format': 'pt'})
for name, v in t.items():
    raw = v[2] if isinstance(v, tuple) else np.array(v, order='C').tobytes()
    open(name.replace(':', '_') + '.bin', 'wb').write(raw)
)PY");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    KV_REQUIRE_NUMPY();
    ASSERT_TRUE(generated_);
    Status s = OpenSafetensorsOrigin(dir() / "model.safetensors", "", &origin_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  const TempDir& dir() const { return *dir_; }
  std::string Data(const std::string& name) const { return ReadFile(dir() / (name + ".bin")); }

  static inline TempDir* dir_ = nullptr;
  static inline ::testing::AssertionResult generated_ = ::testing::AssertionFailure();
  std::unique_ptr<Origin> origin_;
};

TEST_F(SafetensorsOriginTest, TensorsAndRows) {
  EXPECT_EQ(origin_->name(), "safetensors:" + (dir() / "model.safetensors") + ":");
  EXPECT_TRUE(origin_->read_only());
  EXPECT_EQ(origin_->ApproximateBytes(), 48u + 8 + 8 + 8 + 8);

  OriginValue v = GetOne(origin_.get(), "w");
  ASSERT_TRUE(v.status.ok()) << v.status.ToString();
  EXPECT_EQ(v.value, Data("w"));
  EXPECT_EQ(v.tensor.dtype, "f32");
  EXPECT_EQ(v.tensor.shape, (std::vector<int64_t>{3, 4}));
  v = GetOne(origin_.get(), "w:2");
  ASSERT_TRUE(v.status.ok());
  EXPECT_EQ(v.value, Data("w").substr(32, 16));
  EXPECT_EQ(v.tensor.shape, std::vector<int64_t>{4});
  v = GetOne(origin_.get(), "bf:1");
  ASSERT_TRUE(v.status.ok());
  EXPECT_EQ(v.tensor.dtype, "bf16");
  EXPECT_EQ(v.value, Data("bf").substr(4, 4));
  v = GetOne(origin_.get(), "b");
  EXPECT_EQ(v.tensor.dtype, "f16");
  EXPECT_EQ(v.value, Data("b"));
  v = GetOne(origin_.get(), "s");
  EXPECT_EQ(v.tensor.dtype, "f64");
  EXPECT_TRUE(v.tensor.shape.empty());
  EXPECT_EQ(v.value, Data("s"));
  v = GetOne(origin_.get(), "e");
  ASSERT_TRUE(v.status.ok());
  EXPECT_TRUE(v.value.empty());
  EXPECT_EQ(v.tensor.shape, (std::vector<int64_t>{0, 3}));
  // An exact name wins over the row reading.
  v = GetOne(origin_.get(), "x:1");
  ASSERT_TRUE(v.status.ok());
  EXPECT_EQ(v.tensor.dtype, "i32");
  EXPECT_EQ(v.value, Data("x_1"));
}

TEST_F(SafetensorsOriginTest, MissingAndBadKeysAreNotFound) {
  for (const char* key : {"nope", "w:3", "w:01", "w:-1", "w:1x", "w:", "w:+1", "w::1", "b:0", "s:0",
                          "e:0", "x:1:0", "x", "x:0", ":1", "", "W"}) {
    OriginValue v = GetOne(origin_.get(), key);
    EXPECT_TRUE(v.status.IsNotFound()) << key << ": " << v.status.ToString();
    EXPECT_FALSE(v.is_tensor) << key;
  }
}

TEST_F(SafetensorsOriginTest, PrefixAndScan) {
  using Keys = std::vector<std::string>;
  EXPECT_EQ(ScanKeys(origin_.get()), (Keys{"b", "bf", "e", "s", "w", "x:1"}));
  EXPECT_EQ(ScanKeys(origin_.get(), "bf", "w"), (Keys{"bf", "e", "s"}));
  auto all = ScanAll(origin_.get());
  EXPECT_EQ(all[4].second, Data("w"));

  std::unique_ptr<Origin> o;
  ASSERT_TRUE(OpenSafetensorsOrigin(dir() / "model.safetensors", "m/", &o).ok());
  EXPECT_EQ(o->name(), "safetensors:" + (dir() / "model.safetensors") + ":m/");
  EXPECT_EQ(GetOne(o.get(), "m/w:1").value, Data("w").substr(16, 16));
  EXPECT_TRUE(GetOne(o.get(), "w").status.IsNotFound());
  EXPECT_EQ(ScanKeys(o.get()), (Keys{"m/b", "m/bf", "m/e", "m/s", "m/w", "m/x:1"}));
  EXPECT_EQ(ScanKeys(o.get(), "m/s"), (Keys{"m/s", "m/w", "m/x:1"}));
  EXPECT_EQ(ScanKeys(o.get(), "a", "m/").size(), 0u);

  int seen = 0;
  EXPECT_TRUE(
      origin_->Scan("", "", [&](std::string_view, std::string_view) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2);
}

TEST_F(SafetensorsOriginTest, IsReadOnly) {
  std::pair<std::string_view, std::string_view> kv[] = {{"w", "x"}};
  EXPECT_TRUE(origin_->MultiPut(kv, false).IsInvalidArgument());
  std::string_view keys[] = {"w"};
  Status s = origin_->MultiErase(keys, true);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("read-only"), std::string::npos);
}

TEST(SafetensorsOriginOpenTest, ErrorsNameTheFile) {
  TempDir dir;
  std::unique_ptr<Origin> o;
  Status s = OpenSafetensorsOrigin(dir / "missing.safetensors", "", &o);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  tensor::testing::WriteFile(dir / "bad.safetensors", std::string("\x02\0\0\0\0\0\0\0{}x", 11));
  s = OpenSafetensorsOrigin(dir / "bad.safetensors", "", &o);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find(dir / "bad.safetensors"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("trailing bytes"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kvcache
