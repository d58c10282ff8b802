#!/usr/bin/python3
"""Lowering maxmemory at runtime, kvcache-server beside redis-server (allkeys-lru), fresh servers
in turn, several rounds.

  bench/maxmemory_lower.py [--rounds 3] [--keys 1000000] [--to-mb 10] [--kv-binary B]

Each server starts with --maxmemory 2gb and is loaded with N keys of 16 bytes with 64-byte values
(redis-cli --pipe). Then one client sends CONFIG SET maxmemory (the budget of --to-mb MB; for
Redis plus its used_memory when empty, which counts its own structures) and polls INFO memory
while a second client sends GETs in a loop. Printed per server: how long CONFIG SET took to
answer, how long until used_memory was within the new budget, the longest GET the other client
waited meanwhile, the keys evicted and the server CPU seconds spent (from /proc/PID/stat).
"""
import argparse
import socket
import statistics
import time

from compare_redis import Server, load_keys, side_by_side


class Client:
    """A minimal RESP client: one command at a time, replies read whole."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 16)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        if line[:1] in (b"$", b"="):
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        return line[1:]

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def info_field(self, section, name):
        text = self.call("INFO", section).decode()
        for line in text.split("\r\n"):
            if line.startswith(name + ":"):
                return int(line.split(":", 1)[1])
        raise KeyError(name)


def run(server, keys, to_bytes):
    load_keys(server.port, keys)
    admin, reader = Client(server.port), Client(server.port)
    base = 0
    if server.kind == "redis":
        # Redis's used_memory when empty: what it holds beside the keys.
        empty = Server("redis", 0)
        try:
            base = Client(empty.port).info_field("memory", "used_memory")
        finally:
            empty.stop()
    budget = base + to_bytes
    evicted0 = admin.info_field("stats", "evicted_keys")
    cpu0 = server.cpu_seconds()
    t0 = time.monotonic()
    admin.call("CONFIG", "SET", "maxmemory", budget)
    answered = time.monotonic() - t0
    worst = 0.0
    gets = 0
    while admin.info_field("memory", "used_memory") > budget:
        a = time.monotonic()
        reader.call("GET", b"key:%012d" % (gets * 7919 % keys))
        worst = max(worst, time.monotonic() - a)
        gets += 1
        if time.monotonic() - t0 > 120:
            raise RuntimeError("used_memory did not come under the new maxmemory in 120 s")
    done = time.monotonic() - t0
    return {"answer_ms": answered * 1e3, "done_ms": done * 1e3, "worst_get_ms": worst * 1e3,
            "evicted": admin.info_field("stats", "evicted_keys") - evicted0,
            "cpu_s": server.cpu_seconds() - cpu0, "gets": gets}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--to-mb", type=float, default=10)
    ap.add_argument("--kv-binary")
    args = ap.parse_args()

    def describe(r):
        return (f"CONFIG SET answered in {r['answer_ms']:.1f} ms, within budget after "
                f"{r['done_ms']:.0f} ms, longest GET meanwhile {r['worst_get_ms']:.2f} ms "
                f"({r['gets']} GETs), {r['evicted']} evicted, {r['cpu_s']:.2f} CPU s")

    results = side_by_side(args.rounds, lambda s: run(s, args.keys, int(args.to_mb * 1e6)),
                           describe, kv_binary=args.kv_binary)
    for kind, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{kind}: median {describe(med)}")


if __name__ == "__main__":
    main()
