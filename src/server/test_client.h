// In-process command tests: a Server without sockets and a Run({"SET", "k", "v"}) helper that
// sends a command through the real parser, dispatcher and reply builder and decodes the reply.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/connection.h"
#include "server/server.h"

namespace kvcache::server {

// A decoded reply.
struct Reply {
  enum Type {
    kSimple,
    kError,
    kInteger,
    kBulk,
    kNull,
    kArray,
    kMap,
    kSet,
    kDouble,
    kBool,
    kVerbatim,
    kPush
  };
  Type type = kNull;
  std::string str;  // simple, error, bulk, verbatim (text only), double (as sent)
  int64_t integer = 0;  // integer, bool
  std::vector<Reply> elems;  // array, set; map: key, value, key, value...

  bool is_error() const { return type == kError; }
  bool is_null() const { return type == kNull; }
  // "OK", "bar", "(nil)", "(integer) 3", "(error) ERR ...", "[a, b]", a RESP3 push ">[a, b]":
  // for readable assertions.
  std::string ToString() const;
};

// Decodes one reply from data; returns bytes used, 0 if incomplete.
size_t DecodeReply(const std::string& data, size_t pos, Reply* out);

// A configuration whose commands run in steps (Server::RunInSteps) take one unit of work a step,
// so that a test sees steps however fast the machine is.
inline ServerConfig OneUnitSteps() {
  ServerConfig c;
  c.step_time_us = 0;
  return c;
}

class TestClient {
 public:
  explicit TestClient(ServerConfig config = {}, std::function<int64_t()> clock = nullptr);
  ~TestClient();

  // Sends one command (RESP multibulk) and returns its reply.
  Reply Run(const std::vector<std::string>& args);
  // Sends raw bytes (inline commands, pipelines, broken input) and returns every reply.
  std::vector<Reply> RunRaw(const std::string& bytes);
  // A second connection to the same server.
  std::unique_ptr<Connection> NewConnection();
  Reply RunOn(Connection& conn, const std::vector<std::string>& args);
  // Sends `request` (raw bytes) on conn, whose first command must wait for steps
  // (Server::RunInSteps; throws otherwise); runs `between` (another client's turn) before
  // every step and counts the steps in *steps. Returns every reply, also those of the
  // commands that waited behind it.
  std::vector<Reply> RunInSteps(Connection& conn, const std::string& request,
                                const std::function<void()>& between, int* steps);

  // What conn has been answered so far (its writable output), consumed.
  static std::string TakeOutput(Connection& conn);

  Server& server() { return *server_; }
  Connection& conn() { return *conn_; }
  bool closed() const { return closed_; }

 private:
  std::unique_ptr<Server> server_;
  std::unique_ptr<Connection> conn_;
  bool closed_ = false;
};

}  // namespace kvcache::server
