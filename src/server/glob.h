// Redis-style glob matching (KEYS, SCAN MATCH, CONFIG GET): *, ?, [abc], [^a-z], \x.
#pragma once

#include <string_view>

namespace kvcache::server {

bool GlobMatch(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace kvcache::server
