"""Batch reads from Python: kvcache.Cache.get_batch against NumPy fancy indexing (table[ids]) on
an in-memory array, for batches of Zipf-distributed row ids that are all in the cache.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--rows 100000] [--dim 128]
        [--batch 512] [--zipf 0.99] [--rounds 7] [--seconds 0.3] [--clock wall|cpu]
        [--servers] [--server-port PORT]

With --servers, the script also starts build/bin/kvcache-server and Debian's redis-server
(persistence off) on free loopback ports, loads the table into both (TENSOR.MSET into kvcache,
SET of each row's bytes into Redis) and times the client paths on the same batches:
kvcache.Client.tensor_mget against what people do with Redis today, redis-py MGET plus
np.frombuffer per row (and one GET per row, on a few batches), against Redis and against
kvcache-server (GET of a tensor answers its data). It stops both servers by PID at the end.
--server-port PORT instead uses an already running kvcache-server (no Redis).

Each round times every method once over the same batches (the order alternates between
rounds); the figures are medians over the rounds, in rows per second. "ratio" is get_batch's
rate over NumPy's: the goal is at least 0.5. --clock cpu times with this thread's CPU time
instead of the wall clock, for a machine that other work shares (it cannot time the client,
whose time is spent waiting for the server).
"""
import argparse
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build" / "python"))
import kvcache  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd, port):
    """Starts a server and waits until it answers PING; returns the Popen."""
    import redis
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            redis.Redis(port=port, socket_timeout=1).ping()
            return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit(f"{' '.join(cmd)} did not start")
            time.sleep(0.05)


def redis_version(port):
    import redis
    return redis.Redis(port=port).info("server")["redis_version"]


def zipf_batches(rng, rows, s, batch, count):
    """count batches of ids; row popularity follows Zipf(s), hot rows scattered over the table."""
    weights = 1.0 / np.arange(1, rows + 1) ** s
    ranks = rng.choice(rows, size=(count, batch), p=weights / weights.sum())
    return rng.permutation(rows)[ranks]


def rate(fn, batches, seconds, clock):
    """Rows per second of fn over the batches, repeated for at least `seconds`."""
    done = 0
    start = clock()
    while True:
        for b in batches:
            fn(b)
        done += 1
        elapsed = clock() - start
        if elapsed >= seconds:
            return done * sum(len(b) for b in batches) / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--zipf", type=float, default=0.99)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.3, help="per method per round")
    ap.add_argument("--policy", default="s3fifo")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--servers", action="store_true",
                    help="start kvcache-server and redis-server and time the client paths")
    ap.add_argument("--server-port", type=int, help="also time kvcache.Client on this server")
    args = ap.parse_args()
    if (args.servers or args.server_port) and args.clock != "wall":
        ap.error("--servers and --server-port need --clock wall")

    rng = np.random.default_rng(42)
    table = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    batches = list(zipf_batches(rng, args.rows, args.zipf, args.batch, 64))
    key_lists = [[f"emb:{i}" for i in b] for b in batches]
    key_of = dict(zip(map(id, batches), key_lists))

    cache = kvcache.Cache("2GiB", policy=args.policy)
    cache.put_batch(np.arange(args.rows), table, prefix="emb:")
    assert len(cache) == args.rows, "every row must fit"
    for b in batches[:4]:
        assert np.array_equal(cache.get_batch(b, prefix="emb:"), table[b])

    methods = {
        "numpy table[ids]": lambda b: table[b],
        "get_batch(ids, prefix=)": lambda b: cache.get_batch(b, prefix="emb:"),
        "get_batch([str keys])": lambda b: cache.get_batch(key_of[id(b)]),
    }
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    servers = []
    kv_port = args.server_port
    redis_port = None
    if args.servers:
        kv_port, redis_port = free_port(), free_port()
        servers.append(start_server([str(ROOT / "build" / "bin" / "kvcache-server"), "--port",
                                     str(kv_port), "--maxmemory", "2gb"], kv_port))
        servers.append(start_server(["redis-server", "--port", str(redis_port), "--bind",
                                     "127.0.0.1", "--save", "", "--appendonly", "no",
                                     "--maxmemory", "2gb"], redis_port))
    try:
        if kv_port:
            client = kvcache.Client(port=kv_port)
            for start in range(0, args.rows, 10_000):
                client.tensor_mset(np.arange(start, min(start + 10_000, args.rows)),
                                   table[start:start + 10_000], prefix="emb:")
            assert np.array_equal(client.tensor_mget(key_lists[0]), table[batches[0]])
            on_kv = client.redis

            def mget_frombuffer(conn):
                return lambda b: np.stack([np.frombuffer(v, np.float32)
                                           for v in conn.mget(key_of[id(b)])])

            methods["kvcache Client.tensor_mget"] = lambda b: client.tensor_mget(key_of[id(b)])
            methods["kvcache MGET+frombuffer"] = mget_frombuffer(on_kv)
        if redis_port:
            import redis
            on_redis = redis.Redis(port=redis_port)
            version = redis_version(redis_port)
            pipe = on_redis.pipeline(transaction=False)
            for i in range(args.rows):
                pipe.set(f"emb:{i}", table[i].tobytes())
                if i % 10_000 == 9_999:
                    pipe.execute()
            pipe.execute()
            methods["redis MGET+frombuffer"] = mget_frombuffer(on_redis)
            assert np.array_equal(methods["redis MGET+frombuffer"](batches[0]), table[batches[0]])
            methods["redis GET per row"] = lambda b: np.stack(
                [np.frombuffer(on_redis.get(k), np.float32) for k in key_of[id(b)]])
        results = {name: [] for name in methods}
        for r in range(args.rounds):
            order = list(methods) if r % 2 == 0 else list(reversed(methods))
            for name in order:
                # One GET per row is ~30x slower: a few batches give enough requests.
                some = batches[:4] if name == "redis GET per row" else batches
                results[name].append(rate(methods[name], some, args.seconds, clock))
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    print(f"{args.rows} rows x {args.dim} {table.dtype}, batches of {args.batch}, "
          f"Zipf {args.zipf}, policy {cache.policy}, {args.rounds} rounds (medians, "
          f"{args.clock} clock)")
    base = statistics.median(results["numpy table[ids]"])
    for name, rates in results.items():
        med = statistics.median(rates)
        us = args.batch / med * 1e6
        print(f"  {name:26s} {med / 1e6:7.2f} M rows/s  {us:7.1f} us/batch  "
              f"ratio to numpy {med / base:5.2f}")
    if kv_port:
        mget = statistics.median(results["kvcache Client.tensor_mget"])
        mget_plain = statistics.median(results["kvcache MGET+frombuffer"])
        print(f"  tensor_mget / (MGET + frombuffer), both on kvcache-server: "
              f"{mget / mget_plain:.2f}")
    if redis_port:
        for name in ("redis MGET+frombuffer", "redis GET per row"):
            per_round = [a / b for a, b in zip(results["kvcache Client.tensor_mget"],
                                               results[name])]
            print(f"  tensor_mget on kvcache / {name} on redis {version}: "
                  f"{mget / statistics.median(results[name]):.2f} "
                  f"(per round {min(per_round):.2f}..{max(per_round):.2f})")

if __name__ == "__main__":
    main()
