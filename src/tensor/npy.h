// NpyFile: a NumPy .npy table (format versions 1.0, 2.0 and 3.0), memory-mapped read-only, one
// row per key.
//
// The header (a Python dict literal with 'descr', 'fortran_order' and 'shape') is parsed here,
// strictly: anything NumPy would not write for a plain C-order array of a supported dtype is
// refused with a message that names the file and what is wrong. A table is 1-D (a row is one
// element) or 2-D (a row is shape[1] elements). The data must be exactly shape x itemsize bytes;
// the parser never reads outside the bytes it is given.
//
// Thread-safe: an NpyFile is immutable after Open. See MappedFile for the rule about changing
// the file while it is open.
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

// NumPy's own limit on the header (numpy.lib.format._MAX_HEADER_SIZE).
inline constexpr size_t kNpyMaxHeaderBytes = 10000;

// Where a .npy table's data lies and what it holds.
struct NpyLayout {
  int version = 0;  // format major version: 1, 2 or 3
  Dtype dtype = Dtype::kU8;
  std::vector<int64_t> shape;  // [rows] or [rows, columns]
  size_t data_offset = 0;      // from the start of the file
  uint64_t data_bytes = 0;     // == product(shape) * DtypeSize(dtype) == file size - data_offset
};

// Validates `bytes` as a whole .npy file; `name` (the path) prefixes every error message.
// InvalidArgument when the contents are not an acceptable table.
Status ParseNpy(std::span<const uint8_t> bytes, std::string_view name, NpyLayout* out);

class NpyFile {
 public:
  // Maps and validates `path`. IOError if it cannot be read, InvalidArgument if it is not an
  // acceptable .npy table.
  static Status Open(const std::string& path, std::unique_ptr<NpyFile>* out);

  const std::string& path() const { return file_->path(); }
  int version() const { return layout_.version; }
  Dtype dtype() const { return layout_.dtype; }
  const std::vector<int64_t>& shape() const { return layout_.shape; }
  // The shape of one row: [columns] for a 2-D table, [] for a 1-D one.
  std::span<const int64_t> row_shape() const {
    return std::span<const int64_t>(layout_.shape).subspan(1);
  }
  uint64_t rows() const { return static_cast<uint64_t>(layout_.shape[0]); }
  size_t row_bytes() const { return row_bytes_; }
  // REQUIRES: i < rows().
  const uint8_t* row(uint64_t i) const { return data() + i * row_bytes_; }
  const uint8_t* data() const { return file_->data() + layout_.data_offset; }
  uint64_t data_bytes() const { return layout_.data_bytes; }
  const MappedFile& file() const { return *file_; }

 private:
  NpyFile(std::unique_ptr<MappedFile> file, NpyLayout layout);

  std::unique_ptr<MappedFile> file_;
  NpyLayout layout_;
  size_t row_bytes_;
};

}  // namespace kvcache::tensor
