// OpenOrigin's spec parsing and errors, the FILE[:PREFIX] rule, and CombineOrigins.
#include "kvcache/origin.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "origin/origin_spec.h"
#include "origin/origin_test_util.h"

namespace kvcache {
namespace {

using testing::GetOne;
using testing::KV;
using testing::ScanAll;
using testing::ScratchDir;

void Touch(const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  fclose(f);
}

TEST(OpenOrigin, RocksDb) {
  ScratchDir dir;
  const std::string spec = "rocksdb:" + (dir / "db");
  std::unique_ptr<Origin> origin;
  Status s = OpenOrigin(spec, 100, &origin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(origin->name(), spec);
  KV kvs[] = {{"k", "v"}};
  ASSERT_TRUE(origin->MultiPut(kvs, true).ok());
  EXPECT_EQ(GetOne(origin.get(), "k").value, "v");

  std::unique_ptr<Origin> none;
  EXPECT_TRUE(OpenOrigin("rocksdb:", 100, &none).IsInvalidArgument());
  EXPECT_EQ(none, nullptr);
}

TEST(OpenOrigin, UnknownSpecsListTheValidForms) {
  for (const char* spec : {"", "/var/lib/kv", "rocks:/x", "RocksDB:/x", "rediss://h:1",
                           "memcached://h:11211", "npy"}) {
    std::unique_ptr<Origin> origin;
    Status s = OpenOrigin(spec, 100, &origin);
    EXPECT_TRUE(s.IsInvalidArgument()) << spec << " -> " << s.ToString();
    for (const char* form : {"rocksdb:PATH", "redis://HOST[:PORT]", "npy:FILE[:PREFIX]",
                             "safetensors:FILE[:PREFIX]"}) {
      EXPECT_NE(s.message().find(form), std::string::npos) << s.ToString();
    }
    EXPECT_EQ(origin, nullptr);
  }
}

TEST(OpenOrigin, RedisSpecs) {
  std::unique_ptr<Origin> origin;
  Status s = OpenOrigin("redis://host:port", 100, &origin);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();

  // Nothing listens on a port just released: Unavailable, quickly, naming the address.
  const std::string hostport = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto start = std::chrono::steady_clock::now();
  s = OpenOrigin("redis://" + hostport, 200, &origin);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("redis origin " + hostport), std::string::npos) << s.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(origin, nullptr);
}

TEST(SplitFileAndPrefix, AsksTheFileSystem) {
  ScratchDir dir;
  const std::string plain = dir / "emb.npy";
  const std::string colon = dir / "a:b.npy";
  Touch(plain);
  Touch(colon);

  FileAndPrefix fp = SplitFileAndPrefix(plain);
  EXPECT_EQ(fp.file, plain);
  EXPECT_EQ(fp.prefix, "") << "no prefix given: the origin's default";
  fp = SplitFileAndPrefix(plain + ":emb:");
  EXPECT_EQ(fp.file, plain);
  EXPECT_EQ(fp.prefix, "emb:") << "a prefix may contain ':'";
  fp = SplitFileAndPrefix(plain + ":a/b:");
  EXPECT_EQ(fp.file, plain);
  EXPECT_EQ(fp.prefix, "a/b:") << "and '/' when the file exists";
  fp = SplitFileAndPrefix(colon);
  EXPECT_EQ(fp.file, colon) << "a file name may contain ':'";
  EXPECT_EQ(fp.prefix, "");
  fp = SplitFileAndPrefix(colon + ":row:");
  EXPECT_EQ(fp.file, colon);
  EXPECT_EQ(fp.prefix, "row:");

  // Nothing exists: the file ends at the first ':' after the last '/'.
  fp = SplitFileAndPrefix(dir / "none.npy:p:");
  EXPECT_EQ(fp.file, dir / "none.npy");
  EXPECT_EQ(fp.prefix, "p:");
  fp = SplitFileAndPrefix("/no:such/dir/x.npy");
  EXPECT_EQ(fp.file, "/no:such/dir/x.npy");
  fp = SplitFileAndPrefix("rel.npy:k");
  EXPECT_EQ(fp.file, "rel.npy");
  EXPECT_EQ(fp.prefix, "k");
}

#if __has_include("origin/tensor_file_origin.h")

// A minimal 2-D little-endian float32 .npy file (format version 1.0).
void WriteNpy(const std::string& path, int rows, int cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  const size_t preamble = 10;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string file = "\x93NUMPY";
  file += '\x01';
  file += '\x00';
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  file += header;
  for (int i = 0; i < rows * cols; ++i) {
    float f = static_cast<float>(i);
    file.append(reinterpret_cast<const char*>(&f), sizeof(f));
  }
  FILE* out = fopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(fwrite(file.data(), 1, file.size(), out), file.size());
  fclose(out);
}

TEST(OpenOrigin, NpySpecs) {
  ScratchDir dir;
  const std::string file = dir / "emb:v2.npy";
  WriteNpy(file, 4, 3);

  std::unique_ptr<Origin> origin;
  Status s = OpenOrigin("npy:" + file, 100, &origin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(origin->read_only());
  OriginValue row = GetOne(origin.get(), "emb:v2:1");  // the default prefix: stem and ':'
  ASSERT_TRUE(row.status.ok()) << row.status.ToString() << " " << origin->name();
  ASSERT_EQ(row.value.size(), 3 * sizeof(float));
  float first;
  memcpy(&first, row.value.data(), sizeof(first));
  EXPECT_EQ(first, 3.0f);
  EXPECT_TRUE(row.is_tensor);

  s = OpenOrigin("npy:" + file + ":user:emb:", 100, &origin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(GetOne(origin.get(), "user:emb:3").status.ok());
  EXPECT_TRUE(GetOne(origin.get(), "user:emb:4").status.IsNotFound());

  std::unique_ptr<Origin> none;
  s = OpenOrigin("npy:" + (dir / "missing.npy"), 100, &none);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir / "missing.npy"), std::string::npos) << s.ToString();
  EXPECT_FALSE(OpenOrigin("safetensors:" + (dir / "missing.safetensors"), 100, &none).ok());
  EXPECT_TRUE(OpenOrigin("npy:", 100, &none).IsInvalidArgument());
  EXPECT_TRUE(OpenOrigin("safetensors::x", 100, &none).IsInvalidArgument());
  EXPECT_EQ(none, nullptr);
}

#else

TEST(OpenOrigin, TensorFileOriginsNotBuilt) {
  std::unique_ptr<Origin> origin;
  Status s = OpenOrigin("npy:/data/emb.npy", 100, &origin);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("not built"), std::string::npos) << s.ToString();
}

#endif

// An in-memory origin for CombineOrigins: fixed data, some keys that fail.
class FakeOrigin final : public Origin {
 public:
  FakeOrigin(std::string name, bool read_only, std::map<std::string, std::string> data,
             std::set<std::string> failing = {})
      : name_(std::move(name)),
        read_only_(read_only),
        data_(std::move(data)),
        failing_(std::move(failing)) {}

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->assign(keys.size(), OriginValue{});
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string k(keys[i]);
      asked.push_back(k);
      if (failing_.count(k)) {
        (*out)[i].status = Status::IOError(name_ + " failed");
      } else if (auto it = data_.find(k); it != data_.end()) {
        (*out)[i].value = it->second;
      } else {
        (*out)[i].status = Status::NotFound(name_);
      }
    }
  }
  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>> kvs,
                  bool sync) override {
    if (read_only_) return Status::InvalidArgument("read-only");
    for (const auto& [k, v] : kvs) data_[std::string(k)] = v;
    return Status::OK();
  }
  Status MultiErase(std::span<const std::string_view> keys, bool sync) override {
    if (read_only_) return Status::InvalidArgument("read-only");
    for (std::string_view k : keys) data_.erase(std::string(k));
    return Status::OK();
  }
  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (auto it = data_.lower_bound(std::string(begin));
         it != data_.end() && (end.empty() || it->first < end); ++it) {
      if (!fn(it->first, it->second)) break;
    }
    return Status::OK();
  }
  uint64_t ApproximateBytes() const override { return data_.size(); }
  bool read_only() const override { return read_only_; }
  std::string name() const override { return name_; }

  std::vector<std::string> asked;  // every key MultiGet was asked for

 private:
  std::string name_;
  bool read_only_;
  std::map<std::string, std::string> data_;
  std::set<std::string> failing_;
};

