// The hash value encoding: parsing with bounds checks, lookups, and re-encoding after a write.
#include "server/hash_codec.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/hash.h"

namespace kvcache::server {
namespace {

constexpr int kMaxVarintBytes = 10;
// The indexed layout (hash_codec.h): its header's bytes, and a deleted slot.
constexpr size_t kIndexedHeaderBytes = 17;
constexpr uint32_t kDeletedSlot = 0xffffffff;

// Reads a varint at *p, advancing it. False if it runs past end or is longer than 10 bytes.
bool ReadVarint(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  const char* q = *p;
  for (int i = 0; i < kMaxVarintBytes && q < end; ++i) {
    const auto byte = static_cast<uint8_t>(*q++);
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *p = q;
      *v = result;
      return true;
    }
  }
  return false;
}

// Reads a length-prefixed string at *p, advancing it. False if it runs past end.
bool ReadString(const char** p, const char* end, std::string_view* s) {
  uint64_t len;
  if (!ReadVarint(p, end, &len)) return false;
  if (len > static_cast<uint64_t>(end - *p)) return false;
  *s = std::string_view(*p, static_cast<size_t>(len));
  *p += len;
  return true;
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes v as a varint at p; returns the end.
char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* PutString(char* p, std::string_view s) {
  p = PutVarint(p, s.size());
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

size_t EntryBytes(const HashEntry& e) {
  return VarintSize(e.field.size()) + e.field.size() + VarintSize(e.value.size()) + e.value.size();
}

uint32_t LoadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian hosts only (x86-64, arm64)
}

void StoreU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

uint64_t FieldHash(std::string_view field) { return internal::HashKey(field); }

// Reverses the order of v's bits.
uint64_t ReverseBits(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555) | ((v & 0x5555555555555555) << 1);
  v = ((v >> 2) & 0x3333333333333333) | ((v & 0x3333333333333333) << 2);
  v = ((v >> 4) & 0x0f0f0f0f0f0f0f0f) | ((v & 0x0f0f0f0f0f0f0f0f) << 4);
  return __builtin_bswap64(v);
}

// Reads the header; on success *count is the declared number of entries and *body the rest.
bool ReadHeader(std::string_view encoded, uint64_t* count, std::string_view* body) {
  if (encoded.empty() || encoded[0] != kHashFormat) return false;
  const char* p = encoded.data() + 1;
  const char* end = encoded.data() + encoded.size();
  if (!ReadVarint(&p, end, count)) return false;
  // Every entry takes at least two bytes: a cheap bound before anyone reserves *count slots.
  if (*count > static_cast<uint64_t>(end - p) / 2) return false;
  *body = std::string_view(p, static_cast<size_t>(end - p));
  return true;
}

// Checks a list's entries, calling fn(entry) for each as it goes (*count is set before the
// first): false at the first entry that does not fit, or if bytes follow the last.
template <typename Fn>
bool ForEachListEntry(std::string_view encoded, uint64_t* count, std::string_view* body, Fn&& fn) {
  if (!ReadHeader(encoded, count, body)) return false;
  const char* p = body->data();
  const char* end = body->data() + body->size();
  HashEntry e;
  for (uint64_t i = 0; i < *count; ++i) {
    if (!ReadString(&p, end, &e.field) || !ReadString(&p, end, &e.value)) return false;
    fn(e);
  }
  return p == end;
}

}  // namespace

void HashView::Iterator::Advance() {
  for (;;) {
    pos_ = next_;
    if (pos_ == end_) return;
    const char* p = pos_;
    bool live = true;
    if (flagged_) {
      const auto flag = static_cast<uint8_t>(*p++);
      if (flag > 1) {
        pos_ = next_ = end_;  // damaged: the walk ends (CheckEntries reports it)
        return;
      }
      live = flag == 1;
    }
    if (!ReadString(&p, end_, &entry_.field) || !ReadString(&p, end_, &entry_.value)) {
      pos_ = next_ = end_;
      return;
    }
    next_ = p;
    if (live) return;
  }
}

