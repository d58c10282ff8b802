"""kvcache-server against real Redis clients: redis-py (Debian's), redis-cli and
redis-benchmark, over loopback."""
import concurrent.futures
import os
import re
import select
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import redis


def test_strings_and_expiry(server):
    r = server.client()
    assert r.ping()
    assert r.set("k", "v")
    assert r.get("k") == b"v"
    assert r.set("k", "w", nx=True) is None
    assert r.incr("n") == 1 and r.incrby("n", 41) == 42
    assert r.mset({"a": "1", "b": "2"})
    assert r.mget("a", "b", "nope") == [b"1", b"2", None]
    assert r.append("a", "23") == 3 and r.getrange("a", 0, 1) == b"12"
    assert r.incrbyfloat("f", "10.5") == 10.5
    assert r.set("t", "x", px=100)
    deadline = time.monotonic() + 5
    while r.get("t") is not None:  # expiry is observed, not assumed after a fixed sleep
        assert time.monotonic() < deadline, "key did not expire"
        time.sleep(0.02)
    assert r.exists("t") == 0
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.hset("hh", "f", "v")
        r.get("hh")


def test_pipelines_and_transactions(server):
    r = server.client()
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"key:{i}", i)
    for i in range(1000):
        p.get(f"key:{i}")
    out = p.execute()
    assert out[:1000] == [True] * 1000
    assert out[1000:] == [str(i).encode() for i in range(1000)]
    t = r.pipeline(transaction=True)
    t.set("acct", 100).incrby("acct", -30).get("acct")
    assert t.execute() == [True, 70, b"70"]
    # Connection and admin commands are queued too, as Redis queues them.
    t = r.pipeline(transaction=True)
    t.set("acct", 1).config_get("hz").client_setname("teller").client_getname().get("acct")
    assert t.execute() == [True, {"hz": "10"}, True, "teller", b"1"]


def test_watch_through_redis_py(server):
    """Optimistic locking as redis-py users write it: a read-modify-write under WATCH that
    another client's change makes fail with WatchError, then retried; and four clients adding
    to one counter that way, from threads, must lose no update."""
    r = server.client()
    other = server.client()
    r.set("balance", 100)
    with r.pipeline() as pipe:
        pipe.watch("balance")
        current = int(pipe.get("balance"))
        other.incrby("balance", 5)  # another client changes the key meanwhile
        pipe.multi()
        pipe.set("balance", current - 30)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("balance") == b"105"

    def withdraw(pipe):
        current = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", current - 30)

    assert r.transaction(withdraw, "balance") == [True]
    assert r.get("balance") == b"75"

    r.set("counter", 0)

    def add(times):
        c = server.client()
        retries = 0
        for _ in range(times):
            while True:
                with c.pipeline() as pipe:
                    try:
                        pipe.watch("counter")
                        value = int(pipe.get("counter"))
                        pipe.multi()
                        pipe.set("counter", value + 1)
                        pipe.execute()
                        break
                    except redis.WatchError:
                        retries += 1
        return retries

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        retries = sum(pool.map(add, [200] * 4))
    assert r.get("counter") == b"800", f"lost updates ({retries} retries)"


def test_monitor_through_redis_py(server):
    """redis-py's Monitor parses what MONITOR sends: other clients' commands, from both
    workers' connections, with their database and address."""
    r = server.client()
    with r.monitor() as m:
        others = [server.client(db=d) for d in (0, 3)]
        assert [c["flags"] for c in others[0].client_list()].count("O") == 1
        for i, c in enumerate(others * 4):
            c.set(f"feature:{i}", b"row\x00\x01")
        others[0].get("feature:0")
        seen = []
        while len(seen) < 9:
            cmd = m.next_command()
            if cmd["command"].split(" ")[0] in ("SET", "GET"):
                seen.append(cmd)
    assert [c["command"] for c in seen[:8]] == [
        f"SET feature:{i} row\\x00\\x01" for i in range(8)]
    assert seen[8]["command"] == "GET feature:0"
    assert [c["db"] for c in seen[:8]] == [0, 3] * 4
    assert all(c["client_address"] == "127.0.0.1" and int(c["client_port"]) > 0 for c in seen)
    assert all(abs(c["time"] - time.time()) < 60 for c in seen)
    deadline = time.monotonic() + 10
    while "O" in [c["flags"] for c in server.client().client_list()]:  # the monitor has left
        assert time.monotonic() < deadline, "the monitor is still listed"
        time.sleep(0.01)


