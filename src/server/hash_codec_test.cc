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

// `good` with 1-4 random bytes changed (half of them within its first `hot` bytes, if given),
// and a quarter of the time cut short.
std::string Damaged(const std::string& good, std::mt19937& rng, size_t hot = 0) {
  std::string bad = good;
  const int flips = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < flips; ++i) {
    const size_t at =
        hot != 0 && rng() % 2 ? rng() % std::min(bad.size(), hot) : rng() % bad.size();
    bad[at] = static_cast<char>(rng());
  }
  if (rng() % 4 == 0) bad.resize(rng() % bad.size());
  return bad;
}

// The entries a parsed view yields, each checked to lie inside `encoded`.
size_t CountEntriesInBounds(const HashView& view, std::string_view encoded) {
  size_t n = 0;
  for (HashEntry e : view) {
    for (std::string_view part : {e.field, e.value}) {
      EXPECT_TRUE(part.data() >= encoded.data() &&
                  part.data() + part.size() <= encoded.data() + encoded.size());
    }
    ++n;
  }
  return n;
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
    const std::string bad = Damaged(good, rng);
    HashView view;
    if (!HashView::Parse(bad, &view)) {
      ++rejected;
      continue;
    }
    // Accepted (the damage kept the structure): every entry lies inside the value.
    ASSERT_EQ(CountEntriesInBounds(view, bad), view.size());
  }
  EXPECT_GT(rejected, 2000);
}

// HashEditor against a vector of pairs, through both its scan and its index, across the two
// layouts (200 fields make the hash indexed, and erasing makes it a list again).
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
      if (encoded[0] == kHashIndexedFormat) {
        // Indexed: a value that changes size moves to the end, so only the contents match.
        Pairs got = Decode(encoded), want = model;
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want);
      } else {
        ASSERT_EQ(Decode(encoded), model);
      }
    }
  }
}

Pairs Numbered(int n, const std::string& value_prefix) {
  Pairs pairs;
  for (int i = 0; i < n; ++i)
    pairs.emplace_back("field:" + std::to_string(i), value_prefix + std::to_string(i));
  return pairs;
}

// Every live field can be found through the table, and the entries are what they should be.
void ExpectConsistent(const std::string& encoded, Pairs want) {
  HashView view;
  ASSERT_TRUE(HashView::Parse(encoded, &view));
  ASSERT_TRUE(view.CheckEntries());
  Pairs got = Decode(encoded);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  ASSERT_EQ(got, want);
  for (const auto& [f, v] : want) {
    std::string_view value;
    ASSERT_TRUE(view.Find(f, &value)) << f;
    ASSERT_EQ(value, v);
  }
  std::string_view value;
  EXPECT_FALSE(view.Find("absent", &value));
}

TEST(HashCodec, LargeHashesAreIndexedAndSmallOnesAreLists) {
  EXPECT_EQ(Encode(Numbered(kHashListMaxEntries, "v"))[0], kHashFormat);
  const Pairs pairs = Numbered(1000, "value-");
  const std::string encoded = Encode(pairs);
  ASSERT_EQ(encoded[0], kHashIndexedFormat);
  EXPECT_EQ(Decode(encoded), pairs) << "insertion order";
  ExpectConsistent(encoded, pairs);
  // Shrinking to half the list limit makes it a list again.
  HashEditor editor;
  ASSERT_TRUE(editor.Load(encoded));
  for (size_t i = kHashListMaxEntries / 2; i < pairs.size(); ++i) {
    ASSERT_TRUE(editor.Erase(pairs[i].first));
  }
  const std::string small = editor.Encode();
  EXPECT_EQ(small[0], kHashFormat);
  EXPECT_EQ(Decode(small), Pairs(pairs.begin(), pairs.begin() + kHashListMaxEntries / 2));
}

