// Helpers shared by the origin tests: a scratch directory, a free port, reading an origin.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/origin.h"

namespace kvcache::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/kvcache_origin_test.XXXXXX";
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Every key/value in [begin, end), by Scan.
inline std::map<std::string, std::string> ScanAll(Origin* origin, std::string_view begin = "",
                                                  std::string_view end = "") {
  std::map<std::string, std::string> out;
  Status s = origin->Scan(begin, end, [&](std::string_view k, std::string_view v) {
    out.emplace(k, v);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// One MultiGet of one key.
inline OriginValue GetOne(Origin* origin, std::string_view key) {
  std::vector<OriginValue> out;
  std::string_view keys[] = {key};
  origin->MultiGet(keys, &out);
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? OriginValue{} : out[0];
}

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0); -1 on error.
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) close(fd);
  return ok ? ntohs(addr.sin_port) : -1;
}

using KV = std::pair<std::string_view, std::string_view>;

}  // namespace kvcache::testing