bool HashView::Parse(std::string_view encoded, HashView* view) {
  if (!encoded.empty() && encoded[0] == kHashIndexedFormat) {
    if (encoded.size() < kIndexedHeaderBytes) return false;
    const char* h = encoded.data();
    const uint64_t live = LoadU32(h + 1), used = LoadU32(h + 5), dead = LoadU32(h + 9),
                   slots = LoadU32(h + 13);
    if (slots == 0 || !std::has_single_bit(slots) || live > used || used >= slots) return false;
    if (kIndexedHeaderBytes + 4 * slots > encoded.size()) return false;
    const size_t entries_at = kIndexedHeaderBytes + 4 * static_cast<size_t>(slots);
    // Every live entry takes at least three bytes.
    if (live > (encoded.size() - entries_at) / 3 || dead > encoded.size() - entries_at) {
      return false;
    }
    view->encoded_ = encoded;
    view->body_ = encoded.substr(entries_at);
    view->size_ = static_cast<size_t>(live);
    view->table_ = h + kIndexedHeaderBytes;
    view->slots_ = static_cast<size_t>(slots);
    view->used_ = static_cast<size_t>(used);
    view->dead_ = static_cast<size_t>(dead);
    return true;
  }
  uint64_t count;
  std::string_view body;
  if (!ForEachListEntry(encoded, &count, &body, [](HashEntry) {})) return false;
  *view = HashView();
  view->encoded_ = encoded;
  view->body_ = body;
  view->size_ = static_cast<size_t>(count);
  return true;
}

bool HashView::CheckEntries() const {
  if (!indexed()) return true;
  size_t offset = 0, live_count = 0;
  while (offset < body_.size()) {
    HashEntry e;
    bool live;
    size_t bytes;
    if (!ReadEntry(offset, &e, &live, &bytes)) return false;
    live_count += live ? 1 : 0;
    offset += bytes;
  }
  return live_count == size_;
}

uint32_t HashView::SlotAt(size_t i) const { return LoadU32(table_ + 4 * i); }

bool HashView::ReadEntry(size_t offset, HashEntry* e, bool* live, size_t* bytes) const {
  if (offset >= body_.size()) return false;
  const char* start = body_.data() + offset;
  const char* end = body_.data() + body_.size();
  const auto flag = static_cast<uint8_t>(*start);
  if (flag > 1) return false;
  const char* p = start + 1;
  if (!ReadString(&p, end, &e->field) || !ReadString(&p, end, &e->value)) return false;
  *live = flag == 1;
  *bytes = static_cast<size_t>(p - start);
  return true;
}

bool HashView::Locate(std::string_view field, size_t* slot, size_t* offset,
                      std::string_view* value) const {
  const size_t mask = slots_ - 1;
  size_t i = static_cast<size_t>(FieldHash(field)) & mask;
  // At most every slot once: a damaged table may have no empty one.
  for (size_t n = 0; n < slots_; ++n, i = (i + 1) & mask) {
    const uint32_t s = SlotAt(i);
    if (s == 0) return false;
    if (s == kDeletedSlot) continue;
    HashEntry e;
    bool live;
    size_t bytes;
    if (!ReadEntry(s - 1, &e, &live, &bytes) || !live || e.field != field) continue;
    *slot = i;
    *offset = s - 1;
    *value = e.value;
    return true;
  }
  return false;
}

bool HashView::Find(std::string_view field, std::string_view* value) const {
  if (indexed()) {
    size_t slot, offset;
    return Locate(field, &slot, &offset, value);
  }
  for (HashEntry e : *this) {
    if (e.field == field) {
      *value = e.value;
      return true;
    }
  }
  return false;
}

bool HashView::ScanSlot(uint64_t cursor, std::vector<HashEntry>* out, uint64_t* next) const {
  const uint64_t mask = slots_ - 1;
  const uint64_t home = cursor & mask;
  // A field lies in its home slot or after it, with no empty slot between (deleting marks a
  // slot deleted, never empty), so its home's run of used slots holds it.
  size_t i = static_cast<size_t>(home);
  for (size_t n = 0; n < slots_; ++n, i = (i + 1) & mask) {
    const uint32_t s = SlotAt(i);
    if (s == 0) break;
    if (s == kDeletedSlot) continue;
    HashEntry e;
    bool live;
    size_t bytes;
    if (!ReadEntry(s - 1, &e, &live, &bytes)) return false;
    if (live && (FieldHash(e.field) & mask) == home) out->push_back(e);
  }
  // Increments the bits under the mask from the top down (Redis's dictScan): a table twice as
  // large splits each slot into two that come in order, a table half as large merges two.
  *next = ReverseBits(ReverseBits(cursor | ~mask) + 1);
  return true;
}

