"""The slower tier, black-box: kvcache-server with RocksDB, tensor-file and Redis origins;
read-through, write-through, write-back, crashes, faults, single-flight and preloading."""
import concurrent.futures
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import redis

from conftest import ROOT, free_port


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def info(r, section="origin"):
    return r.info(section)


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "fmnist.npy"
    subprocess.run(["/usr/bin/python3", str(ROOT / "scripts/make_fmnist_npy.py"), str(out)],
                   check=True, capture_output=True)
    return out, np.load(out)


class RedisServer:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--protected-mode", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._ping, what="redis-server")
        self.client = redis.Redis(port=self.port)

    def _ping(self):
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_origin():
    s = RedisServer()
    yield s
    s.stop()


def test_read_through_from_a_npy_table(start_server, fmnist):
    path, table = fmnist
    s = start_server("--origin", f"npy:{path}:fmnist:")
    r = s.client()
    for row in (0, 1, 12345, 59999):
        assert r.get(f"fmnist:{row}") == table[row].tobytes()
    assert r.get("fmnist:60000") is None and r.get("fmnist:-1") is None
    assert r.get("fmnist:007") is None, "rows are plain decimal numbers"
    rows = [5, 6, 7, 40000]
    got = r.mget([f"fmnist:{i}" for i in rows] + ["nope"])
    assert got[:4] == [table[i].tobytes() for i in rows] and got[4] is None
    assert r.type("fmnist:5") == b"tensor"
    before = info(r)["origin_loads"]
    assert r.get("fmnist:5") == table[5].tobytes()
    assert info(r)["origin_loads"] == before, "a second read is a cache hit"
    assert np.array_equal(np.frombuffer(r.get("fmnist:9"), dtype=np.uint8), table[9])


def test_a_batch_larger_than_the_cache_reads_through_whole(start_server, fmnist):
    # 16 shards of a 1 MiB cache hold ~70 rows each, with room for about one new row in LIRS's
    # probation queue: storing a batch's loaded rows evicts the first ones before the command
    # runs. The command must still answer every row from what it loaded.
    path, table = fmnist
    s = start_server("--origin", f"npy:{path}:fmnist:", "--maxmemory", "1mb", "--shards", "16")
    r = s.client()
    for start in range(50000, 51500, 100):  # fills the cache: from now on stores evict
        r.mget([f"fmnist:{i}" for i in range(start, start + 100)])
    rows = list(range(1000, 1600))
    dtype, shape, blob, missing = r.execute_command(
        "TENSOR.MGET", "MISSING", "ERROR", *[f"fmnist:{i}" for i in rows])
    assert missing == [] and shape == [len(rows), 784]
    assert np.array_equal(np.frombuffer(blob, np.uint8).reshape(shape), table[rows])
    rows = list(range(30000, 30600))
    got = r.mget([f"fmnist:{i}" for i in rows])
    assert got == [table[i].tobytes() for i in rows]
    # Rows cached when the command arrives can be evicted by the rows it loads: held as well.
    r.mget([f"fmnist:{i}" for i in range(40000, 40300)])
    rows = [i for pair in zip(range(40000, 40300), range(20000, 20300)) for i in pair]
    dtype, shape, blob, missing = r.execute_command(
        "TENSOR.MGET", "MISSING", "ERROR", *[f"fmnist:{i}" for i in rows])
    assert missing == [] and np.array_equal(np.frombuffer(blob, np.uint8).reshape(shape),
                                            table[rows])
    assert info(r)["origin_loads"] >= 2700, "the rows came from the file"


def test_write_through_survives_a_restart(start_server, tmp_path):
    db = tmp_path / "rdb"
    s = start_server("--origin", f"rocksdb:{db}", "--write-policy", "through")
    r = s.client()
    assert r.set("a", "1") and r.mset({"b": "2", "c": "3"}) and r.delete("c") == 1
    assert r.hset("h", mapping={"f": "v", "g": "w"}) == 2 and r.hdel("h", "g") == 1
    assert r.set("t", "x", ex=1000)
    assert r.set("a", "again", nx=True) is None
    with pytest.raises(redis.ResponseError, match="not supported with write-policy through"):
        r.incr("n")
    assert s.stop() == 0
    s2 = start_server("--origin", f"rocksdb:{db}")
    r2 = s2.client()
    assert r2.get("a") == b"1" and r2.get("b") == b"2" and r2.get("c") is None
    assert r2.hgetall("h") == {b"f": b"v"}
    assert r2.get("t") == b"x"
    assert r2.ttl("t") == -1, "the TTL was the cached copy's; the origin keeps the data"
    assert info(r2)["origin_loads"] >= 5


