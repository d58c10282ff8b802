// Tensor items: their values start at 64-byte aligned addresses on every path that writes an
// item, and the items of other kinds keep their layout and cost.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/item.h"
#include "kvcache/cache.h"

namespace kvcache {
namespace {

using internal::size_class::ChunkBytes;
using internal::size_class::ForBytes;

bool Aligned(std::string_view v) { return reinterpret_cast<uintptr_t>(v.data()) % 64 == 0; }

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) >> 3);
  return s;
}

std::unique_ptr<Cache> NewTestCache(size_t bytes = 256 << 20) {
  Options o;
  o.capacity_bytes = bytes;
  o.shards = 4;
  o.clock = [] { return int64_t{1'000'000}; };
  return NewCache(o);
}

// What an item costs the budget, read through Update (kKeep changes nothing).
size_t MemoryOf(Cache& c, std::string_view key) {
  size_t bytes = 0;
  EXPECT_TRUE(c.Update(key, [&](const ItemView* cur, Mutation*) {
                 ASSERT_NE(cur, nullptr);
                 bytes = cur->memory_bytes;
               }).ok());
  return bytes;
}

const size_t kValueSizes[] = {1,     7,     8,     9,     56,    63,        64,    65,
                              100,   500,   1000,  4095,  4096,  8000,      16200, 16288,
                              16300, 16320, 16384, 20000, 65536, 100 * 1024};
const size_t kKeySizes[] = {1, 5, 8, 16, 33, 250, 1000};

// Several keys per (value size, key size), so consecutive chunks with different offsets modulo
// 64 are used.
constexpr int kCopies = 8;

