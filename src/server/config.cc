// The settings table and the config file reader.
#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "kvcache/options.h"

namespace kvcache::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ParseInt(std::string_view text, int64_t* v) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), *v);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

// Redis's texts for a bad CONFIG SET value ("argument must be ..."); the name is the caller's to
// add where it is not already said.
Status Bad(std::string_view why) { return Status::InvalidArgument("argument " + std::string(why)); }

ConfigEntry IntEntry(const char* name, bool mut, int64_t ServerConfig::*field, int64_t lo,
                     int64_t hi) {
  return {name, mut, [field](const ServerConfig& c) { return std::to_string(c.*field); },
          [=](ServerConfig* c, std::string_view v) {
            int64_t x;
            if (!ParseInt(v, &x)) return Bad("couldn't be parsed into an integer");
            if (x < lo || x > hi) {
              return Bad("must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                         " inclusive");
            }
            c->*field = x;
            return Status::OK();
          }};
}

// `zero_ok`: 0 is also accepted (maxmemory's "no limit").
ConfigEntry MemoryEntry(const char* name, bool mut, int64_t ServerConfig::*field, int64_t lo,
                        bool zero_ok = false) {
  return {name, mut, [field](const ServerConfig& c) { return std::to_string(c.*field); },
          [=](ServerConfig* c, std::string_view v) {
            int64_t x;
            if (!ParseMemory(v, &x)) return Bad("must be a memory value");
            if (x < lo && !(zero_ok && x == 0)) {
              return Bad(std::string("must be ") + (zero_ok ? "0 or " : "") + "at least " +
                         std::to_string(lo));
            }
            c->*field = x;
            return Status::OK();
          }};
}

ConfigEntry BoolEntry(const char* name, bool mut, bool ServerConfig::*field) {
  return {name, mut, [field](const ServerConfig& c) { return std::string(c.*field ? "yes" : "no"); },
          [=](ServerConfig* c, std::string_view v) {
            std::string s = Lower(v);
            if (s == "yes") c->*field = true;
            else if (s == "no") c->*field = false;
            else return Bad("must be 'yes' or 'no'");
            return Status::OK();
          }};
}

// Numbers from 0 to 100 separated by spaces (latency-tracking-info-percentiles; none is valid).
bool ValidPercentiles(std::string_view v) {
  for (const std::string& w : SplitSpaces(std::string(v))) {
    char* end = nullptr;
    const double x = std::strtod(w.c_str(), &end);
    if (*end != '\0' || !(x >= 0 && x <= 100)) return false;
  }
  return true;
}

// `choices`, if given, names the valid values in the error, as Redis does for its enums.
ConfigEntry StringEntry(const char* name, bool mut, std::string ServerConfig::*field,
                        std::function<bool(std::string_view)> valid = nullptr,
                        const char* choices = nullptr) {
  return {name, mut, [field](const ServerConfig& c) { return c.*field; },
          [=](ServerConfig* c, std::string_view v) {
            if (valid && !valid(v)) {
              return choices != nullptr
                         ? Status::InvalidArgument(
                               std::string("argument(s) must be one of the following: ") + choices)
                         : Bad("has an invalid value");
            }
            c->*field = std::string(v);
            return Status::OK();
          }};
}

// client-output-buffer-limit <class> <hard> <soft> <seconds> [...]: each group sets its class,
// the others keep theirs; Redis's errors.
ConfigEntry OutputBufferLimitEntry() {
  static constexpr const char* kClasses[] = {"normal", "slave", "pubsub"};
  return {"client-output-buffer-limit", true,
          [](const ServerConfig& c) {
            std::string out;
            for (int i = 0; i < 3; ++i) {
              const OutputBufferLimit& l = c.obuf_limits[i];
              out += (i ? " " : "") + std::string(kClasses[i]) + " " + std::to_string(l.hard) +
                     " " + std::to_string(l.soft) + " " + std::to_string(l.seconds);
            }
            return out;
          },
          [](ServerConfig* c, std::string_view v) {
            const std::vector<std::string> w = SplitSpaces(std::string(v));
            if (w.empty() || w.size() % 4 != 0) {
              return Status::InvalidArgument(
                  "Wrong number of arguments in buffer limit configuration.");
            }
            OutputBufferLimit next[3] = {c->obuf_limits[0], c->obuf_limits[1], c->obuf_limits[2]};
            for (size_t i = 0; i < w.size(); i += 4) {
              const std::string cls = Lower(w[i]);
              const int k = cls == "normal"                      ? kObufNormal
                            : cls == "slave" || cls == "replica" ? kObufReplica
                            : cls == "pubsub"                    ? kObufPubSub
                                                                 : -1;
              if (k < 0) {
                return Status::InvalidArgument(
                    "Invalid client class specified in buffer limit configuration.");
              }
              OutputBufferLimit l;
              if (!ParseMemory(w[i + 1], &l.hard) || !ParseMemory(w[i + 2], &l.soft) ||
                  !ParseInt(w[i + 3], &l.seconds) || l.hard < 0 || l.soft < 0 || l.seconds < 0) {
                return Status::InvalidArgument(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
              }
              next[k] = l;
            }
            std::copy(std::begin(next), std::end(next), c->obuf_limits);
            return Status::OK();
          }};
}

std::vector<ConfigEntry> BuildTable() {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  std::vector<ConfigEntry> t;
  t.push_back(StringEntry("bind", false, &ServerConfig::bind));
  t.push_back(IntEntry("port", false, &ServerConfig::port, 0, 65535));
  // Small enough for tests and experiments; the engine splits it over the shards. CONFIG SET
  // changes the engine's budget (Server::SetMaxMemory).
  t.push_back(MemoryEntry("maxmemory", true, &ServerConfig::maxmemory, 64 << 10, true));
  // CONFIG SET: noeviction and back (Server::SetMaxMemoryPolicy).
  t.push_back(StringEntry("maxmemory-policy", true, &ServerConfig::maxmemory_policy,
                          [](std::string_view v) {
                            std::string p;
                            bool e;
                            return ResolvePolicy(v, &p, &e);
                          }));
  t.push_back(StringEntry("requirepass", true, &ServerConfig::requirepass));
  t.push_back(IntEntry("threads", false, &ServerConfig::threads, 0, 256));
  t.push_back(IntEntry("shards", false, &ServerConfig::shards, 0, 1024));
  t.push_back(IntEntry("maxclients", true, &ServerConfig::maxclients, 1, 1000000));
  t.push_back(MemoryEntry("proto-max-bulk-len", true, &ServerConfig::proto_max_bulk_len, 1 << 20));
  t.push_back(MemoryEntry("client-query-buffer-limit", true,
                          &ServerConfig::client_query_buffer_limit, 1 << 20));
  t.push_back(OutputBufferLimitEntry());
  t.push_back(BoolEntry("protected-mode", true, &ServerConfig::protected_mode));
  t.push_back(IntEntry("timeout", true, &ServerConfig::timeout, 0, kMax / 1000));
  t.push_back(IntEntry("databases", false, &ServerConfig::databases, 1, 256));
  t.push_back(StringEntry(
      "loglevel", true, &ServerConfig::loglevel,
      [](std::string_view v) {
        return v == "debug" || v == "verbose" || v == "notice" || v == "warning";
      },
      "debug, verbose, notice, warning"));
  t.push_back(StringEntry("logfile", false, &ServerConfig::logfile));
  t.push_back(IntEntry("hz", true, &ServerConfig::hz, 1, 500));
  t.push_back(IntEntry("tcp-keepalive", true, &ServerConfig::tcp_keepalive, 0, kMax));
  t.push_back(IntEntry("tcp-backlog", false, &ServerConfig::tcp_backlog, 0, 65535));
  t.push_back(StringEntry("origin", false, &ServerConfig::origin));
  t.back().list = true;
  t.push_back(StringEntry(
      "write-policy", false, &ServerConfig::write_policy,
      [](std::string_view v) { return v == "none" || v == "through" || v == "back"; },
      "none, through, back"));
  t.push_back(IntEntry("origin-timeout-ms", false, &ServerConfig::origin_timeout_ms, 1, 3600000));
  t.push_back(IntEntry("origin-negative-ttl-ms", false, &ServerConfig::origin_negative_ttl_ms, 0,
                       kMax / 2));
  t.push_back(IntEntry("origin-threads", false, &ServerConfig::origin_threads, 1, 256));
  t.push_back(IntEntry("write-back-delay-ms", false, &ServerConfig::write_back_delay_ms, 1,
                       3600000));
  t.push_back(IntEntry("write-back-max-dirty", false, &ServerConfig::write_back_max_dirty, 1,
                       kMax / 2));
  t.push_back(IntEntry("write-through-max-batch", false, &ServerConfig::write_through_max_batch,
                       1, 1 << 20));
  t.push_back(StringEntry("preload", false, &ServerConfig::preload));
  t.back().list = true;
  t.push_back(IntEntry("slowlog-log-slower-than", true, &ServerConfig::slowlog_log_slower_than,
                       std::numeric_limits<int64_t>::min(), kMax));
  t.push_back(IntEntry("slowlog-max-len", true, &ServerConfig::slowlog_max_len, 0, kMax));
  t.push_back(IntEntry("latency-monitor-threshold", true, &ServerConfig::latency_monitor_threshold,
                       0, kMax));
  t.push_back(BoolEntry("latency-tracking", true, &ServerConfig::latency_tracking));
  t.push_back(StringEntry("latency-tracking-info-percentiles", true,
                          &ServerConfig::latency_tracking_info_percentiles, ValidPercentiles));
  t.push_back(BoolEntry("daemonize", false, &ServerConfig::daemonize));
  t.push_back(StringEntry("pidfile", false, &ServerConfig::pidfile));
  t.push_back(StringEntry("dir", false, &ServerConfig::dir));
  t.push_back(StringEntry(
      "notify-keyspace-events", true, &ServerConfig::notify_keyspace_events,
      [](std::string_view v) { return v.empty(); },
      "\"\" (kvcache sends no keyspace notifications)"));
  // Redis 7.0's settings that mean nothing to this server, with Redis's defaults: accepted and
  // shown, so that a Redis config file (Debian's /etc/redis/redis.conf) loads. `false`: Redis
  // refuses to change it at runtime.
  static constexpr struct {
    const char* name;
    const char* value;
    bool mut;
  } kIgnored[] = {
      {"acllog-max-len", "128", true},
      {"activerehashing", "yes", true},
      {"always-show-logo", "no", true},
      {"aof-load-truncated", "yes", true},
      {"aof-rewrite-incremental-fsync", "yes", true},
      {"aof-timestamp-enabled", "no", true},
      {"aof-use-rdb-preamble", "yes", true},
      {"appenddirname", "appendonlydir", false},
      {"appendfilename", "appendonly.aof", false},
      {"appendfsync", "everysec", true},
      {"auto-aof-rewrite-min-size", "67108864", true},
      {"auto-aof-rewrite-percentage", "100", true},
      {"dbfilename", "dump.rdb", true},
      {"disable-thp", "yes", false},
      {"dynamic-hz", "yes", true},
      {"hash-max-listpack-entries", "512", true},
      {"hash-max-listpack-value", "64", true},
      {"hll-sparse-max-bytes", "3000", true},
      {"jemalloc-bg-thread", "yes", true},
      {"lazyfree-lazy-eviction", "no", true},
      {"lazyfree-lazy-expire", "no", true},
      {"lazyfree-lazy-server-del", "no", true},
      {"lazyfree-lazy-user-del", "no", true},
      {"lazyfree-lazy-user-flush", "no", true},
      {"list-compress-depth", "0", true},
      {"list-max-listpack-size", "-2", true},
      {"no-appendfsync-on-rewrite", "no", true},
      {"oom-score-adj", "no", true},
      {"oom-score-adj-values", "0 200 800", true},
      {"proc-title-template", "{title} {listen-addr} {server-mode}", true},
      {"rdb-del-sync-files", "no", true},
      {"rdb-save-incremental-fsync", "yes", true},
      {"rdbchecksum", "yes", false},
      {"rdbcompression", "yes", true},
      {"repl-disable-tcp-nodelay", "no", true},
      {"repl-diskless-load", "disabled", true},
      {"repl-diskless-sync", "yes", true},
      {"repl-diskless-sync-delay", "5", true},
      {"repl-diskless-sync-max-replicas", "0", true},
      {"replica-lazy-flush", "no", true},
      {"replica-priority", "100", true},
      {"replica-read-only", "yes", true},
      {"replica-serve-stale-data", "yes", true},
      {"set-max-intset-entries", "512", true},
      {"set-proc-title", "yes", false},
      {"stop-writes-on-bgsave-error", "yes", true},
      {"stream-node-max-bytes", "4096", true},
      {"stream-node-max-entries", "100", true},
      {"supervised", "no", false},
      {"zset-max-listpack-entries", "128", true},
      {"zset-max-listpack-value", "64", true},
  };
  for (const auto& s : kIgnored) {
    const std::string name = s.name, usual = s.value;
    t.push_back({s.name, s.mut,
                 [name, usual](const ServerConfig& c) {
                   auto it = c.ignored.find(name);
                   return it == c.ignored.end() ? usual : it->second;
                 },
                 [name](ServerConfig* c, std::string_view v) {
                   c->ignored[name] = std::string(v);
                   return Status::OK();
                 }});
  }
  t.push_back(StringEntry("save", true, &ServerConfig::save));
  t.push_back(StringEntry("appendonly", true, &ServerConfig::appendonly,
                          [](std::string_view v) { return v == "no"; }));
  return t;
}

}  // namespace

std::vector<std::string> SplitSpaces(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

const std::vector<ConfigEntry>& ConfigTable() {
  static const std::vector<ConfigEntry> table = BuildTable();
  return table;
}

const ConfigEntry* FindConfig(std::string_view name) {
  std::string n = Lower(name);
  for (const ConfigEntry& e : ConfigTable()) {
    if (n == e.name) return &e;
  }
  return nullptr;
}

bool ParseMemory(std::string_view text, int64_t* bytes) {
  std::string s = Lower(text);
  size_t digits = 0;
  while (digits < s.size() && (std::isdigit(static_cast<unsigned char>(s[digits])) || (digits == 0 && s[0] == '-'))) ++digits;
  if (digits == 0) return false;
  int64_t n;
  if (!ParseInt(std::string_view(s).substr(0, digits), &n) || n < 0) return false;
  std::string unit = s.substr(digits);
  int64_t mul;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "k") mul = 1000;
  else if (unit == "kb") mul = 1024;
  else if (unit == "m") mul = 1000 * 1000;
  else if (unit == "mb") mul = 1024 * 1024;
  else if (unit == "g") mul = 1000LL * 1000 * 1000;
  else if (unit == "gb") mul = 1024LL * 1024 * 1024;
  else return false;
  if (n > std::numeric_limits<int64_t>::max() / mul) return false;
  *bytes = n * mul;
  return true;
}

bool ResolvePolicy(std::string_view value, std::string* engine_policy, bool* evict) {
  std::string v = Lower(value);
  *evict = true;
  if (v == "noeviction") {
    *engine_policy = "default";
    *evict = false;
    return true;
  }
  if (v == "allkeys-lru") v = "lru";
  if (v == "allkeys-lfu") v = "lfu";
  if (v == "default") {
    *engine_policy = v;
    return true;
  }
  size_t n = 0;
  const char* const* names = PolicyNames(&n);
  for (size_t i = 0; i < n; ++i) {
    if (v == names[i]) {
      *engine_policy = v;
      return true;
    }
  }
  return false;
}

namespace {

// Splits a config line into words, honouring "double" and 'single' quotes.
bool SplitLine(std::string_view line, std::vector<std::string>* words) {
  words->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string w;
    if (line[i] == '"' || line[i] == '\'') {
      char q = line[i++];
      while (i < line.size() && line[i] != q) {
        if (line[i] == '\\' && q == '"' && i + 1 < line.size()) ++i;
        w.push_back(line[i++]);
      }
      if (i >= line.size()) return false;
      ++i;
    } else {
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) w.push_back(line[i++]);
    }
    words->push_back(std::move(w));
  }
  return true;
}

}  // namespace

