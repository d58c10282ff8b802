// NpyOrigin and SafetensorsOrigin: key parsing, row copies and scans over the mapped files.
#include "origin/tensor_file_origin.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/npy.h"
#include "tensor/safetensors.h"

namespace kvcache {
namespace {

using tensor::DtypeName;
using tensor::NpyFile;
using tensor::SafetensorsFile;
using tensor::SafetensorsTensor;

// How far ahead Scan asks the kernel to read.
constexpr uint64_t kReadAheadBytes = 8 << 20;

// A row number as keys spell it: "0" or [1-9][0-9]*, fitting 64 bits.
bool ParseRow(std::string_view text, uint64_t* row) {
  if (text.empty() || (text[0] == '0' && text.size() > 1)) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *row);
  return ec == std::errc() && end == text.data() + text.size();
}

void SetTensor(std::string_view dtype, std::span<const int64_t> shape, const uint8_t* data,
               uint64_t bytes, OriginValue* v) {
  v->status = Status::OK();
  v->value.assign(reinterpret_cast<const char*>(data), bytes);
  v->is_tensor = true;
  v->tensor.dtype.assign(dtype);
  v->tensor.shape.assign(shape.begin(), shape.end());
}

void SetNotFound(OriginValue* v) {
  v->status = Status::NotFound("no such key in the tensor file");
  v->value.clear();
  v->is_tensor = false;
  v->tensor.dtype.clear();
  v->tensor.shape.clear();
}

Status ReadOnly(const std::string& name) {
  return Status::InvalidArgument("origin " + name + " is read-only");
}

class NpyOrigin final : public Origin {
 public:
  NpyOrigin(std::unique_ptr<NpyFile> file, std::string prefix)
      : file_(std::move(file)),
        prefix_(std::move(prefix)),
        name_("npy:" + file_->path() + ":" + prefix_),
        dtype_(DtypeName(file_->dtype())) {
    file_->file().AdviseRandom(0, file_->file().size());
  }

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->resize(keys.size());
    const std::span<const int64_t> shape = file_->row_shape();
    for (size_t i = 0; i < keys.size(); ++i) {
      uint64_t row;
      if (keys[i].starts_with(prefix_) && ParseRow(keys[i].substr(prefix_.size()), &row) &&
          row < file_->rows()) {
        SetTensor(dtype_, shape, file_->row(row), file_->row_bytes(), &(*out)[i]);
      } else {
        SetNotFound(&(*out)[i]);
      }
    }
  }

  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>>, bool) override {
    return ReadOnly(name_);
  }
  Status MultiErase(std::span<const std::string_view>, bool) override { return ReadOnly(name_); }

  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    const uint64_t first = begin.empty() ? 0 : Position(begin);
    const uint64_t last = end.empty() ? file_->rows() : Position(end);
    const size_t row_bytes = file_->row_bytes();
    const size_t data_offset = file_->data() - file_->file().data();
    uint64_t advised = 0;  // data bytes from row `first` on that were advised WILLNEED
    std::string key = prefix_;
    char digits[24];
    for (uint64_t row = first; row < last; ++row) {
      const uint64_t at = (row - first) * row_bytes;
      if (at + row_bytes > advised) {
        const uint64_t ahead = std::max<uint64_t>(kReadAheadBytes, row_bytes);
        file_->file().AdviseWillNeed(data_offset + first * row_bytes + at, ahead);
        advised = at + ahead;
      }
      const auto [p, ec] = std::to_chars(digits, digits + sizeof(digits), row);
      key.resize(prefix_.size());
      key.append(digits, p);
      const std::string_view value(reinterpret_cast<const char*>(file_->row(row)), row_bytes);
      if (!fn(key, value)) break;
    }
    return Status::OK();
  }

  uint64_t ApproximateBytes() const override { return file_->data_bytes(); }
  bool read_only() const override { return true; }
  std::string name() const override { return name_; }

 private:
  // Where `bound` falls in row order: PREFIX<n> is row n (clamped to the end); PREFIX<n><more>
  // falls just after row n; any other text sorts as bytes against the keys, which all start with
  // the prefix and continue with a digit.
  uint64_t Position(std::string_view bound) const {
    const uint64_t rows = file_->rows();
    if (!bound.starts_with(prefix_)) return bound < std::string_view(prefix_) ? 0 : rows;
    std::string_view rest = bound.substr(prefix_.size());
    if (rest.empty() || rest[0] < '0') return 0;
    if (rest[0] > '9') return rows;
    uint64_t row = 0;
    size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(rest[n] - '0');
      row = row <= (UINT64_MAX - 9) / 10 ? row * 10 + digit : UINT64_MAX;
      ++n;
    }
    if (n < rest.size() && row < rows) ++row;
    return std::min(row, rows);
  }

  std::unique_ptr<NpyFile> file_;
  std::string prefix_;
  std::string name_;
  std::string_view dtype_;
};

