// Server and Worker: sockets, epoll loops, the client registry and the server's cron.
#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <random>
#include <type_traits>

#include "server/connection.h"
#include "server/log.h"
#include "server/origin_service.h"
#include "server/tick_clock.h"

namespace kvcache::server {
namespace {

constexpr int kMaxEvents = 256;

std::string AddrToString(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (a.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
    port = ntohs(in->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// A socket bound to addr:port, with SO_REUSEPORT if asked, or -1 with *error set.
int Bind(const std::string& addr, int port, bool reuseport, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  std::string host = addr == "*" ? "0.0.0.0" : addr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    *error = "bad bind address '" + addr + "': " + gai_strerror(rc);
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    *error = "could not listen on " + addr + ":" + std::to_string(port) + ": " + strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

// A listening socket bound to addr:port with SO_REUSEPORT, so that every worker has its own.
int Listen(const std::string& addr, int port, int backlog, std::string* error) {
  int fd = Bind(addr, port, /*reuseport=*/true, error);
  if (fd >= 0 && listen(fd, backlog) != 0) {
    *error = "could not listen on " + addr + ":" + std::to_string(port) + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

bool IsLoopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

// ---------------------------------------------------------------- Worker

Worker::Worker(Server& server, int index) : server_(server), index_(index) {
  stats_.AllocatePerCommand(server.commands().all().size());
}

Worker::~Worker() {
  conns_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (event_fd_ >= 0) close(event_fd_);
}

Status Worker::Prepare(std::vector<int> listen_fds) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || event_fd_ < 0) return Status::IOError(strerror(errno));
  listen_fds_ = std::move(listen_fds);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = event_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
  for (int fd : listen_fds_) {
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  return Status::OK();
}

void Worker::Launch() {
  thread_ = std::thread([this] { Run(); });
}

void Worker::Wake() {
  uint64_t one = 1;
  ssize_t unused = write(event_fd_, &one, sizeof(one));
  (void)unused;
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Run() {
  epoll_event events[kMaxEvents];
  server_.world().lock_shared();  // the other worker may already run a client's CONFIG SET
  const int cron_ms = std::max<int>(1, 1000 / static_cast<int>(server_.config().hz));
  server_.world().unlock_shared();
  int64_t next_cron = 0;
  int64_t now = server_.cache().NowMs();
  while (!server_.shutting_down()) {
    // Worker 0 evicts toward a lowered maxmemory a slice per round, polling for events between.
    const bool reclaim = index_ == 0 && server_.reclaim_eager();
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, reclaim ? 0 : PollTimeoutMs(cron_ms, now));
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == event_fd_) {
        uint64_t v;
        ssize_t unused = read(event_fd_, &v, sizeof(v));
        (void)unused;
        continue;
      }
      if (std::find(listen_fds_.begin(), listen_fds_.end(), fd) != listen_fds_.end()) {
        // Accepting reads settings (maxclients, protected mode, requirepass) that CONFIG SET
        // changes with the world lock held exclusively.
        server_.world().lock_shared();
        Accept(fd);
        server_.world().unlock_shared();
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Connection* c = it->second.get();
      bool ok = true;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) ok = false;
      if ((events[i].events & EPOLLRDHUP) && c->parked()) ok = false;  // hung up while waiting
      if (ok && (events[i].events & EPOLLOUT)) ok = c->OnWritable();
      if (ok && (events[i].events & EPOLLIN) && !c->output_blocked() && !c->blocked) {
        ok = c->OnReadable();
      }
      if (!ok || c->kill_requested.load(std::memory_order_relaxed)) {
        Close(c);
      } else {
        UpdateInterest(c);
      }
    }
    RunCompletions();
    if (reclaim) server_.ReclaimStep();
    now = server_.cache().NowMs();
    if (!wait_deadlines_.empty() || !postponed_.empty()) RunTimers(now);
    if (now >= next_cron) {
      next_cron = now + cron_ms;
      Cron();
    }
  }
}

void Worker::Post(uint64_t conn_id, Completion done) {
  {
    std::lock_guard<std::mutex> l(mailbox_mu_);
    mailbox_.emplace_back(conn_id, std::move(done));
  }
  Wake();
}

void Worker::PostPush(uint64_t conn_id, Completion done) {
  {
    std::lock_guard<std::mutex> l(mailbox_mu_);
    pushes_.emplace_back(conn_id, std::move(done));
  }
  Wake();
}

void Worker::RunCompletions() {
  std::vector<std::pair<uint64_t, Completion>> ready;
  std::vector<std::pair<uint64_t, Completion>> pushes;
  {
    std::lock_guard<std::mutex> l(mailbox_mu_);
    ready.swap(mailbox_);
    pushes.swap(pushes_);
  }
  for (auto& [id, push] : pushes) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    Connection* c = it->second;
    push(*c);
    if (c->kill_requested.load(std::memory_order_relaxed) || !c->OnWritable()) {
      Close(c);
    } else {
      UpdateInterest(c);
    }
  }
  for (auto& [id, done] : ready) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;  // the client left while its command ran
    Finish(it->second, done);
  }
}

void Worker::Finish(Connection* c, const Completion& done) {
  c->blocked = false;  // the completion may defer again (read-through, then write-through)
  done(*c);
  DrainPushes(*c);  // what pub/sub left while the command ran, if it has completed
  if (!c->Resume() || c->kill_requested.load(std::memory_order_relaxed)) {
    Close(c);
  } else {
    UpdateInterest(c);
  }
}

void Worker::AddWaitDeadline(int64_t deadline_ms, uint64_t conn_id, uint64_t token) {
  wait_deadlines_.emplace(deadline_ms, std::make_pair(conn_id, token));
}

int Worker::PollTimeoutMs(int cron_ms, int64_t now) const {
  int64_t until = now + cron_ms;
  if (!wait_deadlines_.empty()) until = std::min(until, wait_deadlines_.begin()->first);
  if (!postponed_.empty()) {
    const int64_t end = server_.pause_end_ms();
    until = std::min(until, end == 0 ? now : end);
  }
  return static_cast<int>(std::clamp<int64_t>(until - now, 0, cron_ms));
}

void Worker::RunTimers(int64_t now) {
  // WAIT: no replica acknowledges anything, so a wait that reaches its deadline answers 0.
  while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
    const auto [id, token] = wait_deadlines_.begin()->second;
    wait_deadlines_.erase(wait_deadlines_.begin());
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    Connection* c = it->second;
    if (c->wait_token.load(std::memory_order_relaxed) != token || !server_.EndWait(*c)) continue;
    Finish(c, [](Connection& conn) { conn.reply().Integer(0); });
  }
  // CLIENT PAUSE: once it is over, each held-back command runs (in the order they came); one
  // that a new pause holds again waits for that one.
  const int64_t end = server_.pause_end_ms();
  if (postponed_.empty() || (end != 0 && now < end)) return;
  std::vector<uint64_t> ids;
  ids.swap(postponed_);
  for (uint64_t id : ids) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    Finish(it->second, [this](Connection& conn) {
      std::vector<std::string> command = std::move(conn.postponed);
      conn.postponed.clear();
      std::vector<std::string_view> args(command.begin(), command.end());
      server_.world().lock_shared();
      server_.Execute(conn, args);
      server_.world().unlock_shared();
    });
  }
}

void Worker::Accept(int listen_fd) {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    WorkerStats::Add(stats_.connections, 1);
    std::string peer = AddrToString(addr);
    std::string peer_ip = peer.substr(0, peer.rfind(':'));
    if (server_.client_count() >= static_cast<size_t>(server_.config().maxclients)) {
      static const char kMsg[] = "-ERR max number of clients reached\r\n";
      ssize_t unused = write(fd, kMsg, sizeof(kMsg) - 1);
      (void)unused;
      close(fd);
      WorkerStats::Add(stats_.rejected_connections, 1);
      continue;
    }
    if (server_.ProtectedModeRefuses(peer_ip)) {
      static const char kMsg[] =
          "-DENIED Redis is running in protected mode because protected mode is enabled and no "
          "password is set for the default user. In this mode connections are only accepted "
          "from the loopback interface. If you want to connect from external computers to "
          "Redis you may adopt one of the following solutions: 1) Just disable protected mode "
          "sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
          "connecting to Redis from the same host the server is running, however MAKE SURE "
          "Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to "
          "make this change permanent. 2) Alternatively you can just disable the protected mode "
          "by editing the Redis configuration file, and setting the protected mode option to "
          "'no', and then restarting the server. 3) If you started the server manually just for "
          "testing, restart it with the '--protected-mode no' option. 4) Set up an "
          "authentication password for the default user. NOTE: You only need to do one of the "
          "above things in order for the server to start accepting connections from the "
          "outside.\r\n";
      ssize_t unused = write(fd, kMsg, sizeof(kMsg) - 1);
      (void)unused;
      close(fd);
      WorkerStats::Add(stats_.rejected_connections, 1);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (server_.config().tcp_keepalive > 0) {
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    }
    sockaddr_storage local{};
    socklen_t llen = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    auto conn = std::make_unique<Connection>(server_, this, fd, server_.NextClientId(), peer,
                                             AddrToString(local));
    server_.RegisterClient(conn.get(), this);
    by_id_[conn->id()] = conn.get();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    interest_[fd] = EPOLLIN;
    conns_[fd] = std::move(conn);
    WorkerStats::Add(stats_.clients, 1);
  }
}

void Worker::UpdateInterest(Connection* c) {
  c->Publish();
  uint32_t want = (c->output_blocked() || c->blocked ? 0u : uint32_t{EPOLLIN}) |
                  (c->wants_write() ? uint32_t{EPOLLOUT} : 0u) |
                  (c->parked() ? uint32_t{EPOLLRDHUP} : 0u);
  uint32_t& have = interest_[c->fd()];
  if (want == have) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = c->fd();
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd(), &ev);
  have = want;
}

