"""Large values through the real server: 16 and 32 MiB round trips with redis-py, and the limits
that still hold for them (proto-max-bulk-len, client-query-buffer-limit, the largest item, a
client leaving halfway through a value)."""
import os
import socket
import time

import pytest
import redis


def set_header(key, size):
    """A SET request up to its value's first byte."""
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, size)


def read_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, True


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("size", [16 << 20, 32 << 20])
def test_large_value_round_trip_is_exact(start_server, size):
    s = start_server("--maxmemory", "1gb")
    r = s.client()
    value = os.urandom(size)
    assert r.set("chunk", value)
    assert r.get("chunk") == value
    assert r.strlen("chunk") == size
    # Overwritten by another large value, with an expiry, in another database.
    other = os.urandom(size)
    assert r.set("chunk", other, ex=100)
    assert r.get("chunk") == other
    r1 = s.client(db=1)
    assert r1.setex("chunk", 100, value)
    assert r1.get("chunk") == value and r.get("chunk") == other
    # Pipelined with small commands on both sides.
    p = r.pipeline(transaction=False)
    p.set("a", "1").set("chunk2", value).get("a").get("chunk2").get("chunk")
    assert p.execute() == [True, True, b"1", value, other]


def test_value_above_proto_max_bulk_len_is_refused(start_server):
    s = start_server("--maxmemory", "256mb", "--proto-max-bulk-len", "1mb")
    r = s.client()
    assert r.set("small", b"x" * (1 << 20))  # exactly the limit is fine
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(set_header(b"k", (1 << 20) + 1))
        data, closed = read_until_closed(sock)
    assert data == b"-ERR Protocol error: invalid bulk length\r\n" and closed
    # Through a client that sends the whole value: an error, however it surfaces.
    with pytest.raises((redis.exceptions.ConnectionError, redis.ResponseError)):
        s.client().set("k", b"y" * (2 << 20))
    assert r.get("k") is None and r.strlen("small") == 1 << 20


