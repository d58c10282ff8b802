// .safetensors parsing: header length, JSON header (with JsonReader), then the offset checks of
// the reference reader.
#include "tensor/safetensors.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <utility>

#include "tensor/json_reader.h"

namespace kvcache::tensor {

struct SafetensorsFile::Index {
  absl::flat_hash_map<std::string_view, size_t> by_name;
};

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Reads one tensor's entry; the error (if any) is left in the reader.
bool ReadTensor(JsonReader* json, SafetensorsTensor* t) {
  bool have_dtype = false, have_shape = false, have_offsets = false;
  std::string dtype;
  if (json->PeekChar() != '{') {
    return json->Fail("tensor '" + t->name +
                      "' must be an object with dtype, shape and data_offsets");
  }
  bool ok = json->ReadObject([&](const std::string& field) {
    if (field == "dtype") {
      have_dtype = true;
      return json->ReadString(&dtype);
    }
    if (field == "shape") {
      have_shape = true;
      t->shape.clear();
      return json->ReadArray([&] {
        uint64_t dim;
        if (!json->ReadUint64(&dim)) return false;
        if (dim > static_cast<uint64_t>(INT64_MAX)) return json->Fail("dimension over 2^63 - 1");
        t->shape.push_back(static_cast<int64_t>(dim));
        return true;
      });
    }
    if (field == "data_offsets") {
      have_offsets = true;
      int count = 0;
      return json->ReadArray([&] {
        if (count == 2) return json->Fail("data_offsets must have two elements");
        return json->ReadUint64(count++ == 0 ? &t->begin : &t->end);
      }) && (count == 2 || json->Fail("data_offsets must have two elements"));
    }
    return json->SkipValue();  // the reference reader ignores unknown fields too
  });
  if (!ok) return false;
  if (!have_dtype) return json->Fail("tensor '" + t->name + "' has no dtype");
  if (!have_shape) return json->Fail("tensor '" + t->name + "' has no shape");
  if (!have_offsets) return json->Fail("tensor '" + t->name + "' has no data_offsets");
  Status s = DtypeFromSafetensors(dtype, &t->dtype);
  if (!s.ok()) return json->Fail("tensor '" + t->name + "': " + s.message());
  return true;
}

}  // namespace

Status ParseSafetensors(std::span<const uint8_t> bytes, std::string_view name,
                        SafetensorsLayout* out) {
  const std::string prefix = std::string(name) + ": ";
  auto invalid = [&](const std::string& what) { return Status::InvalidArgument(prefix + what); };
  const uint64_t size = bytes.size();
  if (size < 8) {
    return invalid("file is " + std::to_string(size) +
                   " bytes, too short for a safetensors header length");
  }
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= uint64_t{bytes[i]} << (8 * i);
  if (header_bytes > kSafetensorsMaxHeaderBytes) {
    return invalid("header length " + std::to_string(header_bytes) + " is over the limit of " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  if (header_bytes > size - 8) {
    return invalid("header length " + std::to_string(header_bytes) +
                   " runs past the end of the file (" + std::to_string(size) + " bytes)");
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, header_bytes);
  if (header.empty() || header[0] != '{') return invalid("the header does not start with '{'");

  SafetensorsLayout layout;
  layout.data_offset = 8 + header_bytes;
  layout.data_bytes = size - layout.data_offset;
  JsonReader json(header);
  bool ok = json.CheckUtf8() && json.ReadObject([&](const std::string& key) {
    if (key == "__metadata__") return json.SkipValue();
    layout.tensors.emplace_back();
    layout.tensors.back().name = key;
    return ReadTensor(&json, &layout.tensors.back());
  }) && json.ExpectEnd();
  if (!ok) return invalid("invalid header " + json.error());

  std::sort(layout.tensors.begin(), layout.tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (size_t i = 1; i < layout.tensors.size(); ++i) {
    if (layout.tensors[i].name == layout.tensors[i - 1].name) {
      return invalid("tensor '" + layout.tensors[i].name + "' appears twice in the header");
    }
  }

  std::vector<const SafetensorsTensor*> by_offset;
  by_offset.reserve(layout.tensors.size());
  for (const SafetensorsTensor& t : layout.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return std::pair(a->begin, a->end) < std::pair(b->begin, b->end);
  });
  uint64_t next = 0;
  for (const SafetensorsTensor* t : by_offset) {
    const std::string what = "tensor '" + t->name + "' ";
    if (t->begin != next || t->end < t->begin) {
      return invalid(what + "has data_offsets [" + std::to_string(t->begin) + ", " +
                     std::to_string(t->end) + "] but the data must continue at " +
                     std::to_string(next) + " (offsets overlap, leave a gap or go backwards)");
    }
    next = t->end;
    uint64_t need = DtypeSize(t->dtype), bound = need;
    for (int64_t dim : t->shape) {
      const uint64_t d = static_cast<uint64_t>(dim);
      if (__builtin_mul_overflow(bound, d == 0 ? 1 : d, &bound)) {
        return invalid(what + "has shape " + ShapeText(t->shape) + " whose size overflows");
      }
      need *= d;
    }
    if (t->bytes() != need) {
      return invalid(what + "has " + std::to_string(t->bytes()) + " bytes but shape " +
                     ShapeText(t->shape) + " of " + std::string(DtypeSafetensorsName(t->dtype)) +
                     " needs " + std::to_string(need));
    }
  }
  if (next != layout.data_bytes) {
    return invalid("the tensors cover " + std::to_string(next) +
                   " bytes of data but the file has " + std::to_string(layout.data_bytes) +
                   (next > layout.data_bytes ? " (truncated file?)" : " (trailing bytes)"));
  }
  *out = std::move(layout);
  return Status::OK();
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsLayout layout)
    : file_(std::move(file)), layout_(std::move(layout)), index_(std::make_unique<Index>()) {
  index_->by_name.reserve(layout_.tensors.size());
  for (size_t i = 0; i < layout_.tensors.size(); ++i) {
    index_->by_name.emplace(layout_.tensors[i].name, i);
  }
}

SafetensorsFile::~SafetensorsFile() = default;

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_->by_name.find(name);
  return it == index_->by_name.end() ? nullptr : &layout_.tensors[it->second];
}

Status SafetensorsFile::Open(const std::string& path, std::unique_ptr<SafetensorsFile>* out) {
  std::unique_ptr<MappedFile> file;
  Status s = MappedFile::Open(path, &file);
  if (!s.ok()) return s;
  SafetensorsLayout layout;
  s = ParseSafetensors(file->bytes(), path, &layout);
  if (!s.ok()) return s;
  out->reset(new SafetensorsFile(std::move(file), std::move(layout)));
  return Status::OK();
}

}  // namespace kvcache::tensor