// ---- HashEditor

bool HashEditor::Load(std::string_view encoded) {
  if (!encoded.empty() && encoded[0] == kHashIndexedFormat) {
    if (!HashView::Parse(encoded, &base_)) return false;
  } else {
    // A list's entries become records as they are checked (a few dozen; more only from an
    // older version), so a lookup is a scan of views and Encode walks the records in order.
    uint64_t count = 0;
    std::string_view body;
    const bool ok = ForEachListEntry(encoded, &count, &body, [&](HashEntry e) {
      if (changes_.empty()) changes_.reserve(count + 4);
      changes_.push_back({.field = e.field,
                          .value = e.value,
                          .base_value = e.value,
                          .live = true,
                          .in_base = true});
    });
    if (!ok) {
      changes_.clear();
      return false;
    }
    base_.encoded_ = encoded;
    base_.body_ = body;
    base_.size_ = static_cast<size_t>(count);
  }
  loaded_ = true;
  live_ = base_.size();
  return true;
}

HashEditor::Change* HashEditor::FindChange(std::string_view field) const {
  // A scan while there are few; an index once there are many (a command touching many fields,
  // or a big list from an older version).
  constexpr size_t kIndexFrom = kHashListMaxEntries;
  if (changes_.size() < kIndexFrom) {
    for (Change& c : changes_) {
      if (c.field == field) return &c;
    }
    return nullptr;
  }
  if (change_index_.size() < changes_.size()) {
    for (size_t i = change_index_.size(); i < changes_.size(); ++i) {
      change_index_.emplace(changes_[i].field, i);
    }
  }
  auto it = change_index_.find(field);
  return it == change_index_.end() ? nullptr : &changes_[it->second];
}

bool HashEditor::LookUpBase(std::string_view field, Change* c) {
  // A list's fields all have records already (Load).
  size_t slot, offset;
  if (!base_.indexed() || !base_.Locate(field, &slot, &offset, &c->base_value)) return false;
  c->base_slot = static_cast<uint32_t>(slot);
  c->base_offset = static_cast<uint32_t>(offset);
  return true;
}

HashEditor::Change& HashEditor::Touch(std::string_view field) {
  if (Change* c = FindChange(field)) return *c;
  if (changes_.empty()) changes_.reserve(8);
  Change c;
  c.field = field;
  c.in_base = LookUpBase(field, &c);
  c.live = c.in_base;
  c.value = c.base_value;
  changes_.push_back(c);
  return changes_.back();
}

const std::string_view* HashEditor::Find(std::string_view field) {
  const Change& c = Touch(field);
  return c.live ? &c.value : nullptr;
}

bool HashEditor::Set(std::string_view field, std::string_view value) {
  Change& c = Touch(field);
  const bool added = !c.live;
  if (added) {
    ++live_;
    c.added = ++adds_;
    const size_t index = static_cast<size_t>(&c - changes_.data());
    if (index < last_add_) adds_in_order_ = false;  // an earlier record added after a later one
    last_add_ = index;
  }
  c.live = true;
  c.changed = true;
  c.value = value;
  return added;
}

bool HashEditor::Erase(std::string_view field) {
  Change& c = Touch(field);
  if (!c.live) return false;
  c.live = false;
  c.changed = true;
  --live_;
  return true;
}

