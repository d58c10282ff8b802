// TEMPORARY: the hash family is being written; this empty table keeps the build whole.
#include "server/command.h"

namespace kvcache::server {

void RegisterHashFamily(CommandRegistry*) {}

}  // namespace kvcache::server
