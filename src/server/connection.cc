// Connection: buffered reads, pipelined execution, writev of the replies.
#include "server/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server/db_key.h"
#include "server/server.h"

namespace kvcache::server {
namespace {

constexpr size_t kReadChunk = 16 << 10;
// Bulks from this size on are received into memory of their own (Redis: PROTO_MBULK_BIG_ARG).
constexpr size_t kLargeArgBytes = 32 << 10;
constexpr size_t kLargeArgWakeBytes = 512 << 10;
// Replies pending beyond this pause reading from the client until they drain, so that one
// client pipelining large reads cannot make the server buffer without bound.
constexpr size_t kMaxPendingOutput = 64 << 20;
constexpr int kMaxIov = 64;

}  // namespace

Connection::Connection(Server& server, Worker* worker, int fd, uint64_t id, std::string peer_addr,
                       std::string local_addr)
    : peer(std::move(peer_addr)),
      local(std::move(local_addr)),
      server_(server),
      worker_(worker),
      fd_(fd),
      id_(id),
      parser_(&server.parser_limits()),
      lookahead_(&server.parser_limits()) {
  created_ms = last_active_ms = server.cache().NowMs();
  reply_.set_error_sink(&server.stats_for(worker));
  authenticated = server.config().requirepass.empty();
}

Connection::~Connection() {
  server_.watches().UnwatchAll(&watch);
  if (monitor) server_.RemoveMonitor(*this);
  server_.pubsub().UnsubscribeAll(*this);
  if (fd_ >= 0) close(fd_);
}

void Connection::set_resp_version(int version) {
  reply_.set_resp_version(version);
  if (discard_ != nullptr) discard_->set_resp_version(version);
}

void Connection::SetReplyMode(ReplyMode mode) {
  replies_off_ = mode == ReplyMode::kOff;
  if (mode == ReplyMode::kOn) {
    skip_next_ = false;
    reply_to_ = &reply_;
  } else {
    StartSkipping();  // the command's own reply is not sent either
    skip_next_ = mode == ReplyMode::kSkip;
  }
}

void Connection::StartSkipping() {
  skip_next_ = false;
  if (discard_ == nullptr) {
    discard_ = std::make_unique<protocol::ReplyBuilder>(reply_.resp_version());
    discard_->set_error_sink(&server_.stats_for(worker_));  // errors are still counted
  }
  reply_to_ = discard_.get();
}

void Connection::EndSkipping() {
  discard_->Clear();
  if (!replies_off_) reply_to_ = &reply_;
}

bool Connection::output_blocked() const { return reply_.PendingBytes() > kMaxPendingOutput; }

bool Connection::ReadSome() {
  // Room for what the parser says the current request needs (a bulk shorter than
  // kLargeArgBytes arrives in one piece), or a chunk.
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
  const size_t needed = receiving_large_arg() ? 0 : parser_.bytes_needed();
  size_t want = std::max(kReadChunk, needed > input_buffered() ? needed - input_buffered() : 0);
  if (in_.size() - in_end_ < want) {
    if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    }
    if (in_.size() - in_end_ < want) in_.resize(in_end_ + want);
  }
  // The rest of a large argument goes straight where it stays; what follows it, into in_.
  iovec iov[2];
  int iovcnt = 0;
  LargeArg* arg = receiving_large_arg() ? &large_args_.back() : nullptr;
  if (arg != nullptr) iov[iovcnt++] = {arg->data + arg->filled, arg->size - arg->filled};
  iov[iovcnt++] = {in_.data() + in_end_, in_.size() - in_end_};
  // read() and write() when there is one buffer: readv and writev copy the iovec in first,
  // ~0.1 us a pair on this VM (write+read of 40 bytes over a socketpair: 3.48-3.54 us against
  // 3.62-4.01 for writev+readv), which at pipeline depth 1 is paid per request.
  ssize_t n = iovcnt == 1 ? read(fd_, iov[0].iov_base, iov[0].iov_len) : readv(fd_, iov, iovcnt);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  size_t rest = static_cast<size_t>(n);
  if (arg != nullptr) {
    const size_t take = std::min(rest, arg->size - arg->filled);
    arg->filled += take;
    rest -= take;
    if (arg->filled == arg->size) parser_.BulkReceivedElsewhere(arg->data);
  }
  in_end_ += rest;
  WorkerStats::Add(server_.stats_for(worker_).net_input_bytes, static_cast<uint64_t>(n));
  // While a large argument arrives, wake up for it in large pieces, not per segment queued.
  size_t low_water = 1;
  if (receiving_large_arg()) {
    low_water = std::min(kLargeArgWakeBytes, large_args_.back().size - large_args_.back().filled);
  }
  if (low_water != rcvlowat_) {
    const int v = static_cast<int>(low_water);
    setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
    rcvlowat_ = low_water;
  }
  return true;
}