Status LoadConfigFile(const std::string& path, ServerConfig* config) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot open config file " + path);
  std::string line;
  std::vector<std::string> words;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    std::string_view l = line;
    while (!l.empty() && std::isspace(static_cast<unsigned char>(l.front()))) l.remove_prefix(1);
    if (l.empty() || l.front() == '#') continue;
    auto where = [&] { return path + ":" + std::to_string(lineno) + ": "; };
    if (!SplitLine(l, &words)) return Status::InvalidArgument(where() + "unbalanced quotes");
    const ConfigEntry* e = FindConfig(words[0]);
    if (e == nullptr) {
      return Status::InvalidArgument(where() + "unknown setting '" + words[0] + "'");
    }
    std::string value;
    for (size_t i = 1; i < words.size(); ++i) value += (i > 1 ? " " : "") + words[i];
    if (e->list) {
      std::string before = e->get(*config);
      if (!before.empty()) value = before + " " + value;
    }
    Status st = e->set(config, value);
    if (!st.ok()) return Status::InvalidArgument(where() + e->name + ": " + st.message());
  }
  return Status::OK();
}

namespace {

constexpr std::string_view kRewriteMarker = "# Generated by CONFIG REWRITE";

// A value as a config line's word: quoted when SplitLine would otherwise split or drop it.
std::string QuoteValue(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '\\' ||
        c == '#') {
      plain = false;
    }
  }
  if (plain) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