void Worker::Close(Connection* c) {
  const int fd = c->fd();
  server_.EndWait(*c);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  server_.UnregisterClient(c);
  by_id_.erase(c->id());
  interest_.erase(fd);
  conns_.erase(fd);  // closes the socket
  WorkerStats::Add(stats_.clients, static_cast<uint64_t>(-1));
}

void Worker::Cron() {
  // Kill requests and idle timeouts.
  const int64_t now = server_.cache().NowMs();
  server_.world().lock_shared();  // CONFIG SET writes the settings under it, exclusively
  const int64_t timeout_ms = server_.config().timeout * 1000;
  server_.world().unlock_shared();
  std::vector<Connection*> doomed;
  for (auto& [fd, c] : conns_) {
    // As Redis, a client blocked in a command is not idle.
    if (c->kill_requested.load(std::memory_order_relaxed) ||
        (timeout_ms > 0 && !c->blocked && now - c->last_active_ms > timeout_ms)) {
      doomed.push_back(c.get());
    }
  }
  for (Connection* c : doomed) Close(c);
  // Expired items: worker 0 sweeps a bounded slice each tick, so idle expired bytes go.
  if (index_ == 0) {
    server_.cache().EvictExpired(4096);
    if (server_.reclaiming() && !server_.reclaim_eager()) server_.ReclaimStep();
    SampleMetrics(server_, now);
  }
}

