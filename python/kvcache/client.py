"""Client: kvcache-server's tensor commands (TENSOR.SET, GET, MGET, MSET) on top of redis-py.

A tensor travels as one bulk string of little-endian row-major bytes. A batch of n rows comes
back as ONE bulk string, which becomes one [n, ...] array through np.frombuffer: no per-row work
in Python beyond naming the keys, and the command is packed here rather than by redis-py, whose
packing costs about a microsecond per argument. Every other method passes through to the
redis.Redis instance (`client.get`, `client.set`, ... and `client.redis` itself).

Arrays that come back are read-only views of the reply (np.frombuffer over bytes); `.copy()` one
to write to it. bf16 tensors come back as their raw bits (uint16, as NumPy has no bf16): ask for
dtype="f32" and the server widens them exactly.
"""
import numpy as np
import redis

from ._kvcache import _pack_bulks as _pack_keys  # RESP bulk strings of many keys, in C++

# kvcache dtype name -> NumPy dtype. bf16 is carried as its bits.
_NUMPY = {
    "f64": np.dtype("<f8"), "f32": np.dtype("<f4"), "f16": np.dtype("<f2"),
    "bf16": np.dtype("<u2"), "i64": np.dtype("<i8"), "i32": np.dtype("<i4"),
    "i16": np.dtype("<i2"), "i8": np.dtype("i1"), "u8": np.dtype("u1"), "bool": np.dtype("?"),
}
_NUMPY_BYTES = {name.encode(): dt for name, dt in _NUMPY.items()}
# (kind, itemsize) of a NumPy dtype -> kvcache name.
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in _NUMPY.items() if name != "bf16"}

_MAX_RANK = 7
# Arguments at least this big are sent as their own buffer rather than copied into the command.
_SEND_APART = 1 << 16


def _dtype_name(dtype):
    """The kvcache name of a dtype given by name ("f32", "bf16") or as a NumPy dtype."""
    if isinstance(dtype, str) and dtype in _NUMPY:
        return dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}: use one of {', '.join(_NUMPY)} or a NumPy "
                        "dtype") from None
    name = _NAMES.get((dt.kind, dt.itemsize))
    if name is None:
        raise TypeError(f"unsupported dtype {dt}: kvcache stores {', '.join(_NUMPY)}")
    return name


def _tensor_parts(array):
    """(dtype name, shape, bytes as a flat memoryview) of an array, without copying it if it is
    already C-contiguous and little-endian."""
    a = np.asarray(array)
    name = _dtype_name(a.dtype)
    if not 1 <= a.ndim <= _MAX_RANK:
        raise ValueError(f"the array has rank {a.ndim}: kvcache stores tensors of rank 1 to "
                         f"{_MAX_RANK} (reshape a scalar to shape (1,))")
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    a = np.ascontiguousarray(a)
    return name, a.shape, memoryview(a.reshape(-1).view(np.uint8))


def _pack(args):
    """The RESP encoding of a command, as a list of buffers for send_packed_command. Arguments
    are str, bytes, int or flat byte memoryviews; big ones are sent without a copy."""
    chunks = []
    buf = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        n = len(a)
        buf.append(b"$%d\r\n" % n)
        if n >= _SEND_APART:
            chunks.append(b"".join(buf))
            chunks.append(a)
            buf = [b"\r\n"]
        else:
            buf.append(a)
            buf.append(b"\r\n")
    chunks.append(b"".join(buf))
    return chunks


def _keys_of(keys, prefix):
    if prefix is None:
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys must be a sequence of keys, not one " + type(keys).__name__)
        return keys if isinstance(keys, list) else list(keys)
    ids = np.asarray(keys)
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError("with prefix=, keys must be integer ids")
    if isinstance(prefix, bytes):
        return [prefix + b"%d" % i for i in ids.reshape(-1).tolist()]
    return [f"{prefix}{i}" for i in ids.reshape(-1).tolist()]


# Bulk strings at least this big are received straight into their final buffer.
_RECEIVE_APART = 1 << 14