def test_client_query_buffer_limit_closes_the_client(start_server):
    s = start_server("--maxmemory", "256mb", "--client-query-buffer-limit", "1mb")
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(set_header(b"k", 4 << 20))
        try:
            sock.sendall(b"z" * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = read_until_closed(sock)
    assert closed and data == b""  # Redis closes such a client without a reply
    r = s.client()
    assert r.get("k") is None and r.ping()


def test_value_larger_than_the_cache_can_hold_gets_a_clear_error(start_server):
    s = start_server("--maxmemory", "64mb")
    r = s.client()
    with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
        r.set("huge", os.urandom(60 << 20))  # past 7/8 of the budget
    assert r.get("huge") is None
    assert r.set("fine", b"f" * (1 << 20)) and r.strlen("fine") == 1 << 20


def test_slowlog_and_monitor_show_a_large_value_that_is_gone(start_server):
    """A large value is received into memory of its own, which the command stores (as the item)
    or frees (refused): SLOWLOG and MONITOR, which look at the arguments after the command ran,
    show a copy of its first 128 bytes and its size. They used to read the freed memory (a
    crash once the refused SET was logged)."""
    s = start_server("--maxmemory", "64mb", "--slowlog-log-slower-than", "0")
    r = s.client()
    huge = b"h" * 128 + os.urandom((60 << 20) - 128)
    with r.monitor() as m:
        with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
            r.set("huge", huge)
        assert r.set("big", b"b" * (8 << 20))
        lines = []
        while len(lines) < 2:
            cmd = m.next_command()
            if cmd["command"].startswith("SET"):
                lines.append(cmd["command"])
    assert lines[0] == "SET huge " + "h" * 128 + f"... ({(60 << 20) - 128} more bytes)"
    assert lines[1] == "SET big " + "b" * 128 + f"... ({(8 << 20) - 128} more bytes)"
    logged = [e["command"] for e in r.slowlog_get(10) if e["command"].startswith(b"SET")]
    assert logged[1] == b"SET huge " + b"h" * 128 + f"... ({(60 << 20) - 128} more bytes)".encode()
    assert logged[0] == b"SET big " + b"b" * 128 + f"... ({(8 << 20) - 128} more bytes)".encode()
    assert r.strlen("big") == 8 << 20


def test_value_larger_than_a_shard_fits_a_full_cache(start_server):
    # 64 MB in 8 shards of 8 MB, full of small values: the shards make room for 40 MB together.
    s = start_server("--maxmemory", "64mb")
    r = s.client()
    p = r.pipeline(transaction=False)
    for i in range(20000):
        p.set(f"small:{i}", b"s" * 4000)
    p.execute()
    assert int(r.info("stats")["evicted_keys"]) > 0
    big = os.urandom(40 << 20)
    assert r.set("big", big)
    assert r.get("big") == big
    assert int(r.info("memory")["used_memory"]) <= 64 << 20
    assert r.set("small:0", b"again") and r.get("small:0") == b"again"


def test_clients_leaving_halfway_through_a_value_free_it(start_server):
    s = start_server("--maxmemory", "256mb")
    size = 48 << 20
    half = os.urandom(size // 2)
    rss_before = rss_bytes(s.proc.pid)
    for i in range(12):
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall(set_header(b"k%d" % i, size) + half)
        r = s.client()
        assert r.ping()
    # Give the server a moment to see every close.
    deadline = time.monotonic() + 5
    while s.client().info("clients")["connected_clients"] > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.client().dbsize() == 0
    # 12 abandoned halves would be 288 MiB if they were kept.
    assert rss_bytes(s.proc.pid) - rss_before < 96 << 20


def test_flushall_while_values_are_being_sent_leaves_them_whole(start_server):
    """Replies of 4 KiB and more go out from the items' own memory, pinned: a FLUSHALL while they
    wait in the output must keep those items (and their pages) until the reply has gone, and new
    writes must not be given their memory."""
    s = start_server("--maxmemory", "256mb")
    r = s.client()
    big = os.urandom(16 << 20)  # an external block
    small = [os.urandom(8000) for _ in range(200)]  # slab chunks, sent in place too
    assert r.set("big", big)
    for i, v in enumerate(small):
        assert r.set("k%d" % i, v)
    expected = b"".join(b"$%d\r\n%s\r\n" % (len(v), v) for v in [big] + small)
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the replies back up
    reader.connect(("127.0.0.1", s.port))
    reader.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
                            for k in [b"big"] + [b"k%d" % i for i in range(200)]))
    first = reader.recv(1024)  # the server has started on them
    assert first.startswith(b"$%d\r\n" % len(big))
    assert r.flushall()
    assert r.dbsize() == 0
    fresh = [os.urandom(8000) for _ in range(400)]
    for i, v in enumerate(fresh):
        assert r.set("n%d" % i, v)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    reader.settimeout(30)
    data = bytearray(first)
    while len(data) < len(expected):
        chunk = reader.recv(1 << 20)
        assert chunk, "the server closed the connection"
        data += chunk
    reader.close()
    assert bytes(data) == expected
    assert all(r.get("n%d" % i) == v for i, v in enumerate(fresh))
    assert r.dbsize() == 400


def test_hash_changed_while_it_is_being_sent_stays_whole(start_server):
    """A large hash is changed where it lies only while no one reads it: an HGETALL whose reply
    still waits in the output pins it, so HSETs meanwhile (same-size values, new fields, whose
    bytes would land where the reply is being sent from) must write a copy, and the reply must be
    the hash as it was. Then, unpinned, the changes go in place and must all be there."""
    s = start_server("--maxmemory", "1gb")
    r = s.client()
    fields = {b"f%d" % i: os.urandom(200000) for i in range(100)}  # 20 MB, sent from the item
    assert r.hset("h", mapping=fields) == 100
    for i in range(100, 400):  # grown one field at a time: it gets room to grow in place
        fields[b"f%d" % i] = os.urandom(100)
        assert r.hset("h", b"f%d" % i, fields[b"f%d" % i]) == 1
    before = r.hgetall("h")
    assert before == fields
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the reply backs up
    reader.connect(("127.0.0.1", s.port))
    reader.sendall(b"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n")
    first = reader.recv(1024)
    assert first.startswith(b"*800\r\n")
    changed = dict(fields)
    # The same sizes (in place, if it were allowed), then new fields, then deletions: each
    # command copies the 20 MB while the reply pins it.
    same = {b"f%d" % i: os.urandom(len(fields[b"f%d" % i])) for i in range(0, 400, 3)}
    assert r.hset("h", mapping=same) == 0
    changed.update(same)
    new = {b"f%d" % i: b"new%d" % i for i in range(400, 500)}
    assert r.hset("h", mapping=new) == 100
    changed.update(new)
    assert r.hdel("h", b"f1", b"f2") == 2
    del changed[b"f1"], changed[b"f2"]
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    reader.settimeout(30)
    data = bytearray(first)
    expected_len = len(b"*800\r\n") + sum(len(b"$%d\r\n%s\r\n" % (len(k), k)) +
                                          len(b"$%d\r\n%s\r\n" % (len(v), v))
                                          for k, v in fields.items())
    while len(data) < expected_len:
        chunk = reader.recv(1 << 20)
        assert chunk, "the server closed the connection"
        data += chunk
    reader.close()
    # The reply is the old hash, in some order: parse it into a dict.
    pos, got = len(b"*800\r\n"), {}
    items = []
    while pos < len(data):
        end = data.index(b"\r\n", pos)
        n = int(data[pos + 1:end])
        items.append(bytes(data[end + 2:end + 2 + n]))
        pos = end + 2 + n + 2
    got = dict(zip(items[0::2], items[1::2]))
    assert got == fields
    assert r.hgetall("h") == changed
    # Unpinned now: more changes, in place, all visible.
    for i in range(500, 700):
        changed[b"f%d" % i] = b"x" * (i % 50)
        assert r.hset("h", b"f%d" % i, changed[b"f%d" % i]) == 1
    assert r.hgetall("h") == changed
    assert r.hlen("h") == len(changed)


