"""Tensor commands, black-box: kvcache-server with redis-py and NumPy, RESP3 values, TENSOR.MGET
read-through from a .npy origin, tensors written through to RocksDB, a dead origin."""
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import redis

from conftest import free_port

DTYPES = {"f64": np.float64, "f32": np.float32, "f16": np.float16, "i64": np.int64,
          "i32": np.int32, "i16": np.int16, "i8": np.int8, "u8": np.uint8, "bool": np.bool_}


def tset(r, key, a, dtype):
    return r.execute_command("TENSOR.SET", key, dtype, *a.shape, "BLOB", a.tobytes())


def tget(r, key, *opts):
    reply = r.execute_command("TENSOR.GET", key, *opts)
    if reply is None:
        return None
    dtype, shape, data = reply
    return np.frombuffer(data, dtype=DTYPES[dtype.decode()]).reshape(shape)


def is_ok(reply):
    return reply in (True, b"OK", "OK")


def test_round_trips_with_numpy(server):
    r = server.client()
    rng = np.random.default_rng(7)
    for name, dt in DTYPES.items():
        for shape in [(1,), (5,), (3, 4), (2, 3, 4), (1, 1, 1, 1, 1, 1, 2), (0, 3)]:
            if name.startswith("f"):
                a = (rng.standard_normal(shape) * 100).astype(dt)
            else:
                lo, hi = {"u8": (0, 256), "bool": (0, 2)}.get(name, (-100, 100))
                a = rng.integers(lo, hi, shape).astype(dt)
            assert is_ok(tset(r, f"t:{name}", a, name))
            b = tget(r, f"t:{name}")
            assert b.dtype == dt and b.shape == shape and np.array_equal(a, b), (name, shape)
            assert r.get(f"t:{name}") == a.tobytes(), "plain GET answers the data"
    assert r.type("t:f32") == b"tensor"
    assert r.execute_command("TENSOR.GET", "t:f32", "META") == [b"f32", [0, 3]]
    assert r.execute_command("TENSOR.GET", "missing") is None
    emb = rng.standard_normal((1000,)).astype(np.float32)
    assert is_ok(tset(r, "emb", emb, "f32"))
    half = tget(r, "emb", "AS", "f16")
    assert half.dtype == np.float16 and np.array_equal(half, emb.astype(np.float16)), \
        "f32 -> f16 is correctly rounded, as NumPy rounds"
    info = r.execute_command("TENSOR.INFO", "emb")
    fields = dict(zip(info[::2], info[1::2]))
    assert fields[b"dtype"] == b"f32" and fields[b"shape"] == [1000]
    assert fields[b"elements"] == 1000 and fields[b"data_bytes"] == 4000
    assert fields[b"aligned"] == 1 and fields[b"memory_bytes"] >= 4000