Status RewriteConfigFile(const std::string& path, const ServerConfig& config) {
  const std::vector<ConfigEntry>& table = ConfigTable();
  const ServerConfig defaults;
  auto line_of = [&](const ConfigEntry& e) {
    return std::string(e.name) + " " + QuoteValue(e.get(config));
  };
  std::vector<std::string> out;
  std::vector<bool> written(table.size(), false);
  bool marked = false;
  {
    std::ifstream in(path);
    std::string line;
    std::vector<std::string> words;
    while (in && std::getline(in, line)) {
      std::string_view l = line;
      while (!l.empty() && std::isspace(static_cast<unsigned char>(l.front()))) l.remove_prefix(1);
      if (l == kRewriteMarker) marked = true;  // appended lines go to the end, below it
      const ConfigEntry* e = nullptr;
      if (!l.empty() && l.front() != '#' && SplitLine(l, &words) && !words.empty()) {
        e = FindConfig(words[0]);
      }
      if (e == nullptr) {
        out.push_back(line);
        continue;
      }
      const size_t i = static_cast<size_t>(e - table.data());
      if (!written[i]) out.push_back(line_of(*e));
      written[i] = true;
    }
  }
  for (size_t i = 0; i < table.size(); ++i) {
    if (written[i] || table[i].get(config) == table[i].get(defaults)) continue;
    if (!marked) out.emplace_back(kRewriteMarker);
    marked = true;
    out.push_back(line_of(table[i]));
  }
  const std::string tmp = path + ".tmp-rewrite";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return Status::IOError(std::strerror(errno));
  bool ok = true;
  for (const std::string& l : out) {
    ok = ok && std::fputs(l.c_str(), f) >= 0 && std::fputc('\n', f) != EOF;
  }
  ok = ok && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  const int saved = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(ok ? errno : saved);
    std::remove(tmp.c_str());
    return Status::IOError(why);
  }
  return Status::OK();
}

}  // namespace kvcache::server