def test_write_through_crash_loses_no_acknowledged_write(start_server, bin_dir, tmp_path):
    db = tmp_path / "rdb"
    s = start_server("--origin", f"rocksdb:{db}", "--write-policy", "through")
    acked = [set() for _ in range(8)]
    stop = threading.Event()

    def writer(w):
        r = s.client(socket_timeout=5)
        i = 0
        try:
            while not stop.is_set():
                key = f"w{w}:{i}"
                if r.set(key, f"value-{w}-{i}"):
                    acked[w].add(key)  # only after the server said OK
                i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: sum(len(a) for a in acked) > 2000, what="2000 acknowledged writes")
    s.proc.send_signal(signal.SIGKILL)  # mid-write, no chance to flush anything
    s.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    total = sum(len(a) for a in acked)
    s2 = start_server("--origin", f"rocksdb:{db}")
    r = s2.client()
    missing = []
    for w, keys in enumerate(acked):
        keys = sorted(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            values = r.mget(chunk)
            missing += [k for k, v in zip(chunk, values)
                        if v != f"value-{k[1:].split(':')[0]}-{k.split(':')[1]}".encode()]
    assert not missing, f"{len(missing)} of {total} acknowledged writes lost: {missing[:5]}"
    # Group commit: far fewer durable batches than writes.
    assert total > 2000


def test_write_back_flushes_within_the_delay_and_on_eviction(start_server, tmp_path):
    db = tmp_path / "rdb"
    s = start_server("--origin", f"rocksdb:{db}", "--write-policy", "back",
                     "--write-back-delay-ms", "200", "--maxmemory", "2mb", "--shards", "1")
    r = s.client()
    # Far more than fits: most are evicted before their flush.
    p = r.pipeline(transaction=False)
    for i in range(20000):
        p.set(f"k{i}", f"v{i}" * 50)
    p.execute()
    assert r.info("stats")["evicted_keys"] > 0
    # Acknowledged and flushed: dirty drops to zero within the delay (polled, not assumed).
    wait_for(lambda: info(r)["origin_dirty_items"] == 0, what="the write-back flush")
    assert info(r)["origin_flushes"] >= 1
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    s2 = start_server("--origin", f"rocksdb:{db}")
    r2 = s2.client()
    for i in range(0, 20000, 97):
        assert r2.get(f"k{i}") == (f"v{i}" * 50).encode(), i


def test_write_back_flushes_everything_on_clean_shutdown(start_server, tmp_path):
    db = tmp_path / "rdb"
    s = start_server("--origin", f"rocksdb:{db}", "--write-policy", "back",
                     "--write-back-delay-ms", "600000")
    r = s.client()
    r.mset({f"k{i}": i for i in range(100)})
    r.incr("counter")
    assert info(r)["origin_dirty_items"] == 101
    assert s.stop() == 0
    s2 = start_server("--origin", f"rocksdb:{db}")
    r2 = s2.client()
    assert r2.get("k99") == b"99" and r2.get("counter") == b"1"


def test_redis_origin_faults_and_recovery(start_server, redis_origin):
    redis_origin.client.set("remote", "value")
    redis_origin.client.set("other", "x")
    s = start_server("--origin", f"redis://127.0.0.1:{redis_origin.port}",
                     "--origin-timeout-ms", "300")
    r = s.client(socket_timeout=10)
    assert r.get("remote") == b"value"
    redis_origin.proc.send_signal(signal.SIGSTOP)  # slow: it accepts, never answers
    t0 = time.monotonic()
    with pytest.raises(redis.ResponseError, match="origin unavailable"):
        r.get("other")
    assert time.monotonic() - t0 < 5
    assert r.get("remote") == b"value", "requests that do not need the origin are unaffected"
    assert r.set("local", "1") and r.get("local") == b"1"
    redis_origin.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: _get_or_none(r, "other"), what="recovery") == b"x"
    redis_origin.stop()  # down
    with pytest.raises(redis.ResponseError, match="origin unavailable"):
        r.get("gone")
    back = RedisServer(port=redis_origin.port)  # comes back on the same port
    try:
        back.client.set("gone", "here")
        assert wait_for(lambda: _get_or_none(r, "gone"), what="reconnect") == b"here"
        assert info(r)["origin_load_errors"] >= 2
    finally:
        back.stop()


