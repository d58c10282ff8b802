// _kvcache: the engine as a Python type (kvcache.Cache), with tensor values as NumPy arrays that
// share the cache's memory.
//
// A tensor that get() returns is a read-only ndarray over the stored item itself: its base object
// owns a pinned Handle (and a reference to the cache), so the memory stays valid and unchanged
// while the array lives, even after the key is overwritten, erased or evicted. get_batch() copies
// rows into one new array with the GIL released; that copy is its purpose (a batch for a model).
//
// Errors are Python exceptions: TypeError for a key or value of the wrong type, ValueError for
// bad arguments and values the cache refuses, KeyError for a missing key in get_batch(), and
// kvcache.NoSpaceError when every item that could make room is pinned.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/cache.h"
#include "kvcache/options.h"
#include "kvcache/tensor.h"

namespace py = pybind11;

namespace kvcache::python {
namespace {

PyObject* g_error = nullptr;           // kvcache.Error
PyObject* g_no_space_error = nullptr;  // kvcache.NoSpaceError(Error)

// Values at least this big are copied with the GIL released; below it the release costs more.
constexpr size_t kReleaseGilBytes = 64 << 10;

[[noreturn]] void Raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

[[noreturn]] void RaiseStatus(const Status& st) {
  if (st.IsInvalidArgument()) throw py::value_error(st.message());
  if (st.IsNoSpace()) Raise(g_no_space_error, st.message());
  Raise(g_error, st.ToString());
}

std::string TypeName(py::handle obj) { return Py_TYPE(obj.ptr())->tp_name; }

// A key for a message: quoted, with bytes that are not printable ASCII as \xNN.
std::string Quoted(std::string_view key) {
  static const char kHex[] = "0123456789abcdef";
  std::string s = "\"";
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      s += static_cast<char>(c);
    } else {
      s += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return s + "\"";
}

// ---- Keys.

// The bytes of a str (UTF-8) or bytes key, borrowed from the object.
std::string_view KeyView(py::handle obj) {
  PyObject* p = obj.ptr();
  if (PyUnicode_Check(p)) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(p, &n);
    if (s == nullptr) throw py::error_already_set();
    return {s, static_cast<size_t>(n)};
  }
  if (PyBytes_Check(p)) {
    return {PyBytes_AS_STRING(p), static_cast<size_t>(PyBytes_GET_SIZE(p))};
  }
  throw py::type_error("a key must be str or bytes, not " + TypeName(obj));
}

// The keys of a batch call, readable with the GIL released: views into a buffer of formatted
// keys, or into str/bytes objects that `owner` (a tuple) keeps alive whatever the caller does to
// its list meanwhile.
//
// With `distinct`, rows that name one key share it (and its lookup): ids drawn from a skewed
// distribution repeat (a batch of 512 Zipf(0.99) ids over 100k rows has ~350 distinct ones),
// and a lookup costs several times a row copy.
struct KeyBatch {
  std::unique_ptr<char[]> formatted;
  py::object owner;
  std::vector<std::string_view> keys;  // one per row, or the distinct ones by first appearance
  std::vector<uint32_t> of_row;        // distinct: row i names keys[of_row[i]]
  std::vector<uint32_t> first_row;     // distinct: keys[k] first appears at row first_row[k]

