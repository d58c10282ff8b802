// Pub/sub: the registry (pubsub.h) and the commands, with Redis 7's replies and error texts.
#include "server/pubsub.h"

#include <span>

#include "server/command.h"
#include "server/connection.h"
#include "server/glob.h"
#include "server/log.h"
#include "server/server.h"

namespace kvcache::server {

namespace {

size_t MessageBytes(const PushMessage& m) {
  return m.pattern.size() + m.published->channel.size() + m.published->payload.size() + 64;
}

void WritePush(protocol::ReplyBuilder& out, const PushMessage& m) {
  if (m.kind == SubKind::kPattern) {
    out.PushHeader(4);
    out.Bulk("pmessage");
    out.Bulk(m.pattern);
  } else {
    out.PushHeader(3);
    out.Bulk(m.kind == SubKind::kShard ? "smessage" : "message");
  }
  out.Bulk(m.published->channel);
  out.Bulk(m.published->payload);
}

}  // namespace

bool PubSub::Subscribe(Connection& conn, SubKind kind, std::string_view name) {
  const auto k = static_cast<size_t>(kind);
  std::lock_guard<std::mutex> l(mu_);
  if (!conn.subs->of[k].emplace(name).second) return false;
  auto it = names_[k].find(name);
  if (it == names_[k].end()) it = names_[k].emplace(name, std::vector<Connection*>()).first;
  it->second.push_back(&conn);
  conn.subscribed.store(conn.subs->total(), std::memory_order_relaxed);
  return true;
}

bool PubSub::Unsubscribe(Connection& conn, SubKind kind, std::string_view name) {
  const auto k = static_cast<size_t>(kind);
  std::lock_guard<std::mutex> l(mu_);
  if (conn.subs == nullptr) return false;
  auto own = conn.subs->of[k].find(name);
  if (own == conn.subs->of[k].end()) return false;
  conn.subs->of[k].erase(own);
  auto it = names_[k].find(name);
  std::erase(it->second, &conn);
  if (it->second.empty()) names_[k].erase(it);
  conn.subscribed.store(conn.subs->total(), std::memory_order_relaxed);
  return true;
}

void PubSub::UnsubscribeAll(Connection& conn) {
  if (conn.subs == nullptr) return;
  std::lock_guard<std::mutex> l(mu_);
  for (size_t k = 0; k < 3; ++k) {
    for (const std::string& name : conn.subs->of[k]) {
      auto it = names_[k].find(name);
      std::erase(it->second, &conn);
      if (it->second.empty()) names_[k].erase(it);
    }
    conn.subs->of[k].clear();
  }
  conn.subscribed.store(0, std::memory_order_relaxed);
}

size_t PubSub::Publish(Connection& from, SubKind kind, std::string_view channel,
                       std::string_view message) {
  std::shared_ptr<const Published> published;  // made for the first receiver
  auto message_for = [&](SubKind how, const std::string& pattern) {
    if (published == nullptr) {
      published =
          std::make_shared<const Published>(Published{std::string(channel), std::string(message)});
    }
    return PushMessage{how, pattern, published};
  };
  static const std::string kNoPattern;
  size_t receivers = 0;
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = names_[static_cast<size_t>(kind)].find(channel);
      it != names_[static_cast<size_t>(kind)].end()) {
    for (Connection* to : it->second) {
      Deliver(from, to, message_for(kind, kNoPattern));
      ++receivers;
    }
  }
  if (kind == SubKind::kChannel) {
    for (const auto& [pattern, subscribers] : names_[static_cast<size_t>(SubKind::kPattern)]) {
      if (!GlobMatch(pattern, channel)) continue;
      for (Connection* to : subscribers) {
        Deliver(from, to, message_for(SubKind::kPattern, pattern));
        ++receivers;
      }
    }
  }
  return receivers;
}

void PubSub::Deliver(Connection& from, Connection* to, PushMessage msg) {
  if (to == &from && !from.in_exec) {
    WritePush(from.output(), msg);  // before PUBLISH's own reply, on the caller's thread
    return;
  }
  // Inside EXEC the message would land in the middle of EXEC's reply array (where Redis 7.0
  // writes it; 7.2 sends it after the reply): it goes through the mailbox, after the reply.
  PushBox& box = *to->subs->box;
  const auto hard = static_cast<size_t>(to->server().pubsub_output_limit().hard);
  bool post;
  {
    std::lock_guard<std::mutex> l(box.mu);
    if (hard != 0 && box.bytes > hard) {
      // Its worker has not caught up with what is waiting: it is closed as soon as it runs.
      to->kill_requested.store(true, std::memory_order_relaxed);
    } else {
      box.bytes += MessageBytes(msg);
      box.pending.push_back(std::move(msg));
    }
    post = box.pending.size() == 1 || to->kill_requested.load(std::memory_order_relaxed);
  }
  if (post) to->subs->post([](Connection& c) { DrainPushes(c); });
}

