#!/usr/bin/python3
"""Hit ratio through the protocol: real cache traces replayed into kvcache-server (its default
policy) and redis-server (allkeys-lru), both given the same --maxmemory, fresh servers for every
trace and size. A request is a GET of the trace's id; a miss is followed by a SET of a value of
--value-bytes. Requests go in pipelined batches of --batch GETs, then the batch's SETs; within
a batch a key asked for again after a miss counts as a hit, as it would have been one request at
a time. The budget is the trace's distinct ids x size x --bytes-per-item, the same for both:
kvcache-server's --maxmemory (its used_memory starts at 0), Redis's maxmemory on top of the
used_memory of the fresh server (~0.9 MB, which Redis counts against its maxmemory).

  bench/trace_hit_ratio.py [--traces cloudphysics,lirs_sprite] [--sizes 0.05,0.2]
                           [--value-bytes 4000] [--bytes-per-item 4200] [--batch 64]
                           [--kv-binary PATH (another kvcache-server build)] [--kv-policy P]
Prints one line per (trace, size): both miss ratios, kvcache's keys and Redis's at the end.
"""
import argparse
import pathlib
import sys

import redis

from compare_redis import Server

TRACES = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "traces"


def replay(port, ids, value, batch):
    """Miss ratio of ids replayed as GET, then SET on a miss."""
    client = redis.Redis(port=port)
    misses = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        p = client.pipeline(transaction=False)
        for i in chunk:
            p.get(i)
        stored = set()
        p = p.execute()
        sets = client.pipeline(transaction=False)
        for i, got in zip(chunk, p):
            if got is None and i not in stored:
                misses += 1
                stored.add(i)
                sets.set(i, value)
        sets.execute()
    return misses / len(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", default="cloudphysics,lirs_gli,lirs_loop,lirs_multi2,lirs_ps,"
                                        "lirs_sprite")
    ap.add_argument("--sizes", default="0.05,0.2")
    ap.add_argument("--value-bytes", type=int, default=4000)
    ap.add_argument("--bytes-per-item", type=int, default=4200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--kv-binary", help="the kvcache-server to run (default: this build's)")
    ap.add_argument("--kv-policy", help="kvcache-server's --maxmemory-policy (default: its own)")
    args = ap.parse_args()
    if args.kv_policy:
        Server.kv_args = ["--maxmemory-policy", args.kv_policy]
    if args.kv_binary:
        Server.binary = pathlib.Path(args.kv_binary).resolve()
    value = b"v" * args.value_bytes
    totals = {"kvcache": [], "redis": []}
    for trace in args.traces.split(","):
        ids = [f"{int(line):016d}" for line in open(TRACES / f"{trace}.txt") if line.strip()]
        distinct = len(set(ids))
        for size in (float(s) for s in args.sizes.split(",")):
            budget = int(distinct * size * args.bytes_per_item)
            if budget < 65536:  # kvcache-server's smallest --maxmemory
                print(f"{trace} {size:.2f} budget {budget}: skipped, below 64 KiB", flush=True)
                continue
            result = {}
            for kind in ("kvcache", "redis"):
                s = Server(kind, 0, maxmemory=str(budget))
                try:
                    if kind == "redis":
                        base = s.used_memory()
                        redis.Redis(port=s.port).config_set("maxmemory", base + budget)
                    ratio = replay(s.port, ids, value, args.batch)
                    keys = redis.Redis(port=s.port).dbsize()
                finally:
                    s.stop()
                result[kind] = (ratio, keys)
                totals[kind].append(ratio)
            print(f"{trace} {size:.2f} budget {budget}: miss ratio kvcache "
                  f"{result['kvcache'][0]:.4f} redis {result['redis'][0]:.4f}; keys held "
                  f"kvcache {result['kvcache'][1]} redis {result['redis'][1]}", flush=True)
    n = len(totals["kvcache"])
    print(f"mean miss ratio over {n} points: kvcache {sum(totals['kvcache']) / n:.4f} "
          f"redis {sum(totals['redis']) / n:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
