// The value encoding of a hash: one cache item of ValueKind::kHash holds every field of the hash.
//
// Two layouts (varint = unsigned LEB128, at most 10 bytes; u32 = 4 bytes little-endian):
//
// A list (kHashFormat), for hashes of up to kHashListMaxEntries fields, in insertion order like
// Redis's listpack; lookups scan it:
//   byte 0          kHashFormat
//   varint          number of fields N
//   N times         varint field length, field bytes, varint value length, value bytes
// and nothing after the last value. Fields are unique.
//
// An indexed hash (kHashIndexedFormat), for larger ones: the entries follow a table of their
// offsets (open addressing, linear probing on the field's XXH3), so a lookup reads one or two
// entries whatever the size, and a write copies the value and patches it, rather than decoding
// and encoding every entry. An entry whose value changes size, or that is deleted, is marked dead
// and the new one appended, so no other entry moves and the table stays valid; dead bytes are
// dropped when they reach half of the entries, and the table is rebuilt at 3/4 load.
//   byte 0          kHashIndexedFormat
//   u32             number of live fields N
//   u32             used slots (live and deleted)
//   u32             bytes of dead entries
//   u32             slots S, a power of two
//   S times u32     0 empty, 0xffffffff deleted, else 1 + the entry's offset in the entries
//   entries         byte 1 (live) or 0 (dead), varint field length, field bytes, varint value
//                   length, value bytes; up to the end of the value
//
// Values come from the cache, which stores bytes it does not interpret (a hash may come back
// from an origin), so nothing trusts the encoding: a list is checked whole before it is read;
// an indexed hash's header and table bounds are checked by Parse, each entry where it is read,
// and the whole of it by CheckEntries before anything replies with all of its entries.
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
inline constexpr char kHashIndexedFormat = 0x02;
// Larger hashes are indexed; an indexed hash goes back to a list when it shrinks to half of this.
inline constexpr size_t kHashListMaxEntries = 64;

// A field and its value; both point into an encoding or into memory the caller keeps alive.
struct HashEntry {
  std::string_view field;
  std::string_view value;
};

// A read-only view of an encoded hash. Copies nothing: it points into the encoding, which must
// outlive it.
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
    Iterator(const char* pos, const char* end, bool flagged)
        : pos_(pos), next_(pos), end_(end), flagged_(flagged) {
      Advance();
    }
    // Moves to the next live entry; to the end at the end or at a damaged entry.
    void Advance();

    const char* pos_ = nullptr;   // the current entry; == end_ at the end
    const char* next_ = nullptr;  // the entry after it
    const char* end_ = nullptr;
    bool flagged_ = false;  // entries start with a live/dead byte (the indexed layout)
    HashEntry entry_;
  };

  HashView() = default;

  // Points *view at `encoded`, checking a list whole and an indexed hash's header and table.
  // False (and *view unchanged) if that finds it invalid.
  static bool Parse(std::string_view encoded, HashView* view);
  // Whether iterating yields exactly size() entries (an indexed hash's entries are not checked by
  // Parse). O(size); true for a parsed list.
  bool CheckEntries() const;

  bool indexed() const { return slots_ != 0; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Iterator begin() const { return Iterator(body_.data(), body_.data() + body_.size(), indexed()); }
  Iterator end() const {
    Iterator it;
    it.pos_ = it.next_ = it.end_ = body_.data() + body_.size();
    return it;
  }

  // Sets *value to the value of `field` and returns true if the hash has it.
  bool Find(std::string_view field, std::string_view* value) const;

  // One step of a scan (HSCAN) of an indexed hash, as Redis's dictScan walks a table: appends
  // the live entries whose home slot is `cursor`'s to *out and sets *next to the next cursor,
  // 0 after the last slot. Cursors count home slots in reverse-binary order, so a scan that goes
  // on after the hash was rebuilt with a larger or smaller table still returns every field that
  // was there throughout at least once. False (*out partly filled) at a damaged entry.
  // REQUIRES: indexed().
  bool ScanSlot(uint64_t cursor, std::vector<HashEntry>* out, uint64_t* next) const;

 private:
  friend class HashEditor;
  // An entry of the indexed layout at `offset` in the entries: false if it does not lie within
  // them or its flag byte is neither 0 nor 1.
  bool ReadEntry(size_t offset, HashEntry* e, bool* live, size_t* bytes) const;
  // Indexed only: the slot and the entry offset of field's live entry.
  bool Locate(std::string_view field, size_t* slot, size_t* offset, std::string_view* value) const;
  uint32_t SlotAt(size_t i) const;

  std::string_view encoded_;
  std::string_view body_;  // a list's entries, or an indexed hash's entries after its table
  size_t size_ = 0;
  // Indexed only:
  const char* table_ = nullptr;
  size_t slots_ = 0;
  size_t used_ = 0;
  size_t dead_ = 0;
};

