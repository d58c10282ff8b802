// Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH, SPUBLISH and PUBSUB,
// with Redis's replies (RESP2 arrays, RESP3 pushes).
//
// The registry maps each channel, pattern and shard channel to its subscribers under one mutex.
// A subscriber is a connection of some worker. PUBLISH, on the publisher's thread, appends the
// message to the subscriber's mailbox (PushBox) and, if it was empty, posts the subscriber's
// worker a push, which writes what the mailbox holds into the connection's output on the
// connection's own thread. A message to the publisher itself is written at once, before
// PUBLISH's reply, as Redis does. A subscriber whose unsent output passes the hard limit of
// `client-output-buffer-limit pubsub` (32 MB), or its soft limit (8 MB) for longer than its
// seconds (60), is closed, as Redis closes it: a client that stops reading cannot make the
// server hold every message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kvcache::server {

class Connection;

enum class SubKind : uint8_t { kChannel = 0, kPattern = 1, kShard = 2 };

// What PUBLISH sent, shared by all its receivers.
struct Published {
  std::string channel;
  std::string payload;
};

// A message on its way to one subscriber.
struct PushMessage {
  SubKind kind;  // how the subscriber subscribed (a pattern: `pattern` is set)
  std::string pattern;
  std::shared_ptr<const Published> published;
};

// What other threads leave for a subscriber.
struct PushBox {
  std::mutex mu;
  std::vector<PushMessage> pending;
  size_t bytes = 0;
};

// A connection's subscriptions (Connection::subs, made by its first SUBSCRIBE). The sets are
// changed on the connection's thread under the registry's mutex.
struct Subscriptions {
  std::set<std::string, std::less<>> of[3];  // by SubKind
  std::shared_ptr<PushBox> box = std::make_shared<PushBox>();
  // Posts a push to the connection's worker (Server::Pusher).
  std::function<void(std::function<void(Connection&)>)> post;
  int64_t soft_since_ms = 0;  // when the output passed the soft limit (0: it is under it)
  // What DrainPushes takes out of the box: it keeps its capacity, and the box gets the empty
  // one's, so that a steady stream of messages allocates no vector.
  std::vector<PushMessage> draining;
  // Channels plus patterns: the count (UN)SUBSCRIBE and P(UN)SUBSCRIBE reply with.
  size_t count() const { return of[0].size() + of[1].size(); }
  size_t total() const { return count() + of[2].size(); }
};

class PubSub {
 public:
  // Adds conn's subscription to `name`; false if it had it.
  bool Subscribe(Connection& conn, SubKind kind, std::string_view name);
  // Removes it; false if it did not have it.
  bool Unsubscribe(Connection& conn, SubKind kind, std::string_view name);
  // Every subscription of conn (closing, RESET), with no reply.
  void UnsubscribeAll(Connection& conn);
  // Sends `message` to the subscribers of `channel` (kChannel: and of the patterns matching it;
  // kShard: the shard channel's). Returns how many received it.
  size_t Publish(Connection& from, SubKind kind, std::string_view channel,
                 std::string_view message);
  // Channels (shard channels, patterns) with at least one subscriber.
  size_t Count(SubKind kind) const;
  // Those whose name matches the glob `pattern` (all if empty).
  std::vector<std::string> Names(SubKind kind, std::string_view pattern) const;
  // Subscribers of one channel (shard channel).
  size_t Subscribers(SubKind kind, std::string_view name) const;

 private:
  void Deliver(Connection& from, Connection* to, PushMessage msg);

  // Looked up by string_view, without making a string of the channel.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameTable =
      std::unordered_map<std::string, std::vector<Connection*>, NameHash, std::equal_to<>>;

  mutable std::mutex mu_;
  NameTable names_[3];
};

// On the connection's thread: writes what its mailbox holds (messages for what it still
// subscribes to) into its output, unless a command of its is running in steps or deferred
// (its reply would be split); closes a subscriber over its output limits.
void DrainPushes(Connection& conn);

}  // namespace kvcache::server