void WorkerStats::AllocatePerCommand(size_t commands) {
  static_assert(std::is_trivially_destructible_v<PerCommand>);
  per_command_bytes = std::max<size_t>(1, commands) * sizeof(PerCommand);
  void* p =
      mmap(nullptr, per_command_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  per_command = static_cast<PerCommand*>(p);
}

WorkerStats::~WorkerStats() {
  if (per_command != nullptr) munmap(per_command, per_command_bytes);
}

// ---------------------------------------------------------------- Server

Server::Server(const ServerConfig& config) : config_(config) {
  RegisterAllCommands(&commands_);
  for (size_t db = 0; db < db_map_.size(); ++db) db_map_[db].store(static_cast<uint8_t>(db));
}

Server::~Server() {
  for (auto& w : workers_) w->Join();
  workers_.clear();
  for (int fd : listen_fds_) close(fd);
  if (shutdown_pipe_[0] >= 0) close(shutdown_pipe_[0]);
  if (shutdown_pipe_[1] >= 0) close(shutdown_pipe_[1]);
}

uint64_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : uint64_t{1} << 30;
}

Status Server::Init(std::function<int64_t()> clock) {
  local_stats_.AllocatePerCommand(commands_.all().size());
  Options o;
  if (!ResolvePolicy(config_.maxmemory_policy, &o.policy, &o.evict)) {
    return Status::InvalidArgument("unknown maxmemory-policy '" + config_.maxmemory_policy + "'");
  }
  // maxmemory 0, Redis's "no limit": planned (shards, stripes) as a large cache, then given the
  // whole budget NoLimitBudget() finds once the cache says how much it can address.
  o.capacity_bytes = config_.maxmemory != 0
                         ? static_cast<size_t>(config_.maxmemory)
                         : static_cast<size_t>(std::min(PhysicalMemory(), uint64_t{16} << 30));
  o.shards = static_cast<uint32_t>(config_.shards);
  o.key_spaces = static_cast<uint32_t>(config_.databases);
  o.max_key_bytes = 65535;
  o.clock = std::move(clock);
  // Write-back and WATCH learn what clients changed from the cache itself (set up before any
  // command). Values the origin service stored (read-through loads) change nothing a client
  // wrote, so they touch no watched key, as they are not written back.
  o.on_change = [this](std::string_view key, const ItemView* now) {
    if (watches_.active() && !OriginService::InOwnWrite()) watches_.Touch(key);
    if (origin_ != nullptr) origin_->OnCacheChange(key, now);
  };
  Status st;
  cache_ = NewCache(o, &st);
  if (!cache_) return st;
  if (config_.maxmemory == 0 && NoLimitBudget() > o.capacity_bytes) {
    st = cache_->SetCapacity(NoLimitBudget());
    if (!st.ok()) return st;
  }
  engine_policy_ = cache_->policy_name();
  evict_ = o.evict;
  start_ms_ = cache_->NowMs();
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  run_id_.clear();
  for (int i = 0; i < 40; ++i) run_id_.push_back(kHex[rd() % 16]);
  ApplyConfig();
  return InitOrigin();
}

