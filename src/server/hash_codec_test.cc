// The hash value encoding: round trips, edits against a reference model, and rejection of every
// kind of corrupt value (truncation, bad lengths, trailing bytes, random damage).
#include "server/hash_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace kvcache::server {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs Decode(std::string_view encoded) {
  HashView view;
  EXPECT_TRUE(HashView::Parse(encoded, &view));
  Pairs out;
  for (HashEntry e : view) out.emplace_back(e.field, e.value);
  EXPECT_EQ(out.size(), view.size());
  return out;
}

std::string Encode(const Pairs& pairs) {
  std::vector<HashEntry> entries;
  for (const auto& [f, v] : pairs) entries.push_back({f, v});
  return EncodeHash(entries);
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

bool Valid(std::string_view encoded) {
  HashView view;
  return HashView::Parse(encoded, &view);
}

TEST(HashCodec, RoundTripKeepsOrderAndBytes) {
  const Pairs pairs = {{"b", "2"},
                       {"a", "1"},
                       {"", ""},
                       {std::string("n\0l", 3), std::string("\0\r\n", 3)},
                       {std::string(300, 'f'), std::string(70000, 'v')}};
  const std::string encoded = Encode(pairs);
  EXPECT_EQ(encoded[0], kHashFormat);
  EXPECT_EQ(Decode(encoded), pairs);
  HashView view;
  ASSERT_TRUE(HashView::Parse(encoded, &view));
  std::string_view value;
  ASSERT_TRUE(view.Find("a", &value));
  EXPECT_EQ(value, "1");
  ASSERT_TRUE(view.Find("", &value));
  EXPECT_EQ(value, "");
  ASSERT_TRUE(view.Find(std::string(300, 'f'), &value));
  EXPECT_EQ(value.size(), 70000u);
  EXPECT_FALSE(view.Find("c", &value));
  EXPECT_FALSE(view.Find(std::string("n", 1), &value)) << "no match on a prefix";
}

TEST(HashCodec, SmallHashLayout) {
  // Pinned so that a change of the stored format is a deliberate one.
  EXPECT_EQ(Encode({{"f", "vv"}}), Bytes({kHashFormat, 1, 1, 'f', 2, 'v', 'v'}));
  EXPECT_EQ(Encode({}), Bytes({kHashFormat, 0}));
  EXPECT_TRUE(Decode(Encode({})).empty());
}

TEST(HashCodec, RejectsCorruptValues) {
  EXPECT_FALSE(Valid(""));
  EXPECT_FALSE(Valid("x")) << "not the format byte";
  EXPECT_FALSE(Valid(Bytes({2, 0}))) << "unknown format";
  EXPECT_FALSE(Valid(Bytes({kHashFormat}))) << "no count";
  const std::string good = Encode({{"field", "value"}, {"g", std::string(200, 'x')}});
  ASSERT_TRUE(Valid(good));
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(Valid(good.substr(0, n))) << "truncated to " << n << " bytes";
  }
  EXPECT_FALSE(Valid(good + "z")) << "bytes after the last value";
  std::string more = good;
  more[1] = 3;  // claims a third entry
  EXPECT_FALSE(Valid(more));
  std::string fewer = good;
  fewer[1] = 1;  // claims one entry: the second one becomes trailing bytes
  EXPECT_FALSE(Valid(fewer));
  // A field length far past the end, and one that does not fit 64 bits.
  EXPECT_FALSE(Valid(Bytes({kHashFormat, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a', 'b'})));
  EXPECT_FALSE(Valid(Bytes({kHashFormat, 1}) + std::string(11, '\xff') + Bytes({1, 'a', 0})));
  // A huge count with few bytes is refused before anything is reserved for it.
  EXPECT_FALSE(Valid(Bytes({kHashFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})));
  HashEditor editor;
  EXPECT_FALSE(editor.Load("x"));
  EXPECT_FALSE(editor.Load(""));
  EXPECT_FALSE(editor.Load(good.substr(0, good.size() - 1)));
}

TEST(HashCodec, RandomDamageIsRejectedOrStaysInBounds) {
  Pairs pairs;
  for (int i = 0; i < 40; ++i) {
    pairs.emplace_back("field" + std::to_string(i),
                       std::string(i * 7, static_cast<char>('a' + i % 26)));
  }
  const std::string good = Encode(pairs);
  std::mt19937 rng(42);
  int rejected = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) bad.resize(rng() % bad.size());
    HashView view;
    if (!HashView::Parse(bad, &view)) {
      ++rejected;
      continue;
    }
    // Accepted (the damage kept the structure): every entry lies inside the value.
    const char* lo = bad.data();
    const char* hi = bad.data() + bad.size();
    size_t n = 0;
    for (HashEntry e : view) {
      ASSERT_TRUE(e.field.data() >= lo && e.field.data() + e.field.size() <= hi);
      ASSERT_TRUE(e.value.data() >= lo && e.value.data() + e.value.size() <= hi);
      ++n;
    }
    ASSERT_EQ(n, view.size());
  }
  EXPECT_GT(rejected, 2000);
}

// HashEditor against a vector of pairs, through both its scan and its index.
TEST(HashCodec, EditorMatchesAReferenceModel) {
  std::mt19937 rng(7);
  for (int universe : {10, 200}) {
    std::vector<std::string> names;  // the editor points at fields too
    for (int i = 0; i < universe; ++i) names.push_back("f" + std::to_string(i));
    Pairs model;
    std::string encoded;
    std::vector<std::string> values;  // keeps new values alive while an editor points at them
    for (int round = 0; round < 50; ++round) {
      HashEditor editor;
      if (!encoded.empty()) {
        ASSERT_TRUE(editor.Load(encoded));
      }
      ASSERT_EQ(editor.size(), model.size());
      values.clear();
      values.reserve(100);
      for (int op = 0; op < 100; ++op) {
        const std::string& field = names[rng() % universe];
        auto it = std::find_if(model.begin(), model.end(),
                               [&](const auto& p) { return p.first == field; });
        const std::string_view* found = editor.Find(field);
        ASSERT_EQ(found != nullptr, it != model.end()) << field;
        if (found != nullptr) {
          EXPECT_EQ(*found, it->second);
        }
        if (rng() % 3 == 0) {
          EXPECT_EQ(editor.Erase(field), it != model.end());
          if (it != model.end()) model.erase(it);
        } else {
          values.push_back("v" + std::to_string(rng()));
          EXPECT_EQ(editor.Set(field, values.back()), it == model.end());
          if (it == model.end()) {
            model.emplace_back(field, values.back());
          } else {
            it->second = values.back();  // in place: the field keeps its position
          }
        }
        ASSERT_EQ(editor.size(), model.size());
      }
      encoded = editor.Encode();
      ASSERT_EQ(Decode(encoded), model);
    }
  }
}

}  // namespace
}  // namespace kvcache::server
