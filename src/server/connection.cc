// Connection: buffered reads, pipelined execution, writev of the replies.
#include "server/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/server.h"

namespace kvcache::server {
namespace {

constexpr size_t kReadChunk = 16 << 10;
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
      parser_(&server.parser_limits()) {
  created_ms = last_active_ms = server.cache().NowMs();
  authenticated = server.config().requirepass.empty();
}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

bool Connection::output_blocked() const { return reply_.PendingBytes() > kMaxPendingOutput; }

bool Connection::ReadSome() {
  // Room for what the parser says the current request needs (a large bulk arrives straight
  // into place), or a chunk.
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
  size_t want = std::max(kReadChunk, parser_.bytes_needed() > input_buffered()
                                         ? parser_.bytes_needed() - input_buffered()
                                         : size_t{0});
  if (in_.size() - in_end_ < want) {
    if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    }
    if (in_.size() - in_end_ < want) in_.resize(in_end_ + want);
  }
  ssize_t n = read(fd_, in_.data() + in_end_, in_.size() - in_end_);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  in_end_ += static_cast<size_t>(n);
  WorkerStats::Add(server_.stats_for(worker_).net_input_bytes, static_cast<uint64_t>(n));
  return true;
}

bool Connection::ProcessInput() {
  server_.world().lock_shared();
  bool ok = true;
  while (in_start_ < in_end_ && !close_after_reply && !output_blocked() && !blocked) {
    size_t consumed = 0;
    protocol::ParseResult r =
        parser_.Parse(in_.data() + in_start_, in_end_ - in_start_, authenticated, &consumed);
    if (r == protocol::ParseResult::kNeedMore) break;
    if (r == protocol::ParseResult::kError) {
      reply_.Error("ERR " + parser_.error());
      close_after_reply = true;
      break;
    }
    if (r == protocol::ParseResult::kCommand) {
      server_.Execute(*this, parser_.args());
    }
    in_start_ += consumed;
  }
  server_.world().unlock_shared();
  if (input_buffered() > static_cast<size_t>(server_.config().client_query_buffer_limit)) {
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
  while (!reply_.empty()) {
    struct iovec iov[kMaxIov];
    size_t n = reply_.FillIovec(iov, kMaxIov);
    ssize_t w = writev(fd_, iov, static_cast<int>(n));
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      return false;
    }
    reply_.Consume(static_cast<size_t>(w));
    WorkerStats::Add(server_.stats_for(worker_).net_output_bytes, static_cast<uint64_t>(w));
  }
  reply_.ReleaseIdleMemory();
  return !close_after_reply;
}

void Connection::FeedForTest(std::string_view bytes) {
  if (in_.size() - in_end_ < bytes.size()) in_.resize(in_end_ + bytes.size());
  std::memcpy(in_.data() + in_end_, bytes.data(), bytes.size());
  in_end_ += bytes.size();
}

}  // namespace kvcache::server
