// Helpers for the tensor-file tests: a scratch directory, file I/O, and running Python with
// NumPy (the system's /usr/bin/python3) to write real .npy and .safetensors files.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace kvcache::tensor::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

// Python defined before every script: numpy as np, and write_safetensors(path, tensors,
// metadata=None, pad=True), which follows the format (huggingface/safetensors) by hand since the
// safetensors package is not installed. `tensors` maps a name to a numpy array or to a tuple
// (dtype name, shape, raw bytes); data is laid out in name order. bf16(a) gives the raw bytes
// of a float array rounded to bfloat16 (nearest even).
inline constexpr const char* kPythonPrelude = R"PY(
import json, struct, sys, os
import numpy as np

ST_DTYPES = {'float64': 'F64', 'float32': 'F32', 'float16': 'F16', 'int64': 'I64',
             'int32': 'I32', 'int16': 'I16', 'int8': 'I8', 'uint8': 'U8', 'bool': 'BOOL',
             'uint16': 'U16', 'uint32': 'U32', 'uint64': 'U64'}

def bf16(a):
    bits = np.ascontiguousarray(a, dtype='<f4').view('<u4').astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype('<u2').tobytes()

def write_safetensors(path, tensors, metadata=None, pad=True):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, tuple):
            dtype, shape, raw = t
        else:
            t = np.array(t, order='C')  # (ascontiguousarray would make a 0-D array 1-D)
            raw = t.astype(t.dtype.newbyteorder('<')).tobytes()
            dtype, shape = ST_DTYPES[t.dtype.name], list(t.shape)
        header[name] = {'dtype': dtype, 'shape': list(shape),
                        'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    if pad:
        text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
)PY";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/kvcache_tensor_test.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "writing " << path;
}

// Whether /usr/bin/python3 can import numpy (checked once).
inline bool HaveNumpy() {
  static const bool have =
      std::system((std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
  return have;
}

// Runs kPythonPrelude + `code` with the working directory set to `dir`.
inline ::testing::AssertionResult RunPython(const TempDir& dir, const std::string& code) {
  const std::string script = dir / "gen.py";
  std::ofstream(script) << kPythonPrelude << code << "\n";
  const std::string cmd = "cd '" + dir.path() + "' && " + kPython + " gen.py > gen.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return ::testing::AssertionFailure() << "python failed:\n"
                                         << code << "\n"
                                         << ReadFile(dir / "gen.log");
  }
  return ::testing::AssertionSuccess();
}

#define KV_REQUIRE_NUMPY()                                                              \
  do {                                                                                  \
    if (!::kvcache::tensor::testing::HaveNumpy()) {                                     \
      GTEST_SKIP() << "needs " << ::kvcache::tensor::testing::kPython << " with numpy"; \
    }                                                                                   \
  } while (0)

// The bytes as an exactly sized heap buffer, so that AddressSanitizer catches any read past the
// end (a mapping would hide reads up to the end of its last page).
inline std::vector<uint8_t> Bytes(std::string_view s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace kvcache::tensor::testing
