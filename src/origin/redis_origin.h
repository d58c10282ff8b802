// RedisOrigin: another Redis-protocol server (Redis, or another kvcache-server) as the slower
// tier, spoken to with hiredis.
//
// Contract: the origin is safe to call from many threads at once. It keeps a small pool of
// connections, each used by one thread at a time. Every call is bounded by the timeout: a
// server that is down, unreachable or stalled makes calls return
// Unavailable("redis origin HOST:PORT: <what happened>") within about twice the timeout (once
// waiting for a free connection, once for the server), never hang. A broken connection is
// dropped and a new one made on the next call, so the origin recovers by itself when the
// server comes back. Values are binary-safe bytes; keys holding other types than strings are
// errors for those keys.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "kvcache/origin.h"
#include "kvcache/status.h"

namespace kvcache {

// Where a Redis origin lives, parsed from "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]".
struct RedisAddress {
  std::string host;      // a name, an IPv4 address, or an IPv6 address given as "[::1]"
  int port = 6379;       // default 6379
  std::string user;      // AUTH user (Redis 6 ACLs); empty: the default user
  std::string password;  // AUTH password; empty: no AUTH
  int db = 0;            // SELECT db when not 0

  // "HOST:PORT" ("[::1]:6380" for IPv6), as used in error messages; never the password.
  std::string HostPort() const;
};

// Parses a redis:// URL. Errors are InvalidArgument and say which part is wrong.
Status ParseRedisAddress(std::string_view url, RedisAddress* out);

struct RedisOriginOptions {
  // Bounds connecting, and each request's wait for the server's reply.
  int timeout_ms = 1000;
  // Connections kept open at most; a caller that finds all busy waits up to timeout_ms.
  size_t max_connections = 8;
  // Commands sent before reading their replies, so that neither side's buffers grow without
  // bound on huge batches.
  size_t pipeline_depth = 256;
  // Keys asked for per SCAN step.
  size_t scan_count = 1000;
  // Open fails (Unavailable) if the server cannot be reached right away: a wrong address is
  // reported at once rather than on the first miss. False: open succeeds, calls fail until the
  // server is up.
  bool connect_at_open = true;
};

// Opens the origin at `url` (see RedisAddress). name() of the origin is "redis://HOST:PORT"
// with "/DB" when not 0 (never the password).
Status OpenRedisOrigin(const std::string& url, const RedisOriginOptions& options,
                       std::unique_ptr<Origin>* out);

}  // namespace kvcache