// The changes of one write command over a loaded hash, encoded into a new value by Encode. Views
// point into the old encoding and the command's arguments, so both must outlive the editor;
// values computed by the caller (HINCRBY) must too.
class HashEditor {
 public:
  // A new editor holds an empty hash (a key that does not exist yet).
  HashEditor() = default;
  // Starts from `encoded` (checked as HashView::Parse does). False if it is invalid.
  // REQUIRES: a new editor.
  bool Load(std::string_view encoded);

  size_t size() const { return live_; }
  // The value of field, or nullptr; valid until the next call of the editor.
  const std::string_view* Find(std::string_view field);
  // Sets field to value; returns whether it was added.
  bool Set(std::string_view field, std::string_view value);
  // Removes field; returns whether it was present.
  bool Erase(std::string_view field);
  // The encoding of the result: a patched copy of an indexed hash when that stays compact, else
  // all entries encoded again (a list keeps a changed field in its place).
  std::string Encode() const;
  // The same change made to `value` itself, the loaded encoding's own bytes, when it is an
  // indexed hash that the change keeps compact and leaves within `capacity` bytes, or a list
  // whose changes all overwrite values with ones of the same size: the new size, or 0 (nothing
  // changed; Encode then). So a write to a hash that no one else is reading costs what it
  // changes, not the hash's size (and, for a small hash, not a new item).
  size_t PatchInPlace(char* value, size_t capacity) const;
  // Room worth keeping after a new encoding of this many bytes, for PatchInPlace to grow into.
  static size_t GrowthRoom(size_t encoded_bytes);

 private:
  // A field the command has looked at, and what it holds now.
  struct Change {
    std::string_view field;
    std::string_view value;
    std::string_view base_value;  // (in_base)
    uint32_t added = 0;           // when the command added it (0: never), which orders added fields
    uint32_t base_slot = 0;       // an indexed hash's slot of it ...
    uint32_t base_offset = 0;     // ... and its entry's offset (slots and offsets are 32-bit)
    bool live = false;            // the field exists now
    bool changed = false;         // set or erased by the command
    bool in_base = false;         // the loaded hash has it
  };
  Change& Touch(std::string_view field);
  bool LookUpBase(std::string_view field, Change* c);
  Change* FindChange(std::string_view field) const;
  std::string EncodeAll() const;
  // A patch of an indexed base: what dies, what is appended, and the size after it.
  struct PatchPlan {
    std::vector<const Change*> appends;
    size_t dead = 0;
    size_t size = 0;
  };
  // False when the result should be encoded again instead (a list, or a table past 3/4 load,
  // or dead entries half of the entries).
  bool PlanPatch(PatchPlan* plan) const;
  // Applies the plan to `out`, which holds the base encoding and has room for plan.size bytes.
  void ApplyPatch(const PatchPlan& plan, char* out) const;
  // A loaded field whose entry the patch overwrites in place (same value size, not re-added).
  static bool Stays(const Change& c) {
    return c.in_base && c.live && c.added == 0 && c.value.size() == c.base_value.size();
  }
  // The fields the command added (an erased field set again counts as added), in that order.
  std::vector<const Change*> Added() const;
  bool Patch(std::string* out) const;

  HashView base_;
  bool loaded_ = false;
  size_t live_ = 0;
  uint32_t adds_ = 0;
  size_t last_add_ = 0;        // the record added last
  bool adds_in_order_ = true;  // records were added in their order
  // Mutable so that const lookups may build the indexes lazily (Encode is const).
  mutable std::vector<Change> changes_;
  mutable std::unordered_map<std::string_view, size_t> change_index_;  // once there are many
};

// Encodes entries as they are, as a list or indexed by their number (REQUIRES: fields are
// unique).
std::string EncodeHash(const std::vector<HashEntry>& entries);

}  // namespace kvcache::server