def test_a_long_pipeline_that_switches_database_and_carries_a_large_value(server):
    # Keys are prefetched a window at a time while the pipeline runs; a SELECT and a value
    # received in place change what the next windows may look at, never what the commands do.
    r = server.client()
    big = os.urandom(3 << 20)
    p = r.pipeline(transaction=False)
    for i in range(100):
        p.set(f"w:{i}", f"db0:{i}")
    p.set("w:big", big)
    for i in range(100, 200):
        p.set(f"w:{i}", f"db0:{i}")
    p.execute_command("SELECT", 1)
    for i in range(200):
        p.set(f"w:{i}", f"db1:{i}")
    for i in range(200):
        p.get(f"w:{i}")
    p.execute_command("SELECT", 0)
    for i in range(200):
        p.get(f"w:{i}")
    p.get("w:big")
    out = p.execute()
    assert len(out) == 804 and all(x is True for x in out[:402] if x != b"OK")
    assert out[-402:-202] == [f"db1:{i}".encode() for i in range(200)]
    assert out[-201:-1] == [f"db0:{i}".encode() for i in range(200)]
    assert out[-1] == big


def test_numpy_feature_vectors_round_trip_bit_exact(server):
    r = server.client()
    rng = np.random.default_rng(7)
    arrays = {
        "f32": rng.standard_normal(512).astype(np.float32),
        "f16": rng.standard_normal(1024).astype(np.float16),
        "i64": rng.integers(-2**62, 2**62, 64, dtype=np.int64),
        "big": rng.standard_normal(4 * 1024 * 1024).astype(np.float32),  # 16 MiB
        "special": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], dtype=np.float32),
    }
    for name, a in arrays.items():
        assert r.set(f"emb:{name}", a.tobytes())
    for name, a in arrays.items():
        back = np.frombuffer(r.get(f"emb:{name}"), dtype=a.dtype)
        assert back.tobytes() == a.tobytes(), name


def test_hashes(server):
    r = server.client()
    assert r.hset("user:1", mapping={"name": "ada", "age": "36"}) == 2
    assert r.hget("user:1", "name") == b"ada"
    assert r.hgetall("user:1") == {b"name": b"ada", b"age": b"36"}
    assert r.hincrby("user:1", "age", 1) == 37
    assert r.hdel("user:1", "name") == 1
    assert r.hlen("user:1") == 1
    assert r.type("user:1") == b"hash"


def test_select_and_info(server):
    r0 = server.client(db=0)
    r1 = server.client(db=1)
    r0.set("x", "zero")
    r1.set("x", "one")
    assert r0.get("x") == b"zero" and r1.get("x") == b"one"
    info = r0.info()
    assert info["db0"]["keys"] == 1 and info["db1"]["keys"] == 1
    for field in ("used_memory", "maxmemory", "keyspace_hits", "keyspace_misses",
                  "evicted_keys", "expired_keys", "connected_clients"):
        assert field in info, field
    assert info["maxmemory"] == 256 * 1024 * 1024
    assert "cmdstat_set" in r0.info("commandstats")
    assert r0.config_get("maxmemory") == {"maxmemory": str(256 * 1024 * 1024)}


def test_info_rates_and_peaks(server):
    """The fields dashboards read: instantaneous_ops_per_sec while a client is busy, the memory
    peak after the data is gone, a run_id."""
    r = server.client()
    info = r.info()
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["total_system_memory"] > 0
    value = b"v" * 1000
    deadline = time.monotonic() + 30
    ops = 0
    n = 0
    while ops == 0 or n < 5000:  # and every one of the 5,000 keys written, for the memory check
        assert time.monotonic() < deadline, "instantaneous_ops_per_sec stayed 0 under load"
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.set(f"k{n % 5000}", value)
            n += 1
        pipe.execute()
        stats = r.info("stats")
        ops = stats["instantaneous_ops_per_sec"]
    assert stats["instantaneous_input_kbps"] > 0
    memory = r.info("memory")
    assert memory["used_memory_peak"] >= memory["used_memory"] > 5000 * 1000
    assert memory["used_memory_dataset"] + memory["used_memory_overhead"] == memory["used_memory"]
    r.flushall()
    after = r.info("memory")
    assert after["used_memory"] < memory["used_memory"] // 10
    assert after["used_memory_peak"] >= memory["used_memory"], "the peak stays"


