#!/usr/bin/python3
"""Hash commands in kvcache-server and Debian's redis-server side by side: big hashes built one
field at a time, lookups in them, and small hashes as a feature store keeps them.

    /usr/bin/python3 bench/hash_bench.py [--rounds 3] [--fields 1000,100000] [--hset-requests 1000000]
                                         [--append-kib 8192] [--setrange-mib 16]
                                         [--kv-binary build/bin/kvcache-server]
                                         [--baseline OTHER/kvcache-server]

Cases, each on fresh servers, with the server's CPU seconds (/proc/PID/stat) for each:
  build N       one HSET per field into one hash, N fields (redis-py, pipelines of 1000), the
                second time (the first warms the server up)
  hget N        one HGET per field of that hash (the same way)
  memory N      INFO used_memory growth for that hash, bytes per field
  bench hset    redis-benchmark -t hset -n 1000000 -r 1000000 -P 16 (one hash, ~630k fields;
                -n is --hset-requests)
  rows hset     redis-benchmark -n 400000 -r 100000 -P 16 HSET row:__rand_int__ and 20 fields
                of 8-byte values (a feature store's rows), then
  rows hgetall  redis-benchmark -n 400000 -r 100000 -P 16 HGETALL row:__rand_int__
  append        a string of --append-kib KiB built by APPENDs of 1 KiB (redis-py, pipelines of
                256): APPENDs per second
  setrange      1000 SETRANGEs of 1 KiB at random offsets into a string of --setrange-mib MiB
                (rows of an embedding table updated in place; pipelines of 100)
Medians over the rounds. --baseline runs another kvcache-server build in the same rounds.
"""
import argparse
import pathlib
import random
import re
import subprocess
import sys
import time

import redis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import compare_redis  # noqa: E402


def timed(server, fn):
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, server.cpu_seconds() - cpu0


def pipelined(r, calls):
    p = r.pipeline(transaction=False)
    for i, call in enumerate(calls):
        call(p)
        if i % 1000 == 999:
            p.execute()
    p.execute()


def redis_benchmark(server, args):
    cmd = ["redis-benchmark", "-p", str(server.port), "-c", "50", "-q"] + args
    cpu0 = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu0
    rps = float(re.findall(r"([0-9.]+) requests per second", out.replace("\r", "\n"))[-1])
    return rps, cpu


def run(server, fields, hset_requests, append_kib, setrange_mib):
    r = redis.Redis(port=server.port)
    out = {}
    for n in fields:
        names = [b"field:%d" % i for i in range(n)]
        build = [lambda p, f=f: p.hset("h", f, b"value-" + f) for f in names]
        # Once to warm up (a fresh kvcache-server's first use of each slab size class
        # faults in a huge page), then measured.
        pipelined(r, build)
        r.flushall()
        before = int(r.info("memory")["used_memory"])
        wall, cpu = timed(server, lambda: pipelined(r, build))
        assert r.hlen("h") == n
        out[f"build {n}"] = (n / wall, cpu)
        out[f"memory {n}"] = ((int(r.info("memory")["used_memory"]) - before) / n, 0.0)
        wall, cpu = timed(server, lambda: pipelined(r, [lambda p, f=f: p.hget("h", f)
                                                        for f in names]))
        out[f"hget {n}"] = (n / wall, cpu)
    r.flushall()
    out["bench hset"] = redis_benchmark(
        server, ["-t", "hset", "-n", str(hset_requests), "-r", "1000000", "-P", "16"])
    row = []
    for i in range(20):
        row += [f"feature{i}", "%08d" % i]
    out["rows hset"] = redis_benchmark(
        server, ["-n", "400000", "-r", "100000", "-P", "16", "hset", "row:__rand_int__"] + row)
    out["rows hgetall"] = redis_benchmark(
        server, ["-n", "400000", "-r", "100000", "-P", "16", "hgetall", "row:__rand_int__"])
    piece = b"x" * 1024

    def appends():
        p = r.pipeline(transaction=False)
        for i in range(append_kib):
            p.append("s", piece)
            if i % 256 == 255:
                p.execute()
        p.execute()

    wall, cpu = timed(server, appends)
    assert r.strlen("s") == append_kib * 1024
    out["append"] = (append_kib / wall, cpu)

    size = setrange_mib << 20
    r.set("t", b"\0" * size)
    rng = random.Random(1)
    offsets = [rng.randrange(size // 1024) * 1024 for _ in range(1000)]

    def setranges():
        p = r.pipeline(transaction=False)
        for i, off in enumerate(offsets):
            p.setrange("t", off, piece)
            if i % 100 == 99:
                p.execute()
        p.execute()

    wall, cpu = timed(server, setranges)
    assert r.getrange("t", offsets[0], offsets[0] + 1023) == piece
    out["setrange"] = (len(offsets) / wall, cpu)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fields", default="1000,100000")
    ap.add_argument("--hset-requests", type=int, default=1000000)
    ap.add_argument("--append-kib", type=int, default=8192)
    ap.add_argument("--setrange-mib", type=int, default=16)
    ap.add_argument("--kv-binary", default=None)
    ap.add_argument("--baseline", default=None, help="another kvcache-server, run alongside")
    args = ap.parse_args()
    fields = [int(f) for f in args.fields.split(",") if f]
    results = compare_redis.side_by_side(
        args.rounds, lambda server: run(server, fields, args.hset_requests, args.append_kib,
                           args.setrange_mib),
        lambda out: ", ".join(f"{k} {v[0]:.1f}/{v[1]:.2f}" for k, v in out.items()),
        args.kv_binary, args.baseline)
    print(f"medians of {args.rounds}: operations per second / server CPU seconds "
          f"(memory: used_memory bytes per field)")
    compare_redis.print_medians(
        results, "case", lambda name, m: f"{m[0]:.1f}" if name.startswith("memory")
        else f"{m[0]:,.0f} / {m[1]:.2f}")

if __name__ == "__main__":
    main()
