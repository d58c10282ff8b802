#!/usr/bin/python3
"""How long whole-keyspace commands take, and how long they hold up other clients, in
kvcache-server and Debian's redis-server side by side.

    /usr/bin/python3 bench/keyspace_stalls.py [--keys 1000000] [--rounds 3]
                                              [--kv-binary build/bin/kvcache-server]
                                              [--baseline OTHER/kvcache-server]
                                              [--kv-threads 1]

Each server gets N keys of 16 bytes with 64-byte values (bench/compare_redis.py's load), then
runs, one at a time: KEYS *, KEYS with a pattern that matches nothing, a whole SCAN (COUNT 1000),
MGET, EXISTS and DEL of 100,000 keys, 10 RANDOMKEYs in database 1 (which holds one key),
FLUSHALL, (after loading again) FLUSHALL ASYNC, and then HGETALL and DEL of one hash of 500,000
fields.
Meanwhile four other clients (processes of their own) PING in a loop; a command's stall is the
longest PING round trip seen while it ran, which is how long the event loop of some other client
was held up. kvcache-server runs one worker by default, so that every probe shares the event loop
of the command's client, as in Redis; with more, a probe may land on another worker and see
nothing. Also the server's own time executing the command (INFO commandstats usec; not parsing
or sending). Medians over the rounds (fresh servers each round). --baseline runs another
kvcache-server build in the same rounds, as a third column.
"""
import argparse
import multiprocessing
import pathlib
import sys
import time

import redis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import compare_redis  # noqa: E402


def command_usec(r, name):
    return r.info("commandstats").get(f"cmdstat_{name}", {}).get("usec", 0)


def probe(port, stop, worst, ready):
    c = redis.Redis(port=port)
    c.ping()
    with ready.get_lock():
        ready.value += 1
    while not stop.is_set():
        t = time.perf_counter()
        c.ping()
        took = time.perf_counter() - t
        if took > worst.value:
            worst.value = took


def timed(port, fn):
    # The probes are processes of their own: threads of this one would wait for the interpreter
    # lock while redis-py parses a large reply here, and that wait would count as the server's.
    stop = multiprocessing.Event()
    worsts = [multiprocessing.Value("d", 0.0) for _ in range(4)]
    ready = multiprocessing.Value("i", 0)
    procs = [multiprocessing.Process(target=probe, args=(port, stop, w, ready)) for w in worsts]
    for p in procs:
        p.start()
    while ready.value < len(procs):
        time.sleep(0.01)
    time.sleep(0.1)
    t0 = time.perf_counter()
    fn()
    took = time.perf_counter() - t0
    time.sleep(0.1)
    stop.set()
    for p in procs:
        p.join()
    return took * 1000, max(w.value for w in worsts) * 1000


def scan_all(r):
    n = 0
    for _ in r.scan_iter(count=1000):
        n += 1
    return n


def run(server, n):
    r = redis.Redis(port=server.port)
    compare_redis.load_keys(server.port, n)
    assert r.dbsize() == n
    some = [b"key:%012d" % i for i in range(100000)]
    others = [b"key:%012d" % i for i in range(100000, 200000)]
    r1 = redis.Redis(port=server.port, db=1)  # one key in database 1, beside 900k in database 0
    r1.set("only", "1")
    steps = [
        ("KEYS *", "keys", lambda: r.keys("*")),
        ("KEYS nomatch*", "keys", lambda: r.keys("nomatch*")),
        ("SCAN COUNT 1000", "scan", lambda: scan_all(r)),
        ("MGET 100k", "mget", lambda: r.mget(some)),
        ("EXISTS 100k", "exists", lambda: r.exists(*others)),
        ("DEL 100k", "del", lambda: r.delete(*some)),
        ("RANDOMKEY x10, db 1", "randomkey", lambda: [r1.randomkey() for _ in range(10)]),
        ("FLUSHALL", "flushall", lambda: r.flushall()),
        ("FLUSHALL ASYNC", "flushall", lambda: r.flushall(asynchronous=True)),
        ("HGETALL 500k", "hgetall", lambda: r.hgetall("big")),
        ("DEL hash 500k", "del", lambda: r.delete("big")),
    ]
    out = {}
    for name, command, fn in steps:
        if name == "FLUSHALL ASYNC":  # the keys again, for the second flush
            compare_redis.load_keys(server.port, n)
        if name == "HGETALL 500k":  # one hash of 500k fields of 16 bytes with 8-byte values
            pipe = r.pipeline(transaction=False)
            for start in range(0, 500000, 1000):
                pipe.hset("big", mapping={b"field:%010d" % i: b"%08d" % i
                                          for i in range(start, start + 1000)})
            pipe.execute()
        before = command_usec(r, command)
        took, stall = timed(server.port, fn)
        out[name] = (took, stall, (command_usec(r, command) - before) / 1000)
    assert r.dbsize() == 0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kv-binary", default=None)
    ap.add_argument("--baseline", default=None, help="another kvcache-server, run alongside")
    ap.add_argument("--kv-threads", type=int, default=1,
                    help="kvcache-server's workers (0: one per core)")
    args = ap.parse_args()
    results = compare_redis.side_by_side(
        args.rounds, lambda server: run(server, args.keys),
        lambda out: ", ".join(f"{k} {v[0]:.0f}/{v[1]:.0f}/{v[2]:.0f} ms" for k, v in out.items()),
        args.kv_binary, args.baseline, args.kv_threads)
    print(f"kvcache-server --threads {args.kv_threads}")
    print(f"{args.keys} keys; medians of {args.rounds}: time of the command (client included) / "
          f"longest PING of another client meanwhile / server's execution time, ms")
    compare_redis.print_medians(results, "command",
                                lambda name, m: f"{m[0]:.0f} / {m[1]:.0f} / {m[2]:.0f}")

if __name__ == "__main__":
    main()