  size_t rows() const { return of_row.empty() ? keys.size() : of_row.size(); }
  std::string_view row(size_t i) const { return of_row.empty() ? keys[i] : keys[of_row[i]]; }
};

// Fills batch->of_row and first_row for n items; returns the rows of the distinct items, in
// order of first appearance. same(a, b) compares the items of rows a and b.
template <typename Hash, typename Same>
std::vector<size_t> Dedupe(size_t n, Hash hash, Same same, KeyBatch* batch) {
  if (n >= (size_t{1} << 31)) throw std::bad_alloc();
  std::vector<size_t> distinct;
  distinct.reserve(n);
  batch->of_row.resize(n);
  size_t slots = 16;
  while (slots < 2 * n) slots *= 2;
  std::vector<uint32_t> table(slots, 0);  // 1 + index into distinct; 0 is empty
  for (size_t i = 0; i < n; ++i) {
    for (size_t s = hash(i) & (slots - 1);; s = (s + 1) & (slots - 1)) {
      const uint32_t k = table[s];
      if (k == 0) {
        table[s] = static_cast<uint32_t>(distinct.size() + 1);
        batch->of_row[i] = static_cast<uint32_t>(distinct.size());
        distinct.push_back(i);
        break;
      }
      if (same(distinct[k - 1], i)) {
        batch->of_row[i] = k - 1;
        break;
      }
    }
  }
  batch->first_row.assign(distinct.begin(), distinct.end());
  return distinct;
}

// Integer ids (a sequence or an ndarray) as a 1-D int64 array.
py::array_t<int64_t> IdsArray(py::handle keys) {
  py::array a = py::array::ensure(keys);
  if (!a || (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')) {
    if (a && a.size() == 0) return py::array_t<int64_t>(0);
    throw py::type_error(
        "with prefix=, keys must be integer ids (a sequence or an integer "
        "ndarray), not " +
        TypeName(keys));
  }
  if (a.ndim() != 1) throw py::value_error("integer ids must be a 1-D array");
  return py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
}

// The keys of a batch call: a sequence of str/bytes, or integer ids with a prefix ("emb:" and
// 42 make "emb:42", formatted here: a Python str per key would cost more than the lookup).
KeyBatch BatchKeys(py::handle keys, py::handle prefix, bool distinct) {
  KeyBatch batch;
  if (!prefix.is_none()) {
    const std::string_view pre = KeyView(prefix);
    py::array_t<int64_t> ids_array = IdsArray(keys);
    const int64_t* ids = ids_array.data();
    std::vector<size_t> rows;
    if (distinct) {
      rows = Dedupe(
          static_cast<size_t>(ids_array.size()),
          [&](size_t i) {
            const uint64_t x = static_cast<uint64_t>(ids[i]) * 0x9E3779B97F4A7C15ull;
            return static_cast<size_t>(x ^ (x >> 29));
          },
          [&](size_t a, size_t b) { return ids[a] == ids[b]; }, &batch);
    } else {
      rows.resize(static_cast<size_t>(ids_array.size()));
      for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    }
    const size_t stride = pre.size() + 20;  // an int64 has at most 20 characters
    batch.formatted = std::make_unique_for_overwrite<char[]>(rows.size() * stride);
    batch.keys.resize(rows.size());
    for (size_t k = 0; k < rows.size(); ++k) {
      char* key = batch.formatted.get() + k * stride;
      std::memcpy(key, pre.data(), pre.size());
      char* end = std::to_chars(key + pre.size(), key + stride, ids[rows[k]]).ptr;
      batch.keys[k] = std::string_view(key, static_cast<size_t>(end - key));
    }
    return batch;
  }
  if (PyUnicode_Check(keys.ptr()) || PyBytes_Check(keys.ptr())) {
    throw py::type_error("keys must be a sequence of keys, not one " + TypeName(keys));
  }
  if (py::isinstance<py::array>(keys)) {
    const char kind = py::reinterpret_borrow<py::array>(keys).dtype().kind();
    if (kind == 'i' || kind == 'u') {
      throw py::type_error("integer ids need prefix= (e.g. prefix=\"emb:\")");
    }
  }
  if (!PySequence_Check(keys.ptr())) {
    throw py::type_error("keys must be a sequence of str or bytes, not " + TypeName(keys));
  }
  batch.owner = py::reinterpret_steal<py::object>(PySequence_Tuple(keys.ptr()));
  if (!batch.owner) throw py::error_already_set();
  const size_t n = static_cast<size_t>(PyTuple_GET_SIZE(batch.owner.ptr()));
  std::vector<std::string_view> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = KeyView(PyTuple_GET_ITEM(batch.owner.ptr(), i));
  if (!distinct) {
    batch.keys = std::move(all);
    return batch;
  }
  const std::hash<std::string_view> hash;
  std::vector<size_t> rows = Dedupe(
      n, [&](size_t i) { return hash(all[i]); },
      [&](size_t a, size_t b) { return all[a] == all[b]; }, &batch);
  batch.keys.resize(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) batch.keys[k] = all[rows[k]];
  return batch;
}

// The key of row i as the caller named it, for a KeyError.
py::object KeyObject(py::handle prefix, const KeyBatch& batch, size_t i) {
  if (batch.owner) {
    return py::reinterpret_borrow<py::object>(PyTuple_GET_ITEM(batch.owner.ptr(), i));
  }
  std::string_view k = batch.row(i);
  if (!prefix.is_none() && PyBytes_Check(prefix.ptr())) return py::bytes(k.data(), k.size());
  return py::str(k.data(), k.size());
}

// ---- Dtypes.

// The NumPy dtype of each Dtype; bf16 has none and is answered as its raw bits (uint16).
const py::dtype& NumpyDtype(Dtype d) {
  static const py::dtype* const kTypes[kNumDtypes] = {
      new py::dtype("float64"), new py::dtype("float32"), new py::dtype("float16"),
      new py::dtype("uint16"),  new py::dtype("int64"),   new py::dtype("int32"),
      new py::dtype("int16"),   new py::dtype("int8"),    new py::dtype("uint8"),
      new py::dtype("bool"),
  };
  return *kTypes[static_cast<int>(d)];
}

bool DtypeOfNumpy(const py::dtype& dt, Dtype* out) {
  struct Entry {
    char kind;
    ssize_t size;
    Dtype dtype;
  };
  static constexpr Entry kTypes[] = {
      {'f', 8, Dtype::kF64}, {'f', 4, Dtype::kF32}, {'f', 2, Dtype::kF16},
      {'i', 8, Dtype::kI64}, {'i', 4, Dtype::kI32}, {'i', 2, Dtype::kI16},
      {'i', 1, Dtype::kI8},  {'u', 1, Dtype::kU8},  {'b', 1, Dtype::kBool},
  };
  for (const Entry& e : kTypes) {
    if (e.kind == dt.kind() && e.size == dt.itemsize()) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

// An ndarray ready to store: C-contiguous, little-endian, of a supported dtype.
py::array StorableArray(py::handle value, Dtype* dtype) {
  py::array a = py::array::ensure(value, py::array::c_style);
  if (!a) throw py::type_error("cannot read " + TypeName(value) + " as an array");
  py::dtype dt = a.dtype();
  if (!DtypeOfNumpy(dt, dtype)) {
    throw py::type_error("unsupported dtype " + std::string(py::str(dt)) +
                         ": kvcache stores float64, float32, float16, int64, int32, int16, "
                         "int8, uint8 and bool tensors");
  }
  if (dt.byteorder() == '>') {
    a = py::array::ensure(a.attr("astype")(dt.attr("newbyteorder")("<")), py::array::c_style);
  }
  return a;
}

// Tensors have rank 1 to kMaxRank (the format stores at most 7 dimensions).
void CheckRank(ssize_t rank, const char* what) {
  if (rank < 1 || rank > kMaxRank) {
    throw py::value_error(std::string(what) + " has rank " + std::to_string(rank) +
                          ": kvcache stores tensors of rank 1 to " + std::to_string(kMaxRank) +
                          " (reshape a scalar to shape (1,))");
  }
}

std::string ShapeString(const TensorView& t) {
  std::string s = std::string(DtypeName(t.dtype)) + " (";
  for (int i = 0; i < t.rank; ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
  return s + (t.rank == 1 ? ",)" : ")");
}

// ---- Time.

Ttl TtlFrom(py::handle ttl, const char* what) {
  if (ttl.is_none()) return kDefaultTtl;
  const double seconds = PyFloat_AsDouble(ttl.ptr());
  if (seconds == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(std::string(what) + " must be a number of seconds or None, not " +
                         TypeName(ttl));
  }
  if (std::isinf(seconds) && seconds > 0) return kNoExpiry;
  if (!(seconds > 0)) {
    throw py::value_error(std::string(what) +
                          " must be a positive number of seconds, None "
                          "(the cache's default) or math.inf (never expires)");
  }
  double ms = std::ceil(seconds * 1000.0);
  if (ms > 9.0e15) return kNoExpiry;
  return Ttl(static_cast<int64_t>(ms));
}

// "2GiB", "512MiB", "1gb" (Redis: 1024^3), "1g" (10^9), "100kb", "1.5GiB", "4096".
size_t ParseCapacity(py::handle capacity) {
  if (PyLong_Check(capacity.ptr())) {
    const long long n = PyLong_AsLongLong(capacity.ptr());
    if (n == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error("capacity is out of range");
    }
    if (n <= 0) throw py::value_error("capacity must be a positive number of bytes");
    return static_cast<size_t>(n);
  }
  if (!PyUnicode_Check(capacity.ptr())) {
    throw py::type_error("capacity must be an int (bytes) or a str such as \"2GiB\", not " +
                         TypeName(capacity));
  }
  std::string text = py::cast<std::string>(capacity);
  std::string s;
  for (char c : text) {
    if (c != ' ' && c != '_') s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  size_t digits = 0;
  while (digits < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[digits])) || s[digits] == '.')) {
    ++digits;
  }
  std::string unit = s.substr(digits);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},         {"b", 1},       {"k", 1e3},      {"kb", 0x1p10},  {"kib", 0x1p10},
      {"m", 1e6},      {"mb", 0x1p20}, {"mib", 0x1p20}, {"g", 1e9},      {"gb", 0x1p30},
      {"gib", 0x1p30}, {"t", 1e12},    {"tb", 0x1p40},  {"tib", 0x1p40},
  };
  double mul = 0;
  for (const auto& [name, m] : kUnits) {
    if (unit == name) mul = m;
  }
  double number = 0;
  const char* first = s.data();
  auto [end, ec] = std::from_chars(first, first + digits, number);
  if (digits == 0 || ec != std::errc() || end != first + digits || mul == 0) {
    throw py::value_error("bad capacity \"" + text +
                          "\": use bytes or a number with a unit, "
                          "e.g. \"512MiB\", \"2GiB\", \"1gb\" (1024^3) or \"1g\" (10^9)");
  }
  double bytes = number * mul;
  if (!(bytes >= 1) || bytes > 0x1p62) {
    throw py::value_error("capacity \"" + text + "\" is out of range");
  }
  return static_cast<size_t>(bytes);
}

// ---- The cache.

// What a zero-copy array's base owns: a pin on the item, and the cache, which must outlive it.
struct PinnedItem {
  std::shared_ptr<Cache> cache;
  Handle handle;
};

class PyCache {
 public:
  PyCache(py::handle capacity, const std::string& policy, uint32_t shards, py::handle default_ttl) {
    Options o;
    o.capacity_bytes = ParseCapacity(capacity);
    o.policy = policy;
    o.shards = shards;
    Ttl ttl = TtlFrom(default_ttl, "default_ttl");
    o.default_ttl = ttl == kDefaultTtl ? kNoExpiry : ttl;
    Status st;
    std::unique_ptr<Cache> c = NewCache(o, &st);
    if (!c) throw py::value_error(st.message());
    cache_ = std::move(c);
  }