size_t PubSub::Count(SubKind kind) const {
  std::lock_guard<std::mutex> l(mu_);
  return names_[static_cast<size_t>(kind)].size();
}

std::vector<std::string> PubSub::Names(SubKind kind, std::string_view pattern) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, subscribers] : names_[static_cast<size_t>(kind)]) {
    if (pattern.empty() || GlobMatch(pattern, name)) out.push_back(name);
  }
  return out;
}

size_t PubSub::Subscribers(SubKind kind, std::string_view name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = names_[static_cast<size_t>(kind)].find(name);
  return it == names_[static_cast<size_t>(kind)].end() ? 0 : it->second.size();
}

void DrainPushes(Connection& conn) {
  if (conn.subs == nullptr || conn.blocked) return;  // Worker::Finish drains once it is not
  std::vector<PushMessage>& messages = conn.subs->draining;
  {
    std::lock_guard<std::mutex> l(conn.subs->box->mu);
    messages.swap(conn.subs->box->pending);
    conn.subs->box->bytes = 0;
  }
  for (const PushMessage& m : messages) {
    // A message published before the client unsubscribed, which it no longer expects (in
    // RESP2 it would be taken for the reply to its next command).
    const std::string& name = m.kind == SubKind::kPattern ? m.pattern : m.published->channel;
    if (!conn.subs->of[static_cast<size_t>(m.kind)].contains(name)) continue;
    WritePush(conn.output(), m);
  }
  messages.clear();
  // Redis's checkClientOutputBufferLimits, on the unsent output.
  const OutputBufferLimit limit = conn.server().pubsub_output_limit();
  const auto pending = static_cast<int64_t>(conn.output().PendingBytes());
  bool over = limit.hard != 0 && pending >= limit.hard;
  if (limit.soft != 0 && pending >= limit.soft) {
    const int64_t now = conn.server().cache().NowMs();
    if (conn.subs->soft_since_ms == 0) conn.subs->soft_since_ms = now;
    over = over || now - conn.subs->soft_since_ms >= limit.seconds * 1000;
  } else {
    conn.subs->soft_since_ms = 0;
  }
  if (over && !conn.kill_requested.load(std::memory_order_relaxed)) {
    // Redis's words for the same event.
    Log(LogLevel::kWarning,
        "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer "
        "limits.",
        conn.id(), conn.peer);
    conn.kill_requested.store(true, std::memory_order_relaxed);
  }
}