TEST(TensorItem, WriteAlignsValuesOnEveryReadPath) {
  auto c = NewTestCache();
  int n = 0;
  for (bool ttl : {false, true}) {
    for (size_t vs : kValueSizes) {
      for (size_t ks : kKeySizes) {
        for (int copy = 0; copy < kCopies; ++copy) {
          std::string key = Pattern(ks, n) + std::to_string(n);
          std::string value = Pattern(vs, n + 1);
          ++n;
          WriteOptions o;
          o.kind = ValueKind::kTensor;
          o.ttl = ttl ? Ttl(60'000) : kNoExpiry;
          Handle stored;
          ASSERT_TRUE(c->Write(key, value, o, nullptr, &stored).ok()) << vs << " " << ks;
          EXPECT_TRUE(Aligned(stored.value())) << "value " << vs << " key " << ks << " ttl " << ttl;
          stored.Reset();
          Handle h = c->Get(key);
          ASSERT_TRUE(h) << vs << " " << ks;
          EXPECT_EQ(h.kind(), ValueKind::kTensor);
          EXPECT_TRUE(Aligned(h.value())) << "value " << vs << " key " << ks << " ttl " << ttl;
          EXPECT_EQ(h.value(), value);
          EXPECT_EQ(h.key(), key);
          EXPECT_EQ(h.expires_at_ms() != 0, ttl);
          Handle p = c->Peek(key);
          EXPECT_TRUE(Aligned(p.value()));
          std::string_view keys[] = {key};
          std::vector<Handle> m = c->MultiGet(keys);
          ASSERT_TRUE(m[0]);
          EXPECT_TRUE(Aligned(m[0].value()));
          EXPECT_EQ(m[0].value(), value);
        }
      }
    }
  }
  // Every item is still found by its key (the index compares keys placed after padded values)
  // and Scan sees aligned values.
  size_t seen = 0;
  uint64_t cursor = 0;
  do {
    cursor = c->Scan(cursor, 512, [&](const ItemView& v) {
      ++seen;
      EXPECT_EQ(v.kind, ValueKind::kTensor);
      EXPECT_TRUE(Aligned(v.value)) << v.value.size();
    });
  } while (cursor != 0);
  EXPECT_EQ(seen, static_cast<size_t>(n));
  EXPECT_EQ(c->Stats().evictions, 0u);
}

TEST(TensorItem, UpdateAlignsValues) {
  auto c = NewTestCache();
  int n = 0;
  for (bool ttl : {false, true}) {
    for (size_t vs : kValueSizes) {
      for (size_t ks : kKeySizes) {
        for (int copy = 0; copy < kCopies; ++copy) {
          std::string key = "u" + Pattern(ks, n) + std::to_string(n);
          std::string value = Pattern(vs, n);
          ++n;
          ASSERT_TRUE(c->Update(key, [&](const ItemView* cur, Mutation* m) {
                         EXPECT_EQ(cur, nullptr);
                         m->action = Mutation::Action::kStore;
                         m->kind = ValueKind::kTensor;
                         m->value = value;
                         m->expires_at_ms = ttl ? 2'000'000 : 0;
                       }).ok());
          Handle h = c->Get(key);
          ASSERT_TRUE(h);
          EXPECT_TRUE(Aligned(h.value())) << "value " << vs << " key " << ks << " ttl " << ttl;
          EXPECT_EQ(h.value(), value);
          EXPECT_EQ(h.key(), key);
          // The Update callback sees the aligned value too.
          ASSERT_TRUE(c->Update(key, [&](const ItemView* cur, Mutation*) {
                         ASSERT_NE(cur, nullptr);
                         EXPECT_TRUE(Aligned(cur->value));
                         EXPECT_EQ(cur->value, value);
                       }).ok());
        }
      }
    }
  }
}

// Overwrites in place (same chunk class, unpinned) may change the kind: the value moves to the
// new kind's offset and the key follows it.
TEST(TensorItem, ReplacingChangesKindAndOffset) {
  auto c = NewTestCache();
  for (size_t vs : {8, 40, 64, 200, 1000, 16000}) {
    for (int i = 0; i < kCopies; ++i) {
      const std::string key = "r" + std::to_string(vs) + ":" + std::to_string(i);
      WriteOptions str;
      WriteOptions ten;
      ten.kind = ValueKind::kTensor;
      const std::string a = Pattern(vs, 1), b = Pattern(vs, 2), d = Pattern(vs + 8, 3);
      ASSERT_TRUE(c->Write(key, a, str).ok());
      ASSERT_TRUE(c->Write(key, b, ten).ok());
      Handle h = c->Get(key);
      ASSERT_TRUE(h);
      EXPECT_EQ(h.kind(), ValueKind::kTensor);
      EXPECT_TRUE(Aligned(h.value()));
      EXPECT_EQ(h.value(), b);
      EXPECT_EQ(h.key(), key);
      h.Reset();
      ASSERT_TRUE(c->Write(key, d, ten).ok());  // likely the same chunk
      h = c->Get(key);
      EXPECT_TRUE(Aligned(h.value()));
      EXPECT_EQ(h.value(), d);
      h.Reset();
      ASSERT_TRUE(c->Write(key, a, str).ok());
      h = c->Get(key);
      EXPECT_EQ(h.kind(), ValueKind::kString);
      EXPECT_EQ(h.value(), a);
      EXPECT_EQ(h.key(), key);
    }
  }
}

// An expiry given to an item without an expiry slot moves it to a new chunk.
TEST(TensorItem, SetExpiryKeepsAlignment) {
  auto c = NewTestCache();
  for (size_t vs : {1, 60, 300, 5000}) {
    for (int i = 0; i < kCopies; ++i) {
      const std::string key = "e" + std::to_string(vs) + ":" + std::to_string(i);
      const std::string value = Pattern(vs, i);
      WriteOptions o;
      o.kind = ValueKind::kTensor;
      ASSERT_TRUE(c->Write(key, value, o).ok());
      ASSERT_TRUE(c->Update(key, [](const ItemView*, Mutation* m) {
                     m->action = Mutation::Action::kSetExpiry;
                     m->expires_at_ms = 5'000'000;
                   }).ok());
      Handle h = c->Get(key);
      ASSERT_TRUE(h);
      EXPECT_EQ(h.expires_at_ms(), 5'000'000);
      EXPECT_EQ(h.kind(), ValueKind::kTensor);
      EXPECT_TRUE(Aligned(h.value()));
      EXPECT_EQ(h.value(), value);
    }
  }
}

// Strings cost what they always did; a tensor pays at most the worst-case pad (56 bytes) on top,
// rounded to its size class.
TEST(TensorItem, CostOfStringsUnchangedAndOfTensorsBounded) {
  auto c = NewTestCache();
  for (bool ttl : {false, true}) {
    for (size_t vs : {1, 8, 100, 1000, 10000}) {
      for (size_t ks : {3, 16, 40}) {
        const std::string sk = "s" + std::string(ks - 1, 'k') + (ttl ? "t" : "n");
        const std::string tk = "t" + std::string(ks - 1, 'k') + (ttl ? "t" : "n");
        WriteOptions o;
        o.ttl = ttl ? Ttl(60'000) : kNoExpiry;
        ASSERT_TRUE(c->Write(sk, std::string(vs, 'v'), o).ok());
        o.kind = ValueKind::kTensor;
        ASSERT_TRUE(c->Write(tk, std::string(vs, 'v'), o).ok());
        const size_t header = 16 + (ttl ? 8 : 0);
        const size_t plain = header + ((vs + 7) & ~size_t{7}) + ks + 1;
        EXPECT_EQ(MemoryOf(*c, sk), ChunkBytes(ForBytes(plain))) << vs << " " << ks;
        EXPECT_EQ(MemoryOf(*c, tk), ChunkBytes(ForBytes(plain + 56))) << vs << " " << ks;
      }
    }
  }
  // The item header itself is unchanged.
  static_assert(sizeof(internal::Item) == 16);
}

// The alignment above is the layout's doing: string values stay right after the header.
TEST(TensorItem, StringValuesAreNotPadded) {
  auto c = NewTestCache();
  int aligned = 0;
  for (int i = 0; i < 32; ++i) {
    const std::string key(1, static_cast<char>('a' + i));
    ASSERT_TRUE(c->Put(key, std::string(40, 'v')).ok());
    aligned += Aligned(c->Get(key).value());
  }
  EXPECT_EQ(aligned, 0) << "16-byte header + 40-byte value + key: 64-byte chunks, values at +16";
}

// GetOrLoad stores through the same write path.
TEST(TensorItem, GetOrLoadAndPutKeepStringsAsTheyWere) {
  auto c = NewTestCache();
  Handle h;
  ASSERT_TRUE(c->GetOrLoad(
                   "g",
                   [](std::string_view, std::string* v, Ttl*) {
                     *v = "loaded";
                     return Status::OK();
                   },
                   &h)
                  .ok());
  EXPECT_EQ(h.value(), "loaded");
  EXPECT_EQ(h.kind(), ValueKind::kString);
  ASSERT_TRUE(c->Put("p", "plain").ok());
  EXPECT_EQ(c->Get("p").value(), "plain");
}

}  // namespace
}  // namespace kvcache