class _ReplyReader:
    """Reads one RESP2 reply from a socket. Redis-py's reader receives everything through a
    64 KiB line buffer and copies a bulk string out of it twice; this one receives the body of a
    large bulk string (a batch of rows) with recv_into straight into the array that is returned,
    one copy by the kernel. Small parts (dtype, shape, missing indices) are parsed from a
    bytearray. Error replies are raised as redis.ResponseError once the reply is consumed."""

    __slots__ = ("sock", "buf", "pos", "parse_error")

    def __init__(self, sock, parse_error):
        self.sock, self.buf, self.pos = sock, bytearray(), 0
        self.parse_error = parse_error  # redis-py's: "NOAUTH ..." is an AuthenticationError, ...

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise redis.ConnectionError("Connection closed by server.")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos:end])
                self.pos = end + 2
                return line
            self._fill()

    def _bulk(self, n):
        if n < _RECEIVE_APART:
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            out = bytes(self.buf[self.pos:self.pos + n])
            self.pos += n + 2
            return out
        out = np.empty(n, np.uint8)
        have = min(n, len(self.buf) - self.pos)
        out[:have] = np.frombuffer(self.buf, np.uint8, have, self.pos)
        self.pos += have
        view = memoryview(out)[have:]
        while view.nbytes:
            got = self.sock.recv_into(view)
            if got == 0:
                raise redis.ConnectionError("Connection closed by server.")
            view = view[got:]
        while len(self.buf) - self.pos < 2:
            self._fill()
        self.pos += 2  # the CRLF after the body
        out.flags.writeable = False
        return out

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._bulk(n)
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            items = [self.read() for _ in range(n)]
            for item in items:
                if isinstance(item, redis.RedisError):
                    raise item
            return items
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"-":
            return self.parse_error(rest.decode("utf-8", "replace"))
        raise redis.InvalidResponse(f"Protocol Error: {line[:64]!r}")

    def done(self):
        """True if nothing beyond the reply was received."""
        return self.pos == len(self.buf)


def _read_reply(conn):
    """The reply to the command just sent on conn: through _ReplyReader when conn is a plain
    socket connection with redis-py's Python parser and nothing buffered, else redis-py's own."""
    parser = getattr(conn, "_parser", None)
    sock = getattr(conn, "_sock", None)
    buffer = getattr(parser, "_buffer", None)
    if (sock is None or type(parser) is not redis.connection.PythonParser or buffer is None
            or buffer.length != 0):
        return conn.read_response()
    reader = _ReplyReader(sock, parser.parse_error)
    try:
        reply = reader.read()
    except OSError as e:  # socket.timeout is one
        conn.disconnect()
        if isinstance(e, TimeoutError):
            raise redis.TimeoutError("Timeout reading from socket") from None
        raise redis.ConnectionError(f"Error while reading from socket: {e}") from None
    except BaseException:
        conn.disconnect()  # the rest of the reply is still on the socket
        raise
    if not reader.done():
        conn.disconnect()  # more than one reply arrived: never reuse a connection out of step
    if isinstance(reply, redis.RedisError):
        raise reply
    return reply


