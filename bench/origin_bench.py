#!/usr/bin/python3
"""The slower tier, measured: a Zipf read load over the Fashion-MNIST table (60,000 rows of
784 bytes) served read-through by kvcache-server at cache sizes of 1%, 5%, 10% and 25% of the
table, against reading every row straight from the origin (in-process, no cache, no network);
and write-through throughput with group commit against one durable sync per write.

  bench/origin_bench.py [--seconds 5] [--rounds 3] [--origin npy|rocksdb|both]

Run from the repository root after scripts/test.sh (or a build). Prints medians.
"""
import argparse
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import redis

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "build/bin"
ROWS, ROW_BYTES = 60000, 784


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args):
        self.port = free_port()
        self.proc = subprocess.Popen([str(BIN / "kvcache-server"), "--port", str(self.port), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.r = redis.Redis(port=self.port)
                self.r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("kvcache-server did not start: " + " ".join(args))
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def load(port, prefix, seconds, connections=4, pipeline=16, command="GET"):
    out = subprocess.run([str(BIN / "kvcache-bench"), "redis", "--port", str(port), "--key-prefix",
                          prefix, "--keys", str(ROWS), "--zipf", "0.99", "--seconds", str(seconds),
                          "--connections", str(connections), "--pipeline", str(pipeline),
                          "--command", command], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"ops_per_sec=([0-9.]+)", out).group(1)), out


def per_row_bytes(origin_spec, prefix):
    # Preload the whole table ("origin": the configured origin's whole range) and measure.
    s = Server("--origin", origin_spec, "--maxmemory", "1gb", "--preload", "origin")
    try:
        deadline = time.monotonic() + 120
        while s.r.info("persistence")["loading"]:
            if time.monotonic() > deadline:
                raise RuntimeError("preload did not finish")
            time.sleep(0.1)
        return s.r.info("memory")["used_memory"] / s.r.dbsize()
    finally:
        s.stop()


def read_case(origin_spec, prefix, fraction, per_row, seconds):
    budget = max(64 << 10, int(ROWS * fraction * per_row))
    s = Server("--origin", origin_spec, "--maxmemory", str(budget), "--shards", "1",
               "--threads", "1")
    try:
        load(s.port, prefix, 2)  # warm up
        before = s.r.info("origin")["origin_loads"]
        ops, out = load(s.port, prefix, seconds)
        misses = s.r.info("origin")["origin_loads"] - before  # each miss loads from the origin
        requests = int(re.search(r"requests=(\d+)", out).group(1))
        return ops, 1 - misses / max(1, requests), s.r.dbsize()
    finally:
        s.stop()


def write_through(db, max_batch, seconds):
    s = Server("--origin", f"rocksdb:{db}", "--write-policy", "through",
               "--write-through-max-batch", str(max_batch), "--threads", "1")
    try:
        out = subprocess.run(["redis-benchmark", "-p", str(s.port), "-t", "set", "-n", "20000",
                              "-r", "100000", "-c", "50", "-d", "64", "-q"],
                             capture_output=True, text=True, timeout=600).stdout
        rps = float(re.search(r"SET: ([0-9.]+) requests per second", out.replace("\r", "\n")).group(1))
        o = s.r.info("origin")
        return rps, o["origin_writes"] / max(1, o["origin_write_batches"])
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--origin", default="both", choices=["npy", "rocksdb", "both"])
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="kvcache-origin-bench-"))
    try:
        npy = tmp / "fmnist.npy"
        subprocess.run(["/usr/bin/python3", str(ROOT / "scripts/make_fmnist_npy.py"), str(npy)],
                       check=True, capture_output=True)
        origins = []
        if args.origin in ("npy", "both"):
            origins.append(("npy", f"npy:{npy}:fmnist:"))
        if args.origin in ("rocksdb", "both"):
            db = tmp / "rows-rdb"
            s = Server("--origin", f"rocksdb:{db}", "--write-policy", "through")
            table = np.load(npy)
            p = s.r.pipeline(transaction=False)
            for i in range(ROWS):
                p.set(f"fmnist:{i}", table[i].tobytes())
                if i % 2000 == 1999:
                    p.execute()
            p.execute()
            s.stop()
            origins.append(("rocksdb", f"rocksdb:{db}"))
        print("# Zipf 0.99 GETs of fmnist:<row>, 4 connections x pipeline 16, kvcache-server "
              "--threads 1 --shards 1; medians of", args.rounds, "rounds")
        for name, spec in origins:
            direct = [load(1, "fmnist:", args.seconds, command=f"DIRECT:{spec}")[0]
                      for _ in range(args.rounds)]
            print(f"{name}: straight from the origin (in-process, no cache): "
                  f"{statistics.median(direct):.0f} rows/s")
            per_row = per_row_bytes(spec, "fmnist:")
            print(f"{name}: one cached row costs {per_row:.0f} bytes")
            for fraction in (0.01, 0.05, 0.10, 0.25):
                runs = [read_case(spec, "fmnist:", fraction, per_row, args.seconds)
                        for _ in range(args.rounds)]
                ops = statistics.median(r[0] for r in runs)
                hit = statistics.median(r[1] for r in runs)
                print(f"{name}: cache {fraction:.0%} of the table ({runs[0][2]} rows held): "
                      f"hit ratio {hit:.3f}, {ops:.0f} requests/s, "
                      f"{ops / statistics.median(direct):.2f}x the origin's rows/s")
        group, single = [], []
        for r in range(args.rounds):
            group.append(write_through(tmp / f"wt-group-{r}", 4096, args.seconds))
            single.append(write_through(tmp / f"wt-single-{r}", 1, args.seconds))
        g = statistics.median(x[0] for x in group)
        s1 = statistics.median(x[0] for x in single)
        print(f"write-through (redis-benchmark -t set -c 50 -d 64, RocksDB synced): group commit "
              f"{g:.0f} SET/s ({statistics.median(x[1] for x in group):.1f} writes per sync), "
              f"one sync per write {s1:.0f} SET/s: {g / s1:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
