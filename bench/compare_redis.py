#!/usr/bin/python3
"""kvcache-server side by side with Debian's redis-server (persistence off), driven by the same
redis-benchmark runs, alternating, several rounds; prints medians.

  bench/compare_redis.py [--rounds 3] [--requests 2000000] [--kv-threads 2[,1]] [--memory-keys 1000000]
                         [--cases 16:64,1:64,16:4096] [--kv-binary build/bin/kvcache-server]
                         [--floor epoll,uring] [--maxmemory 2gb]

For each case (-P 16 -d 64, -P 1 -d 64, -P 16 -d 4096 by default), per server: requests per
second of SET and GET, and server CPU seconds (utime+stime from /proc/PID/stat) per million
requests. Then memory per key after loading N keys of 16 bytes with 64-byte values into fresh
servers (RSS growth and INFO used_memory growth, per key); --cases "" measures only that.

--kv-threads 2,1 runs kvcache-server once per thread count in the same rounds; the first one is
"kvcache" in the ratio lines, the others "kvcache --threads N" lines of their own.

--floor also runs build/bin/floor-server (bench/floor_server.cc) in the same rounds: a server
that answers every request without parsing or storing anything, with an epoll loop like both
servers' or with io_uring. Its CPU per request is the kernel's share, the least any server can
use here; the line "floor" gives it as a ratio to Redis.

--maxmemory (2gb by default, both servers) bounds what the -d 4096 case commits: its 2M SETs of
up to 1M keys fill whatever the bound allows, and committing fresh memory is dear in a virtual
machine (bench/commit_cost.cc). A smaller bound shows the servers' CPU with little of it.
"""
import argparse
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server not ready")


