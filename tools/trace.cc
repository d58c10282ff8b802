// Trace file readers for kvcache-sim.
#include "trace.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace kvcache::tools {

Status ParseTraceFormat(const std::string& name, TraceFormat* format) {
  if (name == "auto")
    *format = TraceFormat::kAuto;
  else if (name == "txt")
    *format = TraceFormat::kTxt;
  else if (name == "oracleGeneral")
    *format = TraceFormat::kOracleGeneral;
  else
    return Status::InvalidArgument("unknown trace format '" + name + "' (txt, oracleGeneral)");
  return Status::OK();
}

std::string TraceName(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  return base.substr(0, base.find('.'));
}

namespace {

// Like libCacheSim's text reader, which treats each line as a name, ids are numbered 1, 2, 3...
// in order of first appearance. Only hash-based policy details (W-TinyLFU's frequency filter)
// can tell the difference.
Status LoadTxt(const std::string& path, std::vector<uint64_t>* ids) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "r"), &std::fclose);
  if (!f) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  char line[256];
  size_t lineno = 0;
  std::unordered_map<unsigned long long, uint64_t> numbering;
  while (std::fgets(line, sizeof(line), f.get())) {
    ++lineno;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(line, &end, 10);
    if (end == line) {
      bool blank = std::strspn(line, " \t\r\n") == std::strlen(line);
      if (blank) continue;
      return Status::InvalidArgument(path + ":" + std::to_string(lineno) + ": not an object id");
    }
    if (errno == ERANGE) {
      return Status::InvalidArgument(path + ":" + std::to_string(lineno) + ": id out of range");
    }
    auto [it, inserted] = numbering.try_emplace(v, numbering.size() + 1);
    ids->push_back(it->second);
  }
  return Status::OK();
}

Status LoadOracleGeneral(const std::string& path, std::vector<uint64_t>* ids) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open " + path);
  constexpr size_t kRecord = 24;
  char rec[kRecord];
  while (in.read(rec, kRecord)) {
    uint64_t id;
    std::memcpy(&id, rec + 4, sizeof(id));
    ids->push_back(id);
  }
  if (in.gcount() != 0) {
    return Status::InvalidArgument(path + ": size is not a multiple of 24 bytes (truncated?)");
  }
  return Status::OK();
}

}  // namespace

Status LoadTrace(const std::string& path, TraceFormat format, std::vector<uint64_t>* ids) {
  if (format == TraceFormat::kAuto) {
    bool bin = path.size() > 4 && path.compare(path.size() - 4, 4, ".bin") == 0;
    format = bin || path.find("oracleGeneral") != std::string::npos ? TraceFormat::kOracleGeneral
                                                                    : TraceFormat::kTxt;
  }
  ids->clear();
  Status st = format == TraceFormat::kTxt ? LoadTxt(path, ids) : LoadOracleGeneral(path, ids);
  if (st.ok() && ids->empty()) st = Status::InvalidArgument(path + ": no requests");
  return st;
}

size_t CountDistinct(const std::vector<uint64_t>& ids) {
  std::unordered_set<uint64_t> s(ids.begin(), ids.end());
  return s.size();
}

}  // namespace kvcache::tools