Status Server::InitOrigin() {
  std::vector<std::string> specs = SplitSpaces(config_.origin);
  OriginSettings os;
  if (!ParseWritePolicy(config_.write_policy, &os.write_policy)) {
    return Status::InvalidArgument("unknown write-policy '" + config_.write_policy + "'");
  }
  if (specs.empty()) {
    if (os.write_policy != WritePolicy::kNone) {
      return Status::InvalidArgument("write-policy " + config_.write_policy + " needs an --origin");
    }
  }
  os.timeout_ms = static_cast<int>(config_.origin_timeout_ms);
  os.negative_ttl_ms = config_.origin_negative_ttl_ms;
  os.threads = static_cast<int>(config_.origin_threads);
  os.write_back_delay_ms = config_.write_back_delay_ms;
  os.write_back_max_dirty = config_.write_back_max_dirty;
  os.write_through_max_batch = config_.write_through_max_batch;
  std::vector<std::unique_ptr<Origin>> origins;
  for (const std::string& spec : specs) {
    std::unique_ptr<Origin> o;
    Status st = OpenOrigin(spec, os.timeout_ms, &o);
    if (!st.ok()) return Status::InvalidArgument("origin " + spec + ": " + st.message());
    origins.push_back(std::move(o));
  }
  if (!origins.empty()) {
    std::unique_ptr<Origin> origin =
        origins.size() == 1 ? std::move(origins[0]) : CombineOrigins(std::move(origins));
    if (os.write_policy != WritePolicy::kNone && origin->read_only()) {
      return Status::InvalidArgument("write-policy " + config_.write_policy + " needs a " +
                                     "writable origin; " + origin->name() + " is read-only");
    }
    Log(LogLevel::kInfo, "origin {} (write-policy {})", origin->name(), config_.write_policy);
    origin_ = std::make_unique<OriginService>(cache_.get(), std::move(origin), os);
  }
  for (const std::string& spec : SplitSpaces(config_.preload)) {
    if (origin_ == nullptr) {
      return Status::InvalidArgument(
          "--preload needs an --origin (the file itself will do: "
          "--origin " +
          spec + ")");
    }
    // One preload at a time: the first starts now, the rest are refused.
    Status st = origin_->StartPreload(spec);
    if (!st.ok()) return Status::InvalidArgument("preload " + spec + ": " + st.message());
  }
  return Status::OK();
}

void Server::ApplyConfig() {
  parser_limits_.max_bulk_len = static_cast<size_t>(config_.proto_max_bulk_len);
  const int64_t slow_us = config_.slowlog_log_slower_than;
  slowlog_ticks_.store(slow_us < 0
                           ? UINT64_MAX
                           : static_cast<uint64_t>(static_cast<double>(slow_us) / MicrosPerTick()),
                       std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> l(slowlog_mu_);
    while (slowlog_.size() > static_cast<uint64_t>(config_.slowlog_max_len)) slowlog_.pop_back();
  }
  latency_tracking_.store(config_.latency_tracking, std::memory_order_relaxed);
  const OutputBufferLimit& pubsub = config_.obuf_limits[kObufPubSub];
  pubsub_hard_.store(pubsub.hard, std::memory_order_relaxed);
  pubsub_soft_.store(pubsub.soft, std::memory_order_relaxed);
  pubsub_soft_seconds_.store(pubsub.seconds, std::memory_order_relaxed);
  const int64_t latency_ms = config_.latency_monitor_threshold;
  latency_ticks_.store(latency_ms <= 0 ? UINT64_MAX
                                       : static_cast<uint64_t>(static_cast<double>(latency_ms) *
                                                               1000 / MicrosPerTick()),
                       std::memory_order_relaxed);
  LogLevel level;
  if (ParseLogLevel(config_.loglevel, &level)) SetupLogging(level, "");
}

void Server::MaybeLogSlow(Connection& conn, const CommandSpec& spec,
                          std::span<const std::string_view> args, std::span<const size_t> sizes,
                          uint64_t ticks) {
  // Commands that carry passwords are not logged (Redis's CMD_SKIP_SLOWLOG), and a password set
  // through CONFIG SET is redacted, as Redis does.
  if (std::string_view(spec.name) == "auth" || std::string_view(spec.name) == "hello" ||
      config_.slowlog_max_len == 0) {
    return;
  }
  constexpr size_t kMaxArgs = 32, kMaxArgBytes = kLoggedArgBytes;
  SlowlogEntry e;
  e.micros = static_cast<uint64_t>(static_cast<double>(ticks) * MicrosPerTick());
  e.unix_seconds = cache_->NowMs() / 1000;
  const size_t n = std::min(args.size(), kMaxArgs);
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 == kMaxArgs && args.size() > kMaxArgs) {
      e.args.push_back("... (" + std::to_string(args.size() - kMaxArgs + 1) + " more arguments)");
      break;
    }
    std::string_view a = args[i];
    if (i >= 3 && std::string_view(spec.name) == "config" &&
        EqualsIgnoreCase(args[i - 1], "requirepass")) {
      e.args.emplace_back("(redacted)");
    } else if (const size_t size = sizes.empty() ? a.size() : sizes[i]; size > kMaxArgBytes) {
      e.args.push_back(std::string(a.substr(0, kMaxArgBytes)) + "... (" +
                       std::to_string(size - kMaxArgBytes) + " more bytes)");
    } else {
      e.args.emplace_back(a);
    }
  }
  e.peer = conn.peer;
  e.client_name = conn.name;
  std::lock_guard<std::mutex> l(slowlog_mu_);
  e.id = slowlog_next_id_++;
  slowlog_.push_front(std::move(e));
  while (slowlog_.size() > static_cast<uint64_t>(config_.slowlog_max_len)) slowlog_.pop_back();
}

