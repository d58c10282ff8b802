// floor-server: the least work a Redis-protocol server can do per request on this machine, as
// the physical limit that bench/compare_redis.py holds both servers against.
//
//   floor-server --port N [--value-bytes 64] [--mode epoll|batch|uring]
//
// It does not parse and stores nothing: it counts the RESP arrays in what it receives (an
// array header is a '*' at the start of a line; redis-benchmark's values hold no such byte) and
// answers each with "+OK" or, for a two-element array (GET), a bulk string of --value-bytes
// bytes sent from one static buffer. What remains is the kernel's share of a request (one
// read, one write, loopback TCP, waking the client) plus the event loop:
//   epoll  one epoll_wait per wakeup, one read and one writev per ready connection (what
//          kvcache-server and Redis do);
//   batch  epoll for readiness, then one io_uring_enter for all of a wakeup's receives and one
//          for all its sends (what an epoll server could gain from io_uring alone);
//   uring  io_uring with multishot accept and receive into a provided-buffer ring, and one
//          io_uring_enter per batch for all sends and completions.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if __has_include(<liburing.h>)
#include <liburing.h>
#define FLOOR_HAVE_URING 1
#endif

namespace {

constexpr char kOk[] = "+OK\r\n";
constexpr char kPong[] = "+PONG\r\n";
constexpr int kMaxReplies = 1024;
std::string g_get_reply;

// One iovec per request in buf[0, n); returns how many.
int BuildReplies(const char* buf, int n, iovec* iov) {
  int count = 0;
  for (int i = 0; i < n && count < kMaxReplies; ++i) {
    if (buf[i] != '*' || (i > 0 && buf[i - 1] != '\n')) continue;
    if (i + 1 < n && buf[i + 1] == '2') {
      iov[count] = {g_get_reply.data(), g_get_reply.size()};
    } else {
      iov[count] = {const_cast<char*>(kOk), sizeof(kOk) - 1};
    }
    ++count;
  }
  if (count == 0 && n > 0) {  // an inline command, such as a readiness probe's PING
    const bool ping = n >= 4 && std::strncmp(buf, "PING", 4) == 0;
    iov[count++] = ping ? iovec{const_cast<char*>(kPong), sizeof(kPong) - 1}
                        : iovec{const_cast<char*>(kOk), sizeof(kOk) - 1};
  }
  return count;
}

int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 511) != 0) {
    std::fprintf(stderr, "floor-server: cannot listen on port %d: %s\n", port,
                 std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Watches fd for input in the epoll set ep.
void WatchInput(int ep, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// Accepts a connection and watches it. Blocking sockets: a read follows readiness, and a write
// returns when all is sent.
void AcceptInto(int ep, int listener) {
  int c = accept4(listener, nullptr, nullptr, 0);
  if (c < 0) return;
  NoDelay(c);
  WatchInput(ep, c);
}

void RunEpoll(int listener) {
  int ep = epoll_create1(0);
  WatchInput(ep, listener);
  std::vector<char> buf(1 << 16);
  iovec iov[kMaxReplies];
  epoll_event events[512];
  for (;;) {
    int n = epoll_wait(ep, events, 512, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        AcceptInto(ep, listener);
        continue;
      }
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r <= 0) {
        close(fd);
        continue;
      }
      int k = BuildReplies(buf.data(), static_cast<int>(r), iov);
      if (k > 0 && writev(fd, iov, k) < 0) close(fd);
    }
  }
}

#ifdef FLOOR_HAVE_URING
// epoll for readiness, then one io_uring_enter for all the wakeup's receives and one for all
// its sends (with MSG_DONTWAIT, each completes inline at submission): 3 system calls per
// wakeup instead of 1 + 2 per ready connection.
void RunBatch(int listener) {
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  if (int rc = io_uring_queue_init_params(1024, &ring, &params); rc != 0) {
    std::fprintf(stderr, "floor-server: io_uring: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  int ep = epoll_create1(0);
  WatchInput(ep, listener);
  constexpr int kMaxEvents = 512;
  std::vector<char> bufs(size_t{kMaxEvents} << 14);
  struct Out {
    iovec iov[kMaxReplies];
    msghdr msg;
  };
  std::vector<Out> outs(kMaxEvents);
  epoll_event events[kMaxEvents];
  for (;;) {
    int n = epoll_wait(ep, events, kMaxEvents, -1);
    int reads = 0;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        AcceptInto(ep, listener);
        continue;
      }
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_recv(sqe, fd, bufs.data() + (size_t{static_cast<unsigned>(i)} << 14), 1 << 14,
                         MSG_DONTWAIT);
      io_uring_sqe_set_data64(sqe, (static_cast<uint64_t>(fd) << 16) | static_cast<unsigned>(i));
      ++reads;
    }
    if (reads == 0) continue;
    io_uring_submit_and_wait(&ring, reads);
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    int sends = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const int fd = static_cast<int>(cqe->user_data >> 16);
      const unsigned i = cqe->user_data & 0xffff;
      if (cqe->res <= 0) {
        if (cqe->res != -EAGAIN) close(fd);
        continue;
      }
      Out& o = outs[i];
      const int k = BuildReplies(bufs.data() + (size_t{i} << 14), cqe->res, o.iov);
      if (k == 0) continue;
      o.msg = msghdr{};
      o.msg.msg_iov = o.iov;
      o.msg.msg_iovlen = static_cast<size_t>(k);
      io_uring_sqe* s = io_uring_get_sqe(&ring);
      io_uring_prep_sendmsg(s, fd, &o.msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      io_uring_sqe_set_data64(s, 0);
      ++sends;
    }
    io_uring_cq_advance(&ring, seen);
    if (sends == 0) continue;
    io_uring_submit_and_wait(&ring, sends);
    seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) { ++seen; }
    io_uring_cq_advance(&ring, seen);
  }
}

enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3 };
uint64_t Tag(int fd, Op op) { return (static_cast<uint64_t>(fd) << 3) | op; }

// Sends in flight per connection: a pipeline that arrives in several buffers has several.
struct SendSlot {
  iovec iov[kMaxReplies];
  msghdr msg;
};
struct UringConn {
  SendSlot slots[16];
  unsigned next = 0;
};

void RunUring(int listener) {
  constexpr unsigned kBuffers = 1024;
  constexpr unsigned kBufferBytes = 16384;
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (int rc = io_uring_queue_init_params(4096, &ring, &params); rc != 0) {
    std::fprintf(stderr, "floor-server: io_uring: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  void* ring_mem = nullptr;
  if (posix_memalign(&ring_mem, 4096, kBuffers * sizeof(io_uring_buf)) != 0) std::exit(1);
  auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
  std::vector<char> bufs(size_t{kBuffers} * kBufferBytes);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = kBuffers;
  reg.bgid = 0;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc != 0) {
    std::fprintf(stderr, "floor-server: buffer ring: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  io_uring_buf_ring_init(br);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i) {
    io_uring_buf_ring_add(br, bufs.data() + size_t{i} * kBufferBytes, kBufferBytes,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br, kBuffers);

  std::vector<std::unique_ptr<UringConn>> conns;
  auto arm_recv = [&](int fd) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, Tag(fd, kRecv));
  };
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_multishot_accept(sqe, listener, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, Tag(listener, kAccept));
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const uint64_t data = cqe->user_data;
      const int fd = static_cast<int>(data >> 3);
      const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
      switch (data & 7) {
        case kAccept:
          if (cqe->res >= 0) {
            NoDelay(cqe->res);
            if (static_cast<size_t>(cqe->res) >= conns.size()) conns.resize(cqe->res + 1);
            conns[cqe->res] = std::make_unique<UringConn>();
            arm_recv(cqe->res);
          }
          break;
        case kRecv: {
          if (cqe->res <= 0) {
            if (!more) close(fd);
            break;
          }
          const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
          char* buf = bufs.data() + size_t{bid} * kBufferBytes;
          UringConn& c = *conns[fd];
          SendSlot& slot = c.slots[c.next++ % 16];
          const int k = BuildReplies(buf, cqe->res, slot.iov);
          io_uring_buf_ring_add(br, buf, kBufferBytes, static_cast<unsigned short>(bid), mask, 0);
          io_uring_buf_ring_advance(br, 1);
          if (k > 0) {
            slot.msg = msghdr{};
            slot.msg.msg_iov = slot.iov;
            slot.msg.msg_iovlen = static_cast<size_t>(k);
            io_uring_sqe* s = io_uring_get_sqe(&ring);
            io_uring_prep_sendmsg(s, fd, &slot.msg, MSG_WAITALL);
            io_uring_sqe_set_data64(s, Tag(fd, kSend));
          }
          if (!more) arm_recv(fd);
          break;
        }
        default:
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int value_bytes = 64;
  std::string mode = "epoll";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (flag == "--value-bytes") {
      value_bytes = std::atoi(argv[i + 1]);
    } else if (flag == "--mode") {
      mode = argv[i + 1];
    } else {
      std::fprintf(stderr, "floor-server: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (port <= 0 || value_bytes < 0) {
    std::fprintf(stderr,
                 "usage: floor-server --port N [--value-bytes 64] [--mode epoll|batch|uring]\n");
    return 2;
  }
  g_get_reply = "$" + std::to_string(value_bytes) + "\r\n" + std::string(value_bytes, 'x') + "\r\n";
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is closed, not fatal
  int listener = Listen(port);
  if (mode == "epoll") RunEpoll(listener);
#ifdef FLOOR_HAVE_URING
  if (mode == "uring") RunUring(listener);
  if (mode == "batch") RunBatch(listener);
#endif
  std::fprintf(stderr, "floor-server: mode %s is not available\n", mode.c_str());
  return 2;
}
