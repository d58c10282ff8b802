"""kvcache-server and Debian's redis-server side by side: the same random commands (the
string, hash and keyspace commands both have) sent to both, one at a time, must get the same
reply, error texts included, and leave the same keys, types and values behind.

The arguments are printable (Redis cuts an error's argument at a NUL byte), no relative expiry
is short enough to lapse during the run (the two servers' clocks would then decide), and KEYS
and a hash's fields are compared as sets. Deterministic: a fixed seed.
KVCACHE_COMPAT_COMMANDS sets how many commands (default 4000), KVCACHE_COMPAT_SEED the seed."""
import os
import random
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ServerProcess, free_port
from test_fuzz_commands import (KEYS, SUBSCRIBING, Conn, command_args, command_table, rand_arg,
                                seed_keys)

# What only one of the two has, or what depends on time, randomness or the server itself.
SKIP = {"TENSOR.SET", "TENSOR.MSET", "TENSOR.GET", "TENSOR.MGET", "TENSOR.INFO", "PRELOAD",
        "ORIGINFLUSH", "DEBUG", "CONFIG", "INFO", "CLIENT", "COMMAND", "TIME", "RANDOMKEY",
        "SCAN", "HRANDFIELD", "MEMORY", "HELLO", "QUIT", "AUTH", "OBJECT", "SHUTDOWN",
        "SLOWLOG", "LASTSAVE", "LATENCY", "MONITOR", "WAIT", "HSCAN",
        # A subscriber is sent one reply per channel, and UNSUBSCRIBE lists channels in each
        # server's own order: pub/sub has tests of its own (test_pubsub.py, pubsub_test.cc).
        "PUBSUB"} | SUBSCRIBING