namespace {

// An entry of the indexed layout, live, written at p; returns the end.
char* PutIndexedEntry(char* p, std::string_view field, std::string_view value) {
  *p++ = 1;
  return PutString(PutString(p, field), value);
}

// Puts 1 + offset into the first deleted or empty slot of field's probe sequence, and returns
// whether it was an empty one (the table's used slots grow by one). REQUIRES: one is free.
bool InsertSlot(char* table, size_t slots, std::string_view field, uint32_t offset) {
  const size_t mask = slots - 1;
  size_t i = static_cast<size_t>(FieldHash(field)) & mask;
  uint32_t s;
  while ((s = LoadU32(table + 4 * i)) != 0 && s != kDeletedSlot) i = (i + 1) & mask;
  StoreU32(table + 4 * i, offset + 1);
  return s == 0;
}

// The indexed encoding of entries, with a table at most half full.
bool EncodeIndexed(const std::vector<HashEntry>& entries, std::string* out) {
  size_t entry_bytes = 0;
  for (const HashEntry& e : entries) entry_bytes += 1 + EntryBytes(e);
  const size_t slots = std::bit_ceil(std::max<size_t>(16, entries.size() * 2));
  // Offsets and counts are 32-bit: a larger hash stays a list.
  if (entry_bytes >= 0xfffffffe || slots > (size_t{1} << 31)) return false;
  out->assign(kIndexedHeaderBytes + 4 * slots + entry_bytes, '\0');
  char* h = out->data();
  h[0] = kHashIndexedFormat;
  StoreU32(h + 1, static_cast<uint32_t>(entries.size()));  // live
  StoreU32(h + 5, static_cast<uint32_t>(entries.size()));  // used slots
  StoreU32(h + 13, static_cast<uint32_t>(slots));          // (no dead bytes)
  char* table = h + kIndexedHeaderBytes;
  char* first = table + 4 * slots;
  char* p = first;
  for (const HashEntry& e : entries) {
    InsertSlot(table, slots, e.field, static_cast<uint32_t>(p - first));
    p = PutIndexedEntry(p, e.field, e.value);
  }
  return true;
}

// A list of the entries that for_each(fn) calls fn(field, value) with, twice (sizes, then bytes).
template <typename ForEach>
std::string EncodeList(ForEach&& for_each) {
  size_t count = 0, bytes = 0;
  for_each([&](std::string_view f, std::string_view v) {
    ++count;
    bytes += EntryBytes({f, v});
  });
  std::string out(1 + VarintSize(count) + bytes, '\0');
  char* p = out.data();
  *p++ = kHashFormat;
  p = PutVarint(p, count);
  for_each([&](std::string_view f, std::string_view v) { p = PutString(PutString(p, f), v); });
  return out;
}

}  // namespace

std::string EncodeHash(const std::vector<HashEntry>& entries) {
  std::string out;
  if (entries.size() > kHashListMaxEntries && EncodeIndexed(entries, &out)) return out;
  return EncodeList([&](auto&& fn) {
    for (const HashEntry& e : entries) fn(e.field, e.value);
  });
}

std::string HashEditor::Encode() const {
  std::string out;
  if (Patch(&out)) return out;
  return EncodeAll();
}

// Every entry again: the loaded ones in their order with their changes, then the added ones.
std::string HashEditor::EncodeAll() const {
  // The added fields in the order they were added: the records' order, as a rule.
  std::vector<const Change*> added;
  if (!adds_in_order_) added = Added();
  auto for_each_entry = [&](auto&& fn) {
    if (!base_.indexed()) {
      // The records hold the list's entries in order, then the fields the command looked up.
      for (const Change& c : changes_) {
        if (c.in_base && c.live && c.added == 0) fn(c.field, c.value);
      }
    } else if (loaded_) {
      for (HashEntry e : base_) {
        const Change* c = changes_.empty() ? nullptr : FindChange(e.field);
        if (c == nullptr) {
          fn(e.field, e.value);
        } else if (c->live && c->added == 0) {
          fn(e.field, c->value);
        }
      }
    }
    if (adds_in_order_) {
      for (const Change& c : changes_) {
        if (c.live && c.added != 0) fn(c.field, c.value);
      }
    } else {
      for (const Change* c : added) fn(c->field, c->value);
    }
  };
  if (live_ > kHashListMaxEntries) {
    std::vector<HashEntry> entries;
    entries.reserve(live_);
    for_each_entry([&](std::string_view f, std::string_view v) { entries.push_back({f, v}); });
    return EncodeHash(entries);
  }
  // A list, written directly (the usual case: a row of a few dozen fields).
  return EncodeList(for_each_entry);
}

