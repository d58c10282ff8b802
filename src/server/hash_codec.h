// The value encoding of a hash: one cache item of ValueKind::kHash holds every field of the hash,
// in insertion order, like Redis's listpack.
//
// Layout (varint = unsigned LEB128, at most 10 bytes):
//   byte 0          kHashFormat
//   varint          number of fields N
//   N times         varint field length, field bytes, varint value length, value bytes
// and nothing after the last value. Fields are unique.
//
// Values come from the cache, which stores bytes it does not interpret, so every decode checks
// the encoding first: a corrupt value is reported, never read past its end. Lookups are linear
// scans, fine for the sizes hashes are used at (tens to a few thousand fields); a writer that
// looks up many fields builds an index (HashEditor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kvcache::server {

inline constexpr char kHashFormat = 0x01;

// A field and its value; both point into an encoding or into memory the caller keeps alive.
struct HashEntry {
  std::string_view field;
  std::string_view value;
};

// A read-only view of an encoded hash, checked once by Parse so that reading it never goes out
// of bounds. Copies nothing: it points into the encoding, which must outlive it.
class HashView {
 public:
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = HashEntry;
    using difference_type = std::ptrdiff_t;
    using pointer = const HashEntry*;
    using reference = HashEntry;

    Iterator() = default;
    HashEntry operator*() const { return entry_; }
    Iterator& operator++() {
      Advance();
      return *this;
    }
    bool operator==(const Iterator& other) const { return pos_ == other.pos_; }

   private:
    friend class HashView;
    Iterator(const char* pos, const char* end) : pos_(pos), next_(pos), end_(end) { Advance(); }
    void Advance();

    const char* pos_ = nullptr;   // the current entry; == end_ at the end
    const char* next_ = nullptr;  // the entry after it
    const char* end_ = nullptr;
    HashEntry entry_;
  };

  HashView() = default;

  // Checks `encoded` and points *view at it. False (and *view unchanged) if it is not a valid
  // encoding: wrong format byte, a length past the end, bytes after the last value.
  static bool Parse(std::string_view encoded, HashView* view);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Iterator begin() const { return Iterator(body_.data(), body_.data() + body_.size()); }
  Iterator end() const {
    Iterator it;
    it.pos_ = it.next_ = it.end_ = body_.data() + body_.size();
    return it;
  }

  // Sets *value to the value of `field` and returns true if the hash has it.
  bool Find(std::string_view field, std::string_view* value) const;

 private:
  std::string_view body_;  // the entries, after the header
  size_t size_ = 0;
};

// The changes of one write command, applied to a decoded copy of the entry list and encoded
// again. Views point into the old encoding and the command's arguments, so both must outlive
// the editor; values computed by the caller (HINCRBY) must too.
class HashEditor {
 public:
  // A new editor holds an empty hash (a key that does not exist yet).
  HashEditor() = default;
  // Replaces the entries with those of `encoded`. False if the encoding is invalid.
  bool Load(std::string_view encoded);

  size_t size() const { return live_; }
  // The value of field, or nullptr.
  const std::string_view* Find(std::string_view field);
  // Sets field to value (in place if present, else appended); returns whether it was added.
  bool Set(std::string_view field, std::string_view value);
  // Removes field; returns whether it was present.
  bool Erase(std::string_view field);
  // The encoding of the current entries, in order.
  std::string Encode() const;

 private:
  struct Slot {
    HashEntry entry;
    bool live;
  };
  // The index of field's live slot, or -1.
  ptrdiff_t IndexOf(std::string_view field);

  std::vector<Slot> slots_;
  size_t live_ = 0;
  // Built once lookups would otherwise cost a scan each on a large hash (HSET of many fields).
  std::unordered_map<std::string_view, size_t> index_;
  bool indexed_ = false;
  size_t scans_ = 0;
};

// Encodes entries as they are (REQUIRES: fields are unique).
std::string EncodeHash(const std::vector<HashEntry>& entries);

}  // namespace kvcache::server