  void Put(py::handle key, py::handle value, py::handle ttl) {
    std::string_view k = KeyView(key);
    WriteOptions wo;
    wo.ttl = TtlFrom(ttl, "ttl");
    Status st;
    PyObject* v = value.ptr();
    if (py::isinstance<py::array>(value)) {
      Dtype dtype;
      py::array a = StorableArray(value, &dtype);
      CheckRank(a.ndim(), "the array");
      const size_t rank = static_cast<size_t>(a.ndim());
      int64_t dims[kMaxRank];
      for (size_t i = 0; i < rank; ++i) dims[i] = a.shape(i);
      std::string_view data(static_cast<const char*>(a.data()), a.nbytes());
      wo.kind = ValueKind::kTensor;
      auto store = [&] {
        std::string stored = EncodeTensor(dtype, std::span<const int64_t>(dims, rank), data);
        st = cache_->Write(k, stored, wo);
      };
      if (data.size() >= kReleaseGilBytes) {
        py::gil_scoped_release nogil;
        store();
      } else {
        store();
      }
    } else if (PyBytes_Check(v)) {
      std::string_view data(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
      st = WriteString(k, data, wo);
    } else if (PyByteArray_Check(v) || PyMemoryView_Check(v)) {
      // A buffer export keeps a bytearray from being resized while we read it without the GIL.
      struct Buffer {
        Py_buffer view;
        bool held = false;
        ~Buffer() {
          if (held) PyBuffer_Release(&view);
        }
      } buffer;
      buffer.held = PyObject_GetBuffer(v, &buffer.view, PyBUF_C_CONTIGUOUS) == 0;
      if (!buffer.held) {
        PyErr_Clear();  // not contiguous: copy it into bytes
        py::bytes copy = py::reinterpret_steal<py::bytes>(PyBytes_FromObject(v));
        if (!copy) throw py::error_already_set();
        std::string_view data(PyBytes_AS_STRING(copy.ptr()), PyBytes_GET_SIZE(copy.ptr()));
        st = WriteString(k, data, wo);
      } else {
        std::string_view data(static_cast<const char*>(buffer.view.buf), buffer.view.len);
        st = WriteString(k, data, wo);
      }
    } else {
      throw py::type_error("a value must be bytes, bytearray, memoryview or numpy.ndarray, not " +
                           TypeName(value) + (PyUnicode_Check(v) ? " (encode a str first)" : ""));
    }
    if (!st.ok()) RaiseStatus(st);
  }

  py::object Get(py::handle key, py::object default_value) {
    Handle h = cache_->Get(KeyView(key));
    if (!h) return default_value;
    TensorView t;
    if (h.kind() == ValueKind::kTensor && DecodeTensor(h.value(), &t)) {
      return ZeroCopyArray(std::move(h), t);
    }
    return py::bytes(h.value().data(), h.value().size());
  }

  py::object GetBatch(py::handle keys, py::handle prefix, const std::string& missing,
                      bool return_missing) {
    bool zero_missing = missing == "zero";
    if (!zero_missing && missing != "error") {
      throw py::value_error("missing must be \"error\" or \"zero\", not \"" + missing + "\"");
    }
    KeyBatch batch = BatchKeys(keys, prefix, /*distinct=*/true);
    Gather g;
    {
      py::gil_scoped_release nogil;
      g.Run(*cache_, batch, zero_missing);
    }
    std::unique_ptr<char, decltype(&std::free)> rows(g.rows, &std::free);
    switch (g.error) {
      case Gather::kNone:
        break;
      case Gather::kMissing: {
        py::object key = KeyObject(prefix, batch, g.error_row);
        PyErr_SetObject(PyExc_KeyError, key.ptr());
        throw py::error_already_set();
      }
      case Gather::kNotTensor:
        throw py::value_error("get_batch: key " + Quoted(batch.row(g.error_row)) +
                              " holds bytes, not a tensor");
      case Gather::kMismatch:
        throw py::value_error("get_batch needs tensors of one dtype and shape: key " +
                              Quoted(batch.row(g.first_row)) + " is " + ShapeString(g.first) +
                              ", key " + Quoted(batch.row(g.error_row)) + " is " +
                              ShapeString(g.mismatch));
    }
    std::vector<ssize_t> shape{static_cast<ssize_t>(batch.rows())};
    py::array out;
    if (rows) {
      for (int i = 0; i < g.first.rank; ++i) shape.push_back(g.first.dims[i]);
      char* data = rows.get();
      py::capsule owner(rows.release(), [](void* p) { std::free(p); });
      out = py::array(NumpyDtype(g.first.dtype), shape, data, owner);
    } else {
      // No key was found: nothing says the rows' dtype or shape.
      shape.push_back(0);
      out = py::array(py::dtype("float32"), shape);
    }
    if (!return_missing) return out;
    py::array_t<int64_t> missing_rows(static_cast<ssize_t>(g.missing.size()));
    std::copy(g.missing.begin(), g.missing.end(), missing_rows.mutable_data());
    return py::make_tuple(out, missing_rows);
  }

  size_t PutBatch(py::handle keys, py::handle table, py::handle prefix, py::handle ttl) {
    if (!py::isinstance<py::array>(table)) {
      throw py::type_error("table must be a numpy.ndarray of rows, not " + TypeName(table));
    }
    Dtype dtype;
    py::array a = StorableArray(table, &dtype);
    if (a.ndim() < 1) throw py::value_error("table must have a first (row) axis");
    CheckRank(a.ndim() - 1, "each row");
    KeyBatch batch = BatchKeys(keys, prefix, /*distinct=*/false);
    const size_t n = static_cast<size_t>(a.shape(0));
    if (batch.rows() != n) {
      throw py::value_error("put_batch: " + std::to_string(batch.rows()) + " keys for " +
                            std::to_string(n) + " rows");
    }
    WriteOptions wo;
    wo.ttl = TtlFrom(ttl, "ttl");
    wo.kind = ValueKind::kTensor;
    int64_t dims[kMaxRank];
    for (ssize_t i = 1; i < a.ndim(); ++i) dims[i - 1] = a.shape(i);
    const std::span<const int64_t> row_shape(dims, a.ndim() - 1);
    const size_t row_bytes = n == 0 ? 0 : a.nbytes() / n;
    const char* data = static_cast<const char*>(a.data());
    Status st;
    size_t stored = 0;
    {
      py::gil_scoped_release nogil;
      std::string value;
      for (; stored < n; ++stored) {
        value.assign(data + stored * row_bytes, row_bytes);
        AppendTensorTrailer(dtype, row_shape, &value);
        st = cache_->Write(batch.row(stored), value, wo);
        if (!st.ok()) break;
      }
    }
    if (!st.ok()) {
      std::string where = "put_batch stopped at row " + std::to_string(stored) + " (key " +
                          Quoted(batch.row(stored)) + "; the rows before it are stored): ";
      RaiseStatus(st.IsInvalidArgument() ? Status::InvalidArgument(where + st.message())
                  : st.IsNoSpace()       ? Status::NoSpace(where + st.message())
                                         : st);
    }
    return stored;
  }

  bool Delete(py::handle key) { return cache_->Erase(KeyView(key)); }
  bool Contains(py::handle key) { return cache_->Contains(KeyView(key)); }
  size_t Len() const { return cache_->Stats().items; }
  void Clear() { cache_->Clear(); }
  const char* policy() const { return cache_->policy_name(); }
  size_t shards() const { return cache_->shard_count(); }
  uint64_t capacity() const { return cache_->Stats().capacity; }
  // Changes the budget; a lower one is reached before this returns (evicting, GIL released).
  void set_capacity(py::handle capacity) {
    const size_t bytes = ParseCapacity(capacity);
    Status st = cache_->SetCapacity(bytes);
    if (!st.ok()) throw py::value_error(st.message());
    py::gil_scoped_release unlocked;
    cache_->Reclaim(SIZE_MAX);  // all it can: what arrays still pin stays until they go
  }

  py::dict Stats() const {
    CacheStats s = cache_->Stats();
    py::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["inserts"] = s.inserts;
    d["evictions"] = s.evictions;
    d["expirations"] = s.expirations;
    d["items"] = s.items;
    d["bytes"] = s.bytes;
    d["item_bytes"] = s.item_bytes;
    d["pinned_bytes"] = s.pinned_bytes;
    d["capacity"] = s.capacity;
    return d;
  }

  std::string Repr() const {
    CacheStats s = cache_->Stats();
    return "kvcache.Cache(capacity=" + std::to_string(s.capacity) + ", policy='" + policy() +
           "', items=" + std::to_string(s.items) + ", bytes=" + std::to_string(s.bytes) + ")";
  }

 private:
  // Copies the rows of a batch into one new buffer; runs without the GIL.
  struct Gather {
    enum Error { kNone, kMissing, kNotTensor, kMismatch };
    char* rows = nullptr;  // malloc'ed, n * row bytes; nullptr while no key was found
    TensorView first;      // dtype and shape of the rows (of the first key found)
    size_t first_row = 0;
    size_t row_bytes = 0;
    std::vector<int64_t> missing;
    Error error = kNone;
    size_t error_row = 0;
    TensorView mismatch;

    // One ReadMany over the distinct keys: it overlaps the lookups' memory accesses (index,
    // item, value) and copies each row out under its shard's shared lock, with no pin.
    void Run(Cache& cache, const KeyBatch& d, bool zero_missing) {
      const size_t n = d.rows();
      std::vector<uint8_t> found_key(d.keys.size(), 0);
      // Every row must carry the first row's trailer (dtype and shape) byte for byte.
      char trailer[TensorTrailerBytes(kMaxRank)];
      size_t trailer_bytes = 0;
      size_t value_bytes = 0;
      bool bad_alloc = false;
      cache.ReadMany(d.keys, [&](size_t k, const ItemView* item) {
        if (error != kNone || bad_alloc) return;
        const size_t i = d.first_row[k];
        if (item == nullptr) {
          if (!zero_missing) Fail(kMissing, i);
          return;
        }
        found_key[k] = 1;
        const std::string_view v = item->value;
        if (rows != nullptr && item->kind == ValueKind::kTensor && v.size() == value_bytes &&
            std::memcmp(v.data() + v.size() - trailer_bytes, trailer, trailer_bytes) == 0) {
          std::memcpy(rows + i * row_bytes, v.data(), row_bytes);
          return;
        }
        TensorView t;
        if (item->kind != ValueKind::kTensor || !DecodeTensor(v, &t)) return Fail(kNotTensor, i);
        if (rows != nullptr) {
          mismatch = t;
          return Fail(kMismatch, i);
        }
        first = t;
        first_row = i;
        row_bytes = t.data.size();
        value_bytes = v.size();
        trailer_bytes = value_bytes - row_bytes;
        std::memcpy(trailer, v.data() + row_bytes, trailer_bytes);
        // Rounded up to 64 bytes as aligned_alloc requires, and never zero.
        size_t bytes = 0;
        if (__builtin_mul_overflow(n, row_bytes, &bytes) || bytes > (size_t{1} << 62)) {
          bad_alloc = true;
          return;
        }
        rows = static_cast<char*>(std::aligned_alloc(64, (bytes + 64) & ~size_t{63}));
        if (rows == nullptr) {
          bad_alloc = true;
          return;
        }
        std::memcpy(rows + i * row_bytes, v.data(), row_bytes);
      });
      if (bad_alloc) throw std::bad_alloc();
      if (error != kNone) return;
      // The rows of repeated keys are copies of their first row; missing rows are zeros.
      for (size_t i = 0; i < n; ++i) {
        const uint32_t k = d.of_row[i];
        if (!found_key[k]) {
          missing.push_back(static_cast<int64_t>(i));
          if (rows != nullptr) std::memset(rows + i * row_bytes, 0, row_bytes);
        } else if (d.first_row[k] != i) {
          std::memcpy(rows + i * row_bytes, rows + d.first_row[k] * row_bytes, row_bytes);
        }
      }
    }

    void Fail(Error e, size_t row) {
      error = e;
      error_row = row;
    }
  };

  Status WriteString(std::string_view key, std::string_view data, const WriteOptions& wo) {
    if (data.size() >= kReleaseGilBytes) {
      py::gil_scoped_release nogil;
      return cache_->Write(key, data, wo);
    }
    return cache_->Write(key, data, wo);
  }

  py::array ZeroCopyArray(Handle h, const TensorView& t) {
    ssize_t shape[kMaxRank];
    for (int i = 0; i < t.rank; ++i) shape[i] = t.dims[i];
    const void* data = t.data.data();
    auto pin = std::make_unique<PinnedItem>(PinnedItem{cache_, std::move(h)});
    py::capsule owner(pin.get(), [](void* p) { delete static_cast<PinnedItem*>(p); });
    pin.release();
    py::array a(NumpyDtype(t.dtype), std::vector<ssize_t>(shape, shape + t.rank), data, owner);
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return a;
  }

  std::shared_ptr<Cache> cache_;
};

py::tuple PolicyTuple() {
  size_t n = 0;
  const char* const* names = PolicyNames(&n);
  py::tuple t(n);
  for (size_t i = 0; i < n; ++i) t[i] = py::str(names[i]);
  return t;
}

// The RESP bulk strings of a sequence of keys (str, UTF-8 encoded, or bytes-like), as one bytes
// object: what kvcache.Client sends for the keys of a TENSOR.MGET. A list of 512 keys takes a
// few microseconds here against ~40 for the same in Python.
py::bytes PackBulks(py::handle sequence) {
  py::object keys = py::reinterpret_steal<py::object>(
      PySequence_Fast(sequence.ptr(), "keys must be a sequence of str or bytes"));
  if (!keys) throw py::error_already_set();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(keys.ptr());
  PyObject** items = PySequence_Fast_ITEMS(keys.ptr());
  std::vector<std::string_view> views(static_cast<size_t>(n));
  std::vector<py::object> converted;  // bytes copies of bytearray / memoryview keys
  size_t total = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* k = items[i];
    const char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyUnicode_Check(k)) {
      data = PyUnicode_AsUTF8AndSize(k, &size);
      if (data == nullptr) throw py::error_already_set();
    } else {
      if (!PyBytes_Check(k)) {
        if (!PyObject_CheckBuffer(k)) {
          throw py::type_error(std::string("a key must be str or bytes, not ") +
                               Py_TYPE(k)->tp_name);
        }
        converted.push_back(py::reinterpret_steal<py::object>(PyBytes_FromObject(k)));
        if (!converted.back()) throw py::error_already_set();
        k = converted.back().ptr();
      }
      data = PyBytes_AS_STRING(k);
      size = PyBytes_GET_SIZE(k);
    }
    views[static_cast<size_t>(i)] = {data, static_cast<size_t>(size)};
    total += static_cast<size_t>(size) + 24;  // "$" + up to 20 digits + 2 CRLFs
  }
  std::string out;
  out.resize(total);
  char* w = out.data();
  for (const std::string_view k : views) {
    *w++ = '$';
    w = std::to_chars(w, w + 20, k.size()).ptr;
    *w++ = '\r';
    *w++ = '\n';
    std::memcpy(w, k.data(), k.size());
    w += k.size();
    *w++ = '\r';
    *w++ = '\n';
  }
  return py::bytes(out.data(), static_cast<size_t>(w - out.data()));
}

}  // namespace
}  // namespace kvcache::python

