"""Batch reads from Python: kvcache.Cache.get_batch against NumPy fancy indexing (table[ids]) on
an in-memory array, for batches of Zipf-distributed row ids that are all in the cache.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--rows 100000] [--dim 128]
        [--batch 512] [--zipf 0.99] [--rounds 7] [--seconds 0.3] [--clock wall|cpu]
        [--server-port PORT]

With --server-port, the table is also loaded into that kvcache-server (TENSOR.MSET) and the
client path is timed on the same batches: Client.tensor_mget against redis-py MGET of the same
keys plus np.frombuffer per row (GET of a tensor answers its data).

Each round times every method once over the same batches (the order alternates between
rounds); the figures are medians over the rounds, in rows per second. "ratio" is get_batch's
rate over NumPy's: the goal is at least 0.5. --clock cpu times with this thread's CPU time
instead of the wall clock, for a machine that other work shares (it cannot time the client,
whose time is spent waiting for the server).
"""
import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "build" / "python"))
import kvcache  # noqa: E402


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
    ap.add_argument("--server-port", type=int, help="also time kvcache.Client on this server")
    args = ap.parse_args()

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
    if args.server_port:
        if args.clock != "wall":
            ap.error("--server-port needs --clock wall")
        client = kvcache.Client(port=args.server_port)
        for start in range(0, args.rows, 10_000):
            client.tensor_mset(np.arange(start, min(start + 10_000, args.rows)),
                               table[start:start + 10_000], prefix="emb:")
        assert np.array_equal(client.tensor_mget(key_lists[0]), table[batches[0]])
        plain = client.redis
        methods["Client.tensor_mget"] = lambda b: client.tensor_mget(key_of[id(b)])
        methods["redis-py MGET+frombuffer"] = lambda b: np.stack(
            [np.frombuffer(v, np.float32) for v in plain.mget(key_of[id(b)])])
    results = {name: [] for name in methods}
    for r in range(args.rounds):
        order = list(methods) if r % 2 == 0 else list(reversed(methods))
        for name in order:
            results[name].append(rate(methods[name], batches, args.seconds, clock))

    print(f"{args.rows} rows x {args.dim} {table.dtype}, batches of {args.batch}, "
          f"Zipf {args.zipf}, policy {cache.policy}, {args.rounds} rounds (medians, "
          f"{args.clock} clock)")
    base = statistics.median(results["numpy table[ids]"])
    for name, rates in results.items():
        med = statistics.median(rates)
        us = args.batch / med * 1e6
        print(f"  {name:26s} {med / 1e6:7.2f} M rows/s  {us:7.1f} us/batch  "
              f"ratio to numpy {med / base:5.2f}")
    if args.server_port:
        mget = statistics.median(results["Client.tensor_mget"])
        mget_plain = statistics.median(results["redis-py MGET+frombuffer"])
        print(f"  tensor_mget / (MGET + frombuffer) on port {args.server_port}: "
              f"{mget / mget_plain:.2f}")


if __name__ == "__main__":
    main()