void Server::AddMonitor(Connection& conn) {
  std::lock_guard<std::mutex> l(monitors_mu_);
  conn.monitor = true;
  // Its lines are pushes, not the end of a deferred command of its own.
  monitors_.push_back({conn.id(), Pusher(conn), std::make_shared<MonitorOutbox>()});
  monitor_count_.store(monitors_.size(), std::memory_order_relaxed);
}

void Server::RemoveMonitor(Connection& conn) {
  std::lock_guard<std::mutex> l(monitors_mu_);
  conn.monitor = false;
  std::erase_if(monitors_, [&](const Monitor& m) { return m.id == conn.id(); });
  monitor_count_.store(monitors_.size(), std::memory_order_relaxed);
}

namespace {

// Redis's sdscatrepr: quoted, with \\ \" \n \r \t \a \b escaped and other unprintable bytes as
// \xHH.
void AppendRepr(std::string* out, std::string_view s) {
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\a':
        out->append("\\a");
        break;
      case '\b':
        out->append("\\b");
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out->push_back(ch);
        } else {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02x", c);
          out->append(hex);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

void Server::FeedMonitors(Connection& conn, std::span<const std::string_view> args,
                          std::span<const size_t> sizes) {
  // Redis's replicationFeedMonitors: "<seconds>.<micros> [<db> <ip:port>] "arg" ...", with the
  // passwords AUTH and HELLO carry redacted.
  timeval tv{};
  gettimeofday(&tv, nullptr);
  char head[96];
  std::snprintf(head, sizeof(head), "+%ld.%06ld [%d ", static_cast<long>(tv.tv_sec),
                static_cast<long>(tv.tv_usec), static_cast<int>(conn.db));
  std::string line(head);
  line.append(conn.peer);
  line.append("]");
  const bool auth = EqualsIgnoreCase(args[0], "auth");
  const bool hello = EqualsIgnoreCase(args[0], "hello");
  for (size_t i = 0; i < args.size(); ++i) {
    line.push_back(' ');
    const bool secret =
        (auth && i > 0) ||
        (hello && i >= 3 &&
         (EqualsIgnoreCase(args[i - 1], "auth") || EqualsIgnoreCase(args[i - 2], "auth")));
    if (!secret && !sizes.empty() && sizes[i] > args[i].size()) {
      // An argument received into memory of its own: its first bytes only, as SLOWLOG shows it
      // (Redis would send it whole, a line of up to 512 MB).
      AppendRepr(&line, std::string(args[i]) + "... (" + std::to_string(sizes[i] - args[i].size()) +
                            " more bytes)");
      continue;
    }
    AppendRepr(&line, secret ? std::string_view("(redacted)") : args[i]);
  }
  line.append("\r\n");  // a status reply; the quoting left no line break in it
  std::lock_guard<std::mutex> l(monitors_mu_);
  for (const Monitor& m : monitors_) {
    bool first;
    {
      std::lock_guard<std::mutex> lb(m.box->mu);
      first = m.box->pending.empty();
      m.box->pending.append(line);
    }
    if (!first) continue;  // a completion is on its way and will take this line too
    m.post([box = m.box](Connection& c) {
      std::string lines;
      {
        std::lock_guard<std::mutex> lb(box->mu);
        lines.swap(box->pending);
      }
      if (c.monitor) c.reply().AppendRaw(lines);
    });
  }
}

void Server::AddLatencySample(const char* event, uint64_t ticks) {
  // Redis's latencyAddSample: one sample per second, the worst of that second.
  const auto ms = static_cast<uint64_t>(static_cast<double>(ticks) * MicrosPerTick() / 1000);
  const int64_t now = cache_->NowMs() / 1000;
  std::lock_guard<std::mutex> l(latency_mu_);
  auto it = latency_.find(event);
  if (it == latency_.end()) it = latency_.emplace(event, LatencyEvent()).first;
  LatencyEvent& e = it->second;
  e.max = std::max(e.max, ms);
  LatencySample& prev = e.samples[(e.next + LatencyEvent::kSamples - 1) % LatencyEvent::kSamples];
  if (prev.unix_seconds == now) {
    prev.ms = std::max(prev.ms, ms);
    return;
  }
  e.samples[e.next] = {now, ms};
  e.next = (e.next + 1) % LatencyEvent::kSamples;
}

std::map<std::string, LatencyEvent> Server::LatencyEvents() {
  std::lock_guard<std::mutex> l(latency_mu_);
  return std::map<std::string, LatencyEvent>(latency_.begin(), latency_.end());
}

size_t Server::LatencyReset(std::span<const std::string_view> events) {
  std::lock_guard<std::mutex> l(latency_mu_);
  if (events.empty()) {
    const size_t n = latency_.size();
    latency_.clear();
    return n;
  }
  size_t n = 0;
  for (std::string_view e : events) {
    auto it = latency_.find(e);
    if (it == latency_.end()) continue;
    latency_.erase(it);
    ++n;
  }
  return n;
}

std::vector<SlowlogEntry> Server::SlowlogGet(size_t count) {
  std::lock_guard<std::mutex> l(slowlog_mu_);
  const size_t n = std::min(count, slowlog_.size());
  return std::vector<SlowlogEntry>(slowlog_.begin(), slowlog_.begin() + static_cast<ptrdiff_t>(n));
}

size_t Server::SlowlogLen() {
  std::lock_guard<std::mutex> l(slowlog_mu_);
  return slowlog_.size();
}

void Server::SlowlogReset() {
  std::lock_guard<std::mutex> l(slowlog_mu_);
  slowlog_.clear();
}

uint64_t Server::NoLimitBudget() const {
  return std::min(PhysicalMemory(), cache_->max_capacity());
}

Status Server::SetMaxMemory(int64_t bytes) {
  const uint64_t used = cache_->Stats().bytes;
  const uint64_t budget = bytes == 0 ? NoLimitBudget() : static_cast<uint64_t>(bytes);
  Status st = cache_->SetCapacity(budget);
  if (!st.ok()) return st;
  config_.maxmemory = bytes;
  if (used > budget) {
    // Redis's warning, word for word where it applies.
    Log(LogLevel::kWarning,
        "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current "
        "memory usage ({}). This will result in key eviction and/or the inability to accept new "
        "write commands depending on the maxmemory-policy.",
        bytes, used);
  }
  if (evict_) {
    StartReclaim();
  } else {
    cache_->Reclaim(0);  // gives back only what the shards hold unused
  }
  return Status::OK();
}

Status Server::CheckMaxMemoryPolicy(const std::string& name, bool* evict) const {
  std::string policy;
  if (!ResolvePolicy(name, &policy, evict)) {
    return Status::InvalidArgument("unknown maxmemory-policy '" + name + "'");
  }
  if (policy == "default") policy = DefaultPolicyName();
  if (*evict && policy != engine_policy_) {
    return Status::InvalidArgument("the eviction policy is chosen at start (this server's is " +
                                   engine_policy_ + "); start it with --maxmemory-policy " + name +
                                   " for that one");
  }
  return Status::OK();
}

Status Server::SetMaxMemoryPolicy(const std::string& name) {
  bool evict;
  Status st = CheckMaxMemoryPolicy(name, &evict);
  if (!st.ok() || evict == evict_) return st;
  evict_ = evict;
  cache_->SetEvict(evict);
  // Back to evicting: what a lowered maxmemory left above the budget goes now (if nothing did,
  // the first step finds so).
  if (evict_) StartReclaim();
  return Status::OK();
}

void Server::StartReclaim() {
  reclaim_left_ = UINT64_MAX;
  reclaiming_.store(true, std::memory_order_relaxed);
  reclaim_eager_.store(true, std::memory_order_relaxed);
  if (!workers_.empty()) workers_[0]->Wake();
}

bool Server::ReclaimStep() {
  // About a millisecond of evictions (each ~100-250 ns with its index and policy work).
  constexpr size_t kReclaimItems = 4096;
  world_.lock_shared();  // also orders these updates against StartReclaim's (exclusive)
  const uint64_t left = evict_ ? cache_->Reclaim(kReclaimItems) : 0;  // noeviction: nothing to do
  // No progress: what is left is pinned (a reply still being sent from an evicted item) or
  // otherwise out of reach. Retried once per cron tick instead of in a busy loop.
  const bool progress = left < reclaim_left_;
  reclaim_left_ = left;
  if (left == 0) reclaiming_.store(false, std::memory_order_relaxed);
  reclaim_eager_.store(left != 0 && progress, std::memory_order_relaxed);
  world_.unlock_shared();
  return left != 0 && progress;
}

Status Server::Start() {
  int threads = static_cast<int>(config_.threads);
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  port_ = static_cast<int>(config_.port);
  std::vector<std::string> addrs;
  for (std::string addr : SplitSpaces(config_.bind)) {
    if (addr.empty() || addr[0] != '-') {
      addrs.push_back(addr);
      continue;
    }
    // Redis's "-addr" (Debian's redis.conf binds "127.0.0.1 -::1"): optional, left out when it
    // cannot be bound, such as ::1 on a machine without IPv6.
    addr.erase(0, 1);
    std::string error;
    const int probe = Bind(addr, port_, /*reuseport=*/false, &error);
    if (probe < 0) {
      Log(LogLevel::kWarning, "Could not create server TCP listening socket {}:{}: {}", addr, port_,
          error);
      continue;
    }
    close(probe);
    addrs.push_back(addr);
  }
  // What the ready line reports, read before the workers start: from then on a client's CONFIG
  // SET may change the settings.
  const std::string maxmemory =
      config_.maxmemory != 0
          ? std::to_string(config_.maxmemory)
          : "0 (no limit: a budget of " + std::to_string(cache_->Stats().capacity) + " bytes)";
  const bool evict = evict_;
  if (addrs.empty()) addrs.push_back("127.0.0.1");
  for (int i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i));
  }
  // Every worker listens on every address with its own socket (SO_REUSEPORT). Another process
  // of the same user could join that group just as well, and silently take half of the
  // connections to a cache of its own: so first make sure no one holds the port, with a socket
  // that does not share it (a second kvcache-server then fails as a second Redis would).
  if (port_ != 0) {
    for (const std::string& addr : addrs) {
      std::string error;
      int probe = Bind(addr, port_, /*reuseport=*/false, &error);
      if (probe < 0) return Status::IOError(error);
      close(probe);
    }
  }
  for (int i = 0; i < threads; ++i) {
    std::vector<int> fds;
    for (const std::string& addr : addrs) {
      std::string error;
      int fd = Listen(addr, port_, static_cast<int>(config_.tcp_backlog), &error);
      if (fd < 0) return Status::IOError(error);
      if (port_ == 0) {  // an ephemeral port: every later socket takes the same one
        sockaddr_storage a{};
        socklen_t len = sizeof(a);
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        std::string s = AddrToString(a);
        port_ = std::stoi(s.substr(s.rfind(':') + 1));
      }
      listen_fds_.push_back(fd);
      fds.push_back(fd);
    }
    Status st = workers_[i]->Prepare(std::move(fds));
    if (!st.ok()) return st;
  }
  if (pipe2(shutdown_pipe_, O_CLOEXEC) != 0) return Status::IOError(strerror(errno));
  Log(LogLevel::kInfo,
      "kvcache-server ready to accept connections on {}:{} (workers={}, maxmemory={}, "
      "maxmemory-policy={}{})",
      addrs[0], port_, threads, maxmemory, engine_policy_, evict ? "" : ", noeviction");
  // Only now may a client run a command, which may change config_ (CONFIG SET) or wake every
  // worker (SHUTDOWN): the threads start once everything above is set up.
  for (auto& w : workers_) w->Launch();
  return Status::OK();
}