bool Connection::StartLargeArg() {
  size_t offset = 0, size = 0;
  if (!parser_.PendingBulk(&offset, &size) || size < kLargeArgBytes) return false;
  const char* request = in_.data() + in_start_;
  parser_.CompleteArgs(request, &scratch_args_);
  LargeArg arg;
  arg.size = size;
  arg.index = scratch_args_.size();
  arg.value = ValueBufferFor(server_.cache(), db, scratch_args_, size);
  if (arg.value) {
    arg.data = arg.value.data();
  } else {
    arg.plain = {static_cast<char*>(std::malloc(std::max<size_t>(size, 1))), std::free};
    arg.data = arg.plain.get();
  }
  if (arg.data == nullptr) {
    reply_.Error("ERR out of memory for an argument of " + std::to_string(size) + " bytes");
    close_after_reply = true;
    return false;
  }
  // The bulk's first bytes may be buffered already: move them over, and what follows them
  // (the end of the request, more requests) back to where the bulk began.
  char* bulk = in_.data() + in_start_ + offset;
  const size_t after = in_end_ - (in_start_ + offset);
  arg.filled = std::min(after, size);
  std::memcpy(arg.data, bulk, arg.filled);
  std::memmove(bulk, bulk + arg.filled, after - arg.filled);
  in_end_ -= arg.filled;
  large_args_.push_back(std::move(arg));
  if (large_args_.back().filled < size) return false;
  parser_.BulkReceivedElsewhere(large_args_.back().data);
  return true;
}

size_t Connection::query_bytes() const {
  size_t n = input_buffered();
  for (const LargeArg& a : large_args_) n += a.filled;
  return n;
}

ValueBuffer* Connection::received_value(size_t index) {
  for (LargeArg& a : large_args_) {
    if (a.index == index && a.value) return &a.value;
  }
  return nullptr;
}

// The keys of a pipeline's requests, looked at before any of them runs: their index lines
// start loading now, so that the lookups' cache misses overlap instead of following one another
// (with a data set larger than the CPU's caches, a lookup is mostly a wait for memory).
// Parsing twice costs less than the misses it hides: the requests are in L1 by then. A longer
// pipeline (a bulk load through `redis-cli --pipe` reads 16 KiB, some 200 SETs, at a time) is
// prefetched a window at a time, the next window once half of this one has run.
namespace {
constexpr size_t kPrefetchWindow = 32;
}  // namespace