// An edit of an indexed hash copies it and patches the copy: a value of the same size is
// overwritten in place, others append, and the encoding stays compact over many edits.
TEST(HashCodec, IndexedEditsPatchACopy) {
  Pairs model = Numbered(1000, "value-");
  std::string encoded = Encode(model);
  {
    HashEditor editor;
    ASSERT_TRUE(editor.Load(encoded));
    EXPECT_FALSE(editor.Set("field:7", "VALUE-7"));  // same size
    const std::string patched = editor.Encode();
    EXPECT_EQ(patched.size(), encoded.size());
    model[7].second = "VALUE-7";
    EXPECT_EQ(Decode(patched), model) << "in place, order kept";
    encoded = patched;
  }
  {
    HashEditor editor;
    ASSERT_TRUE(editor.Load(encoded));
    EXPECT_FALSE(editor.Set("field:8", "a longer value"));
    const std::string patched = editor.Encode();
    // Appended, not encoded again (which would keep the field in its place).
    Pairs want = model;
    want.erase(want.begin() + 8);
    want.emplace_back("field:8", "a longer value");
    EXPECT_EQ(Decode(patched), want);
    model = want;
    encoded = patched;
  }
  std::mt19937 rng(11);
  std::vector<std::string> names;  // the editor points at fields and values
  for (int i = 0; i < 1500; ++i) names.push_back("field:" + std::to_string(i));
  std::vector<std::string> values;
  values.reserve(1 << 16);
  size_t largest = 0;
  int in_place = 0, copied = 0;
  for (int round = 0; round < 300; ++round) {
    // The value with room after it, as a large item's block has: the editor reads it there.
    std::string block = encoded;
    block.resize(encoded.size() + (round % 3) * 1000);
    HashEditor editor;
    ASSERT_TRUE(editor.Load(std::string_view(block.data(), encoded.size())));
    for (int op = 0; op < 20; ++op) {
      const std::string& field = names[rng() % names.size()];
      auto it =
          std::find_if(model.begin(), model.end(), [&](const auto& p) { return p.first == field; });
      if (rng() % 4 == 0) {
        ASSERT_EQ(editor.Erase(field), it != model.end());
        if (it != model.end()) model.erase(it);
      } else {
        values.push_back(std::string(rng() % 40, 'x'));
        ASSERT_EQ(editor.Set(field, values.back()), it == model.end());
        if (it == model.end()) {
          model.emplace_back(field, values.back());
        } else {
          it->second = values.back();
        }
      }
    }
    encoded = editor.Encode();
    // In place, the same bytes, when it fits (else nothing changes).
    const std::string before = block;
    const size_t n = editor.PatchInPlace(block.data(), block.size());
    if (n != 0) {
      ASSERT_EQ(block.substr(0, n), encoded);
      ++in_place;
    } else {
      ASSERT_EQ(block, before);
      ++copied;
    }
    ASSERT_EQ(encoded[0], kHashIndexedFormat);
    ExpectConsistent(encoded, model);
    largest = std::max(largest, encoded.size());
  }
  // Dead entries are dropped at half of the entries and the table kept at most 3/4 full:
  // never more than about twice the fresh encoding.
  std::vector<HashEntry> entries;
  for (const auto& [f, v] : model) entries.push_back({f, v});
  EXPECT_LT(largest, 3 * EncodeHash(entries).size());
  EXPECT_GT(in_place, 50);
  EXPECT_GT(copied, 50);
}

TEST(HashCodec, DamagedIndexedHashesAreRejectedOrStayInBounds) {
  const Pairs pairs = Numbered(100, "v");
  const std::string good = Encode(pairs);
  ASSERT_EQ(good[0], kHashIndexedFormat);
  EXPECT_FALSE(Valid(good.substr(0, 16))) << "short header";
  std::mt19937 rng(5);
  int rejected = 0, whole = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    // Half of the damage in the header and the table, where it matters most.
    const std::string bad = Damaged(good, rng, 17 + 4 * 256);
    HashView view;
    if (!HashView::Parse(bad, &view)) {
      ++rejected;
      continue;
    }
    const char* lo = bad.data();
    const char* hi = bad.data() + bad.size();
    auto inside = [&](std::string_view s) { return s.data() >= lo && s.data() + s.size() <= hi; };
    const size_t n = CountEntriesInBounds(view, bad);
    if (view.CheckEntries()) {
      ASSERT_EQ(n, view.size());
      ++whole;
    }
    for (const auto& [f, v] : pairs) {
      std::string_view value;
      if (view.Find(f, &value)) {
        ASSERT_TRUE(inside(value));
      }
    }
    // A whole scan of it ends, within one step per slot, and stays in bounds.
    std::vector<HashEntry> scanned;
    uint64_t cursor = 0;
    size_t steps = 0;
    while (view.indexed() && view.ScanSlot(cursor, &scanned, &cursor) &&
           ++steps <= bad.size() / 4 && cursor != 0) {
    }
    ASSERT_LE(steps, bad.size() / 4);
    for (const HashEntry& e : scanned) ASSERT_TRUE(inside(e.field) && inside(e.value));
    // An edit of it stays in bounds too, and its result is valid.
    HashEditor editor;
    ASSERT_TRUE(editor.Load(bad));
    editor.Set("field:3", "changed");
    editor.Set("new", "value");
    editor.Erase("field:4");
    const std::string next = editor.Encode();
    if (editor.size() > 0) {
      HashView again;
      EXPECT_TRUE(HashView::Parse(next, &again));
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(whole, 1000);
}

}  // namespace
}  // namespace kvcache::server
