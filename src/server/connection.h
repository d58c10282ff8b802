// Connection: one client socket, owned by one worker. Reads requests into a buffer, parses and
// executes every complete one (a pipeline is answered with one writev), and writes replies,
// large values straight from the engine's pinned memory. A large argument is received into
// memory of its own, for SET's value the engine's memory for the new item (see LargeArg).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvcache/cache.h"
#include "protocol/reply_builder.h"
#include "protocol/request_parser.h"
#include "server/pubsub.h"
#include "server/watch_table.h"

namespace kvcache::server {

class Server;
class Worker;

class Connection {
 public:
  Connection(Server& server, Worker* worker, int fd, uint64_t id, std::string peer,
             std::string local);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads what the socket has, runs the complete requests, writes the replies. Returns false
  // when the connection is to be closed.
  bool OnReadable();
  // Writes pending replies. Returns false when the connection is to be closed.
  bool OnWritable();
  // Runs requests already buffered (a client paused for output backpressure, or a server-side
  // caller in tests). Returns false when the connection is to be closed.
  bool ProcessInput();
  bool wants_write() const { return reply_.WritableBytes() != 0; }
  // After a deferred command's completion has written its reply: runs what is buffered and
  // writes. Returns false when the connection is to be closed.
  bool Resume();
  // Whether reading is paused until the output drains.
  bool output_blocked() const;

  // For tests and the in-process runner: feeds bytes as if read from the socket.
  void FeedForTest(std::string_view bytes);
  // Requests run as the prefetch's lookahead parsed them (whose keys it prefetched), for tests.
  uint64_t run_from_lookahead() const { return run_from_lookahead_; }

  int fd() const { return fd_; }
  uint64_t id() const { return id_; }
  Worker* worker() const { return worker_; }
  Server& server() const { return server_; }
  // Where the running command's reply goes: the client, or nowhere while CLIENT REPLY has
  // turned replies off or skips this command.
  protocol::ReplyBuilder& reply() { return *reply_to_; }
  // What is sent to the client.
  protocol::ReplyBuilder& output() { return reply_; }
  void set_resp_version(int version);

  // CLIENT REPLY ON | OFF | SKIP. OFF and SKIP take effect with their own reply (none is sent);
  // SKIP drops the next command's reply as well.
  enum class ReplyMode : uint8_t { kOn, kOff, kSkip };
  void SetReplyMode(ReplyMode mode);

  // ---- State that commands read and change (owned by the worker thread).
  uint8_t db = 0;
  bool authenticated = false;
  std::string name;
  std::string lib_name;
  std::string lib_ver;
  bool in_multi = false;
  bool multi_failed = false;  // a command could not be queued: EXEC aborts
  std::vector<std::vector<std::string>> queued;
  WatchState watch;  // WATCH's keys, registered in the server's WatchTable
  bool close_after_reply = false;
  // A command's reply is being produced on a background thread (Server::Defer): no further
  // command runs until its completion has.
  bool blocked = false;
  bool in_exec = false;
  bool monitor = false;      // MONITOR: sent every command the server runs
  bool keys_loaded = false;  // read-through has loaded this command's keys: misses are final
  // The values read through for the command being run (engine key, pinned value), so that it
  // finds each one even if the policy evicted it again while the batch was being stored (a
  // batch larger than a small shard's probation queue evicts its own first rows).
  const std::vector<std::pair<std::string, Handle>>* just_loaded = nullptr;
  int64_t created_ms = 0;
  int64_t last_active_ms = 0;
  uint64_t commands = 0;
  std::string last_command;
  std::string peer;
  std::string local;
  // Set by CLIENT KILL from any thread; the owning worker closes the connection.
  std::atomic<bool> kill_requested{false};
  // What CLIENT LIST shows of the buffers, which the owning worker changes outside the world
  // lock: published by it after every event (Publish), read by CLIENT LIST on any worker.
  struct Published {
    std::atomic<size_t> qbuf{0}, capacity{0}, omem{0}, allocated{0};
    std::atomic<int64_t> last_active_ms{0};
  };
  Published published;
  // On the owning thread.
  void Publish() {
    published.qbuf.store(input_buffered(), std::memory_order_relaxed);
    published.capacity.store(input_capacity(), std::memory_order_relaxed);
    published.omem.store(reply_.PendingBytes(), std::memory_order_relaxed);
    published.allocated.store(reply_.AllocatedBytes(), std::memory_order_relaxed);
    published.last_active_ms.store(last_active_ms, std::memory_order_relaxed);
  }