size_t Connection::PrefetchKeys(size_t from) {
  // Other databases' engine keys would need building first.
  if (server_.StoredDb(db) != 0) return in_end_;
  const char* p = in_.data() + from;
  size_t left = in_end_ - from;
  std::string_view keys[kPrefetchWindow];    // of reads
  std::string_view writes[kPrefetchWindow];  // of writes
  size_t n = 0, n_writes = 0;
  for (size_t i = 0; i < kPrefetchWindow && left > 0; ++i) {
    size_t consumed = 0;
    const protocol::ParseResult r = lookahead_.Parse(p, left, authenticated, &consumed);
    if (r != protocol::ParseResult::kCommand && r != protocol::ParseResult::kEmpty) break;
    // An inline command's escaped words lie in the parser's own storage: only arrays are kept.
    if (r == protocol::ParseResult::kCommand && *p == '*') {
      ahead_.push_back({static_cast<size_t>(p - in_.data()), consumed, ahead_spans_.size(),
                        lookahead_.args().size(), authenticated});
      for (std::string_view a : lookahead_.args()) {
        ahead_spans_.emplace_back(static_cast<size_t>(a.data() - in_.data()), a.size());
      }
    }
    if (r == protocol::ParseResult::kCommand && lookahead_.args().size() >= 2) {
      const std::string_view key = lookahead_.args()[1];
      // Only views of the input buffer: an inline argument with escapes views the parser's
      // own storage, which the next Parse reuses.
      const bool in_buffer =
          key.data() >= in_.data() && key.data() + key.size() <= in_.data() + in_end_;
      if (in_buffer && !DbKeyNeedsPrefix(0, key)) {
        if (server_.IsWriteCommand(lookahead_.args()[0])) {
          writes[n_writes++] = key;
        } else {
          keys[n++] = key;
        }
      }
    }
    p += consumed;
    left -= consumed;
  }
  lookahead_.Reset();
  // One request alone gains nothing: its lookup follows at once.
  if (n + n_writes > 1) {
    if (n > 0) server_.cache().Prefetch(std::span<const std::string_view>(keys, n));
    if (n_writes > 0) {
      server_.cache().Prefetch(std::span<const std::string_view>(writes, n_writes), true);
    }
  }
  return static_cast<size_t>(p - in_.data());
}

bool Connection::TakeParsedAhead(std::vector<std::string_view>* args, size_t* consumed) {
  if (parser_.in_progress()) return false;
  while (ahead_next_ < ahead_.size() && ahead_[ahead_next_].start < in_start_) ++ahead_next_;
  if (ahead_next_ == ahead_.size()) return false;
  const ParsedAhead& a = ahead_[ahead_next_];
  if (a.start != in_start_ || a.authenticated != authenticated) return false;
  ++ahead_next_;
  ++run_from_lookahead_;
  args->clear();
  for (size_t i = a.first_span; i < a.first_span + a.spans; ++i) {
    args->emplace_back(in_.data() + ahead_spans_[i].first, ahead_spans_[i].second);
  }
  *consumed = a.consumed;
  return true;
}