def _get_or_none(r, key):
    try:
        return r.get(key)
    except redis.ResponseError:
        return None


def test_single_flight_under_concurrency(start_server, redis_origin):
    redis_origin.client.set("hot", "v" * 1000)
    s = start_server("--origin", f"redis://127.0.0.1:{redis_origin.port}",
                     "--origin-timeout-ms", "20000")
    r = s.client()
    redis_origin.proc.send_signal(signal.SIGSTOP)  # the first load waits; the rest pile up
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        futures = [ex.submit(lambda: s.client().get("hot")) for _ in range(50)]
        wait_for(lambda: info(r)["origin_load_shared"] >= 49, what="49 waiting readers")
        redis_origin.proc.send_signal(signal.SIGCONT)
        results = [f.result(timeout=30) for f in futures]
    assert results == [b"v" * 1000] * 50
    assert info(r)["origin_load_requests"] == 1, "one origin request for 50 concurrent misses"


def test_absent_keys_can_be_remembered(start_server, redis_origin):
    s = start_server("--origin", f"redis://127.0.0.1:{redis_origin.port}",
                     "--origin-negative-ttl-ms", "60000")
    r = s.client()
    assert r.get("nothing") is None
    loads = info(r)["origin_loads"]
    assert r.get("nothing") is None and r.exists("nothing") == 0
    assert info(r)["origin_loads"] == loads, "the second miss did not ask the origin"


def test_preload_at_startup_and_at_run_time(start_server, bin_dir, fmnist):
    path, table = fmnist
    spec = f"npy:{path}:fmnist:"
    s = start_server("--origin", spec, "--preload", spec)
    r = s.client()
    wait_for(lambda: r.info("persistence")["loading"] == 0, what="the preload")
    p = r.info("persistence")
    assert p["loading_loaded_keys"] == 60000
    assert p["loading_loaded_bytes"] == 60000 * 784
    assert r.dbsize() == 60000
    assert r.get("fmnist:31337") == table[31337].tobytes()
    assert info(r)["origin_loads"] == 0, "preloaded rows need no read-through"
    assert s.stop() == 0 and b"preload of" in s.log
    # At run time, with the progress tool; what does not fit is left to the policy.
    s2 = start_server("--origin", spec, "--maxmemory", "8mb")
    out = subprocess.run([str(bin_dir / "kvcache-preload"), "--port", str(s2.port), spec],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "100.0%" in out.stdout and "preloaded 60000 keys" in out.stdout
    r2 = s2.client()
    assert r2.info("memory")["used_memory"] <= 8 * 2**20
    assert r2.info("stats")["evicted_keys"] > 0
    out = subprocess.run([str(bin_dir / "kvcache-preload"), "--port", str(s2.port),
                          "npy:/nonexistent.npy"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "nonexistent" in (out.stderr + out.stdout)


def test_bad_tensor_files_are_refused_clearly(start_server, bin_dir, tmp_path, fmnist):
    path, _ = fmnist
    bad = tmp_path / "bad.npy"
    bad.write_bytes(path.read_bytes()[:1000])  # truncated
    out = subprocess.run([str(bin_dir / "kvcache-server"), "--port", str(free_port()),
                          "--origin", f"npy:{bad}"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "bad.npy" in out.stderr


def test_write_policy_needs_a_writable_origin(bin_dir, fmnist):
    path, _ = fmnist
    out = subprocess.run([str(bin_dir / "kvcache-server"), "--port", str(free_port()),
                          "--origin", f"npy:{path}", "--write-policy", "through"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "read-only" in out.stderr
