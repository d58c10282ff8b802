// kvcache-server: the cache behind the Redis protocol.
//
//   kvcache-server [--config FILE] [--port 6379] [--bind 127.0.0.1] [--maxmemory 1gb]
//                  [--maxmemory-policy lirs] [--requirepass SECRET] [--threads N] ...
//
// Every setting of the table in config.cc is a flag of the same name; a config file holds the
// same names as Redis-style "name value" lines. Flags override the file.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

namespace {

kvcache::server::Server* g_server = nullptr;

void OnSignal(int) {
  if (g_server != nullptr) g_server->RequestShutdown();
}

}  // namespace

int main(int argc, char** argv) {
  using kvcache::server::ConfigTable;
  CLI::App app{"kvcache-server: a key-value cache for AI inference data, speaking the Redis "
               "protocol."};
  std::string config_file;
  app.add_option("--config", config_file, "config file of 'name value' lines (Redis style)");
  std::map<std::string, std::vector<std::string>> flags;
  for (const auto& e : ConfigTable()) {
    auto* opt = app.add_option(std::string("--") + e.name, flags[e.name],
                               std::string("default: ") + e.get(kvcache::server::ServerConfig{}) +
                                   (e.list ? " (may be given several times)" : ""));
    if (!e.list) opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  app.set_version_flag("--version", "kvcache-server 0.1.0");
  CLI11_PARSE(app, argc, argv);

  kvcache::server::ServerConfig config;
  if (!config_file.empty()) {
    std::error_code ec;
    config.config_file = std::filesystem::absolute(config_file, ec).string();
    kvcache::Status st = kvcache::server::LoadConfigFile(config_file, &config);
    if (!st.ok()) {
      std::fprintf(stderr, "kvcache-server: %s\n", st.message().c_str());
      return 1;
    }
  }
  for (const auto& e : ConfigTable()) {
    if (app.count(std::string("--") + e.name) == 0) continue;
    std::string value;
    for (const std::string& v : flags[e.name]) value += (value.empty() ? "" : " ") + v;
    if (e.list && !e.get(config).empty()) value = e.get(config) + " " + value;
    kvcache::Status st = e.set(&config, value);
    if (!st.ok()) {
      std::fprintf(stderr, "kvcache-server: --%s: %s\n", e.name, st.message().c_str());
      return 1;
    }
  }
  // As Redis: into `dir` first (a relative logfile or pidfile is then in it), then into the
  // background before any thread starts, with the PID written once it is the daemon's.
  if (!config.dir.empty() && chdir(config.dir.c_str()) != 0) {
    std::fprintf(stderr, "kvcache-server: Can't chdir to '%s': %s\n", config.dir.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (config.daemonize && daemon(/*nochdir=*/1, /*noclose=*/0) != 0) {
    std::fprintf(stderr, "kvcache-server: daemonize: %s\n", std::strerror(errno));
    return 1;
  }
  kvcache::server::LogLevel level = kvcache::server::LogLevel::kInfo;
  kvcache::server::ParseLogLevel(config.loglevel, &level);
  if (!kvcache::server::SetupLogging(level, config.logfile)) return 1;
  const std::string pidfile = !config.pidfile.empty()
                                  ? config.pidfile
                                  : (config.daemonize ? "/var/run/kvcache-server.pid" : "");
  if (!pidfile.empty()) {
    std::FILE* f = std::fopen(pidfile.c_str(), "w");
    if (f == nullptr) {
      kvcache::server::Log(kvcache::server::LogLevel::kWarning, "Failed to write PID file: {}",
                           std::strerror(errno));
    } else {
      std::fprintf(f, "%d\n", static_cast<int>(getpid()));
      std::fclose(f);
    }
  }

  kvcache::server::Server server(config);
  // SIGTERM and SIGINT are handled from before the server starts: clients may use it as soon as
  // it logs that it is ready, and a signal then must still shut it down cleanly. They stay
  // blocked until Start has returned (every thread it starts inherits the block, so only this
  // one takes them); one that came meanwhile is handled at the unblock.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  g_server = &server;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  kvcache::Status st = server.Init();
  if (st.ok()) st = server.Start();
  if (!st.ok()) {
    g_server = nullptr;
    kvcache::server::Log(kvcache::server::LogLevel::kError, "kvcache-server: {}", st.message());
    std::fprintf(stderr, "kvcache-server: %s\n", st.message().c_str());
    if (!pidfile.empty()) unlink(pidfile.c_str());
    return 1;
  }
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
  server.Wait();
  g_server = nullptr;
  if (!pidfile.empty()) unlink(pidfile.c_str());  // as Redis removes it on shutdown
  return 0;
}
