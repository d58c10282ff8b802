// Reading cache traces: one decimal object id per line (txt), or libCacheSim's oracleGeneral
// binary records (u32 time, u64 id, u32 size, i64 next access; little-endian, 24 bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvcache/status.h"

namespace kvcache::tools {

enum class TraceFormat { kAuto, kTxt, kOracleGeneral };

// Parses "txt" / "oracleGeneral" / "auto".
Status ParseTraceFormat(const std::string& name, TraceFormat* format);

// Reads the object ids of every request, in order. kAuto picks oracleGeneral for names ending
// in ".bin" or containing "oracleGeneral", txt otherwise.
Status LoadTrace(const std::string& path, TraceFormat format, std::vector<uint64_t>* ids);

// The trace's short name: its file name up to the first '.'.
std::string TraceName(const std::string& path);

// Number of distinct ids.
size_t CountDistinct(const std::vector<uint64_t>& ids);

}  // namespace kvcache::tools
