// TestClient: commands through the real server code, without sockets.
#include "server/test_client.h"

#include <cstdlib>
#include <stdexcept>

namespace kvcache::server {

std::string Reply::ToString() const {
  switch (type) {
    case kSimple:
    case kBulk:
    case kVerbatim:
      return str;
    case kError:
      return "(error) " + str;
    case kInteger:
      return "(integer) " + std::to_string(integer);
    case kNull:
      return "(nil)";
    case kDouble:
      return "(double) " + str;
    case kBool:
      return integer ? "(true)" : "(false)";
    default: {
      std::string s = type == kMap ? "{" : type == kPush ? ">[" : "[";
      for (size_t i = 0; i < elems.size(); ++i) {
        if (i) s += type == kMap && i % 2 == 1 ? ": " : ", ";
        s += elems[i].ToString();
      }
      return s + (type == kMap ? "}" : "]");
    }
  }
}

size_t DecodeReply(const std::string& d, size_t pos, Reply* out) {
  size_t eol = d.find("\r\n", pos);
  if (eol == std::string::npos) return 0;
  const char t = d[pos];
  std::string line = d.substr(pos + 1, eol - pos - 1);
  size_t next = eol + 2;
  auto aggregate = [&](Reply::Type type, int64_t n) -> size_t {
    out->type = type;
    out->elems.resize(static_cast<size_t>(n));
    for (auto& e : out->elems) {
      size_t used = DecodeReply(d, next, &e);
      if (used == 0) return 0;
      next += used;
    }
    return next - pos;
  };
  switch (t) {
    case '+':
      out->type = Reply::kSimple;
      out->str = line;
      return next - pos;
    case '-':
      out->type = Reply::kError;
      out->str = line;
      return next - pos;
    case ':':
      out->type = Reply::kInteger;
      out->integer = std::strtoll(line.c_str(), nullptr, 10);
      return next - pos;
    case '_':
      out->type = Reply::kNull;
      return next - pos;
    case ',':
      out->type = Reply::kDouble;
      out->str = line;
      return next - pos;
    case '#':
      out->type = Reply::kBool;
      out->integer = line == "t";
      return next - pos;
    case '$':
    case '=': {
      int64_t n = std::strtoll(line.c_str(), nullptr, 10);
      if (n < 0) {
        out->type = Reply::kNull;
        return next - pos;
      }
      if (d.size() < next + static_cast<size_t>(n) + 2) return 0;
      out->type = t == '$' ? Reply::kBulk : Reply::kVerbatim;
      out->str = d.substr(next, static_cast<size_t>(n));
      if (t == '=') out->str = out->str.substr(4);  // "txt:" prefix
      return next + static_cast<size_t>(n) + 2 - pos;
    }
    case '*': {
      int64_t n = std::strtoll(line.c_str(), nullptr, 10);
      if (n < 0) {
        out->type = Reply::kNull;
        return next - pos;
      }
      return aggregate(Reply::kArray, n);
    }
    case '~':
      return aggregate(Reply::kSet, std::strtoll(line.c_str(), nullptr, 10));
    case '>':
      return aggregate(Reply::kPush, std::strtoll(line.c_str(), nullptr, 10));
    case '%':
      return aggregate(Reply::kMap, 2 * std::strtoll(line.c_str(), nullptr, 10));
    default:
      throw std::runtime_error("bad reply byte: " + std::string(1, t));
  }
}

TestClient::TestClient(ServerConfig config, std::function<int64_t()> clock) {
  server_ = std::make_unique<Server>(config);
  Status st = server_->Init(std::move(clock));
  if (!st.ok()) throw std::runtime_error(st.ToString());
  conn_ = NewConnection();
}

TestClient::~TestClient() {
  conn_.reset();
  server_.reset();
}

std::unique_ptr<Connection> TestClient::NewConnection() {
  return std::make_unique<Connection>(*server_, nullptr, -1, server_->NextClientId(),
                                      "127.0.0.1:50000", "127.0.0.1:6379");
}

std::string TestClient::TakeOutput(Connection& conn) {
  std::string out;
  auto& r = conn.output();
  while (r.WritableBytes() != 0) {
    struct iovec iov[64];
    size_t n = r.FillIovec(iov, 64);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      total += iov[i].iov_len;
    }
    r.Consume(total);
  }
  return out;
}

Reply TestClient::RunOn(Connection& conn, const std::vector<std::string>& args) {
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  conn.FeedForTest(req);
  if (!conn.ProcessInput() || conn.close_after_reply) closed_ = true;
  while (conn.blocked) {  // a deferred command: wait for its completion, then go on
    if (server_->RunLocalCompletions(10000) == 0) throw std::runtime_error("no completion");
    if (!conn.ProcessInput() || conn.close_after_reply) closed_ = true;
  }
  std::string out = TakeOutput(conn);
  Reply r;
  if (out.empty()) return r;  // no reply (SHUTDOWN)
  if (DecodeReply(out, 0, &r) != out.size()) throw std::runtime_error("not one reply: " + out);
  return r;
}

Reply TestClient::Run(const std::vector<std::string>& args) { return RunOn(*conn_, args); }

namespace {

std::vector<Reply> DecodeAll(const std::string& out) {
  std::vector<Reply> replies;
  for (size_t pos = 0; pos < out.size();) {
    Reply r;
    size_t used = DecodeReply(out, pos, &r);
    if (used == 0) throw std::runtime_error("incomplete reply: " + out.substr(pos));
    replies.push_back(std::move(r));
    pos += used;
  }
  return replies;
}

}  // namespace

std::vector<Reply> TestClient::RunRaw(const std::string& bytes) {
  conn_->FeedForTest(bytes);
  if (!conn_->ProcessInput() || conn_->close_after_reply) closed_ = true;
  while (conn_->blocked) {
    if (server_->RunLocalCompletions(10000) == 0) throw std::runtime_error("no completion");
    if (!conn_->ProcessInput() || conn_->close_after_reply) closed_ = true;
  }
  return DecodeAll(TakeOutput(*conn_));
}

std::vector<Reply> TestClient::RunInSteps(Connection& conn, const std::string& request,
                                          const std::function<void()>& between, int* steps) {
  conn.FeedForTest(request);
  if (!conn.ProcessInput()) throw std::runtime_error("the connection closed");
  if (!conn.blocked) throw std::runtime_error("not run in steps: " + TakeOutput(conn));
  *steps = 0;
  while (conn.blocked) {
    between();
    if (server_->RunLocalCompletions(10000) == 0) throw std::runtime_error("no step");
    ++*steps;
  }
  if (!conn.ProcessInput()) throw std::runtime_error("the connection closed");
  return DecodeAll(TakeOutput(conn));
}

}  // namespace kvcache::server