class SafetensorsOrigin final : public Origin {
 public:
  SafetensorsOrigin(std::unique_ptr<SafetensorsFile> file, std::string prefix)
      : file_(std::move(file)),
        prefix_(std::move(prefix)),
        name_("safetensors:" + file_->path() + ":" + prefix_) {
    file_->file().AdviseRandom(0, file_->file().size());
  }

  void MultiGet(std::span<const std::string_view> keys, std::vector<OriginValue>* out) override {
    out->resize(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) Get(keys[i], &(*out)[i]);
  }

  Status MultiPut(std::span<const std::pair<std::string_view, std::string_view>>, bool) override {
    return ReadOnly(name_);
  }
  Status MultiErase(std::span<const std::string_view>, bool) override { return ReadOnly(name_); }

  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    std::string key = prefix_;
    for (const SafetensorsTensor& t : file_->tensors()) {
      key.resize(prefix_.size());
      key.append(t.name);
      if (key < begin) continue;
      if (!end.empty() && key >= end) break;
      const size_t offset = file_->data(t) - file_->file().data();
      file_->file().AdviseWillNeed(offset, t.bytes());
      const std::string_view value(reinterpret_cast<const char*>(file_->data(t)), t.bytes());
      if (!fn(key, value)) break;
    }
    return Status::OK();
  }

  uint64_t ApproximateBytes() const override { return file_->data_bytes(); }
  bool read_only() const override { return true; }
  std::string name() const override { return name_; }

 private:
  void Get(std::string_view key, OriginValue* v) const {
    if (!key.starts_with(prefix_)) return SetNotFound(v);
    key.remove_prefix(prefix_.size());
    if (const SafetensorsTensor* t = file_->Find(key)) {
      return SetTensor(DtypeName(t->dtype), t->shape, file_->data(*t), t->bytes(), v);
    }
    const size_t colon = key.rfind(':');
    uint64_t row;
    if (colon == std::string_view::npos || !ParseRow(key.substr(colon + 1), &row)) {
      return SetNotFound(v);
    }
    const SafetensorsTensor* t = file_->Find(key.substr(0, colon));
    if (t == nullptr || t->shape.size() != 2 || row >= static_cast<uint64_t>(t->shape[0])) {
      return SetNotFound(v);
    }
    const uint64_t row_bytes = t->bytes() / t->shape[0];
    const std::span<const int64_t> row_shape(t->shape.data() + 1, 1);
    SetTensor(DtypeName(t->dtype), row_shape, file_->data(*t) + row * row_bytes, row_bytes, v);
  }

  std::unique_ptr<SafetensorsFile> file_;
  std::string prefix_;
  std::string name_;
};

}  // namespace

Status OpenNpyOrigin(const std::string& file, const std::string& prefix,
                     std::unique_ptr<Origin>* out) {
  std::unique_ptr<NpyFile> npy;
  if (Status s = NpyFile::Open(file, &npy); !s.ok()) return s;
  std::string p = prefix.empty() ? std::filesystem::path(file).stem().string() + ":" : prefix;
  *out = std::make_unique<NpyOrigin>(std::move(npy), std::move(p));
  return Status::OK();
}

Status OpenSafetensorsOrigin(const std::string& file, const std::string& prefix,
                             std::unique_ptr<Origin>* out) {
  std::unique_ptr<SafetensorsFile> st;
  if (Status s = SafetensorsFile::Open(file, &st); !s.ok()) return s;
  *out = std::make_unique<SafetensorsOrigin>(std::move(st), prefix);
  return Status::OK();
}

}  // namespace kvcache