void Server::RequestShutdown() {
  shutdown_.store(true, std::memory_order_relaxed);
  for (auto& w : workers_) w->Wake();
  if (shutdown_pipe_[1] >= 0) {
    char c = 1;
    ssize_t unused = write(shutdown_pipe_[1], &c, 1);
    (void)unused;
  }
}

void Server::Wait() {
  char c;
  while (!shutting_down()) {
    ssize_t r = read(shutdown_pipe_[0], &c, 1);
    if (r < 0 && errno != EINTR) break;
  }
  for (auto& w : workers_) w->Join();
  if (origin_ != nullptr) {
    Log(LogLevel::kInfo, "writing what the origin still needs...");
    origin_.reset();  // finishes queued writes and flushes the write-back set
  }
  Log(LogLevel::kInfo, "kvcache-server is now ready to exit, bye bye...");
}

void Server::Defer(Connection& conn, std::function<Completion()> work) {
  DeferAsync(conn,
             [work = std::move(work)](std::function<void(Completion)> post) { post(work()); });
}

void Server::DeferAsync(Connection& conn,
                        std::function<void(std::function<void(Completion)> post)> start) {
  if (conn.in_exec || origin_ == nullptr) {
    // Inside EXEC (or with no background threads): wait here for the completion.
    std::promise<Completion> p;
    std::future<Completion> f = p.get_future();
    start([&p](Completion done) { p.set_value(std::move(done)); });
    f.get()(conn);
    return;
  }
  conn.blocked = true;
  origin_->Submit([start = std::move(start), post = Poster(conn)] { start(post); });
}

