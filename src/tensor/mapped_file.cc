// MappedFile: open, fstat, mmap, and madvise hints.
#include "tensor/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kvcache::tensor {

namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

Status MappedFile::Open(const std::string& path, std::unique_ptr<MappedFile>* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status::IOError("cannot open " + path + ": " + ErrnoText(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("cannot stat " + path + ": " + ErrnoText(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return Status::IOError("cannot map " + path + ": " + ErrnoText(err));
    }
    data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file open
  out->reset(new MappedFile(path, data, size));
  return Status::OK();
}

MappedFile::~MappedFile() {
  if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::AdviseRandom(size_t offset, size_t length) const {
  Advise(offset, length, MADV_RANDOM);
}

void MappedFile::AdviseWillNeed(size_t offset, size_t length) const {
  Advise(offset, length, MADV_WILLNEED);
}

void MappedFile::Advise(size_t offset, size_t length, int advice) const {
  if (offset >= size_ || length == 0) return;
  if (length > size_ - offset) length = size_ - offset;
  static const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t begin = offset / kPage * kPage;  // the mapping itself starts on a page
  ::madvise(const_cast<uint8_t*>(data_) + begin, offset + length - begin, advice);
}

}  // namespace kvcache::tensor
