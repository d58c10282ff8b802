"""kvcache-server's pub/sub (as Redis 7.0) against real clients: redis-py's PubSub across both
workers, bit-exact NumPy payloads, PUBSUB / CLIENT LIST / INFO introspection, the RESP2
subscriber context and RESP3 pushes byte for byte over raw sockets, and a subscriber that stops
reading being closed at the 32 MB output limit without costing the others a message."""
import socket
import threading
import time

import numpy as np


def wait_until(predicate, timeout=10, what="condition not reached"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def next_data_message(p, deadline):
    """The next message or pmessage of a redis-py PubSub (confirmations skipped), or fails at
    the deadline."""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "a message did not arrive in time"
        m = p.get_message(timeout=min(left, 1.0))
        if m is not None and m["type"] in ("message", "pmessage"):
            return m


def wait_confirmations(p, count, timeout=10):
    """Reads `count` (p)subscribe confirmations of a PubSub."""
    deadline = time.monotonic() + timeout
    seen = []
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {seen} confirmed"
        m = p.get_message(timeout=0.5)
        if m is not None:
            assert m["type"] in ("subscribe", "psubscribe"), m
            seen.append(m)
    return seen


class Raw:
    """A raw socket to the server that reads exactly as many bytes as expected, by a
    deadline, and parses single RESP2/RESP3 replies."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; have {self.buf!r}"
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out; have {self.buf!r}") from None
        assert chunk, f"connection closed; have {self.buf!r}"
        self.buf += chunk

    def read_exact(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self, timeout=5):
        deadline = time.monotonic() + timeout
        return self._parse(deadline)

    def _parse(self, deadline):
        line = self._line(deadline)
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return line
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill(deadline)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind in (b"*", b">", b"~"):
            n = int(rest)
            return None if n < 0 else [self._parse(deadline) for _ in range(n)]
        if kind == b"%":
            return {self._parse(deadline): self._parse(deadline) for _ in range(int(rest))}
        raise AssertionError(f"unexpected reply line {line!r}")

    def nothing_more(self, wait=0.1):
        """Asserts that nothing else arrives within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            extra = self.sock.recv(65536)
        except socket.timeout:
            extra = b""
        assert self.buf + extra == b"", f"unexpected bytes {self.buf + extra!r}"

    def close(self):
        self.sock.close()


def test_messages_reach_subscribers_on_both_workers_in_publisher_order(start_server):
    """With two workers, four subscribers (their connections spread over both) and one pattern
    subscription get every one of 150 messages that three publishers send at once, each
    publisher's in its order; PUBLISH counts the 4 channel receivers and the pattern one."""
    server = start_server("--maxmemory", "256mb", "--threads", "2")
    clients = [server.client() for _ in range(4)]
    subs = [c.pubsub() for c in clients]
    for p in subs:
        p.subscribe("features")
    subs[0].psubscribe("feat*")
    wait_confirmations(subs[0], 2)
    for p in subs[1:]:
        wait_confirmations(p, 1)
    control = server.client()
    assert control.pubsub_numsub("features") == [(b"features", 4)]
    assert control.pubsub_numpat() == 1

    publishers = [server.client() for _ in range(3)]
    counts = [[] for _ in publishers]
    start = threading.Barrier(len(publishers))

    def publish(k):
        start.wait()
        for i in range(50):
            counts[k].append(publishers[k].publish("features", f"{k}:{i}"))

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(len(publishers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert counts == [[5] * 50] * 3, "PUBLISH did not count 4 subscribers + 1 pattern"

    expected = {f"{k}:{i}".encode() for k in range(3) for i in range(50)}
    deadline = time.monotonic() + 15
    for n, p in enumerate(subs):
        want = 300 if n == 0 else 150  # the first also gets each message through its pattern
        got = [next_data_message(p, deadline) for _ in range(want)]
        for kind in ("message", "pmessage"):
            mine = [m for m in got if m["type"] == kind]
            if kind == "pmessage" and n != 0:
                assert mine == []
                continue
            assert len(mine) == 150, (n, kind)
            assert all(m["channel"] == b"features" for m in mine)
            assert all(m["pattern"] == (b"feat*" if kind == "pmessage" else None)
                       for m in mine)
            data = [m["data"] for m in mine]
            assert set(data) == expected, (n, kind)
            for k in range(3):
                assert [d for d in data if d.startswith(b"%d:" % k)] == [
                    f"{k}:{i}".encode() for i in range(50)], f"publisher {k} out of order"
        assert p.get_message(timeout=0.1) is None, "more than was published"
    for p in subs:
        p.close()


def test_numpy_payloads_arrive_bit_exact(server):
    """A float32 embedding and a payload full of NUL and CR LF bytes come out of a message
    (and a pattern message) exactly as they went in."""
    r = server.client()
    p = server.client().pubsub()
    p.subscribe("emb")
    p.psubscribe("em*")
    wait_confirmations(p, 2)
    vector = np.random.default_rng(0).standard_normal(784).astype(np.float32)
    tricky = np.frombuffer(b"\x00\r\n\x00\x0d\x0a\r\n\r" * 100 + b"\x00" * 7 + b"\r\n",
                           dtype=np.uint8)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], dtype=np.float32)
    for a in (vector, tricky, specials):
        assert r.publish("emb", a.tobytes()) == 2
    deadline = time.monotonic() + 10
    for a in (vector, tricky, specials):
        for kind in ("message", "pmessage"):
            m = next_data_message(p, deadline)
            assert m["type"] == kind and m["channel"] == b"emb"
            back = np.frombuffer(m["data"], dtype=a.dtype)
            assert back.tobytes() == a.tobytes()
            if a is not specials:
                assert np.array_equal(back, a)
            else:
                assert np.array_equal(back, a, equal_nan=True)
    p.close()


def client_by_name(r, name):
    found = [c for c in r.client_list() if c["name"] == name]
    return found[0] if found else None


def test_introspection_through_redis_py(server):
    """PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB, CLIENT LIST's sub, psub,
    ssub and P flag, and INFO's pubsub counts follow subscribers as they come and go."""
    r = server.client()
    assert r.pubsub_channels() == [] and r.pubsub_numpat() == 0
    p1 = server.client(client_name="sub1").pubsub()
    p2 = server.client(client_name="sub2").pubsub()
    p3 = server.client(client_name="psub3").pubsub()
    p1.subscribe("a", "b")
    p2.subscribe("a")
    p3.psubscribe("x*", "y*")
    wait_confirmations(p1, 2)
    wait_confirmations(p2, 1)
    wait_confirmations(p3, 2)
    shard = Raw(server.port)  # redis-py 4.3 has no SSUBSCRIBE; a repeat is one subscription
    shard.send(b"CLIENT SETNAME shard4\r\nSSUBSCRIBE s1 s2 s1\r\n")
    assert shard.read_reply() == b"+OK"
    assert shard.read_reply() == [b"ssubscribe", b"s1", 1]
    assert shard.read_reply() == [b"ssubscribe", b"s2", 2]
    assert shard.read_reply() == [b"ssubscribe", b"s1", 2]

    assert sorted(r.pubsub_channels()) == [b"a", b"b"]
    assert r.pubsub_channels("a*") == [b"a"]
    assert r.pubsub_numsub("a", "nope") == [(b"a", 2), (b"nope", 0)]
    assert r.pubsub_numsub("b") == [(b"b", 1)]
    assert r.pubsub_numpat() == 2
    assert sorted(r.execute_command("PUBSUB", "SHARDCHANNELS")) == [b"s1", b"s2"]
    assert r.execute_command("PUBSUB", "SHARDNUMSUB", "s1", "a") == [b"s1", 1, b"a", 0]
    stats = r.info("stats")
    assert stats["pubsub_channels"] == 2 and stats["pubsub_patterns"] == 2
    expected = {"sub1": ("2", "0", "0"), "sub2": ("1", "0", "0"), "psub3": ("0", "2", "0"),
                "shard4": ("0", "0", "2")}
    for name, (sub, psub, ssub) in expected.items():
        c = client_by_name(r, name)
        assert c is not None, name
        assert (c["sub"], c["psub"], c["ssub"]) == (sub, psub, ssub), (name, c)
        assert "P" in c["flags"], (name, c["flags"])
    me = [c for c in r.client_list() if c["name"] == ""]
    assert me and all("P" not in c["flags"] and c["sub"] == "0" for c in me)
    assert r.execute_command("SPUBLISH", "s1", "hello") == 1
    assert shard.read_reply() == [b"smessage", b"s1", b"hello"]
    # TYPE pubsub is the subscribed clients, TYPE normal the others, as in Redis.
    assert sorted(c["name"] for c in r.client_list(_type="pubsub")) == [
        "psub3", "shard4", "sub1", "sub2"]
    assert all(c["name"] == "" for c in r.client_list(_type="normal"))
    victim = server.client(client_name="victim").pubsub()
    victim.subscribe("v")
    wait_confirmations(victim, 1)
    assert r.client_kill_filter(_type="pubsub", addr=client_by_name(r, "victim")["addr"]) == 1
    wait_until(lambda: client_by_name(r, "victim") is None, what="the killed subscriber stays")
    assert r.pubsub_numsub("v") == [(b"v", 0)]

    p2.unsubscribe("a")
    wait_until(lambda: r.pubsub_numsub("a") == [(b"a", 1)], what="p2 still counted on a")
    wait_until(lambda: client_by_name(r, "sub2")["sub"] == "0")
    assert "P" not in client_by_name(r, "sub2")["flags"], "no subscription left: not P"
    p1.close()
    wait_until(lambda: r.pubsub_channels() == [], what="channels of a closed subscriber stay")
    assert r.pubsub_numsub("a", "b") == [(b"a", 0), (b"b", 0)]
    p3.punsubscribe("x*")
    wait_until(lambda: r.pubsub_numpat() == 1)
    p3.close()
    wait_until(lambda: r.pubsub_numpat() == 0)
    shard.close()
    wait_until(lambda: r.execute_command("PUBSUB", "SHARDCHANNELS") == [])
    stats = r.info("stats")
    assert stats["pubsub_channels"] == 0 and stats["pubsub_patterns"] == 0
    assert stats["pubsubshard_channels"] == 0
    assert r.publish("a", "nobody") == 0


def test_resp2_subscriber_context_and_resp3_pushes_over_raw_sockets(server):
    """RESP2: a subscribed client may only (un)subscribe, PING (answered as a pong array), QUIT
    or RESET, which leaves the context. RESP3: subscribe confirmations and messages are pushes,
    a PUBLISH to one's own channel pushes the message before its reply, and GET still works."""
    r = server.client()
    a = Raw(server.port)
    try:
        a.send(b"SUBSCRIBE ch\r\n")
        confirm = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        assert a.read_exact(len(confirm)) == confirm
        a.send(b"GET k\r\n")
        err = (b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
               b"QUIT / RESET are allowed in this context\r\n")
        assert a.read_exact(len(err)) == err
        a.send(b"PING\r\n")
        pong = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        assert a.read_exact(len(pong)) == pong
        a.nothing_more()
        assert r.publish("ch", "hi") == 1
        msg = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        assert a.read_exact(len(msg)) == msg
        a.send(b"RESET\r\n")
        assert a.read_exact(len(b"+RESET\r\n")) == b"+RESET\r\n"
        wait_until(lambda: r.pubsub_numsub("ch") == [(b"ch", 0)], what="RESET kept the channel")
        a.send(b"GET k\r\n")
        assert a.read_exact(5) == b"$-1\r\n"
        a.nothing_more()
    finally:
        a.close()

    b = Raw(server.port)
    try:
        b.send(b"HELLO 3\r\n")
        hello = b.read_reply()
        assert isinstance(hello, dict) and hello[b"proto"] == 3
        b.send(b"SUBSCRIBE ch\r\n")
        confirm = b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        assert b.read_exact(len(confirm)) == confirm
        b.send(b"PUBLISH ch self\r\n")
        push = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\nself\r\n"
        assert b.read_exact(len(push) + 4) == push + b":1\r\n", "push must precede the reply"
        r.set("k", "v")
        b.send(b"GET k\r\n")
        assert b.read_exact(len(b"$1\r\nv\r\n")) == b"$1\r\nv\r\n"
        b.nothing_more()
        b.send(b"UNSUBSCRIBE ch\r\n")
        gone = b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
        assert b.read_exact(len(gone)) == gone
        assert r.publish("ch", "late") == 0
        b.nothing_more()
    finally:
        b.close()


def test_a_subscriber_that_stops_reading_is_closed_and_the_others_lose_nothing(server):
    """A subscriber that never reads passes the 32 MB output limit as 48 MB is published and is
    closed; a subscriber that reads gets all 96 messages of 512 KiB intact, and the server goes
    on serving."""
    r = server.client()
    slow = Raw(server.port, rcvbuf=4096)
    try:
        slow.send(b"CLIENT ID\r\n")
        slow_id = slow.read_reply()
        assert isinstance(slow_id, int)
        slow.send(b"SUBSCRIBE flood\r\n")
        assert slow.read_reply() == [b"subscribe", b"flood", 1]
        reader = server.client().pubsub()
        reader.subscribe("flood")
        wait_confirmations(reader, 1)
        assert r.pubsub_numsub("flood") == [(b"flood", 2)]
        assert any(c["id"] == str(slow_id) for c in r.client_list())

        rng = np.random.default_rng(1)
        size = 512 * 1024
        payloads = [i.to_bytes(4, "big") + rng.bytes(size - 4) for i in range(96)]
        received = []
        failure = []

        def read():
            deadline = time.monotonic() + 25
            try:
                while len(received) < len(payloads):
                    received.append(next_data_message(reader, deadline)["data"])
            except BaseException as e:  # reported by the main thread
                failure.append(e)

        t = threading.Thread(target=read)
        t.start()
        publisher = server.client()
        counts = []
        deadline = time.monotonic() + 25
        for i, data in enumerate(payloads):
            # The reader keeps up: at most 8 messages (4 MiB) ahead of it.
            while len(received) < i - 8 and not failure:
                assert time.monotonic() < deadline, "the reading subscriber fell behind"
                time.sleep(0.001)
            counts.append(publisher.publish("flood", data))
        t.join(30)
        assert not t.is_alive() and not failure, failure
        assert len(received) == 96
        for i, (got, sent) in enumerate(zip(received, payloads)):
            assert got == sent, f"message {i} differs"
        # PUBLISH counts the slow one until it is closed (asynchronously, as Redis does), never
        # after.
        assert counts[0] == 2 and set(counts) <= {1, 2}
        assert counts == sorted(counts, reverse=True), counts

        wait_until(lambda: r.pubsub_numsub("flood") == [(b"flood", 1)], timeout=20,
                   what="the slow subscriber is still subscribed")
        wait_until(lambda: all(c["id"] != str(slow_id) for c in r.client_list()), timeout=20,
                   what="the slow subscriber is still connected")
        assert reader.get_message(timeout=0.1) is None, "more than was published"

        # What the slow one can still read is an intact prefix of the stream, then the end:
        # the rest of what was queued for it was dropped.
        head = b"*3\r\n$7\r\nmessage\r\n$5\r\nflood\r\n"
        stream = b"".join(head + b"$%d\r\n%s\r\n" % (len(d), d) for d in payloads)
        got = bytearray(slow.buf)
        deadline = time.monotonic() + 10
        try:
            while True:
                assert time.monotonic() < deadline, "the slow subscriber's socket stays open"
                slow.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = slow.sock.recv(1 << 16)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("the slow subscriber's socket stays open") from None
        assert bytes(got) == stream[:len(got)], "the slow subscriber got corrupted data"
        assert len(got) < 32 << 20, len(got)
        reader.close()
        wait_until(lambda: r.pubsub_numsub("flood") == [(b"flood", 0)])
    finally:
        slow.close()
    assert r.ping()
    assert r.set("after", b"\x00ok") and r.get("after") == b"\x00ok"
    assert r.publish("flood", "x") == 0
    assert r.info("clients")["connected_clients"] >= 1