void Server::Pause(int64_t end_ms, bool all) {
  std::lock_guard<std::mutex> l(pause_mu_);
  const int64_t cur = pause_end_ms_.load(std::memory_order_relaxed);
  if (cur == 0 || cache_->NowMs() >= cur) {  // no pause yet, or it is over: a new one
    pause_all_.store(all, std::memory_order_relaxed);
    pause_end_ms_.store(end_ms, std::memory_order_release);
    return;
  }
  if (all) pause_all_.store(true, std::memory_order_relaxed);
  if (end_ms > cur) pause_end_ms_.store(end_ms, std::memory_order_release);
}

void Server::Unpause() {
  {
    std::lock_guard<std::mutex> l(pause_mu_);
    pause_end_ms_.store(0, std::memory_order_release);
    pause_all_.store(false, std::memory_order_relaxed);
  }
  for (auto& w : workers_) w->Wake();  // their held-back commands run now
}

void Server::WaitForReplicas(Connection& conn, int64_t deadline_ms) {
  const uint64_t token = next_wait_token_.fetch_add(1, std::memory_order_relaxed);
  conn.blocked = true;
  conn.wait_token.store(token, std::memory_order_relaxed);
  waiting_.fetch_add(1, std::memory_order_relaxed);
  if (deadline_ms != 0) conn.worker()->AddWaitDeadline(deadline_ms, conn.id(), token);
}