std::vector<const HashEditor::Change*> HashEditor::Added() const {
  std::vector<const Change*> added;
  for (const Change& c : changes_) {
    if (c.live && c.added != 0) added.push_back(&c);
  }
  if (!adds_in_order_) {
    std::sort(added.begin(), added.end(),
              [](const Change* a, const Change* b) { return a->added < b->added; });
  }
  return added;
}

bool HashEditor::PlanPatch(PatchPlan* plan) const {
  if (!base_.indexed() || live_ <= kHashListMaxEntries / 2) return false;
  // A loaded field stays where it is if its new value has the same size; otherwise, or if it
  // was erased, its entry dies, and a new one is appended if it lives: loaded fields whose
  // value changed size first, then the added fields.
  plan->dead = base_.dead_;
  for (const Change& c : changes_) {
    if (!c.changed || !c.in_base || Stays(c)) continue;
    plan->dead += 1 + EntryBytes({c.field, c.base_value});
    if (c.live && c.added == 0) plan->appends.push_back(&c);
  }
  const size_t moved = plan->appends.size();
  for (const Change* c : Added()) plan->appends.push_back(c);
  size_t appended = 0;
  for (const Change* c : plan->appends) appended += 1 + EntryBytes({c->field, c->value});
  const size_t entry_bytes = base_.body_.size() + appended;
  plan->size = base_.encoded_.size() + appended;
  // Past 3/4 load, or with half of the entries dead, everything is encoded again.
  return (base_.used_ + plan->appends.size() - moved) * 4 <= base_.slots_ * 3 &&
         plan->dead * 2 <= entry_bytes && entry_bytes < 0xfffffffe;
}

void HashEditor::ApplyPatch(const PatchPlan& plan, char* out) const {
  const char* old = base_.encoded_.data();
  const size_t slots = base_.slots_;
  char* table = out + kIndexedHeaderBytes;
  char* entries = table + 4 * slots;
  for (const Change& c : changes_) {
    if (!c.changed || !c.in_base) continue;
    if (Stays(c)) {
      std::memcpy(out + (c.base_value.data() - old), c.value.data(), c.value.size());
    } else {
      entries[c.base_offset] = 0;  // dead
      StoreU32(table + 4 * c.base_slot, kDeletedSlot);
    }
  }
  size_t used = base_.used_;
  char* p = entries + base_.body_.size();
  for (const Change* c : plan.appends) {
    used += InsertSlot(table, slots, c->field, static_cast<uint32_t>(p - entries)) ? 1 : 0;
    p = PutIndexedEntry(p, c->field, c->value);
  }
  StoreU32(out + 1, static_cast<uint32_t>(live_));
  StoreU32(out + 5, static_cast<uint32_t>(used));
  StoreU32(out + 9, static_cast<uint32_t>(plan.dead));
}

// A copy of the indexed base with the changes applied (readers of the old value keep it).
bool HashEditor::Patch(std::string* out) const {
  PatchPlan plan;
  if (!PlanPatch(&plan)) return false;
  out->reserve(plan.size);
  out->assign(base_.encoded_.data(), base_.encoded_.size());
  out->resize(plan.size);
  ApplyPatch(plan, out->data());
  return true;
}

size_t HashEditor::PatchInPlace(char* value, size_t capacity) const {
  if (value != base_.encoded_.data()) return 0;
  if (!base_.indexed()) {
    // A list changes in place only where every change overwrites a value with one of its size.
    for (const Change& c : changes_) {
      if (c.changed && !Stays(c)) return 0;
    }
    if (base_.encoded_.size() > capacity) return 0;
    for (const Change& c : changes_) {
      if (c.changed)
        std::memcpy(value + (c.base_value.data() - value), c.value.data(), c.value.size());
    }
    return base_.encoded_.size();
  }
  PatchPlan plan;
  if (!PlanPatch(&plan) || plan.size > capacity) return 0;
  ApplyPatch(plan, value);
  return plan.size;
}

size_t HashEditor::GrowthRoom(size_t encoded_bytes) {
  // A quarter: a hash grown one field at a time is copied once per quarter of growth, a few
  // bytes copied per byte added.
  return encoded_bytes / 4;
}

}  // namespace kvcache::server
