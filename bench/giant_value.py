#!/usr/bin/python3
"""A value larger than a shard's share into a full server: fills a running server with 1 KB
values (redis-benchmark, 1.5M SETs over 1.5M keys), then SETs one 300 MiB value, reads it back
and prints the keys, used_memory and evictions before and after.

  bench/giant_value.py PORT     (a server started with e.g. --maxmemory 1gb)
"""
import os
import subprocess
import sys
import time

import redis


def summary(r):
    info = r.info()
    return (f"keys {r.dbsize()} used_memory {info['used_memory']} maxmemory {info['maxmemory']} "
            f"evicted {info['evicted_keys']}")


def main():
    port = int(sys.argv[1])
    r = redis.Redis(port=port)
    subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-t", "set", "-n", "1500000",
                    "-r", "1500000", "-c", "50", "-P", "16", "-d", "1000"],
                   stdout=subprocess.DEVNULL, check=True)
    print("filled:", summary(r))
    big = os.urandom(300 << 20)
    t = time.monotonic()
    try:
        ok = r.set("weights", big)
        print("SET 300 MiB:", ok, f"{time.monotonic() - t:.2f} s")
        print("GET equal:", r.get("weights") == big)
    except redis.ResponseError as e:
        print("SET 300 MiB refused:", e)
    print("after:", summary(r))


if __name__ == "__main__":
    main()
