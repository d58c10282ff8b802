// The hash value encoding: parsing with bounds checks, lookups, and re-encoding after a write.
#include "server/hash_codec.h"

#include <cstring>

namespace kvcache::server {
namespace {

constexpr int kMaxVarintBytes = 10;

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

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void AppendString(std::string* out, std::string_view s) {
  AppendVarint(out, s.size());
  out->append(s);
}

size_t EntryBytes(const HashEntry& e) {
  return VarintSize(e.field.size()) + e.field.size() + VarintSize(e.value.size()) + e.value.size();
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

}  // namespace

void HashView::Iterator::Advance() {
  pos_ = next_;
  if (pos_ == end_) return;
  const char* p = pos_;
  // Parse has checked the encoding; a failure here would mean it changed under the view.
  if (!ReadString(&p, end_, &entry_.field) || !ReadString(&p, end_, &entry_.value)) p = end_;
  next_ = p;
}

bool HashView::Parse(std::string_view encoded, HashView* view) {
  uint64_t count;
  std::string_view body;
  if (!ReadHeader(encoded, &count, &body)) return false;
  const char* p = body.data();
  const char* end = body.data() + body.size();
  std::string_view s;
  for (uint64_t i = 0; i < count; ++i) {
    if (!ReadString(&p, end, &s) || !ReadString(&p, end, &s)) return false;
  }
  if (p != end) return false;
  view->body_ = body;
  view->size_ = static_cast<size_t>(count);
  return true;
}

bool HashView::Find(std::string_view field, std::string_view* value) const {
  for (HashEntry e : *this) {
    if (e.field == field) {
      *value = e.value;
      return true;
    }
  }
  return false;
}

bool HashEditor::Load(std::string_view encoded) {
  slots_.clear();
  index_.clear();
  indexed_ = false;
  scans_ = 0;
  live_ = 0;
  HashView view;
  if (!HashView::Parse(encoded, &view)) return false;
  slots_.reserve(view.size() + 1);
  for (HashEntry e : view) slots_.push_back({e, true});
  live_ = slots_.size();
  return true;
}

ptrdiff_t HashEditor::IndexOf(std::string_view field) {
  // A scan of a few dozen entries beats hashing; many lookups in a big hash do not.
  constexpr size_t kIndexMinEntries = 32;
  constexpr size_t kScansBeforeIndex = 8;
  if (!indexed_ && slots_.size() >= kIndexMinEntries && ++scans_ > kScansBeforeIndex) {
    index_.reserve(slots_.size() * 2);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].live) index_.emplace(slots_[i].entry.field, i);
    }
    indexed_ = true;
  }
  if (indexed_) {
    auto it = index_.find(field);
    return it == index_.end() ? -1 : static_cast<ptrdiff_t>(it->second);
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].live && slots_[i].entry.field == field) return static_cast<ptrdiff_t>(i);
  }
  return -1;
}

const std::string_view* HashEditor::Find(std::string_view field) {
  ptrdiff_t i = IndexOf(field);
  return i < 0 ? nullptr : &slots_[i].entry.value;
}

bool HashEditor::Set(std::string_view field, std::string_view value) {
  ptrdiff_t i = IndexOf(field);
  if (i >= 0) {
    slots_[i].entry.value = value;
    return false;
  }
  slots_.push_back({{field, value}, true});
  if (indexed_) index_.emplace(field, slots_.size() - 1);
  ++live_;
  return true;
}

bool HashEditor::Erase(std::string_view field) {
  ptrdiff_t i = IndexOf(field);
  if (i < 0) return false;
  slots_[i].live = false;
  if (indexed_) index_.erase(field);
  --live_;
  return true;
}

std::string HashEditor::Encode() const {
  size_t bytes = 1 + VarintSize(live_);
  for (const Slot& s : slots_) {
    if (s.live) bytes += EntryBytes(s.entry);
  }
  std::string out;
  out.reserve(bytes);
  out.push_back(kHashFormat);
  AppendVarint(&out, live_);
  for (const Slot& s : slots_) {
    if (!s.live) continue;
    AppendString(&out, s.entry.field);
    AppendString(&out, s.entry.value);
  }
  return out;
}

std::string EncodeHash(const std::vector<HashEntry>& entries) {
  size_t bytes = 1 + VarintSize(entries.size());
  for (const HashEntry& e : entries) bytes += EntryBytes(e);
  std::string out;
  out.reserve(bytes);
  out.push_back(kHashFormat);
  AppendVarint(&out, entries.size());
  for (const HashEntry& e : entries) {
    AppendString(&out, e.field);
    AppendString(&out, e.value);
  }
  return out;
}

}  // namespace kvcache::server