def test_setrange_and_append_that_build_large_values(start_server):
    """SETRANGE and APPEND that build a large value anew do it in steps, between which the server
    serves other clients; the results are those of the commands run whole, in order."""
    s = start_server("--maxmemory", "512mb")
    r, other = s.client(), s.client()
    value = bytearray(os.urandom(24 << 20))
    assert r.set("big", bytes(value), ex=1000)
    p = r.pipeline(transaction=False)
    p.setrange("big", 40 << 20, b"end").strlen("big").append("big", b"!").get("small")
    # Another client's commands meanwhile, on other keys and on this one's neighbours.
    for i in range(200):
        other.set(f"n{i}", i)
    assert p.execute() == [(40 << 20) + 3, (40 << 20) + 3, (40 << 20) + 4, None]
    value += bytes((40 << 20) - len(value)) + b"end!"
    assert r.get("big") == bytes(value)
    assert 0 < r.ttl("big") <= 1000
    assert other.get("n199") == b"199"
    # A client that leaves while its value is being built: the key is the old value or the new
    # one, whole, and the server goes on.
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"*4\r\n$8\r\nSETRANGE\r\n$3\r\nbig\r\n$9\r\n100000000\r\n$1\r\nx\r\n")
    got = r.get("big")
    assert got == bytes(value) or got == bytes(value) + bytes(100000000 - len(value)) + b"x"
    assert r.ping()


def test_copy_of_a_large_value(start_server):
    """COPY of a large value copies it in steps, between which the server serves other clients;
    a copy that does not fit the budget is refused with nothing lost."""
    s = start_server("--maxmemory", "100mb", "--maxmemory-policy", "noeviction")
    r, other = s.client(), s.client()
    value = os.urandom(40 << 20)
    assert r.set("big", value, px=900000)
    p = r.pipeline(transaction=False)
    p.copy("big", "copy").strlen("copy").copy("big", "copy").get("small")
    for i in range(200):
        other.set(f"n{i}", i)
    assert p.execute() == [True, len(value), False, None]
    assert r.get("copy") == value and r.get("big") == value
    assert 0 < r.pttl("copy") <= 900000
    assert other.get("n199") == b"199"
    # No room for a third copy: Redis's OOM error, and both values stay.
    with pytest.raises(redis.exceptions.ResponseError, match="OOM command not allowed"):
        r.copy("big", "third")
    assert not r.exists("third") and r.strlen("big") == r.strlen("copy") == len(value)
    # A client that leaves while its copy is made: the copy is there whole or not at all.
    assert r.delete("copy") == 1
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"*3\r\n$4\r\nCOPY\r\n$3\r\nbig\r\n$4\r\ncopy\r\n")
    assert r.get("copy") in (None, value)
    assert r.get("big") == value


def test_rename_of_a_large_value_in_a_full_server(start_server):
    """RENAME and MOVE hand a large value to its new key without a copy, so a server without room
    for a second copy renames it too, eviction off."""
    s = start_server("--maxmemory", "96mb", "--maxmemory-policy", "noeviction")
    r = s.client()
    value = os.urandom(60 << 20)
    assert r.set("big", value, ex=1000)
    assert r.rename("big", "renamed")
    assert not r.exists("big") and r.get("renamed") == value and 0 < r.ttl("renamed") <= 1000
    assert r.move("renamed", 1)
    r1 = s.client(db=1)
    assert r1.get("renamed") == value
    assert r1.renamenx("renamed", "again") and r1.get("again") == value
    assert int(r.info("memory")["used_memory"]) <= 96 << 20
