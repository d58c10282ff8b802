// ReplyBuilder: RESP encoding into recycled chunks plus referenced external runs.
#include "protocol/reply_builder.h"

#include <sys/uio.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

namespace kvcache::protocol {
namespace {

// Longest "<prefix><int64>\r\n".
constexpr size_t kMaxHeader = 1 + 20 + 2;

inline char* PutInt(char* p, int64_t value) { return std::to_chars(p, p + 20, value).ptr; }

inline char* PutCrlf(char* p) {
  p[0] = '\r';
  p[1] = '\n';
  return p + 2;
}

// Copies text, turning \r and \n into spaces so that a status or error stays on one line.
inline char* PutLineText(char* p, std::string_view text) {
  memcpy(p, text.data(), text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (p[i] == '\r' || p[i] == '\n') p[i] = ' ';
  }
  return p + text.size();
}

}  // namespace

// The chunk's header; its bytes follow it in the same allocation.
struct ReplyBuilder::Chunk {
  size_t used = 0;  // bytes handed out from the start
  size_t refs = 0;  // pending segments in this chunk
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
};

ReplyBuilder::ReplyBuilder(int resp_version, size_t chunk_size)
    : resp3_(resp_version == 3), chunk_size_(std::max<size_t>(chunk_size, 64)) {}

ReplyBuilder::~ReplyBuilder() {
  Clear();
  ReleaseIdleMemory();
}

ReplyBuilder::Chunk* ReplyBuilder::NewChunk() {
  if (spare_ != nullptr) {
    Chunk* c = spare_;
    spare_ = nullptr;
    return c;
  }
  void* memory = ::operator new(sizeof(Chunk) + chunk_size_);
  ++chunks_allocated_;
  return new (memory) Chunk();
}

void ReplyBuilder::DeleteChunk(Chunk* chunk) {
  chunk->~Chunk();
  ::operator delete(chunk);
  --chunks_allocated_;
}

size_t ReplyBuilder::Room() const {
  if (tail_ == nullptr || tail_->refs == 0) return chunk_size_;
  return chunk_size_ - tail_->used;
}

char* ReplyBuilder::Reserve(size_t n) {
  assert(n <= chunk_size_);
  if (tail_ == nullptr) {
    tail_ = NewChunk();
  } else if (tail_->refs == 0) {
    tail_->used = 0;  // everything written from it is gone: start over at its beginning
  }
  if (chunk_size_ - tail_->used < n) {
    // The old tail still holds pending bytes (else it was just emptied); it is recycled when
    // its last segment is consumed.
    tail_ = NewChunk();
    tail_->used = 0;
  }
  return tail_->bytes() + tail_->used;
}

void ReplyBuilder::Commit(size_t n) {
  if (n == 0) return;
  char* p = tail_->bytes() + tail_->used;
  if (segments_.size() > head_) {
    Segment& last = segments_.back();
    if (last.chunk == tail_ && last.data + last.size == p) {
      last.size += n;
      tail_->used += n;
      Added(n);
      return;
    }
  }
  segments_.push_back(Segment{p, n, tail_, nullptr});
  ++tail_->refs;
  tail_->used += n;
  Added(n);
}

void ReplyBuilder::CopyIn(const char* data, size_t size) {
  while (size > 0) {
    char* p = Reserve(1);
    const size_t take = std::min(size, chunk_size_ - tail_->used);
    memcpy(p, data, take);
    Commit(take);
    data += take;
    size -= take;
  }
}

void ReplyBuilder::Header(char prefix, int64_t value) {
  char* start = Reserve(kMaxHeader);
  char* p = start;
  *p++ = prefix;
  p = PutCrlf(PutInt(p, value));
  Commit(static_cast<size_t>(p - start));
}

void ReplyBuilder::Line(char prefix, std::string_view text) {
  const size_t need = text.size() + 3;
  if (need <= chunk_size_) {
    char* start = Reserve(need);
    char* p = start;
    *p++ = prefix;
    p = PutCrlf(PutLineText(p, text));
    Commit(static_cast<size_t>(p - start));
    return;
  }
  std::string line(1, prefix);
  line.append(text);
  for (char& c : line) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  line.append("\r\n");
  CopyIn(line.data(), line.size());
}

void ReplyBuilder::SimpleString(std::string_view text) { Line('+', text); }

void ReplyBuilder::Error(std::string_view text) {
  ++errors_;
  // As Redis's formatted errors: CR and LF at the end are dropped, the others become spaces.
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  if (error_sink_ != nullptr) error_sink_->CountError(text.substr(0, text.find(' ')));
  Line('-', text);
}

void ReplyBuilder::Integer(int64_t value) { Header(':', value); }

void ReplyBuilder::Bulk(std::string_view value) {
  const size_t need = kMaxHeader + value.size() + 2;
  if (need > Room()) {
    // Let the payload straddle chunks rather than leave the tail's room unused.
    Header('$', static_cast<int64_t>(value.size()));
    CopyIn(value.data(), value.size());
    PutCrlf(Reserve(2));
    Commit(2);
    return;
  }
  char* start = Reserve(need);
  char* p = start;
  *p++ = '$';
  p = PutCrlf(PutInt(p, static_cast<int64_t>(value.size())));
  memcpy(p, value.data(), value.size());
  p = PutCrlf(p + value.size());
  Commit(static_cast<size_t>(p - start));
}

size_t ReplyBuilder::DeferArrayHeader() {
  // A run of its own, empty until set, with the longest header's room kept after it in the
  // chunk (so that the next reply does not extend this run).
  char* p = Reserve(kMaxHeader);
  segments_.push_back(Segment{p, 0, tail_, nullptr});
  ++tail_->refs;
  tail_->used += kMaxHeader;
  const size_t handle = base_ + segments_.size() - 1;
  open_.push_back(handle);
  return handle;
}

void ReplyBuilder::SetDeferredArrayHeader(size_t handle, size_t count) {
  const size_t index = handle - base_;
  assert(handle >= base_ && index >= head_ && index < segments_.size() &&
         segments_[index].size == 0);
  Segment& s = segments_[index];
  char* start = const_cast<char*>(s.data);
  char* p = start;
  *p++ = '*';
  p = PutCrlf(PutInt(p, static_cast<int64_t>(count)));
  s.size = static_cast<size_t>(p - start);
  pending_ += s.size;
  auto it = std::find(open_.begin(), open_.end(), handle);
  assert(it != open_.end());
  if (it != open_.begin()) {
    held_ += s.size;  // behind an earlier header still open
    open_.erase(it);
    return;
  }
  open_.erase(it);
  // The output may now go on to the next open header, if any.
  held_ = 0;
  if (!open_.empty()) {
    for (size_t i = open_.front() - base_; i < segments_.size(); ++i) held_ += segments_[i].size;
  }
}

void ReplyBuilder::BulkExternal(const char* data, size_t size, std::unique_ptr<Owner> owner) {
  if (size < kMinExternalBytes) {
    Bulk(std::string_view(data, size));
    return;
  }
  Header('$', static_cast<int64_t>(size));
  AppendExternal(data, size, std::move(owner));
  PutCrlf(Reserve(2));
  Commit(2);
}

void ReplyBuilder::Null() {
  if (resp3_) {
    AppendRaw("_\r\n");
  } else {
    AppendRaw("$-1\r\n");
  }
}

void ReplyBuilder::NullArray() {
  if (resp3_) {
    AppendRaw("_\r\n");
  } else {
    AppendRaw("*-1\r\n");
  }
}

void ReplyBuilder::ArrayHeader(size_t count) { Header('*', static_cast<int64_t>(count)); }

void ReplyBuilder::MapHeader(size_t count) {
  if (resp3_) {
    Header('%', static_cast<int64_t>(count));
  } else {
    Header('*', static_cast<int64_t>(count * 2));
  }
}

void ReplyBuilder::SetHeader(size_t count) {
  Header(resp3_ ? '~' : '*', static_cast<int64_t>(count));
}

void ReplyBuilder::PushHeader(size_t count) {
  Header(resp3_ ? '>' : '*', static_cast<int64_t>(count));
}

// Redis 7.0's addReplyDouble: "%.17g", with infinities spelled out (RESP2 as a bulk string).
void ReplyBuilder::Double(double value) {
  char buf[32];
  std::string_view text;
  if (std::isinf(value)) {
    text = value > 0 ? "inf" : "-inf";
  } else if (std::isnan(value)) {
    text = "nan";
  } else {
    const auto result =
        std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general, 17);
    text = std::string_view(buf, static_cast<size_t>(result.ptr - buf));
  }
  if (!resp3_) {
    Bulk(text);
    return;
  }
  char* start = Reserve(text.size() + 3);
  char* p = start;
  *p++ = ',';
  memcpy(p, text.data(), text.size());
  p = PutCrlf(p + text.size());
  Commit(static_cast<size_t>(p - start));
}