# Replies that are a time: compared as "none" (-2), "no expiry" (-1) or "some time".
TIMES = {b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"}
# No small positive numbers: as a relative expiry they could lapse during the run.
NUMBERS = [b"0", b"-1", b"-100", b"1000000", b"9223372036854775807", b"-9223372036854775808",
           b"9223372036854775808", b"1.5", b"-0.0", b"inf", b"-inf", b"nan", b"1e308", b"1e400",
           b"0x10", b"", b" 1", b"+1", b"07", b"4294967296", b"536870912", b"10.5", b"3.0e3"]


def wait_ready(proc, port, timeout=20.0, accept=(b"+PONG",)):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(accept):
                    return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("redis-server did not become ready")


def start_both(bin_dir, *args):
    """kvcache-server and redis-server (persistence off) with the same settings; returns
    (kvcache's ServerProcess, redis-server's Popen, redis-server's port)."""
    kv = ServerProcess(bin_dir / "kvcache-server", *args)
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(redis, port, accept=(b"+PONG", b"-NOAUTH"))
    except BaseException:
        redis.kill()
        kv.stop()
        raise
    return kv, redis, port


def printable(rng):
    """Text that is never a number (a short one could become an expiry that lapses)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :-_.*?[]{}"
    n = rng.choice([0, 1, 3, 8, 40])
    if n == 0:
        return b""
    return (rng.choice("xyzXYZ") + "".join(rng.choice(alphabet) for _ in range(n - 1))).encode()


def command(rng, names, table):
    name = rng.choice(names)
    arity, first_key = table[name]
    if name in ("SELECT", "MOVE") and rng.random() < 0.8:  # a database, small numbers allowed
        db = rng.choice([b"0", b"1", b"2", b"15", b"16", b"-1", b"x"])
        return [name.encode()] + ([db] if name == "SELECT" else [rng.choice(KEYS), db])
    # (The compared commands have no subcommands: those that do are skipped.)
    args = command_args(rng, name, arity, first_key,
                        arg=lambda r: rand_arg(r, numbers=NUMBERS, text=printable))
    return [name.encode()] + args


def comparable(cmd, reply, queued=()):
    """KEYS answers in each server's own order, and so does Redis for a hash's fields once it
    has held a long value or many fields (a hash table instead of a listpack): compare those
    replies as sets (HGETALL as a set of pairs). Times are compared by their kind; EXEC's
    replies each as its queued command's."""
    verb = cmd[0].upper()
    if verb in TIMES and reply[0] == b":":
        return reply if int(reply[1]) < 0 else (b":", b"some time")
    if verb == b"EXEC" and reply[0] == b"*" and reply[1] is not None and len(reply[1]) == len(queued):
        return (b"*", [comparable(q, r) for q, r in zip(queued, reply[1])])
    if reply[0] not in (b"*", b"%") or verb not in (b"KEYS", b"HKEYS", b"HVALS", b"HGETALL"):
        return reply
    items = reply[1]
    if verb == b"HGETALL":
        items = [(items[i], items[i + 1]) for i in range(0, len(items), 2)]
    return (reply[0], sorted(items))


def hscan_all(conn, key):
    """What whole HSCAN walks of key return, as sets of pairs (HSCAN is left out of the random
    commands: the cursors, and so each step's fields, differ between the servers)."""
    out = []
    for options in ([], [b"COUNT", b"2", b"MATCH", b"*1*"]):
        cursor, pairs = b"0", set()
        while True:
            t, (c, batch) = conn.call(b"HSCAN", key, cursor, *options)
            items = [i[1] for i in batch[1]]
            pairs.update(zip(items[::2], items[1::2]))
            cursor = c[1]
            if cursor == b"0":
                break
        out.append(sorted(pairs))
    return out


def state(conn):
    out = {}
    for k in KEYS + [b"sentinel"]:
        t = conn.call(b"TYPE", k)[1]
        if t == b"string":
            out[k] = (t, conn.call(b"GET", k))
        elif t == b"hash":
            out[k] = (t, comparable([b"HGETALL"], conn.call(b"HGETALL", k)), hscan_all(conn, k))
        else:
            out[k] = (t, None)
    out[b"#dbsize"] = conn.call(b"DBSIZE")
    # SCAN's cursors differ between the servers; the keys a whole walk returns must not.
    for options in ([], [b"COUNT", b"3"], [b"MATCH", b"*k*"], [b"TYPE", b"hash"],
                    [b"TYPE", b"string", b"MATCH", b"?"]):
        cursor, keys = b"0", set()
        while True:
            t, (c, batch) = conn.call(b"SCAN", cursor, *options)
            keys.update(k[1] for k in batch[1])
            cursor = c[1]
            if cursor == b"0":
                break
        out[b"#scan " + b" ".join(options)] = sorted(keys)
    return out


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
@pytest.mark.parametrize("protocol", [2, 3])
def test_same_replies_and_state_as_redis(bin_dir, protocol):
    count = int(os.environ.get("KVCACHE_COMPAT_COMMANDS", "4000"))
    every = int(os.environ.get("KVCACHE_COMPAT_CHECK_EVERY", "50"))  # commands between state checks
    rng = random.Random(int(os.environ.get("KVCACHE_COMPAT_SEED", "20261129")))
    kv, redis, port = start_both(bin_dir, "--maxmemory", "64mb")
    try:
        a, b = Conn(kv.port), Conn(port)
        # The state is read on connections of its own: the fuzzed ones may be inside MULTI or
        # in another database.
        state_a, state_b = Conn(kv.port), Conn(port)
        table = command_table(a)
        names = sorted(n for n in table if n not in SKIP)
        if protocol == 3:  # RESP3's maps, sets, doubles and nulls must match too
            for c in (a, b):
                assert c.call(b"HELLO", b"3")[0] == b"%"
        for c in (a, b):
            seed_keys(c)
        queued = None  # the commands queued since MULTI, or None outside a transaction
        recent = []
        for i in range(count):
            cmd = command(rng, names, table)
            ra, rb = a.call(*cmd), b.call(*cmd)
            ra, rb = comparable(cmd, ra, queued or ()), comparable(cmd, rb, queued or ())
            recent = (recent + [cmd])[-12:]
            assert ra == rb, f"command {i}: {cmd!r}: kvcache {ra!r}, redis {rb!r}; " \
                             f"the last commands: {recent!r}"
            verb = cmd[0].upper()
            if verb == b"MULTI" and ra == (b"+", b"OK"):
                queued = []
            elif verb == b"EXEC" or verb in (b"DISCARD", b"RESET") and ra[0] != b"-":
                queued = None  # EXEC ends a transaction even when refused
            elif queued is not None and ra == (b"+", b"QUEUED"):
                queued.append(cmd)
            if i % every == every - 1 or i == count - 1:
                sa, sb = state(state_a), state(state_b)
                assert sa == sb, f"after command {i} ({cmd!r}): kvcache {sa!r}, redis {sb!r}"
    finally:
        redis.terminate()
        redis.wait(timeout=20)
        kv.stop()


def hello_shape(reply):
    """HELLO's map differs in server, version and id: keep its keys, protocol, mode and role."""
    if reply[0] in (b"%", b"*") and reply[1] and reply[1][0] == (b"$", b"server"):
        items = reply[1]
        d = {items[i][1]: items[i + 1] for i in range(0, len(items), 2)}
        return ("HELLO", sorted(d), d.get(b"proto"), d.get(b"mode"), d.get(b"role"))
    return reply


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_auth_and_hello_as_redis(bin_dir):
    """With a password set: every step of these handshakes, each on a new connection, gets the
    same reply from both servers (what a client library sees when it connects)."""
    sequences = [
        [[b"GET", b"a"]], [[b"AUTH", b"x"]], [[b"AUTH", b"pw"], [b"GET", b"a"]],
        [[b"AUTH", b"default", b"pw"], [b"PING"]], [[b"AUTH", b"bob", b"pw"]], [[b"AUTH"]],
        [[b"AUTH", b"a", b"b", b"c"]], [[b"HELLO", b"3"]], [[b"HELLO", b"4"]], [[b"HELLO", b"x"]],
        [[b"HELLO", b"3", b"AUTH", b"default", b"bad"]], [[b"HELLO", b"2", b"AUTH", b"default"]],
        [[b"HELLO", b"2", b"SETNAME", b"a b"]], [[b"HELLO", b"2", b"FOO"]], [[b"PING"]],
        [[b"QUIT"]], [[b"RESET"]], [[b"CLIENT", b"ID"]], [[b"SELECT", b"1"]],
        [[b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"me"], [b"CLIENT", b"GETNAME"],
         [b"HGETALL", b"nothing"], [b"HELLO"]],
        [[b"HELLO", b"2", b"AUTH", b"default", b"bad", b"SETNAME", b"a b"]],
        [[b"HELLO", b"2", b"SETNAME", b"a b", b"AUTH", b"default", b"bad"]],
        [[b"AUTH", b"pw"], [b"AUTH", b"wrong"], [b"GET", b"a"]],
    ]
    kv, redis, port = start_both(bin_dir, "--requirepass", "pw")
    try:
        for seq in sequences:
            a, b = Conn(kv.port), Conn(port)
            for cmd in seq:
                ra, rb = hello_shape(a.call(*cmd)), hello_shape(b.call(*cmd))
                assert ra == rb, f"{cmd!r} in {seq!r}: kvcache {ra!r}, redis {rb!r}"
            a.close()
            b.close()
    finally:
        redis.terminate()
        redis.wait(timeout=20)
        kv.stop()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_large_hashes_as_redis(bin_dir):
    """Hashes that grow past kvcache's list layout (64 fields) to a few thousand fields and shrink
    back, through every hash write: each reply equals Redis's, and so does each whole hash, read
    by HGETALL and by HSCAN (compared as a dict: Redis's order for large hashes is its own)."""
    import redis as redis_py
    rng = random.Random(7)
    kv, server, port = start_both(bin_dir)
    try:
        a, b = redis_py.Redis(port=kv.port), redis_py.Redis(port=port)
        fields = [f"f{i}" for i in range(3000)]
        for round_ in range(12):
            growing = round_ < 8
            pa, pb = a.pipeline(transaction=False), b.pipeline(transaction=False)
            cmds = []
            for _ in range(600):
                key = f"h{rng.randrange(3)}"
                f = rng.choice(fields[: 100 + round_ * 400])
                r = rng.random()
                if growing and r < 0.55 or not growing and r < 0.1:
                    value = "x" * rng.choice([0, 1, 5, 20, 200]) + str(rng.randrange(1000))
                    cmds.append(("hset", key, f, value))
                elif r < 0.62:
                    cmds.append(("hset", key, None, None, {f: "m", rng.choice(fields): "y"}))
                elif r < 0.68:
                    cmds.append(("hsetnx", key, f, "nx"))
                elif r < 0.72:
                    cmds.append(("hincrby", key, "counter", rng.randrange(-5, 10)))
                elif r < 0.75:
                    cmds.append(("hincrbyfloat", key, "float", 1.5))
                elif r < 0.85 or not growing:
                    cmds.append(("hdel", key, f, rng.choice(fields)))
                elif r < 0.9:
                    cmds.append(("hget", key, f))
                elif r < 0.93:
                    cmds.append(("hmget", key, [f, "counter", rng.choice(fields)]))
                elif r < 0.96:
                    cmds.append(("hstrlen", key, f))
                elif r < 0.98:
                    cmds.append(("hexists", key, f))
                else:
                    cmds.append(("hlen", key))
            for cmd in cmds:
                getattr(pa, cmd[0])(*cmd[1:])
                getattr(pb, cmd[0])(*cmd[1:])
            ra = pa.execute(raise_on_error=False)
            rb = pb.execute(raise_on_error=False)
            for cmd, x, y in zip(cmds, ra, rb):
                assert repr(x) == repr(y), f"round {round_} {cmd!r}: kvcache {x!r}, redis {y!r}"
            for key in ("h0", "h1", "h2"):
                assert a.hgetall(key) == b.hgetall(key), key
                assert a.hlen(key) == b.hlen(key)
                assert sorted(a.hkeys(key)) == sorted(b.hkeys(key))
                assert sorted(a.hvals(key)) == sorted(b.hvals(key))
                # A whole HSCAN of an unchanging hash: every field once, in steps or at once.
                scanned = list(a.hscan_iter(key, count=rng.choice([1, 10, 1000])))
                assert len(scanned) == a.hlen(key) and dict(scanned) == b.hgetall(key)
                assert dict(a.hscan_iter(key, match="f1*")) == dict(b.hscan_iter(key, match="f1*"))
        assert max(a.hlen(k) for k in ("h0", "h1", "h2")) > 500, "the hashes never grew large"
        # Shrinking to a few fields: back to the list layout, then gone.
        for key in ("h0", "h1", "h2"):
            names = sorted(a.hkeys(key))
            while names:
                batch, names = names[:max(1, len(names) // 3)], names[max(1, len(names) // 3):]
                assert a.hdel(key, *batch) == b.hdel(key, *batch) == len(batch)
                assert a.hgetall(key) == b.hgetall(key)
                assert a.hset(key, "again", "1") == b.hset(key, "again", "1")
                assert a.hdel(key, "again") == 1 and b.hdel(key, "again") == 1
            assert a.exists(key) == b.exists(key) == 0
    finally:
        server.terminate()
        server.wait(timeout=20)
        kv.stop()
