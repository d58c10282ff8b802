// MappedFile: a whole file mapped read-only into memory, for the tensor-file readers.
//
// Contract: the mapping lives as long as the object and is immutable, so any number of threads
// may read it at once. The file must not be truncated or rewritten in place while it is mapped
// (as with numpy.memmap): reading a page that no longer exists raises SIGBUS. Replace a file by
// writing a new one and renaming it over the old, which leaves the mapping intact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "kvcache/status.h"

namespace kvcache::tensor {

class MappedFile {
 public:
  // Maps `path`. An empty file is mapped as an empty span. IOError if it cannot be opened or
  // mapped, InvalidArgument if it is not a regular file.
  static Status Open(const std::string& path, std::unique_ptr<MappedFile>* out);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Access-pattern hints for [offset, offset + length) (clamped to the file), widened to whole
  // pages. Random: do not read ahead (row lookups touch one or two pages). WillNeed: start
  // reading the range now (preloading). Failures are ignored: these are hints.
  void AdviseRandom(size_t offset, size_t length) const;
  void AdviseWillNeed(size_t offset, size_t length) const;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  void Advise(size_t offset, size_t length, int advice) const;

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace kvcache::tensor
