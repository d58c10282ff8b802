// RocksDbOrigin: reads, writes, scans, persistence, atomic batches, locking, concurrency.
#include "origin/rocksdb_origin.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "origin/origin_test_util.h"

namespace kvcache {
namespace {

using testing::GetOne;
using testing::KV;
using testing::ScanAll;
using testing::ScratchDir;

std::unique_ptr<Origin> Open(const std::string& path) {
  std::unique_ptr<Origin> origin;
  Status s = OpenRocksDbOrigin(path, RocksDbOriginOptions(), &origin);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return origin;
}

TEST(RocksDbOrigin, PutGetErase) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  ASSERT_NE(db, nullptr);
  EXPECT_FALSE(db->read_only());
  EXPECT_EQ(db->name(), "rocksdb:" + (dir / "db"));

  KV kvs[] = {{"alpha", "one"}, {"beta", "two"}, {"gamma", ""}};
  ASSERT_TRUE(db->MultiPut(kvs, false).ok());
  std::string_view keys[] = {"alpha", "missing", "beta", "gamma"};
  std::vector<OriginValue> got;
  db->MultiGet(keys, &got);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].status.ok());
  EXPECT_EQ(got[0].value, "one");
  EXPECT_TRUE(got[1].status.IsNotFound()) << got[1].status.ToString();
  EXPECT_EQ(got[2].value, "two");
  EXPECT_TRUE(got[3].status.ok()) << "an empty value is a value";
  EXPECT_EQ(got[3].value, "");
  EXPECT_FALSE(got[0].is_tensor);

  std::string_view erase[] = {"alpha", "never-there"};
  ASSERT_TRUE(db->MultiErase(erase, false).ok());
  EXPECT_TRUE(GetOne(db.get(), "alpha").status.IsNotFound());
  EXPECT_EQ(GetOne(db.get(), "beta").value, "two");
}

TEST(RocksDbOrigin, EmptyBatchesAreFine) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  std::vector<OriginValue> got(3);
  db->MultiGet({}, &got);
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(db->MultiPut({}, true).ok());
  EXPECT_TRUE(db->MultiErase({}, true).ok());
}

TEST(RocksDbOrigin, BinaryKeysAndValues) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  const std::string key("k\0\xff", 3);
  const std::string value("\0a\0b\xfe\0", 6);
  KV kvs[] = {{key, value}};
  ASSERT_TRUE(db->MultiPut(kvs, true).ok());
  OriginValue v = GetOne(db.get(), key);
  ASSERT_TRUE(v.status.ok());
  EXPECT_EQ(v.value, value);
  EXPECT_TRUE(GetOne(db.get(), std::string_view("k\0", 2)).status.IsNotFound());
}

TEST(RocksDbOrigin, SyncWritesAreReadable) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  KV kvs[] = {{"a", "1"}, {"b", "2"}};
  ASSERT_TRUE(db->MultiPut(kvs, true).ok());
  std::string_view erase[] = {"a"};
  ASSERT_TRUE(db->MultiErase(erase, true).ok());
  EXPECT_TRUE(GetOne(db.get(), "a").status.IsNotFound());
  EXPECT_EQ(GetOne(db.get(), "b").value, "2");
}

TEST(RocksDbOrigin, ScanRanges) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  KV kvs[] = {{"a", "1"}, {"b", "2"}, {"b1", "3"}, {"c", "4"}, {"d", "5"}};
  ASSERT_TRUE(db->MultiPut(kvs, false).ok());

  auto all = ScanAll(db.get());
  EXPECT_EQ(all.size(), 5u);
  auto mid = ScanAll(db.get(), "b", "d");
  EXPECT_EQ(mid, (std::map<std::string, std::string>{{"b", "2"}, {"b1", "3"}, {"c", "4"}}));
  auto tail = ScanAll(db.get(), "c", "");
  EXPECT_EQ(tail, (std::map<std::string, std::string>{{"c", "4"}, {"d", "5"}}));
  EXPECT_TRUE(ScanAll(db.get(), "c", "c").empty());
  EXPECT_TRUE(ScanAll(db.get(), "d", "a").empty()) << "end before begin is an empty range";
  EXPECT_TRUE(ScanAll(db.get(), "e", "").empty());

  // Keys come in byte order, and fn returning false stops the scan.
  std::vector<std::string> seen;
  Status s = db->Scan("", "", [&](std::string_view k, std::string_view) {
    seen.emplace_back(k);
    return seen.size() < 3;
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "b1"}));
}