void ReplyBuilder::Bool(bool value) {
  if (resp3_) {
    AppendRaw(value ? "#t\r\n" : "#f\r\n");
  } else {
    AppendRaw(value ? ":1\r\n" : ":0\r\n");
  }
}

void ReplyBuilder::Verbatim(std::string_view format, std::string_view text) {
  if (!resp3_) {
    Bulk(text);
    return;
  }
  assert(format.size() == 3);
  Header('=', static_cast<int64_t>(text.size() + 4));
  char prefix[4] = {format[0], format[1], format[2], ':'};
  AppendRaw(std::string_view(prefix, 4));
  AppendRaw(text);
  AppendRaw("\r\n");
}

void ReplyBuilder::AppendRaw(std::string_view bytes) {
  if (bytes.size() <= Room()) {
    char* p = Reserve(bytes.size());
    memcpy(p, bytes.data(), bytes.size());
    Commit(bytes.size());
    return;
  }
  CopyIn(bytes.data(), bytes.size());
}

void ReplyBuilder::AppendExternal(const char* data, size_t size, std::unique_ptr<Owner> owner) {
  if (size == 0) return;
  segments_.push_back(Segment{data, size, nullptr, owner.release()});
  Added(size);
}

size_t ReplyBuilder::FillIovec(struct iovec* iov, size_t max_iov) const {
  const size_t end = open_.empty() ? segments_.size() : open_.front() - base_;
  size_t k = 0;
  for (size_t i = head_; i < end && k < max_iov; ++i, ++k) {
    const Segment& s = segments_[i];
    const size_t skip = i == head_ ? head_offset_ : 0;
    iov[k].iov_base = const_cast<char*>(s.data + skip);
    iov[k].iov_len = s.size - skip;
  }
  return k;
}

