// TEMPORARY: the keyspace family is being written; this empty table keeps the build whole.
#include "server/command.h"

namespace kvcache::server {

void RegisterKeyspaceFamily(CommandRegistry*) {}

}  // namespace kvcache::server
