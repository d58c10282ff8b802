// ReplyBuilder: a connection's pending output, written as RESP2 or RESP3 replies.
//
// Replies are encoded straight into fixed-size chunks (16 KiB by default), so a pipeline of
// thousands of small replies is a handful of contiguous runs, i.e. a handful of iovecs for one
// writev(). A large value can instead be referenced where it lies (AppendExternal, BulkExternal):
// its bytes are not copied, and an Owner object keeps them alive until they are written. After
// a write of n bytes, Consume(n) releases every owner whose bytes are all written and recycles
// the chunks that were emptied; a connection whose output is drained keeps one chunk.
//
// Contract: one builder per connection, not thread-safe. The byte formats are Redis 7.0's
// (networking.c addReply*), including the RESP2 forms of RESP3-only types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

struct iovec;

namespace kvcache::protocol {

class ReplyBuilder {
 public:
  // Keeps externally referenced bytes alive; destroyed once they have all been written (or the
  // builder is cleared or destroyed).
  struct Owner {
    virtual ~Owner() = default;
  };

  static constexpr size_t kDefaultChunkSize = 16 << 10;
  // BulkExternal copies payloads shorter than this: a copy is cheaper than an iovec of its own.
  static constexpr size_t kMinExternalBytes = 4096;

  // REQUIRES: resp_version is 2 or 3; chunk_size >= 64.
  explicit ReplyBuilder(int resp_version = 2, size_t chunk_size = kDefaultChunkSize);
  ~ReplyBuilder();

  ReplyBuilder(const ReplyBuilder&) = delete;
  ReplyBuilder& operator=(const ReplyBuilder&) = delete;

  // The protocol of replies appended from now on (HELLO switches it between replies).
  void set_resp_version(int version) { resp3_ = version == 3; }
  int resp_version() const { return resp3_ ? 3 : 2; }

  // "+text". \r and \n in the text become spaces, since they would end the line early.
  void SimpleString(std::string_view text);
  // "-text" where text is the whole error, code included ("ERR ...", "WRONGTYPE ...");
  // \r and \n at its end are dropped and the others become spaces, as Redis does.
  void Error(std::string_view text);
  void Integer(int64_t value);
  void Bulk(std::string_view value);
  // A bulk whose payload is referenced, not copied (copied when shorter than kMinExternalBytes,
  // in which case `owner` is destroyed before this returns).
  void BulkExternal(const char* data, size_t size, std::unique_ptr<Owner> owner);
  // A missing bulk: RESP2 "$-1", RESP3 "_".
  void Null();
  // A missing array: RESP2 "*-1", RESP3 "_".
  void NullArray();
  void ArrayHeader(size_t count);
  // An array header whose count is known only once its elements are appended (Redis's
  // addReplyDeferredLen): the elements appended next follow it, and SetDeferredArrayHeader
  // writes the count in. Until then the output stops short of the header: what was appended
  // before it can be written (and consumed) meanwhile, which lets a long reply be built over
  // several steps while earlier replies go out.
  size_t DeferArrayHeader();
  void SetDeferredArrayHeader(size_t handle, size_t count);
  // `count` key-value pairs follow. RESP2: an array of 2 * count elements.
  void MapHeader(size_t count);
  // RESP2: an array.
  void SetHeader(size_t count);
  // An out-of-band message (pub/sub): RESP3 ">count", RESP2 an array.
  void PushHeader(size_t count);
  // RESP3 ",<%.17g>" (",inf", ",-inf", ",nan"); RESP2 the same text as a bulk string.
  void Double(double value);
  // RESP3 "#t" / "#f"; RESP2 the integer 1 / 0.
  void Bool(bool value);
  // RESP3 "=<len>\r\n<format>:<text>"; RESP2 a bulk of the text alone.
  // REQUIRES: format is 3 characters, e.g. "txt".
  void Verbatim(std::string_view format, std::string_view text);

  // Bytes already in protocol form, copied.
  void AppendRaw(std::string_view bytes);
  // Bytes in protocol form, referenced until written; `owner` (may be null) keeps them alive.
  void AppendExternal(const char* data, size_t size, std::unique_ptr<Owner> owner);

  // Bytes appended and not yet consumed.
  size_t PendingBytes() const { return pending_; }
  // The pending bytes before the first deferred header not yet set: what can be written now.
  size_t WritableBytes() const { return pending_ - held_; }
  // Error replies written so far (for the server's failed-call statistics).
  uint64_t error_count() const { return errors_; }
  // Told the first word of every error reply (Redis's INFO errorstats); null: no one.
  struct ErrorSink {
    virtual void CountError(std::string_view prefix) = 0;

   protected:
    ~ErrorSink() = default;
  };
  void set_error_sink(ErrorSink* sink) { error_sink_ = sink; }
  // Nothing pending and no deferred header open.
  bool empty() const { return pending_ == 0 && open_.empty(); }
  // Fills iov[0..k) with the first k writable runs, k <= max_iov, and returns k.
  size_t FillIovec(struct iovec* iov, size_t max_iov) const;
  // Marks the first n pending bytes as written. REQUIRES: n <= WritableBytes().
  void Consume(size_t n);
  // Drops everything pending, releasing its owners (the connection is going away).
  void Clear();
  // Frees the chunk kept for reuse when nothing is pending (for idle connections).
  void ReleaseIdleMemory();
  // Chunk memory held, pending or kept for reuse.
  size_t AllocatedBytes() const { return chunks_allocated_ * chunk_size_; }

 private:
  struct Chunk;
  // A run of pending bytes: in a chunk (chunk set) or external (owner possibly set).
  struct Segment {
    const char* data;
    size_t size;
    Chunk* chunk;
    Owner* owner;
  };

  // Bytes the tail chunk can still take without a new chunk.
  size_t Room() const;
  // Room for at least n contiguous bytes (n <= chunk_size_) at the end of the tail chunk.
  char* Reserve(size_t n);
  // Appends the n bytes written at the pointer Reserve returned.
  void Commit(size_t n);
  // Counts n bytes appended at the end.
  void Added(size_t n) {
    pending_ += n;
    if (!open_.empty()) held_ += n;
  }
  void CopyIn(const char* data, size_t size);
  void Header(char prefix, int64_t value);
  void Line(char prefix, std::string_view text);
  void ReleaseSegment(const Segment& segment);
  void UnrefChunk(Chunk* chunk);
  Chunk* NewChunk();
  void DeleteChunk(Chunk* chunk);

  bool resp3_;
  const size_t chunk_size_;
  std::vector<Segment> segments_;  // pending runs from head_ on
  size_t base_ = 0;                // runs dropped from the front of segments_ (handles count them)
  std::vector<size_t> open_;       // handles of deferred headers not yet set, ascending
  size_t held_ = 0;                // pending bytes from the first of them on
  size_t head_ = 0;
  size_t head_offset_ = 0;  // bytes of segments_[head_] already written
  size_t pending_ = 0;
  uint64_t errors_ = 0;
  ErrorSink* error_sink_ = nullptr;
  Chunk* tail_ = nullptr;   // the chunk small replies are written into
  Chunk* spare_ = nullptr;  // one emptied chunk kept for reuse
  size_t chunks_allocated_ = 0;
};

}  // namespace kvcache::protocol