void ReplyBuilder::Consume(size_t n) {
  assert(n <= WritableBytes());
  pending_ -= n;
  while (n > 0) {
    const Segment& s = segments_[head_];
    const size_t left = s.size - head_offset_;
    if (n < left) {
      head_offset_ += n;
      break;
    }
    n -= left;
    ReleaseSegment(s);
    ++head_;
    head_offset_ = 0;
  }
  if (head_ == segments_.size()) {
    base_ += segments_.size();
    segments_.clear();
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= segments_.size()) {
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(head_));
    base_ += head_;
    head_ = 0;
  }
}

void ReplyBuilder::ReleaseSegment(const Segment& segment) {
  if (segment.chunk != nullptr) UnrefChunk(segment.chunk);
  delete segment.owner;
}

void ReplyBuilder::UnrefChunk(Chunk* chunk) {
  if (--chunk->refs != 0) return;
  chunk->used = 0;
  if (chunk == tail_) return;
  if (spare_ == nullptr) {
    spare_ = chunk;
  } else {
    DeleteChunk(chunk);
  }
}

void ReplyBuilder::Clear() {
  for (size_t i = head_; i < segments_.size(); ++i) ReleaseSegment(segments_[i]);
  base_ += segments_.size();
  segments_.clear();
  open_.clear();
  held_ = 0;
  head_ = 0;
  head_offset_ = 0;
  pending_ = 0;
}

void ReplyBuilder::ReleaseIdleMemory() {
  if (!empty()) return;  // an open deferred header lies in the tail chunk
  if (spare_ != nullptr) {
    DeleteChunk(spare_);
    spare_ = nullptr;
  }
  if (tail_ != nullptr) {
    DeleteChunk(tail_);
    tail_ = nullptr;
  }
}

}  // namespace kvcache::protocol
