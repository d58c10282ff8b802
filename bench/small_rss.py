#!/usr/bin/python3
"""Resident memory of a fresh server as it takes its first data, kvcache-server and Debian's
redis-server side by side: what a user sees in `ps` before the cache is large.

    /usr/bin/python3 bench/small_rss.py [--rounds 3] [--kv-binary build/bin/kvcache-server]
                                        [--baseline OTHER/kvcache-server]

Steps, each on top of the one before (fresh servers, --maxmemory 2gb, one per round and kind):
`start` (nothing stored), `100 strings` (values of 16..4000 bytes, many size classes), `hash 2000`
(one hash grown to 2000 fields of 20 bytes, one HSET at a time), `10k keys` and `100k keys` (keys
of 16 bytes with 64-byte values, compare_redis.py's load). For each: RSS (from /proc/PID/statm) and
INFO used_memory, in MB. Medians over the rounds.
"""
import argparse
import pathlib
import sys

import redis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import compare_redis  # noqa: E402

MB = 1 << 20


def run(server):
    r = redis.Redis(port=server.port)
    out = {}

    def record(name):
        out[name] = (server.rss() / MB, server.used_memory() / MB)

    record("start")
    for i in range(100):
        r.set(f"s{i}", b"x" * (16 + i * 40))
    record("100 strings")
    for i in range(2000):
        r.hset("h", f"field{i}", b"v" * 20)
    record("hash 2000")
    compare_redis.load_keys(server.port, 10000)
    record("10k keys")
    compare_redis.load_keys(server.port, 100000)
    record("100k keys")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kv-binary", default=None)
    ap.add_argument("--baseline", default=None, help="another kvcache-server, run alongside")
    args = ap.parse_args()
    results = compare_redis.side_by_side(
        args.rounds, run,
        lambda out: ", ".join(f"{k} {v[0]:.1f}/{v[1]:.1f}" for k, v in out.items()),
        args.kv_binary, args.baseline)
    print(f"medians of {args.rounds}: RSS / used_memory, MB")
    compare_redis.print_medians(results, "after", lambda name, m: f"{m[0]:.1f} / {m[1]:.1f}")


if __name__ == "__main__":
    main()
