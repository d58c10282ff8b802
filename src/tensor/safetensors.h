// SafetensorsFile: a .safetensors file (u64 little-endian header length N, N bytes of JSON,
// then the data), memory-mapped read-only, its tensors found by name.
//
// Validation follows the reference reader (huggingface/safetensors, tensor.rs): N at most
// 100,000,000 and inside the file; the header valid UTF-8 JSON starting with '{'; every tensor
// has a dtype, a shape and data_offsets [begin, end] that, sorted, tile the data from 0 without
// gaps or overlaps; end - begin == elements x element size; 8 + N + the last end == the file
// size. "__metadata__" is checked as JSON and otherwise ignored; unknown fields of a tensor are
// ignored as the reference does. Stricter than the reference: duplicate tensor names, shapes
// whose size overflows 64 bits even with a zero dimension, and dtypes kvcache does not store
// (U16, U32, U64, FP8...) are refused, the last with a message that names the tensor.
//
// Thread-safe: a SafetensorsFile is immutable after Open. See MappedFile for the rule about
// changing the file while it is open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/status.h"
#include "tensor/dtype.h"
#include "tensor/mapped_file.h"

namespace kvcache::tensor {

// The reference reader's limit on N.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsTensor {
  std::string name;
  Dtype dtype = Dtype::kU8;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;

  uint64_t bytes() const { return end - begin; }
};

struct SafetensorsLayout {
  size_t data_offset = 0;  // 8 + N
  uint64_t data_bytes = 0;
  std::vector<SafetensorsTensor> tensors;  // sorted by name (bytewise)
};

// Validates `bytes` as a whole .safetensors file; `name` (the path) prefixes every error.
// InvalidArgument when the contents are not acceptable.
Status ParseSafetensors(std::span<const uint8_t> bytes, std::string_view name,
                        SafetensorsLayout* out);

class SafetensorsFile {
 public:
  // Maps and validates `path`. IOError if it cannot be read, InvalidArgument if the contents
  // are not acceptable.
  static Status Open(const std::string& path, std::unique_ptr<SafetensorsFile>* out);
  ~SafetensorsFile();

  const std::string& path() const { return file_->path(); }
  // Sorted by name.
  const std::vector<SafetensorsTensor>& tensors() const { return layout_.tensors; }
  // The tensor called `name`, or nullptr.
  const SafetensorsTensor* Find(std::string_view name) const;
  const uint8_t* data(const SafetensorsTensor& t) const { return data() + t.begin; }
  const uint8_t* data() const { return file_->data() + layout_.data_offset; }
  uint64_t data_bytes() const { return layout_.data_bytes; }
  const MappedFile& file() const { return *file_; }

 private:
  struct Index;
  SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsLayout layout);

  std::unique_ptr<MappedFile> file_;
  SafetensorsLayout layout_;
  std::unique_ptr<Index> index_;  // name -> position in layout_.tensors
};

}  // namespace kvcache::tensor
