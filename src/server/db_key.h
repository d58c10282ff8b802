// How a client's key in database N is stored in the shared engine (see KeySpaceOf in
// kvcache/cache.h): database 0's keys as they are, so the common case costs nothing; others as
// 0xFF, N, key. A database 0 key that itself begins with 0xFF is stored as 0xFF, 0, key, so the
// two forms never collide, and so is the empty key, which Redis allows and the engine does not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kvcache/cache.h"

namespace kvcache::server {

inline bool DbKeyNeedsPrefix(uint8_t db, std::string_view key) {
  return db != 0 || key.empty() || static_cast<uint8_t>(key[0]) == 0xFF;
}

inline std::string EngineKey(uint8_t db, std::string_view user_key) {
  if (!DbKeyNeedsPrefix(db, user_key)) return std::string(user_key);
  std::string k;
  k.reserve(user_key.size() + 2);
  k.push_back(static_cast<char>(0xFF));
  k.push_back(static_cast<char>(db));
  k.append(user_key);
  return k;
}

inline uint8_t DbOf(std::string_view engine_key) { return KeySpaceOf(engine_key); }

inline std::string_view UserKeyOf(std::string_view engine_key) {
  return engine_key.size() >= 2 && static_cast<uint8_t>(engine_key[0]) == 0xFF
             ? engine_key.substr(2)
             : engine_key;
}

}  // namespace kvcache::server