def raw(port, data, expect_close=False, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = b""
        s.settimeout(timeout)
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks += c
                if not expect_close and chunks.endswith(b"\r\n"):
                    break
        except socket.timeout:
            pass
        return chunks


def test_client_reply_drops_replies_that_arrive_later(server):
    """CLIENT REPLY OFF and SKIP drop whole replies, also of a command answered in steps (an
    HGETALL of more than 16384 fields) and of a pipeline's many commands; nothing else is lost."""
    r = server.client()
    fields = {b"f%d" % i: b"v%d" % i for i in range(40000)}
    pipe = r.pipeline(transaction=False)
    items = list(fields.items())
    for start in range(0, len(items), 1000):
        pipe.hset("big", mapping=dict(items[start:start + 1000]))
    pipe.execute()
    assert r.hlen("big") == 40000

    def exchange(request, expected):
        """Sends the request, reads as many bytes as expected (or what came in 5 s)."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(request)
            data = b""
            try:
                while len(data) < len(expected):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                s.settimeout(0.1)  # nothing more may come
                data += s.recv(65536)
            except socket.timeout:
                pass
            return data

    assert exchange(b"CLIENT REPLY SKIP\r\nHGETALL big\r\nPING\r\n", b"+PONG\r\n") == b"+PONG\r\n"
    sets = b"".join(b"SET k%d %d\r\n" % (i, i) for i in range(2000))
    expected = b"+OK\r\n$4\r\n1999\r\n"
    out = exchange(b"CLIENT REPLY OFF\r\n" + sets + b"HGETALL big\r\nNOPE\r\n"
                   b"CLIENT REPLY ON\r\nGET k1999\r\n", expected)
    assert out == expected
    assert r.hgetall("big") == fields
    assert r.get("k0") == b"0"


def read_reply_line(sock, timeout):
    """One line from the socket within `timeout` seconds, or None."""
    sock.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\r\n"):
            c = sock.recv(1)
            if not c:
                return data or None
            data += c
    except socket.timeout:
        return data or None
    return data


def blocked_clients(r):
    return r.info("clients")["blocked_clients"]


def wait_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_wait_answers_zero_replicas_at_its_deadline_or_when_unblocked(server):
    """WAIT as a Redis master without replicas answers it: 0 at once for 0 replicas, else 0 at
    the deadline, never for timeout 0 until CLIENT UNBLOCK (TIMEOUT: 0, ERROR: Redis's error) or
    the client hangs up. INFO counts the waiting clients."""
    r = server.client()
    assert r.wait(0, 0) == 0
    with socket.create_connection(("127.0.0.1", server.port)) as a:
        a.sendall(b"CLIENT ID\r\n")
        my_id = int(read_reply_line(a, 5)[1:])
        started = time.monotonic()
        a.sendall(b"WAIT 1 300\r\nPING\r\n")
        assert read_reply_line(a, 5) == b":0\r\n"
        assert time.monotonic() - started >= 0.29
        assert read_reply_line(a, 5) == b"+PONG\r\n"

        a.sendall(b"WAIT 1 0\r\nPING\r\n")
        wait_until(lambda: blocked_clients(r) == 1)
        assert read_reply_line(a, 0.2) is None, "answered before it was unblocked"
        assert " flags=b " in r.execute_command("CLIENT", "LIST", "ID", my_id).decode()
        assert r.execute_command("CLIENT", "UNBLOCK", my_id) == 1
        assert read_reply_line(a, 5) == b":0\r\n"
        assert read_reply_line(a, 5) == b"+PONG\r\n"
        assert r.execute_command("CLIENT", "UNBLOCK", my_id) == 0, "no longer waiting"
        assert blocked_clients(r) == 0

        a.sendall(b"WAIT 3 0\r\n")
        wait_until(lambda: blocked_clients(r) == 1)
        assert r.execute_command("CLIENT", "UNBLOCK", my_id, "ERROR") == 1
        assert read_reply_line(a, 5) == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        assert blocked_clients(r) == 0
    # A waiting client that hangs up is gone, and so is its wait.
    with socket.create_connection(("127.0.0.1", server.port)) as gone:
        gone.sendall(b"CLIENT ID\r\n")
        gone_id = int(read_reply_line(gone, 5)[1:])
        gone.sendall(b"WAIT 1 0\r\n")
        wait_until(lambda: blocked_clients(r) == 1)
    wait_until(lambda: blocked_clients(r) == 0)
    wait_until(lambda: r.execute_command("CLIENT", "LIST", "ID", gone_id) == b"")
    assert r.ping()


def test_client_pause_holds_writes_or_everything_until_it_ends(server):
    """CLIENT PAUSE WRITE holds writes (and a MULTI's queued write) back, on every worker,
    while reads go on; UNPAUSE runs them, in order. PAUSE ALL holds every command, UNPAUSE
    included, until its timeout."""
    r = server.client()
    r.set("a", "0")
    assert r.execute_command("CLIENT", "PAUSE", 60000, "WRITE") == b"OK"
    writers = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        for i, w in enumerate(writers):
            w.sendall(b"GET a\r\nSET k%d %d\r\nINCR n\r\nGET k%d\r\n" % (i, i + 1, i))
        for w in writers:
            assert read_reply_line(w, 5) == b"$1\r\n"
            assert read_reply_line(w, 5) == b"0\r\n"
        with socket.create_connection(("127.0.0.1", server.port)) as m:
            m.sendall(b"MULTI\r\nGET a\r\nSET a 9\r\n")
            assert read_reply_line(m, 5) == b"+OK\r\n"
            assert read_reply_line(m, 5) == b"+QUEUED\r\n"
            for w in writers + [m]:
                assert read_reply_line(w, 0.1) is None, "a write ran during the pause"
            assert r.get("a") == b"0" and r.get("n") is None
            assert r.execute_command("CLIENT", "UNPAUSE") == b"OK"
            for i, w in enumerate(writers):
                assert read_reply_line(w, 5) == b"+OK\r\n"
                assert read_reply_line(w, 5).startswith(b":")
                assert read_reply_line(w, 5) == b"$1\r\n"
                assert read_reply_line(w, 5) == b"%d\r\n" % (i + 1)
            assert read_reply_line(m, 5) == b"+QUEUED\r\n"
            m.sendall(b"EXEC\r\n")
            assert read_reply_line(m, 5) == b"*2\r\n"
        assert r.get("n") == b"4" and r.get("a") == b"9"
    finally:
        for w in writers:
            w.close()

    # ALL: even reads and the UNPAUSE wait for the end.
    started = time.monotonic()  # before the pause's clock starts
    assert r.execute_command("CLIENT", "PAUSE", 300, "ALL") == b"OK"
    with socket.create_connection(("127.0.0.1", server.port)) as other:
        other.sendall(b"CLIENT UNPAUSE\r\nGET a\r\n")
        assert read_reply_line(other, 5) == b"+OK\r\n"
        assert time.monotonic() - started >= 0.29
        assert read_reply_line(other, 5) == b"$1\r\n"
    # A held-back client that hangs up leaves nothing behind.
    assert r.execute_command("CLIENT", "PAUSE", 60000, "WRITE") == b"OK"
    with socket.create_connection(("127.0.0.1", server.port)) as gone:
        gone.sendall(b"SET gone 1\r\n")
        assert read_reply_line(gone, 0.1) is None
    assert r.execute_command("CLIENT", "UNPAUSE") == b"OK"
    assert r.set("after", "1") and r.get("after") == b"1"


def test_resp3_over_a_raw_socket(server):
    out = raw(server.port, b"HELLO 3\r\n")
    assert out.startswith(b"%7\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in out
    # A RESP3 null, map and double-less INCRBYFLOAT in one exchange.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\nGET nope\r\nINCRBYFLOAT fl 1.5\r\nHSET h a 1\r\nHGETALL h\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while not data.endswith(b"$1\r\na\r\n$1\r\n1\r\n") and time.monotonic() < deadline:
            data += s.recv(65536)
    assert b"\r\n_\r\n" in data
    assert b"$3\r\n1.5\r\n" in data
    assert data.endswith(b"%1\r\n$1\r\na\r\n$1\r\n1\r\n")


def test_redis_cli_resp3_and_one_shot(server):
    cli = ["redis-cli", "-p", str(server.port)]
    assert subprocess.run(cli + ["set", "c", "1"], capture_output=True, text=True).stdout == "OK\n"
    out = subprocess.run(cli + ["--no-raw", "-3", "hgetall", "nohash"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and out.stdout.strip() == "(empty hash)"
    out = subprocess.run(cli + ["-3", "hello", "3"], capture_output=True, text=True).stdout
    assert "proto" in out
    out = subprocess.run(cli + ["nosuchcmd", "x"], capture_output=True, text=True).stdout
    assert "ERR unknown command 'nosuchcmd', with args beginning with: 'x'" in out


def test_auth(start_server):
    s = start_server("--requirepass", "s3cret")
    with pytest.raises(redis.AuthenticationError):
        s.client().get("k")
    with pytest.raises(redis.ResponseError, match="WRONGPASS"):
        s.client(password="wrong").ping()
    r = s.client(password="s3cret")
    assert r.set("k", "v") and r.get("k") == b"v"
    assert raw(s.port, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"


def test_oversized_bulk_is_refused_and_neighbours_are_unaffected(server):
    neighbour = server.client()
    neighbour.set("n", "still here")
    out = raw(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", expect_close=True)
    assert out == b"-ERR Protocol error: invalid bulk length\r\n"
    out = raw(server.port, b"*99999999999\r\n", expect_close=True)
    assert out.startswith(b"-ERR Protocol error")
    out = raw(server.port, b"GET " + b"x" * (70 * 1024), expect_close=True)
    assert out == b"-ERR Protocol error: too big inline request\r\n"
    assert neighbour.get("n") == b"still here"
    assert neighbour.get("k") is None


def test_many_clients_at_once(server):
    def work(i):
        r = server.client()
        for j in range(50):
            r.set(f"c{i}:{j}", j)
        return sum(int(r.get(f"c{i}:{j}")) for j in range(50))

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as ex:
        results = list(ex.map(work, range(200)))
    assert results == [sum(range(50))] * 200
    assert server.client().dbsize() == 200 * 50


def test_keys_over_a_large_keyspace_does_not_hold_up_other_clients(start_server):
    """One worker thread, so both clients share its event loop: while KEYS walks 500k keys (in
    steps), another client's commands are answered, and the KEYS reply, held back until it is
    complete, is whole afterwards."""
    server = start_server("--threads", "1", "--maxmemory", "512mb")
    r = server.client()
    n = 500000
    pipe = r.pipeline(transaction=False)
    for start in range(0, n, 1000):
        pipe.mset({b"key:%d" % i: b"v" for i in range(start, start + 1000)})
    pipe.execute()
    assert r.dbsize() == n

    with socket.create_connection(("127.0.0.1", server.port)) as a:
        a.sendall(b"PING\r\nKEYS *\r\n")
        reader = a.makefile("rb")
        assert reader.readline() == b"+PONG\r\n"
        # The PONG came out while KEYS had only begun; the other client is served meanwhile.
        other = server.client()
        assert other.ping()
        assert other.set("during", "1")
        assert other.get("key:7") == b"v"
        ready, _, _ = select.select([a], [], [], 0)
        assert not ready, "the KEYS reply began before the other client was answered"
        header = reader.readline()
        assert header.startswith(b"*")
        count = int(header[1:])
        keys = set()
        for _ in range(count):
            size = int(reader.readline()[1:])
            keys.add(reader.read(size + 2)[:-2])
    assert count == len(keys), "a key listed twice"
    assert keys - {b"during"} == {b"key:%d" % i for i in range(n)}
    # A walk that finds nothing has no bytes to send until its end (its reply's memory must
    # stay meanwhile), then answers an empty array.
    assert r.keys("nomatch*") == []
    assert sorted(r.keys("key:1234?")) == [b"key:1234%d" % i for i in range(10)]
    assert r.ping()

    # A client that leaves during its walk; a FLUSHALL during another's.
    with socket.create_connection(("127.0.0.1", server.port)) as gone:
        gone.sendall(b"PING\r\nKEYS *\r\n")
        assert gone.makefile("rb").readline() == b"+PONG\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as a:
        a.sendall(b"PING\r\nKEYS *\r\n")
        reader = a.makefile("rb")
        assert reader.readline() == b"+PONG\r\n"
        assert r.flushall()
        count = int(reader.readline()[1:])
        listed = [reader.read(int(reader.readline()[1:]) + 2)[:-2] for _ in range(count)]
    assert len(set(listed)) == count <= n + 1
    assert r.dbsize() == 0 and r.keys("*") == []


def test_client_list_filters(server):
    a, b = server.client(), server.client()
    a.client_setname("first")
    b.client_setname("second")
    names = {c["name"] for c in a.client_list()}
    assert {"first", "second"} <= names
    assert {c["name"] for c in a.client_list(_type="normal")} == names
    assert a.client_list(_type="pubsub") == []
    only = a.client_list(client_id=[str(b.client_id())])
    assert [c["name"] for c in only] == ["second"]


def test_client_kill_filters(server):
    """Every filter must match (Redis's CLIENT KILL); SKIPME is yes by default, and no filter
    that matches nobody may disconnect anyone."""
    me, other = server.client(), server.client()
    other_id = other.client_id()

    def ids():
        return {int(c["id"]) for c in me.client_list()}

    def kill(*args):
        return me.execute_command("CLIENT", "KILL", *args)

    for t in ("replica", "slave", "master", "pubsub"):
        assert kill("TYPE", t) == 0
    assert kill("MAXAGE", "100000") == 0  # no client is that old
    assert kill("ID", str(other_id), "TYPE", "pubsub") == 0  # all filters must match
    for args, error in [(("TYPE", "bogus"), "Unknown client type 'bogus'"),
                        (("SKIPME", "maybe"), "syntax error"),
                        (("USER", "nobody"), "No such user 'nobody'"),
                        (("ID", "0"), "client-id should be greater than 0"),
                        (("ID", "-5"), "client-id should be greater than 0"),
                        (("MAXAGE", "x"), "not an integer")]:
        with pytest.raises(redis.ResponseError, match=error):
            kill(*args)
    assert other_id in ids(), "nothing above disconnected anyone"
    assert kill("TYPE", "normal") == 1  # the other client, not the caller
    deadline = time.monotonic() + 10
    while other_id in ids():
        assert time.monotonic() < deadline, "the killed client is still listed"
    assert me.ping()
    # USER default, SKIPME no: every client, the caller too (it gets its reply first).
    third = server.client()
    third.ping()
    assert kill("USER", "default", "SKIPME", "no") == 2


def test_maxclients(start_server):
    s = start_server("--maxclients", "5")
    held = []
    deadline = time.monotonic() + 10
    while len(held) < 5:  # the readiness probe's connection may still be closing
        assert time.monotonic() < deadline
        c = socket.create_connection(("127.0.0.1", s.port))
        try:
            c.sendall(b"PING\r\n")
            ok = c.recv(64) == b"+PONG\r\n"
        except ConnectionResetError:
            ok = False
        if ok:
            held.append(c)
        else:
            c.close()
    # Send nothing: the server writes its refusal and closes.
    out = raw(s.port, b"", expect_close=True)
    assert out == b"-ERR max number of clients reached\r\n"
    for h in held:
        h.close()


def test_noeviction_answers_oom(start_server):
    s = start_server("--maxmemory", "2mb", "--maxmemory-policy", "noeviction", "--shards", "1")
    r = s.client()
    with pytest.raises(redis.ResponseError, match="OOM command not allowed"):
        for i in range(10000):
            r.set(f"k{i}", "v" * 1000)
    assert r.get("k0") == b"v" * 1000


def test_eviction_keeps_memory_bounded(start_server):
    s = start_server("--maxmemory", "4mb")
    r = s.client()
    p = r.pipeline(transaction=False)
    for i in range(20000):
        p.set(f"k{i}", "v" * 500)
    p.execute()
    info = r.info()
    assert info["used_memory"] <= 4 * 1024 * 1024
    assert info["evicted_keys"] > 0


def test_config_set_maxmemory_at_runtime(start_server):
    """CONFIG SET maxmemory lowers the budget while clients keep being served: the server
    answers at once and evicts in slices between their requests; raising it takes at once."""
    s = start_server("--maxmemory", "256mb", "--shards", "8")
    r = s.client()
    value = b"x" * 1000
    for start in range(0, 150000, 10000):
        p = r.pipeline(transaction=False)
        for i in range(start, start + 10000):
            p.set(f"key:{i}", value)
        p.execute()
    assert r.info("memory")["used_memory"] > 150 * 1024 * 1024
    assert r.config_set("maxmemory", "20mb")
    assert r.config_get("maxmemory") == {"maxmemory": str(20 << 20)}
    # Another client is served while the evictions go on; poll until they are done.
    other = s.client()
    deadline = time.monotonic() + 30
    reads = 0
    while r.info("memory")["used_memory"] > 20 << 20:
        assert time.monotonic() < deadline, "used_memory never came under the new maxmemory"
        other.get(f"key:{reads % 150000}")
        reads += 1
    info = r.info()
    assert info["maxmemory"] == 20 << 20
    assert info["evicted_keys"] > 120000
    assert r.dbsize() == 150000 - info["evicted_keys"]
    held = [k for k in r.scan_iter(count=1000)]
    assert len(held) == r.dbsize()
    assert all(v == value for v in r.mget(held[:500]))
    # Writes keep to the new budget...
    p = r.pipeline(transaction=False)
    for i in range(150000, 200000):
        p.set(f"key:{i}", value)
    p.execute()
    assert r.info("memory")["used_memory"] <= 20 << 20
    # ... and a raised one holds more without evicting.
    assert r.config_set("maxmemory", "1gb")
    evicted = r.info("stats")["evicted_keys"]
    p = r.pipeline(transaction=False)
    for i in range(200000, 300000):
        p.set(f"key:{i}", value)
    p.execute()
    assert r.info("stats")["evicted_keys"] == evicted
    assert r.info("memory")["used_memory"] > 100 * 1024 * 1024
    with pytest.raises(redis.ResponseError, match="argument must be 0 \\(no limit\\) or between"):
        r.config_set("maxmemory", str(1 << 45))
    assert r.config_get("maxmemory") == {"maxmemory": str(1 << 30)}


def test_config_file_and_flags(tmp_path, start_server):
    conf = tmp_path / "kv.conf"
    conf.write_text("# a comment\nmaxmemory 64mb\nmaxclients 77\nrequirepass \"pa ss\"\n")
    s = start_server("--config", str(conf), "--maxclients", "88")
    r = s.client(password="pa ss")
    assert r.config_get("maxmemory")["maxmemory"] == str(64 * 1024 * 1024)
    assert r.config_get("maxclients")["maxclients"] == "88", "flags override the file"


def test_config_rewrite_keeps_the_file_and_saves_what_changed(tmp_path, start_server):
    conf = tmp_path / "kv.conf"
    conf.write_text("# cache for the ranking service\n"
                    "maxmemory 64mb\n"
                    "\n"
                    "  # clients\n"
                    "maxclients 77\n"
                    "hz 10\n"
                    "maxclients 80\n"
                    "requirepass \"pa ss\"\n")
    s = start_server("--config", str(conf), "--timeout", "30")
    r = s.client(password="pa ss")
    assert r.config_get("maxclients")["maxclients"] == "80", "the file's last line wins"
    info = r.info("server")
    assert info["config_file"] == str(conf) and info["executable"].endswith("kvcache-server")
    assert r.config_set("maxmemory", "128mb")
    assert r.config_set("tcp-keepalive", "60")
    assert r.config_set("requirepass", 'say "hi" \\o/')
    assert r.execute_command("CONFIG", "REWRITE") in (b"OK", "OK", True)
    lines = conf.read_text().splitlines()
    assert lines[:7] == ["# cache for the ranking service",
                         f"maxmemory {128 << 20}",
                         "",
                         "  # clients",
                         "maxclients 80",
                         "hz 10",
                         'requirepass "say \\"hi\\" \\\\o/"'], lines
    # Settings that differ from their defaults and were not in the file come after a marker:
    # the flags given at start and what CONFIG SET changed.
    assert lines[7] == "# Generated by CONFIG REWRITE", lines
    assert set(lines[8:]) == {f"port {s.port}", "timeout 30", "tcp-keepalive 60"}, lines
    # A second rewrite changes nothing; a server started from the file has the same settings.
    r = s.client(password='say "hi" \\o/')
    assert r.execute_command("CONFIG", "REWRITE") in (b"OK", "OK", True)
    assert conf.read_text().splitlines() == lines
    s.stop()
    conf.write_text(conf.read_text().replace(f"port {s.port}", ""))
    s2 = start_server("--config", str(conf))
    r2 = s2.client(password='say "hi" \\o/')
    got = r2.config_get("*")
    assert (got["maxmemory"], got["maxclients"], got["timeout"], got["tcp-keepalive"]) == (
        str(128 << 20), "80", "30", "60")


def test_slowlog_through_redis_py(server):
    r = server.client()
    assert r.config_set("slowlog-log-slower-than", 0)
    r.client_setname("ranker")
    r.set("emb:1", b"\x00" * 1000)
    entries = r.slowlog_get(2)  # newest first; this SLOWLOG GET is logged once it has replied
    assert [e["command"] for e in entries] == [
        b"SET emb:1 " + b"\x00" * 128 + b"... (872 more bytes)", b"CLIENT SETNAME ranker"]
    assert entries[1]["id"] + 1 == entries[0]["id"] and entries[0]["duration"] >= 0
    raw = r.execute_command("SLOWLOG", "GET", "1")[0]  # Debian's redis-py parses no client fields
    assert raw[4].startswith(b"127.0.0.1:") and raw[5] == b"ranker"
    assert r.slowlog_len() >= 3
    assert r.slowlog_reset()
    assert r.slowlog_len() == 1  # the reset itself


def test_swapdb_publishes_a_snapshot_loaded_beside_the_live_one(server):
    """A feature snapshot loaded into database 1 replaces database 0's for every client at once,
    the clients that stay connected to database 0 (spread over the workers) included."""
    import numpy as np
    readers = [server.client(db=0) for _ in range(4)]
    loader = server.client(db=1)
    old = np.arange(16, dtype=np.float32)
    for i in range(100):
        readers[0].set(f"feat:{i}", old.tobytes())
    pipe = loader.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"feat:{i}", (old + i).tobytes())
    pipe.execute()
    assert all(r.get("feat:7") == old.tobytes() for r in readers)
    assert loader.swapdb(0, 1)
    for r in readers:
        assert np.array_equal(np.frombuffer(r.get("feat:7"), dtype=np.float32), old + 7)
        assert r.dbsize() == 100
    assert loader.get("feat:7") == old.tobytes()  # the previous snapshot, to flush or keep
    assert loader.flushdb() and loader.dbsize() == 0 and readers[1].dbsize() == 100


def test_config_rewrite_without_a_file(server):
    with pytest.raises(redis.ResponseError, match="running without a config file"):
        server.client().execute_command("CONFIG", "REWRITE")


def test_bad_flags_fail_clearly(bin_dir):
    out = subprocess.run([str(bin_dir / "kvcache-server"), "--maxmemory", "lots"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "maxmemory" in out.stderr
    out = subprocess.run([str(bin_dir / "kvcache-server"), "--maxmemory-policy", "random"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "maxmemory-policy" in out.stderr


def test_a_second_server_on_the_same_port_is_refused(server, bin_dir):
    """Workers share their port (SO_REUSEPORT); a second kvcache-server must not join them and
    take half of the connections to a cache of its own."""
    r = server.client()
    r.set("k", "first")
    out = subprocess.run([str(bin_dir / "kvcache-server"), "--port", str(server.port)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "Address already in use" in out.stdout + out.stderr
    for _ in range(20):  # every new connection still reaches the one cache
        assert server.client().get("k") == b"first"


def test_sigterm_shuts_down_cleanly(start_server):
    s = start_server()
    s.client().set("k", "v")
    assert s.stop() == 0
    assert b"ready to accept connections" in s.log
    assert b"ready to exit" in s.log


def test_shutdown_command(start_server):
    s = start_server()
    s.client().shutdown(nosave=True)
    assert s.proc.wait(timeout=10) == 0


def test_redis_benchmark_runs_without_errors(server):
    out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "set,get,incr,mset,ping",
                          "-n", "20000", "-r", "10000", "-c", "20", "-P", "4", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout.replace("\r", "\n")
    for test in ("SET", "GET", "INCR", "MSET", "PING_INLINE", "PING_MBULK"):
        assert re.search(rf"^{test}[^:]*: [0-9.]+ requests per second", text, re.M), (test, text)
    assert "ERR" not in out.stdout + out.stderr


def primary_ipv4():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this picks the outgoing address
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_protected_mode(start_server):
    ip = primary_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    s = start_server("--bind", "0.0.0.0")
    with socket.create_connection((ip, s.port), timeout=5) as c:
        c.sendall(b"PING\r\n")
        assert c.recv(4096).startswith(b"-DENIED Redis is running in protected mode")
    assert s.client().ping(), "loopback clients are still served"
    s2 = start_server("--bind", "0.0.0.0", "--requirepass", "pw")
    with socket.create_connection((ip, s2.port), timeout=5) as c:
        c.sendall(b"PING\r\n")
        assert c.recv(4096) == b"-NOAUTH Authentication required.\r\n"


def test_starts_from_debians_redis_conf(bin_dir, tmp_path, start_server):
    """Debian's stock /etc/redis/redis.conf, with its port, PID file, log file and directory
    moved to a temporary directory, loads as it is: the server daemonizes, writes its PID file,
    binds "127.0.0.1 -::1" (the second optional), answers, shows the Redis settings that mean
    nothing here through CONFIG GET (keeping their immutability), refuses keyspace
    notifications, and removes the PID file when SIGTERM stops it."""
    src = "/etc/redis/redis.conf"
    if not os.path.exists(src):
        pytest.skip("redis-server's config file is not installed")
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    text = open(src).read()
    moved = {"port": str(number), "pidfile": str(tmp_path / "kv.pid"),
             "logfile": str(tmp_path / "kv.log"), "dir": str(tmp_path)}
    for name, value in moved.items():
        text, n = re.subn(rf"^{name} .*$", f"{name} {value}", text, flags=re.M)
        assert n == 1, name
    assert re.search(r"^daemonize yes$", text, re.M), "Debian's file daemonizes"
    conf = tmp_path / "redis.conf"
    conf.write_text(text)
    done = subprocess.run([str(bin_dir / "kvcache-server"), "--config", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr  # the parent returns once the daemon is forked
    pidfile = tmp_path / "kv.pid"
    deadline = time.monotonic() + 20
    r = redis.Redis(port=number)
    while True:
        try:
            if pidfile.exists() and r.ping():
                break
        except redis.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the daemon did not come up"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    try:
        assert r.config_get("daemonize") == {"daemonize": "yes"}
        assert r.config_get("dbfilename") == {"dbfilename": "dump.rdb"}
        assert r.config_get("oom-score-adj-values") == {"oom-score-adj-values": "0 200 800"}
        assert r.config_set("hash-max-listpack-entries", "1000")
        assert r.config_get("hash-max-listpack-entries") == {"hash-max-listpack-entries": "1000"}
        with pytest.raises(redis.ResponseError, match="can't set immutable config"):
            r.config_set("set-proc-title", "no")
        with pytest.raises(redis.ResponseError, match="no keyspace notifications"):
            r.config_set("notify-keyspace-events", "Ex")
        assert r.set("k", "v") and r.get("k") == b"v"
        assert "ready to accept connections" in (tmp_path / "kv.log").read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pidfile.exists():  # removed on the way out
        assert time.monotonic() < deadline, "the PID file stayed"
        time.sleep(0.05)

    # An optional address that cannot be bound is left out; a required one is an error.
    s = start_server("--bind", "127.0.0.1 -192.0.2.1")
    assert s.client().ping()
    bad = subprocess.run([str(bin_dir / "kvcache-server"), "--port", "0", "--bind",
                          "127.0.0.1 192.0.2.1"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "192.0.2.1" in bad.stderr, bad.stderr