  size_t input_buffered() const { return in_end_ - in_start_; }
  // Bytes the pipeline prefetch has parsed ahead of execution, over the connection's life.
  uint64_t parsed_ahead_bytes() const { return lookahead_.scanned_bytes(); }
  size_t input_capacity() const { return in_.size(); }
  // For the command running: the engine buffer that holds args[index], when that argument
  // was received into one (ValueBufferFor); the command may store it without a copy.
  ValueBuffer* received_value(size_t index);
  // Whether the request being run has arguments received into memory of their own (a command
  // may store or free that memory: the views of them die with the handler).
  bool has_large_args() const { return !large_args_.empty(); }
  bool is_large_arg(size_t index) const {
    for (const LargeArg& a : large_args_) {
      if (a.index == index) return true;
    }
    return false;
  }

 private:
  // An argument of at least kLargeArgBytes, received into memory of exactly its size rather
  // than into in_ (which would grow by doubling, copy and be zero-filled): from the socket
  // straight to where it stays, as Redis reads big arguments. Kept until the request has run.
  struct LargeArg {
    ValueBuffer value;  // the engine's memory for the new item (SET's value), or
    std::unique_ptr<char, void (*)(void*)> plain{nullptr, nullptr};  // malloc'ed, not zeroed
    char* data = nullptr;
    size_t size = 0;
    size_t filled = 0;
    size_t index = 0;  // position in the request's arguments
  };

  bool Flush();
  // Around each command, for CLIENT REPLY: the command starts (a SKIP before it takes effect);
  // its reply is complete (what it wrote while replies were off is dropped).
  void BeforeCommand() {
    if (skip_next_) StartSkipping();
  }
  void AfterReply() {
    if (reply_to_ != &reply_) EndSkipping();
  }
  void StartSkipping();  // until AfterReply
  void EndSkipping();
  // Prefetches the keys of up to kPrefetchWindow complete requests from offset `from` of the
  // input buffer; returns the offset after the last one looked at. Records the arrays it
  // parsed in ahead_, for TakeParsedAhead.
  size_t PrefetchKeys(size_t from);
  // The request at in_start_ as the lookahead parsed it, when it did so with the same
  // authentication (whose limits differ) and parser_ is between requests: its arguments into
  // *args and its length into *consumed.
  bool TakeParsedAhead(std::vector<std::string_view>* args, size_t* consumed);
  bool ReadSome();
  // After the parser asked for more: if it waits for a large bulk, starts receiving it into a
  // LargeArg. Returns true when the bulk was already complete (parsing can go on).
  bool StartLargeArg();
  bool receiving_large_arg() const {
    return !large_args_.empty() && large_args_.back().filled < large_args_.back().size;
  }
  // Bytes of the request being received, for client-query-buffer-limit.
  size_t query_bytes() const;

  Server& server_;
  Worker* worker_;
  int fd_;
  uint64_t id_;
  protocol::RequestParser parser_;
  protocol::RequestParser lookahead_;  // PrefetchKeys' own, so parser_'s state is untouched
  // Arrays the lookahead parsed, in order: offsets into in_, valid during one ProcessInput (the
  // buffer may move between reads), so that the loop does not parse them a second time.
  struct ParsedAhead {
    size_t start;
    size_t consumed;
    size_t first_span;  // in ahead_spans_
    size_t spans;
    bool authenticated;
  };
  std::vector<ParsedAhead> ahead_;
  size_t ahead_next_ = 0;                               // the first of ahead_ not yet run or passed
  std::vector<std::pair<size_t, size_t>> ahead_spans_;  // an argument's offset and length
  std::vector<std::string_view> ahead_args_;
  uint64_t run_from_lookahead_ = 0;
  protocol::ReplyBuilder reply_;
  std::vector<char> in_;
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  std::vector<LargeArg> large_args_;  // of the request being received or run
  std::vector<std::string_view> scratch_args_;
  size_t rcvlowat_ = 1;  // the socket's SO_RCVLOWAT
  // CLIENT REPLY (after the fields every request uses, which keep their places).
  protocol::ReplyBuilder* reply_to_ = &reply_;
  std::unique_ptr<protocol::ReplyBuilder> discard_;  // what CLIENT REPLY drops; made on first use
  bool replies_off_ = false;                         // CLIENT REPLY OFF
  bool skip_next_ = false;  // CLIENT REPLY SKIP: the next command's reply is dropped

 public:
  // WAIT: the wait's number while the connection waits, else 0. Whoever swaps it to 0 (its
  // deadline, CLIENT UNBLOCK from any thread, closing) answers it (Server::EndWait).
  std::atomic<uint64_t> wait_token{0};
  // A command CLIENT PAUSE holds back, run again once the pause is over.
  std::vector<std::string> postponed;
  // Waiting or held back: nothing to read until then, but a client that hangs up is closed.
  bool parked() const {
    return wait_token.load(std::memory_order_relaxed) != 0 || !postponed.empty();
  }
  // Pub/sub (after the fields every request uses, which keep their places).
  std::unique_ptr<Subscriptions> subs;  // from the first (UN)SUBSCRIBE
  std::atomic<size_t> subscribed{0};    // subs->total(), for other threads (CLIENT KILL TYPE)
};

}  // namespace kvcache::server