struct Fakes {
  FakeOrigin* a;
  FakeOrigin* b;
  FakeOrigin* c;
  std::unique_ptr<Origin> combined;
};

// a (read-only): x, y, broken; b (writable): x, z; c (writable): w.
Fakes MakeFakes() {
  auto a = std::make_unique<FakeOrigin>(
      "a", true, std::map<std::string, std::string>{{"x", "ax"}, {"y", "ay"}},
      std::set<std::string>{"broken"});
  auto b = std::make_unique<FakeOrigin>(
      "b", false, std::map<std::string, std::string>{{"x", "bx"}, {"z", "bz"}, {"broken", "b"}});
  auto c =
      std::make_unique<FakeOrigin>("c", false, std::map<std::string, std::string>{{"w", "cw"}});
  Fakes f{a.get(), b.get(), c.get(), nullptr};
  std::vector<std::unique_ptr<Origin>> all;
  all.push_back(std::move(a));
  all.push_back(std::move(b));
  all.push_back(std::move(c));
  f.combined = CombineOrigins(std::move(all));
  return f;
}

TEST(CombineOrigins, ReadsFallThroughInOrder) {
  Fakes f = MakeFakes();
  std::string_view keys[] = {"x", "z", "w", "y", "none"};
  std::vector<OriginValue> got;
  f.combined->MultiGet(keys, &got);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].value, "ax") << "the first origin that has a key wins";
  EXPECT_EQ(got[1].value, "bz");
  EXPECT_EQ(got[2].value, "cw");
  EXPECT_EQ(got[3].value, "ay");
  EXPECT_TRUE(got[4].status.IsNotFound());
  // Later origins are asked only for what is still missing.
  EXPECT_EQ(f.b->asked, (std::vector<std::string>{"z", "w", "none"}));
  EXPECT_EQ(f.c->asked, (std::vector<std::string>{"w", "none"}));
}