class Server:
    binary = ROOT / "build/bin/kvcache-server"
    floor_binary = ROOT / "build/bin/floor-server"
    kv_args = []  # more kvcache-server flags

    def __init__(self, kind, threads, maxmemory="2gb", value_bytes=64):
        self.kind = kind
        self.port = free_port()
        if kind.startswith("floor-"):
            args = [str(self.floor_binary), "--port", str(self.port), "--mode", kind[6:],
                    "--value-bytes", str(value_bytes)]
        elif kind == "redis":
            args = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                    "--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru",
                    "--protected-mode", "no", "--daemonize", "no", "--logfile", ""]
        else:
            args = [str(self.binary), "--port", str(self.port),
                    "--maxmemory", maxmemory, "--threads", str(threads)] + self.kv_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.port, self.proc)

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def rss(self):
        return int(open(f"/proc/{self.proc.pid}/statm").read().split()[1]) * PAGE

    def used_memory(self):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "info", "memory"],
                             capture_output=True, text=True).stdout
        return int(re.search(r"^used_memory:(\d+)", out, re.M).group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def side_by_side(rounds, run, describe, kv_binary=None, baseline=None, kv_threads=0):
    """run(server) on fresh servers, `rounds` times each: kvcache-server (kv_threads workers, 0:
    one per core), redis-server and, with `baseline` (the path of another kvcache-server build),
    that one too. Prints each result as describe(result) and returns {kind: [result per round]},
    kinds in that order."""
    if kv_binary:
        Server.binary = pathlib.Path(kv_binary).resolve()

    class Baseline(Server):
        binary = pathlib.Path(baseline or ".").resolve()

    kinds = ["kvcache", "redis"] + (["baseline"] if baseline else [])
    results = {k: [] for k in kinds}
    for rnd in range(rounds):
        for kind in kinds:
            threads = kv_threads if kind != "redis" else 0
            server = Baseline("kvcache", threads) if kind == "baseline" else Server(kind, threads)
            try:
                results[kind].append(run(server))
            finally:
                server.stop()
            print(f"  round {rnd} {kind}: {describe(results[kind][-1])}", flush=True)
    return results


def print_medians(results, first_column, cell):
    """A markdown table of side_by_side's results: a row per case (the keys of a result), a
    column per kind, each cell cell(case, medians of the case's figures over the rounds)."""
    kinds = list(results)
    print(f"| {first_column} | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for name in results[kinds[0]][0]:
        cells = []
        for kind in kinds:
            figures = len(results[kind][0][name])
            cells.append(cell(name, [statistics.median(r[name][i] for r in results[kind])
                                     for i in range(figures)]))
        print(f"| {name} | " + " | ".join(cells) + " |")


def benchmark(server, requests, pipeline, size, keys):
    cmd = ["redis-benchmark", "-p", str(server.port), "-t", "set,get", "-n", str(requests),
           "-r", str(keys), "-c", "50", "-P", str(pipeline), "-d", str(size), "-q"]
    cpu0 = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu0
    rps = {}
    for test, value in re.findall(r"^(SET|GET): ([0-9.]+) requests per second", out.replace("\r", "\n"), re.M):
        rps[test] = float(value)
    return rps, cpu / (2 * requests / 1e6)


def load_keys(port, n):
    # RESP for n SETs of "key:%012d" -> 64 bytes, streamed into redis-cli --pipe.
    value = b"x" * 64
    proc = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    batch = []
    for i in range(n):
        key = b"key:%012d" % i
        batch.append(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + value + b"\r\n")
        if len(batch) == 10000:
            proc.stdin.write(b"".join(batch))
            batch = []
    proc.stdin.write(b"".join(batch))
    proc.stdin.close()
    out = proc.stdout.read().decode()
    proc.wait()
    if "errors: 0" not in out:
        raise RuntimeError(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000000)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--kv-threads", default="2", help="worker threads; a list runs each")
    ap.add_argument("--memory-keys", type=int, default=1000000)
    ap.add_argument("--cases", default="16:64,1:64,16:4096", help="pipeline:size,...")
    ap.add_argument("--kv-binary", default=str(Server.binary))
    ap.add_argument("--floor", default="", help="floor-server modes to run too: epoll,uring")
    ap.add_argument("--maxmemory", default="2gb", help="both servers' maxmemory")
    args = ap.parse_args()
    Server.binary = args.kv_binary
    cases = [tuple(int(x) for x in c.split(":")) for c in args.cases.split(",") if c]
    floors = [f"floor-{m}" for m in args.floor.split(",") if m]
    threads = [int(t) for t in args.kv_threads.split(",")]
    variants = {"kvcache": threads[0]}
    variants.update({f"kvcache --threads {t}": t for t in threads[1:]})

    print(f"# redis-benchmark -t set,get -n {args.requests} -r {args.keys} -c 50; "
          f"maxmemory {args.maxmemory}; kvcache-server --threads {threads[0]}; redis-server {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}")
    for pipeline, size in cases:
        kinds = ["redis"] + list(variants) + floors
        results = {k: {"SET": [], "GET": [], "cpu": []} for k in kinds}
        for r in range(args.rounds):
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                s = Server(kind, variants.get(kind, 0), maxmemory=args.maxmemory,
                           value_bytes=size)
                try:
                    rps, cpu = benchmark(s, args.requests, pipeline, size, args.keys)
                finally:
                    s.stop()
                results[kind]["SET"].append(rps["SET"])
                results[kind]["GET"].append(rps["GET"])
                results[kind]["cpu"].append(cpu)
                print(f"  round {r} -P {pipeline} -d {size} {kind}: SET {rps['SET']:.0f} GET "
                      f"{rps['GET']:.0f} rps, {cpu:.3f} CPU s per 1M requests", file=sys.stderr)
        med = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in results.items()}
        print(f"-P {pipeline} -d {size}: "
              f"SET kvcache {med['kvcache']['SET']:.0f} redis {med['redis']['SET']:.0f} "
              f"ratio {med['kvcache']['SET'] / med['redis']['SET']:.2f}; "
              f"GET kvcache {med['kvcache']['GET']:.0f} redis {med['redis']['GET']:.0f} "
              f"ratio {med['kvcache']['GET'] / med['redis']['GET']:.2f}; "
              f"CPU s/1M kvcache {med['kvcache']['cpu']:.3f} redis {med['redis']['cpu']:.3f} "
              f"ratio {med['kvcache']['cpu'] / med['redis']['cpu']:.2f}")
        for v in list(variants)[1:]:
            print(f"  {v} -P {pipeline} -d {size}: SET ratio {med[v]['SET'] / med['redis']['SET']:.2f}; "
                  f"GET ratio {med[v]['GET'] / med['redis']['GET']:.2f}; "
                  f"CPU s/1M {med[v]['cpu']:.3f} ratio {med[v]['cpu'] / med['redis']['cpu']:.2f}")
        for f in floors:
            print(f"  floor -P {pipeline} -d {size}: {f} CPU s/1M {med[f]['cpu']:.3f}, "
                  f"ratio to redis {med[f]['cpu'] / med['redis']['cpu']:.2f}; "
                  f"kvcache above the floor {med['kvcache']['cpu'] - med[f]['cpu']:.3f}, "
                  f"redis above it {med['redis']['cpu'] - med[f]['cpu']:.3f}")

    if args.memory_keys:
        mem = {}
        for kind in ("redis", "kvcache"):
            s = Server(kind, threads[0])
            try:
                rss0, used0, cpu0 = s.rss(), s.used_memory(), s.cpu_seconds()
                load_keys(s.port, args.memory_keys)
                rss1, used1, cpu1 = s.rss(), s.used_memory(), s.cpu_seconds()
            finally:
                s.stop()
            mem[kind] = ((rss1 - rss0) / args.memory_keys, (used1 - used0) / args.memory_keys,
                         cpu1 - cpu0)
        print(f"memory per key after {args.memory_keys} keys of 16+64 bytes: "
              f"RSS kvcache {mem['kvcache'][0]:.1f} redis {mem['redis'][0]:.1f} "
              f"ratio {mem['kvcache'][0] / mem['redis'][0]:.3f}; "
              f"used_memory kvcache {mem['kvcache'][1]:.1f} redis {mem['redis'][1]:.1f} "
              f"ratio {mem['kvcache'][1] / mem['redis'][1]:.3f}; "
              f"server CPU s to load them kvcache {mem['kvcache'][2]:.2f} redis {mem['redis'][2]:.2f}")


if __name__ == "__main__":
    main()