PYBIND11_MODULE(_kvcache, m) {
  using namespace kvcache;
  using namespace kvcache::python;
  m.doc() = "The kvcache engine, embedded in the process (see the kvcache package).";
  g_error = PyErr_NewExceptionWithDoc("kvcache.Error", "An error reported by the kvcache engine.",
                                      PyExc_RuntimeError, nullptr);
  g_no_space_error = PyErr_NewExceptionWithDoc(
      "kvcache.NoSpaceError",
      "The cache cannot make room: every item that could be evicted is pinned (held by arrays "
      "that get() returned).",
      g_error, nullptr);
  if (g_error == nullptr || g_no_space_error == nullptr) throw py::error_already_set();
  m.add_object("Error", py::handle(g_error));
  m.add_object("NoSpaceError", py::handle(g_no_space_error));
  m.attr("POLICIES") = PolicyTuple();
  m.attr("DEFAULT_POLICY") = py::str(DefaultPolicyName());
  m.attr("MAX_RANK") = kMaxRank;
  m.def("_pack_bulks", &PackBulks, py::arg("keys"),
        "The RESP bulk strings of a sequence of str/bytes keys, concatenated (used by Client).");

  py::class_<PyCache>(m, "Cache", R"doc(
An in-process kvcache: a sharded, byte-bounded cache of str/bytes keys and bytes or ndarray values.

Cache(capacity="2GiB", policy="s3fifo", shards=0, default_ttl=None)

capacity: bytes as an int, or a str with a unit: "512MiB", "2GiB", "1gb" (1024^3, as Redis),
"1g" (10^9). policy: one of kvcache.POLICIES or "default". shards: 0 picks a count from the
capacity. default_ttl: seconds for put() without a ttl, None for no expiry.
Thread-safe; get_batch() and put_batch() release the GIL.)doc")
      .def(py::init<py::handle, const std::string&, uint32_t, py::handle>(),
           py::arg("capacity") = "2GiB", py::arg("policy") = "s3fifo", py::arg("shards") = 0,
           py::arg("default_ttl") = py::none())
      .def("put", &PyCache::Put, py::arg("key"), py::arg("value"), py::arg("ttl") = py::none(),
           R"doc(Stores value under key (str or bytes). bytes, bytearray and memoryview values are
stored as bytes; a numpy.ndarray (float64/32/16, int64/32/16/8, uint8, bool; rank 1 to 7) as a
tensor. ttl: seconds, None for the cache's default_ttl, math.inf for never.)doc")
      .def("get", &PyCache::Get, py::arg("key"), py::arg("default") = py::none(),
           R"doc(The value of key: bytes, or for a tensor a read-only ndarray that shares the
cache's memory (valid while referenced, even after the key is evicted or overwritten). bf16
tensors come back as their raw bits (uint16). default if the key is missing.)doc")
      .def("get_batch", &PyCache::GetBatch, py::arg("keys"), py::kw_only(),
           py::arg("prefix") = py::none(), py::arg("missing") = "error",
           py::arg("return_missing") = false,
           R"doc(One new [n, ...] array with the tensors of n keys in order (a copy).

keys: a sequence of str/bytes, or with prefix="emb:" integer ids (a list or an integer ndarray:
id 42 is key "emb:42"). The tensors must share dtype and shape (ValueError otherwise).
missing="error" raises KeyError for the first missing key; missing="zero" zero-fills its row.
return_missing=True returns (array, int64 array of the missing rows' indices). If no key is
found the result has shape (n, 0) and dtype float32. A key named by several rows is looked up
once (one access in stats()).)doc")
      .def("put_batch", &PyCache::PutBatch, py::arg("keys"), py::arg("table"), py::kw_only(),
           py::arg("prefix") = py::none(), py::arg("ttl") = py::none(),
           R"doc(Stores row i of table (an ndarray [n, ...]) as a tensor under keys[i]; with
prefix="emb:" keys are integer ids (id 42 is key "emb:42"). Returns n.)doc")
      .def("delete", &PyCache::Delete, py::arg("key"), "Removes key; whether it was there.")
      .def("__contains__", &PyCache::Contains)
      .def("__len__", &PyCache::Len)
      .def("clear", &PyCache::Clear, "Removes every item (arrays already returned stay valid).")
      .def("stats", &PyCache::Stats, "The engine's counters as a dict.")
      .def_property_readonly("policy", &PyCache::policy)
      .def_property_readonly("shards", &PyCache::shards)
      .def_property("capacity", &PyCache::capacity, &PyCache::set_capacity,
                    "The byte budget. Setting it (as the constructor's capacity) takes effect at "
                    "once: a lower one evicts, in the policy's order, before the setter returns.")
      .def("__repr__", &PyCache::Repr);
}