namespace {

Subscriptions& SubsOf(CommandContext& c) {
  if (c.conn.subs == nullptr) {
    c.conn.subs = std::make_unique<Subscriptions>();
    c.conn.subs->post = c.server.Pusher(c.conn);
  }
  return *c.conn.subs;
}

// "subscribe" / "unsubscribe" ... replies: the kind, the name (nil: none), the count.
void ReplySubscription(CommandContext& c, const char* what, const std::string_view* name,
                       size_t count) {
  c.reply.PushHeader(3);
  c.reply.Bulk(what);
  if (name != nullptr) {
    c.reply.Bulk(*name);
  } else {
    c.reply.Null();
  }
  c.reply.Integer(static_cast<int64_t>(count));
}

size_t CountFor(const Subscriptions& s, SubKind kind) {
  return kind == SubKind::kShard ? s.of[2].size() : s.count();
}

template <SubKind kKind>
void CmdSubscribe(CommandContext& c) {
  static constexpr const char* kWhat[] = {"subscribe", "psubscribe", "ssubscribe"};
  Subscriptions& s = SubsOf(c);
  for (size_t i = 1; i < c.argc(); ++i) {
    c.server.pubsub().Subscribe(c.conn, kKind, c.arg(i));
    const std::string_view name = c.arg(i);
    ReplySubscription(c, kWhat[static_cast<size_t>(kKind)], &name, CountFor(s, kKind));
  }
}

template <SubKind kKind>
void CmdUnsubscribe(CommandContext& c) {
  static constexpr const char* kWhat[] = {"unsubscribe", "punsubscribe", "sunsubscribe"};
  const char* what = kWhat[static_cast<size_t>(kKind)];
  Subscriptions& s = SubsOf(c);
  if (c.argc() == 1) {
    const std::vector<std::string> all(s.of[static_cast<size_t>(kKind)].begin(),
                                       s.of[static_cast<size_t>(kKind)].end());
    if (all.empty()) return ReplySubscription(c, what, nullptr, CountFor(s, kKind));
    for (const std::string& name : all) {
      c.server.pubsub().Unsubscribe(c.conn, kKind, name);
      const std::string_view view = name;
      ReplySubscription(c, what, &view, CountFor(s, kKind));
    }
    return;
  }
  for (size_t i = 1; i < c.argc(); ++i) {
    c.server.pubsub().Unsubscribe(c.conn, kKind, c.arg(i));
    const std::string_view name = c.arg(i);
    ReplySubscription(c, what, &name, CountFor(s, kKind));
  }
}

void CmdPublish(CommandContext& c) {
  c.reply.Integer(static_cast<int64_t>(
      c.server.pubsub().Publish(c.conn, SubKind::kChannel, c.arg(1), c.arg(2))));
}

void CmdSpublish(CommandContext& c) {
  c.reply.Integer(
      static_cast<int64_t>(c.server.pubsub().Publish(c.conn, SubKind::kShard, c.arg(1), c.arg(2))));
}

void CmdPubsub(CommandContext& c) {
  const std::string_view sub = c.arg(1);
  PubSub& ps = c.server.pubsub();
  const bool shard_channels = EqualsIgnoreCase(sub, "SHARDCHANNELS");
  if (EqualsIgnoreCase(sub, "CHANNELS") || shard_channels) {
    if (c.argc() > 3) {
      return c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" +
                           std::string(sub) + "'. Try PUBSUB HELP.");
    }
    const std::vector<std::string> names =
        ps.Names(shard_channels ? SubKind::kShard : SubKind::kChannel,
                 c.argc() == 3 ? c.arg(2) : std::string_view());
    c.reply.ArrayHeader(names.size());
    for (const std::string& name : names) c.reply.Bulk(name);
  } else if (EqualsIgnoreCase(sub, "NUMSUB") || EqualsIgnoreCase(sub, "SHARDNUMSUB")) {
    const SubKind kind = EqualsIgnoreCase(sub, "NUMSUB") ? SubKind::kChannel : SubKind::kShard;
    c.reply.ArrayHeader((c.argc() - 2) * 2);
    for (size_t i = 2; i < c.argc(); ++i) {
      c.reply.Bulk(c.arg(i));
      c.reply.Integer(static_cast<int64_t>(ps.Subscribers(kind, c.arg(i))));
    }
  } else if (EqualsIgnoreCase(sub, "NUMPAT")) {
    if (!SubArity(c, 2)) return;
    c.reply.Integer(static_cast<int64_t>(ps.Count(SubKind::kPattern)));
  } else if (EqualsIgnoreCase(sub, "HELP")) {
    static constexpr const char* kHelp[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: "
        "'*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help."};
    ReplyHelp(c, kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try PUBSUB HELP.");
  }
}

}  // namespace

void RegisterPubSubFamily(CommandRegistry* r) {
  using namespace cmd;
  // Allowed while a RESP2 client is subscribed (kSubscribed), as Redis's processCommand lists.
  constexpr uint32_t kSub = kPubSub | kLoading | kStale | kSubscribed;
  r->Add({"subscribe", -2, kSub, 0, 0, 0, CmdSubscribe<SubKind::kChannel>, "pubsub",
          "Listens for messages published to channels."});
  r->Add({"unsubscribe", -1, kSub, 0, 0, 0, CmdUnsubscribe<SubKind::kChannel>, "pubsub",
          "Stops listening to messages posted to channels."});
  r->Add({"psubscribe", -2, kSub, 0, 0, 0, CmdSubscribe<SubKind::kPattern>, "pubsub",
          "Listens for messages published to channels that match one or more patterns."});
  r->Add({"punsubscribe", -1, kSub, 0, 0, 0, CmdUnsubscribe<SubKind::kPattern>, "pubsub",
          "Stops listening to messages published to channels that match one or more patterns."});
  r->Add({"ssubscribe", -2, kSub, 0, 0, 0, CmdSubscribe<SubKind::kShard>, "pubsub",
          "Listens for messages published to shard channels."});
  r->Add({"sunsubscribe", -1, kSub, 0, 0, 0, CmdUnsubscribe<SubKind::kShard>, "pubsub",
          "Stops listening to messages posted to shard channels."});
  r->Add({"publish", 3, kPubSub | kLoading | kStale | kFast, 0, 0, 0, CmdPublish, "pubsub",
          "Posts a message to a channel."});
  r->Add({"spublish", 3, kPubSub | kLoading | kStale | kFast, 0, 0, 0, CmdSpublish, "pubsub",
          "Post a message to a shard channel"});
  r->Add({"pubsub", -2, kPubSub | kLoading | kStale, 0, 0, 0, CmdPubsub, "pubsub",
          "A container for Pub/Sub commands."});
}

}  // namespace kvcache::server