class Client:
    """kvcache-server's tensor commands, and redis.Redis for everything else.

    Client(host="127.0.0.1", port=6379, password=None, db=0, **redis_kwargs): the arguments of
    redis.Redis. The tensor commands always read replies undecoded, also when the caller asked
    for decode_responses=True (they use a second, non-decoding connection pool then).
    """

    def __init__(self, host="127.0.0.1", port=6379, password=None, db=0, **redis_kwargs):
        self._attach(redis.Redis(host=host, port=port, password=password, db=db, **redis_kwargs))

    @classmethod
    def from_url(cls, url, **kwargs):
        """A Client for a redis:// URL (redis.Redis.from_url's arguments)."""
        client = cls.__new__(cls)
        client._attach(redis.Redis.from_url(url, **kwargs))
        return client

    def _attach(self, r):
        self.redis = r
        pool = r.connection_pool
        self._own_raw_pool = None
        if pool.connection_kwargs.get("decode_responses"):
            kwargs = dict(pool.connection_kwargs, decode_responses=False)
            self._own_raw_pool = redis.ConnectionPool(
                connection_class=pool.connection_class, max_connections=pool.max_connections,
                **kwargs)
            self._raw_pool = self._own_raw_pool
        else:
            self._raw_pool = pool

    def __getattr__(self, name):
        # Only called for names Client does not define: the redis.Redis methods.
        if name == "redis":
            raise AttributeError(name)
        return getattr(self.redis, name)

    def __repr__(self):
        return f"kvcache.Client({self.redis!r})"

    def close(self):
        self.redis.close()
        if self._own_raw_pool is not None:
            self._own_raw_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _execute(self, name, chunks):
        """Sends a packed command on a non-decoding connection; returns the parsed reply.
        Error replies raise redis.ResponseError, as with execute_command."""
        pool = self._raw_pool
        conn = pool.get_connection(name)
        try:
            conn.send_packed_command(chunks)
            return _read_reply(conn)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    # ---- The tensor commands.

    def tensor_set(self, key, array):
        """TENSOR.SET: stores array (float64/32/16, int64/32/16/8, uint8, bool; rank 1 to 7)."""
        name, shape, data = _tensor_parts(array)
        reply = self._execute("TENSOR.SET", _pack(["TENSOR.SET", key, name, *shape, "BLOB", data]))
        return reply == b"OK"

    def tensor_get(self, key, dtype=None):
        """TENSOR.GET: the tensor under key as a read-only ndarray, or None if it is missing.
        dtype ("f32", "f16", "bf16", or a NumPy dtype) asks the server to convert (between f32,
        f16 and bf16)."""
        args = ["TENSOR.GET", key]
        if dtype is not None:
            args += ["AS", _dtype_name(dtype)]
        reply = self._execute("TENSOR.GET", _pack(args))
        if reply is None:
            return None
        name, shape, data = reply
        return _array(name, shape, data)

    def tensor_mget(self, keys, dtype=None, missing="zero", return_missing=False, prefix=None):
        """TENSOR.MGET: one new [n, ...] read-only array with the tensors of n keys in order.

        keys: str/bytes keys, or with prefix="emb:" integer ids (id 42 is key "emb:42").
        dtype: convert on the server, as in tensor_get. missing="zero" zero-fills the rows of
        missing keys, missing="error" makes a missing key a redis.ResponseError.
        return_missing=True returns (array, int64 array of the missing rows' indices). If no key
        is found the array has shape (n, 0) (dtype float32, or the requested one). Tensors of
        different dtypes or shapes raise redis.ResponseError.
        """
        if missing not in ("zero", "error"):
            raise ValueError(f'missing must be "zero" or "error", not {missing!r}')
        keys = _keys_of(keys, prefix)
        n = len(keys)
        as_name = None if dtype is None else _dtype_name(dtype)
        if n == 0:
            out = np.zeros((0, 0), _NUMPY[as_name or "f32"])
            return (out, np.zeros(0, np.int64)) if return_missing else out
        head = ["TENSOR.MGET"]
        if as_name is not None:
            head += ["AS", as_name]
        head += ["MISSING", missing.upper()]
        packed = b"*%d\r\n" % (len(head) + n) + _pack_keys(head) + _pack_keys(keys)
        name, shape, blob, missing_rows = self._execute("TENSOR.MGET", [packed])
        if name is None:
            out = np.zeros((n, 0), _NUMPY[as_name or "f32"])
        else:
            out = _array(name, shape, blob)
        if return_missing:
            return out, np.asarray(missing_rows, dtype=np.int64)
        return out

    def tensor_mset(self, items, table=None, prefix=None):
        """TENSOR.MSET: stores many tensors of one dtype and shape in one command.

        tensor_mset({key: array, ...}) or tensor_mset([(key, array), ...]), or
        tensor_mset(keys, table) to store row i of table (an ndarray [n, ...]) under keys[i]
        (with prefix="emb:", keys may be integer ids).
        """
        if table is not None:
            keys = _keys_of(items, prefix)
            name, shape, data = _tensor_parts(table)
            if len(shape) < 2:
                raise ValueError("table must be an ndarray [n, ...] of rows of rank 1 or more")
            if len(keys) != shape[0]:
                raise ValueError(f"tensor_mset: {len(keys)} keys for {shape[0]} rows")
            if shape[0] == 0:
                return True  # nothing to store
            row_shape = shape[1:]
            step = len(data) // shape[0] if shape[0] else 0
            pairs = ((k, data[i * step:(i + 1) * step]) for i, k in enumerate(keys))
        else:
            if isinstance(items, dict):
                items = items.items()
            name, row_shape, pairs = None, None, []
            for k, a in items:
                n, s, data = _tensor_parts(a)
                if name is None:
                    name, row_shape = n, s
                elif (n, s) != (name, row_shape):
                    raise ValueError(f"tensor_mset needs one dtype and shape: {k!r} is {n} {s}, "
                                     f"the first is {name} {row_shape}")
                pairs.append((k, data))
        if name is None:
            return True  # nothing to store
        args = ["TENSOR.MSET", name, *row_shape]
        for k, blob in pairs:
            args += [k, "BLOB", blob]
        return self._execute("TENSOR.MSET", _pack(args)) == b"OK"


def _array(name, shape, data):
    dt = _NUMPY_BYTES.get(name if isinstance(name, bytes) else name.encode())
    if dt is None:
        raise redis.DataError(f"the server answered an unknown dtype {name!r}")
    if len(data) == 0:
        return np.zeros(shape, dt)
    return np.frombuffer(data, dtype=dt).reshape(shape)