def test_values_in_resp2_and_resp3(server):
    r = server.client()
    assert is_ok(r.execute_command("TENSOR.SET", "v", "f32", 2, "VALUES", "1.5", "-0.1"))
    assert r.execute_command("TENSOR.GET", "v", "VALUES") == [b"f32", [2], [b"1.5", b"-0.1"]]
    assert is_ok(r.execute_command("TENSOR.SET", "i", "i16", 3, "VALUES", -7, 0, 300))
    assert r.execute_command("TENSOR.GET", "i", "VALUES") == [b"i16", [3], [b"-7", b"0", b"300"]]
    with pytest.raises(redis.ResponseError, match="out of range for u8"):
        r.execute_command("TENSOR.SET", "u", "u8", 1, "VALUES", 256)
    # redis-py 4 speaks RESP2 only: RESP3 by hand.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\nTENSOR.GET v VALUES\r\nTENSOR.GET i VALUES\r\n")
        want = (b"*3\r\n$3\r\nf32\r\n*1\r\n:2\r\n*2\r\n,1.5\r\n,-0.10000000149011612\r\n"
                b"*3\r\n$3\r\ni16\r\n*1\r\n:3\r\n*3\r\n:-7\r\n:0\r\n:300\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while not data.endswith(want) and time.monotonic() < deadline:
            data += s.recv(65536)
        assert data.endswith(want), data


def test_mset_is_atomic_and_mget_gathers(server):
    r = server.client()
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    args = []
    for i, row in enumerate(rows):
        args += [str(i), "BLOB", row.tobytes()]  # numeric keys
    assert is_ok(r.execute_command("TENSOR.MSET", "f32", 4, *args))
    with pytest.raises(redis.ResponseError, match=r"blob is 3 bytes, shape \[4\] of f32 needs 16"):
        r.execute_command("TENSOR.MSET", "f32", 4, "x", "BLOB", rows[0].tobytes(), "y", "BLOB",
                          b"abc")
    assert r.exists("x", "y") == 0, "a bad pair writes nothing"
    dtype, shape, blob, missing = r.execute_command("TENSOR.MGET", "2", "nope", "0")
    assert dtype == b"f32" and shape == [3, 4] and missing == [1]
    got = np.frombuffer(blob, dtype=np.float32).reshape(shape)
    assert np.array_equal(got, np.stack([rows[2], np.zeros(4, np.float32), rows[0]]))
    dtype, shape, blob, missing = r.execute_command("TENSOR.MGET", "AS", "bf16", "1")
    assert dtype == b"bf16" and len(blob) == 8
    with pytest.raises(redis.ResponseError, match="not found"):
        r.execute_command("TENSOR.MGET", "MISSING", "ERROR", "0", "nope")
    r.set("s", "string")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.execute_command("TENSOR.MGET", "0", "s")


def test_mget_reads_through_from_a_npy_table(start_server, tmp_path):
    table = np.random.default_rng(3).standard_normal((200, 16)).astype(np.float32)
    path = tmp_path / "emb.npy"
    np.save(path, table)
    s = start_server("--origin", f"npy:{path}:emb:")
    r = s.client()
    ids = [5, 3, 199, 3, 150, 0]
    keys = [f"emb:{i}" for i in ids]
    dtype, shape, blob, missing = r.execute_command("TENSOR.MGET", *keys)
    assert dtype == b"f32" and shape == [len(ids), 16] and missing == []
    assert np.array_equal(np.frombuffer(blob, dtype=np.float32).reshape(shape), table[ids])
    origin = r.info("origin")
    assert origin["origin_loads"] == 5 and origin["origin_load_requests"] == 1, \
        "the five distinct misses are one origin request"
    hits = r.info("stats")["keyspace_hits"]
    dtype, shape, blob, missing = r.execute_command("TENSOR.MGET", "AS", "f16", *keys,
                                                    "emb:200")
    assert missing == [len(ids)], "row 200 is past the table"
    got = np.frombuffer(blob, dtype=np.float16).reshape(shape)
    assert np.array_equal(got[:-1], table[ids].astype(np.float16))
    assert not got[-1].any()
    assert r.info("stats")["keyspace_hits"] >= hits + len(ids), "the rows are cached now"
    assert r.info("origin")["origin_loads"] == 6, "only the absent row was asked for again"
    assert r.execute_command("TENSOR.GET", "emb:7", "META") == [b"f32", [16]]
    assert np.array_equal(tget(r, "emb:8"), table[8])


def test_write_through_keeps_tensors_tensors(start_server, tmp_path):
    db = tmp_path / "rdb"
    s = start_server("--origin", f"rocksdb:{db}", "--write-policy", "through")
    r = s.client()
    a = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    assert is_ok(tset(r, "a", a, "f32"))
    assert is_ok(r.execute_command("TENSOR.MSET", "u8", 2, "b", "BLOB", b"xy", "c", "BLOB", b"zw"))
    assert s.stop() == 0
    s2 = start_server("--origin", f"rocksdb:{db}")
    r2 = s2.client()
    assert np.array_equal(tget(r2, "a"), a)
    assert r2.type("b") == b"tensor"
    assert r2.execute_command("TENSOR.MGET", "b", "c")[2] == b"xyzw"


def test_a_dead_origin_gives_the_error_get_gives(start_server):
    port = free_port()
    redis_server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                                     "--appendonly", "no"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        s = start_server("--origin", f"redis://127.0.0.1:{port}", "--origin-timeout-ms", "300")
        r = s.client(socket_timeout=10)
    finally:
        redis_server.send_signal(signal.SIGTERM)
        redis_server.wait(timeout=10)
    with pytest.raises(redis.ResponseError) as get_error:
        r.get("k")
    with pytest.raises(redis.ResponseError) as tensor_error:
        r.execute_command("TENSOR.GET", "k")
    with pytest.raises(redis.ResponseError) as mget_error:
        r.execute_command("TENSOR.MGET", "AS", "f16", "k", "j")
    assert str(get_error.value).startswith("origin unavailable")
    assert str(tensor_error.value).startswith("origin unavailable")
    assert str(mget_error.value).startswith("origin unavailable")