TEST(CombineOrigins, AnErrorStopsTheFallThroughForItsKey) {
  Fakes f = MakeFakes();
  OriginValue v = GetOne(f.combined.get(), "broken");
  EXPECT_EQ(v.status.code(), Status::Code::kIOError) << v.status.ToString();
  EXPECT_TRUE(f.b->asked.empty()) << "b's value could be stale next to a failing a";
}

TEST(CombineOrigins, WritesGoToTheFirstWritableOrigin) {
  Fakes f = MakeFakes();
  EXPECT_FALSE(f.combined->read_only());
  KV kvs[] = {{"new", "1"}};
  ASSERT_TRUE(f.combined->MultiPut(kvs, true).ok());
  EXPECT_EQ(GetOne(f.b, "new").value, "1");
  EXPECT_TRUE(GetOne(f.c, "new").status.IsNotFound());
  std::string_view erase[] = {"z"};
  ASSERT_TRUE(f.combined->MultiErase(erase, false).ok());
  EXPECT_TRUE(GetOne(f.b, "z").status.IsNotFound());
}

TEST(CombineOrigins, AllReadOnlyRefusesWrites) {
  std::vector<std::unique_ptr<Origin>> all;
  all.push_back(std::make_unique<FakeOrigin>("r1", true, std::map<std::string, std::string>{}));
  all.push_back(std::make_unique<FakeOrigin>("r2", true, std::map<std::string, std::string>{}));
  auto combined = CombineOrigins(std::move(all));
  EXPECT_TRUE(combined->read_only());
  KV kvs[] = {{"k", "v"}};
  Status s = combined->MultiPut(kvs, false);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("r1,r2"), std::string::npos) << s.ToString();
  EXPECT_TRUE(combined->MultiErase(std::vector<std::string_view>{"k"}, false).IsInvalidArgument());
}

TEST(CombineOrigins, ScansEachInTurnAndStopsWhenAsked) {
  Fakes f = MakeFakes();
  std::vector<std::string> seen;
  auto record = [&](std::string_view k, std::string_view v) {
    seen.push_back(std::string(k) + "=" + std::string(v));
    return true;
  };
  ASSERT_TRUE(f.combined->Scan("", "", record).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"x=ax", "y=ay", "broken=b", "x=bx", "z=bz", "w=cw"}));
  seen.clear();
  ASSERT_TRUE(f.combined->Scan("x", "z", record).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"x=ax", "y=ay", "x=bx"}));

  int calls = 0;
  auto three = [&](std::string_view, std::string_view) { return ++calls < 3; };
  ASSERT_TRUE(f.combined->Scan("", "", three).ok());
  EXPECT_EQ(calls, 3) << "stopping in one origin stops the whole scan";
}

TEST(CombineOrigins, NameSizeAndDegenerateCases) {
  Fakes f = MakeFakes();
  EXPECT_EQ(f.combined->name(), "a,b,c");
  EXPECT_EQ(f.combined->ApproximateBytes(), 6u);  // 2 + 3 + 1 keys

  std::vector<std::unique_ptr<Origin>> one;
  one.push_back(std::make_unique<FakeOrigin>("solo", false, std::map<std::string, std::string>{}));
  Origin* solo = one[0].get();
  EXPECT_EQ(CombineOrigins(std::move(one)).get(), solo) << "one origin needs no wrapper";

  auto empty = CombineOrigins({});
  EXPECT_TRUE(GetOne(empty.get(), "k").status.IsNotFound());
  EXPECT_TRUE(empty->read_only());
  EXPECT_TRUE(ScanAll(empty.get()).empty());
}

TEST(CombineOrigins, TensorFileInFrontOfRocksDb) {
  ScratchDir dir;
  std::unique_ptr<Origin> db;
  ASSERT_TRUE(OpenOrigin("rocksdb:" + (dir / "db"), 100, &db).ok());
  KV kvs[] = {{"k", "from rocksdb"}};
  ASSERT_TRUE(db->MultiPut(kvs, false).ok());
  std::vector<std::unique_ptr<Origin>> all;
  all.push_back(std::make_unique<FakeOrigin>("ro", true,
                                             std::map<std::string, std::string>{{"t", "tensor"}}));
  all.push_back(std::move(db));
  auto combined = CombineOrigins(std::move(all));
  EXPECT_EQ(combined->name(), "ro,rocksdb:" + (dir / "db"));
  EXPECT_EQ(GetOne(combined.get(), "t").value, "tensor");
  EXPECT_EQ(GetOne(combined.get(), "k").value, "from rocksdb");
  KV more[] = {{"k2", "v2"}};
  ASSERT_TRUE(combined->MultiPut(more, true).ok());
  EXPECT_EQ(GetOne(combined.get(), "k2").value, "v2");
}

}  // namespace
}  // namespace kvcache