bool Connection::ProcessInput() {
  if (!blocked) AfterReply();  // a deferred command's reply is complete
  ahead_.clear();              // offsets into the buffer as it was at the last call
  ahead_spans_.clear();
  ahead_next_ = 0;
  // From a request's start only: not while a large argument arrives.
  auto can_prefetch = [&] { return !blocked && large_args_.empty() && !receiving_large_arg(); };
  size_t prefetched = in_start_;  // input up to here has been looked at
  size_t until_next = 0;          // requests to run before the next window
  // Not while a request is partly parsed: the lookahead would parse it again from its start
  // at every read, which for one DEL of 100k keys arriving 16 KiB at a time was 57% of the
  // server's time (quadratic in the request's size). The first window then starts once that
  // request has run: a bulk load's reads (16 KiB through `redis-cli --pipe`) nearly all end
  // inside a request, and without it no key of the next read was prefetched.
  if (input_buffered() > 0 && can_prefetch()) {
    if (parser_.in_progress()) {
      until_next = 1;
    } else {
      prefetched = PrefetchKeys(in_start_);
      until_next = kPrefetchWindow / 2;
    }
  }
  // Half-way through a window, the next one's keys start loading.
  auto next_window = [&] {
    const size_t from = std::max(prefetched, in_start_);
    if (until_next != 0 && --until_next == 0 && from < in_end_ && can_prefetch() &&
        !parser_.in_progress()) {
      prefetched = PrefetchKeys(from);
      until_next = kPrefetchWindow / 2;
    }
  };
  server_.world().lock_shared();
  bool ok = true;
  while (in_start_ < in_end_ && !close_after_reply && !output_blocked() && !blocked &&
         !receiving_large_arg()) {
    size_t consumed = 0;
    // The request as the lookahead parsed it, or parsed now; none for an empty one.
    std::span<const std::string_view> args;
    if (TakeParsedAhead(&ahead_args_, &consumed)) {
      args = ahead_args_;
    } else {
      protocol::ParseResult r =
          parser_.Parse(in_.data() + in_start_, in_end_ - in_start_, authenticated, &consumed);
      if (r == protocol::ParseResult::kNeedMore) {
        if (StartLargeArg()) continue;
        break;
      }
      if (r == protocol::ParseResult::kError) {
        reply_.Error("ERR " + parser_.error());
        close_after_reply = true;
        break;
      }
      if (r == protocol::ParseResult::kCommand) args = parser_.args();
    }
    if (!args.empty()) {
      BeforeCommand();
      server_.Execute(*this, args);
      if (!blocked) AfterReply();
    }
    in_start_ += consumed;
    large_args_.clear();  // the command has run (or copied what it keeps)
    next_window();
  }
  server_.world().unlock_shared();
  if (query_bytes() > static_cast<size_t>(server_.config().client_query_buffer_limit)) {
    ok = false;  // Redis closes a client whose query buffer passes the limit
  }
  // A large buffer left over from a big request is given back once it has been used.
  if (in_start_ == in_end_ && in_.size() > (1 << 20)) {
    std::vector<char>().swap(in_);
    in_start_ = in_end_ = 0;
  }
  return ok;
}

bool Connection::OnReadable() {
  if (!ReadSome()) return false;
  last_active_ms = server_.cache().NowMs();
  if (!ProcessInput()) return false;
  return Flush();
}

bool Connection::Resume() {
  if (!ProcessInput()) return false;
  return fd_ < 0 ? true : Flush();
}

bool Connection::OnWritable() {
  if (!Flush()) return false;
  // Output drained below the limit: run what was waiting.
  if (!output_blocked() && input_buffered() > 0) {
    if (!ProcessInput()) return false;
    return Flush();
  }
  return true;
}

bool Connection::Flush() {
  while (reply_.WritableBytes() != 0) {
    struct iovec iov[kMaxIov];
    size_t n = reply_.FillIovec(iov, kMaxIov);
    size_t asked = 0;
    for (size_t i = 0; i < n; ++i) asked += iov[i].iov_len;
    ssize_t w = n == 1 ? write(fd_, iov[0].iov_base, iov[0].iov_len)
                       : writev(fd_, iov, static_cast<int>(n));
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      return false;
    }
    reply_.Consume(static_cast<size_t>(w));
    WorkerStats::Add(server_.stats_for(worker_).net_output_bytes, static_cast<uint64_t>(w));
    // A short write means the socket's buffer is full: wait for EPOLLOUT rather than make a
    // call that would fail with EAGAIN (a 16 MiB reply goes out in a few large writes).
    if (static_cast<size_t>(w) < asked) return true;
  }
  reply_.ReleaseIdleMemory();
  return !close_after_reply;
}

void Connection::FeedForTest(std::string_view bytes) {
  if (receiving_large_arg()) {
    LargeArg& arg = large_args_.back();
    const size_t take = std::min(bytes.size(), arg.size - arg.filled);
    std::memcpy(arg.data + arg.filled, bytes.data(), take);
    arg.filled += take;
    if (arg.filled == arg.size) parser_.BulkReceivedElsewhere(arg.data);
    bytes.remove_prefix(take);
  }
  if (in_.size() - in_end_ < bytes.size()) in_.resize(in_end_ + bytes.size());
  std::memcpy(in_.data() + in_end_, bytes.data(), bytes.size());
  in_end_ += bytes.size();
}

}  // namespace kvcache::server
