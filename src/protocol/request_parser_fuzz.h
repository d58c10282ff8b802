// The body of the RequestParser fuzz target, shared by libFuzzer and a GoogleTest run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvcache::protocol {

// Parses `data` as a client stream twice, all at once and in pieces of pseudo-random sizes (the
// unconsumed bytes moving to a new buffer before each piece), and checks the parser's contract:
// consumed never exceeds what was given, multibulk arguments lie inside the request, kNeedMore
// consumes nothing, both runs yield the same commands, and work stays linear in the input. The
// first byte picks the limits, the authentication state and the piece sizes. Returns false and
// sets *failure when a check fails.
bool CheckRequestParser(const uint8_t* data, size_t size, std::string* failure);

}  // namespace kvcache::protocol
