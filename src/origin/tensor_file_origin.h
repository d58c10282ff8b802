// Tensor-file origins: one .npy table or one .safetensors file, memory-mapped, as a read-only
// Origin whose values carry their dtype and shape (OriginValue::is_tensor).
//
// Keys:
//   npy          PREFIX<row>: row `row` of the table (decimal, no sign, no leading zeros), with
//                shape [columns] for a 2-D table and [] for a 1-D one. Any other key, or a row
//                past the end, is NotFound.
//   safetensors  PREFIX<name>: the whole tensor <name>; PREFIX<name>:<row>: a row of a 2-D
//                tensor (shape [columns]). A name that exists as a whole wins over the row
//                reading (a tensor may itself be called "a:1").
// An empty prefix means the default: for npy the file's stem and ':' ("emb.npy" -> "emb:"), for
// safetensors nothing (keys are the tensor names).
//
// MultiGet copies each row straight out of the mapping; the mapping is advised MADV_RANDOM, so a
// lookup reads only the pages of its row. Scan visits every row (npy, in row order) or every whole
// tensor (safetensors, in key order) without copying: the values it passes point into the
// mapping, which it reads ahead with MADV_WILLNEED. Scan's bounds are keys in the origin's order:
// for npy, PREFIX<n> stands for row n, any other text sorts as bytes against the prefix
// (before all rows or after them); for safetensors they compare as bytes.
//
// MultiPut and MultiErase return InvalidArgument: these origins are read-only. Thread-safe: the
// origins are immutable once open. The file must not be truncated or rewritten in place while
// open (see tensor/mapped_file.h).
#pragma once

#include <memory>
#include <string>

#include "kvcache/origin.h"
#include "kvcache/status.h"

namespace kvcache {

// Opens `file` as an npy origin named "npy:FILE:PREFIX". IOError if the file cannot be read,
// InvalidArgument (naming the file and the fault) if it is not a 1-D or 2-D .npy table.
Status OpenNpyOrigin(const std::string& file, const std::string& prefix,
                     std::unique_ptr<Origin>* out);

// Opens `file` as a safetensors origin named "safetensors:FILE:PREFIX". Errors as above.
Status OpenSafetensorsOrigin(const std::string& file, const std::string& prefix,
                             std::unique_ptr<Origin>* out);

}  // namespace kvcache