TEST(RocksDbOrigin, DataSurvivesReopen) {
  ScratchDir dir;
  {
    auto db = Open(dir / "db");
    KV kvs[] = {{"kept", "value"}, {"gone", "x"}};
    ASSERT_TRUE(db->MultiPut(kvs, true).ok());
    std::string_view erase[] = {"gone"};
    ASSERT_TRUE(db->MultiErase(erase, true).ok());
  }
  auto db = Open(dir / "db");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(GetOne(db.get(), "kept").value, "value");
  EXPECT_TRUE(GetOne(db.get(), "gone").status.IsNotFound());
  EXPECT_GT(db->ApproximateBytes(), 0u);
}

TEST(RocksDbOrigin, CreatesMissingParentDirectories) {
  ScratchDir dir;
  auto db = Open(dir / "a/b/c");
  ASSERT_NE(db, nullptr);
  KV kvs[] = {{"k", "v"}};
  EXPECT_TRUE(db->MultiPut(kvs, false).ok());
}

TEST(RocksDbOrigin, PathThatIsAFileFailsClearly) {
  ScratchDir dir;
  {
    FILE* f = fopen((dir / "file").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
  }
  std::unique_ptr<Origin> db;
  Status s = OpenRocksDbOrigin(dir / "file", RocksDbOriginOptions(), &db);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir / "file"), std::string::npos) << s.ToString();
  EXPECT_EQ(db, nullptr);
}

TEST(RocksDbOrigin, SecondOpenOfTheSameDirectoryFailsClearly) {
  ScratchDir dir;
  auto first = Open(dir / "db");
  ASSERT_NE(first, nullptr);
  std::unique_ptr<Origin> second;
  Status s = OpenRocksDbOrigin(dir / "db", RocksDbOriginOptions(), &second);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(s.message().find(dir / "db"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("in use"), std::string::npos) << s.ToString();
  // Closing the first releases the lock.
  first.reset();
  EXPECT_NE(Open(dir / "db"), nullptr);
}

// A reader that sees part of a batch would find keys of different generations.
TEST(RocksDbOrigin, BatchesAreAtomic) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  constexpr int kKeys = 16;
  std::vector<std::string> names;
  for (int i = 0; i < kKeys; ++i) names.push_back("key" + std::to_string(i));
  std::vector<std::string_view> keys(names.begin(), names.end());
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    std::vector<OriginValue> got;
    while (!done.load()) {
      db->MultiGet(keys, &got);
      for (int i = 1; i < kKeys; ++i) {
        if (got[i].status.code() != got[0].status.code() || got[i].value != got[0].value) {
          ++torn;
          break;
        }
      }
      ++reads;
    }
  });
  for (int gen = 0; gen < 300; ++gen) {
    if (gen % 3 == 2) {
      ASSERT_TRUE(db->MultiErase(keys, false).ok());
      continue;
    }
    std::string value = "generation" + std::to_string(gen);
    std::vector<KV> kvs;
    for (std::string_view k : keys) kvs.emplace_back(k, value);
    ASSERT_TRUE(db->MultiPut(kvs, false).ok());
  }
  while (reads.load() < 10) std::this_thread::yield();
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

TEST(RocksDbOrigin, ConcurrentWritersAllLand) {
  ScratchDir dir;
  auto db = Open(dir / "db");
  constexpr int kThreads = 4;
  constexpr int kBatches = 100;
  constexpr int kPerBatch = 5;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> keys;
        for (int i = 0; i < kPerBatch; ++i) {
          keys.push_back("t" + std::to_string(t) + "/b" + std::to_string(b) + "/" +
                         std::to_string(i));
        }
        std::vector<KV> kvs;
        for (const std::string& k : keys) kvs.emplace_back(k, k);
        // Every other batch synced: concurrent syncing writers share RocksDB's group commit.
        if (!db->MultiPut(kvs, b % 2 == 0).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = ScanAll(db.get());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kBatches * kPerBatch));
  for (const auto& [k, v] : all) EXPECT_EQ(k, v);
}

}  // namespace
}  // namespace kvcache
