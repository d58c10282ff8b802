// How OpenOrigin reads the FILE[:PREFIX] part of "npy:" and "safetensors:" specs.
#pragma once

#include <string>
#include <string_view>

namespace kvcache {

struct FileAndPrefix {
  std::string file;
  // As given (may contain ':'); empty when none was given, which the tensor-file origins read
  // as their default (npy: the file's stem and ':'; safetensors: no prefix).
  std::string prefix;
};

// Both a file name and a prefix may contain ':', so the split asks the file system:
//   1. the whole text names an existing file: that is FILE, and no PREFIX was given;
//   2. else FILE is the longest text before a ':' that names an existing file, and PREFIX is
//      everything after that ':' ("/d/emb.npy:emb:" gives "/d/emb.npy" and "emb:");
//   3. else nothing exists and opening will fail anyway: FILE ends at the first ':' after the
//      last '/', so that the error names the file the user most likely meant.
FileAndPrefix SplitFileAndPrefix(std::string_view text);

}  // namespace kvcache