bool Server::EndWait(Connection& conn) {
  uint64_t token = conn.wait_token.load(std::memory_order_relaxed);
  if (token == 0 || !conn.wait_token.compare_exchange_strong(token, 0)) return false;
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::function<void(Completion)> Server::Poster(Connection& conn) { return Sender(conn, false); }

std::function<void(Completion)> Server::Pusher(Connection& conn) { return Sender(conn, true); }

std::function<void(Completion)> Server::Sender(Connection& conn, bool push) {
  Worker* w = conn.worker();
  const uint64_t id = conn.id();
  Connection* local = &conn;
  return [this, w, id, local, push](Completion done) {
    if (w != nullptr) {
      if (push) {
        w->PostPush(id, std::move(done));
      } else {
        w->Post(id, std::move(done));
      }
      return;
    }
    std::lock_guard<std::mutex> l(local_mu_);
    (push ? local_pushes_ : local_mailbox_).emplace_back(local, std::move(done));
    local_cv_.notify_all();
  };
}

void Server::RunInSteps(Connection& conn, std::string_view command,
                        std::function<bool(Connection&)> step) {
  if (step(conn)) return;  // the first step runs in the command's own call, timed with it
  if (conn.in_exec) {
    while (!step(conn)) {
    }
    return;
  }
  const CommandSpec* spec = commands_.Find(command);
  conn.blocked = true;
  PostStep(conn, spec, std::make_shared<std::function<bool(Connection&)>>(std::move(step)));
}

void Server::PostStep(Connection& conn, const CommandSpec* spec, Step step) {
  // A completion runs once the worker has served the events that were ready (Worker::Run):
  // the other clients get their turn between two steps.
  Poster(conn)([this, spec, step = std::move(step)](Connection& c) {
    const uint64_t start = TicksNow();
    const bool exclusive = spec != nullptr && (spec->flags & cmd::kExclusive);
    exclusive ? world_.lock() : world_.lock_shared();
    const bool done = (*step)(c);
    exclusive ? world_.unlock() : world_.unlock_shared();
    WorkerStats::Add(stats_for(c.worker()).per_command[spec != nullptr ? spec->id : 0].ticks,
                     TicksNow() - start);
    if (!done) {
      c.blocked = true;
      PostStep(c, spec, step);
    }
  });
}

size_t Server::RunLocalCompletions(int timeout_ms) {
  std::vector<std::pair<Connection*, Completion>> ready;
  std::vector<std::pair<Connection*, Completion>> pushes;
  {
    std::unique_lock<std::mutex> l(local_mu_);
    local_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                       [&] { return !local_mailbox_.empty() || !local_pushes_.empty(); });
    ready.swap(local_mailbox_);
    pushes.swap(local_pushes_);
  }
  for (auto& [conn, push] : pushes) push(*conn);
  for (auto& [conn, done] : ready) {
    conn->blocked = false;
    done(*conn);
    DrainPushes(*conn);
  }
  return ready.size() + pushes.size();
}

void Server::RegisterClient(Connection* c, Worker* w) {
  std::lock_guard<std::mutex> l(clients_mu_);
  clients_[c->id()] = ClientInfo{c, w};
}

void Server::UnregisterClient(Connection* c) {
  std::lock_guard<std::mutex> l(clients_mu_);
  clients_.erase(c->id());
}

bool Server::ProtectedModeRefuses(const std::string& peer_ip) const {
  if (!config_.protected_mode || !config_.requirepass.empty()) return false;
  // Protected mode matters only when the server listens beyond the loopback interface.
  bool only_loopback = true;
  for (const std::string& a : SplitSpaces(config_.bind)) {
    if (!IsLoopback(a[0] == '-' ? a.substr(1) : a)) only_loopback = false;
  }
  return !only_loopback && !IsLoopback(peer_ip);
}

}  // namespace kvcache::server
