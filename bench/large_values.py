#!/usr/bin/python3
"""Large values (16 MiB, an attention-cache chunk): SET and GET throughput of kvcache-server and
Debian's redis-server side by side, alternating, several rounds; prints medians and ratios.

  bench/large_values.py [--rounds 5] [--size 16777216] [--keys 64] [--ops 128] [--conns 1,4]
                        [--kv-threads 2] [--kv-binary build/bin/kvcache-server]
                        [--baseline OTHER-KVCACHE-BINARY] [--tensor]
                        [--redis-malloc-conf CONF]

Both servers run at once on free loopback ports (persistence off, 4 GB of memory, bulks up to
1 GB); they are measured in turn, the order swapped every round. Every key is written once
before the rounds, so SETs replace values, as in a cache's steady state. A phase is --ops SETs
(or GETs) of --size bytes over --keys distinct keys, spread over N connections (one thread and
one request in flight each). Reported per phase: GB/s of payload (10^9 bytes), server CPU
seconds per GB (utime + stime of the server process, /proc/PID/stat), the server's minor page
faults per request (first touches of fresh memory: 4,096 for a 16 MiB buffer), and the CPU other
processes used meanwhile (system busy time minus server and client), to show what else ran.

The client speaks RESP over raw sockets: a SET is one sendmsg of header, value and CRLF; a GET
reply is received with recv_into (MSG_WAITALL) straight into a preallocated buffer, so the
client copies each byte once, as the kernel requires, and parses nothing but the header line.
Values are distinct slices of one random buffer. With --tensor, kvcache's writes are
`TENSOR.SET key u8 SIZE BLOB value` (a GET answers a tensor's data); Redis has no tensors and
keeps SET. With --baseline, a second kvcache build is measured beside the first, as "baseline". After the warm-up write every key is read back
and compared byte for byte, and each round's GETs check the reply's header and length.
"""
import argparse
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system_busy_seconds():
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


class Server:
    def __init__(self, kind, threads, binary=ROOT / "build/bin/kvcache-server", malloc_conf="",
                 tensor=False):
        self.kind = kind
        self.tensor = tensor and kind != "redis"
        self.port = free_port()
        if kind == "redis":
            args = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                    "--maxmemory", "4gb", "--maxmemory-policy", "allkeys-lru",
                    "--proto-max-bulk-len", "1gb", "--protected-mode", "no",
                    "--daemonize", "no", "--logfile", ""]
        else:
            args = [str(binary), "--port", str(self.port),
                    "--maxmemory", "4gb", "--threads", str(threads),
                    "--proto-max-bulk-len", "1gb"]
        env = dict(os.environ)
        if kind == "redis" and malloc_conf:
            env["MALLOC_CONF"] = malloc_conf  # Debian's redis-server uses the shared libjemalloc
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env)
        self._wait_ready()

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} not ready")

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def minor_faults(self):
        return int(open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()[7])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def key_name(i):
    return b"chunk:%04d" % i


class Client:
    """One connection: blocking RESP requests of large values, one at a time."""

    def __init__(self, port, size, tensor=False):
        self.tensor = tensor
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.size = size
        self.buf = bytearray(size + 64)
        self.view = memoryview(self.buf)

    def close(self):
        self.sock.close()

    def _send(self, parts):
        parts = [memoryview(p) for p in parts]
        while parts:
            n = self.sock.sendmsg(parts)
            while parts and n >= len(parts[0]):
                n -= len(parts[0])
                parts.pop(0)
            if parts and n:
                parts[0] = parts[0][n:]

    def _line(self):
        """Receives the reply's first line into buf; returns (line, bytes received)."""
        got = 0
        while True:
            n = self.sock.recv_into(self.view[got:], len(self.buf) - got)
            if n == 0:
                raise ConnectionError("server closed the connection")
            got += n
            end = self.buf.find(b"\r\n", 0, got)
            if end >= 0:
                return bytes(self.buf[:end]), got

    def set(self, key, value):
        if self.tensor:
            size = b"%d" % len(value)
            header = (b"*6\r\n$10\r\nTENSOR.SET\r\n$%d\r\n%s\r\n$2\r\nu8\r\n$%d\r\n%s\r\n"
                      b"$4\r\nBLOB\r\n$%d\r\n" % (len(key), key, len(size), size, len(value)))
        else:
            header = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, len(value))
        self._send([header, value, b"\r\n"])
        line, _ = self._line()
        if line != b"+OK":
            raise RuntimeError(f"SET {key!r}: {line!r}")

    def get(self, key):
        """Returns a view of the value, valid until the next request."""
        self._send([b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)])
        line, got = self._line()
        if not line.startswith(b"$") or int(line[1:]) != self.size:
            raise RuntimeError(f"GET {key!r}: {line[:80]!r}")
        start = len(line) + 2
        total = start + self.size + 2
        while got < total:
            n = self.sock.recv_into(self.view[got:total], total - got, socket.MSG_WAITALL)
            if n == 0:
                raise ConnectionError("server closed the connection")
            got += n
        if self.buf[total - 2:total] != b"\r\n":
            raise RuntimeError(f"GET {key!r}: reply not ended by CRLF")
        return self.view[start:start + self.size]


def run_phase(clients, op, ops, keys, values):
    """ops requests spread over the clients (request j goes to client j % N, key j % keys);
    returns elapsed seconds."""
    errors = []

    def work(t, c):
        try:
            for j in range(t, ops, len(clients)):
                k = j % keys
                if op == "SET":
                    c.set(key_name(k), values[k])
                else:
                    c.get(key_name(k))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t, c)) for t, c in enumerate(clients)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def measure(server, clients, op, args, values):
    faults0 = server.minor_faults()
    busy0, cpu0, client0 = system_busy_seconds(), server.cpu_seconds(), time.process_time()
    elapsed = run_phase(clients, op, args.ops, args.keys, values)
    busy1, cpu1, client1 = system_busy_seconds(), server.cpu_seconds(), time.process_time()
    gb = args.ops * args.size / 1e9
    server_cpu, client_cpu = cpu1 - cpu0, client1 - client0
    other = max(0.0, (busy1 - busy0) - server_cpu - client_cpu)
    return {"gbps": gb / elapsed, "cpu_per_gb": server_cpu / gb,
            "client_cpu_per_gb": client_cpu / gb, "other_cpu": other / elapsed,
            "faults_per_op": (server.minor_faults() - faults0) / args.ops}


def verify(server, size, keys, values):
    c = Client(server.port, size, server.tensor)
    try:
        for k in range(keys):
            if c.get(key_name(k)) != values[k]:
                raise RuntimeError(f"{server.kind}: GET {key_name(k)!r} differs from what was SET")
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=16 << 20, help="value bytes")
    ap.add_argument("--keys", type=int, default=64, help="distinct keys")
    ap.add_argument("--ops", type=int, default=128, help="requests per phase")
    ap.add_argument("--conns", default="1,4", help="connection counts to measure")
    ap.add_argument("--kv-threads", type=int, default=2)
    ap.add_argument("--only", choices=["kvcache", "redis"], help="measure one server only")
    ap.add_argument("--kv-binary", default=str(ROOT / "build/bin/kvcache-server"))
    ap.add_argument("--baseline", help="another kvcache-server binary, measured beside")
    ap.add_argument("--tensor", action="store_true", help="kvcache writes with TENSOR.SET")
    ap.add_argument("--redis-malloc-conf", default="",
                    help="MALLOC_CONF for redis-server's jemalloc, e.g. oversize_threshold:0,"
                         "dirty_decay_ms:-1,muzzy_decay_ms:-1 (keeps freed memory: no page "
                         "faults per large value)")
    args = ap.parse_args()
    conns = [int(x) for x in args.conns.split(",")]
    kinds = [args.only] if args.only else ["redis", "kvcache"]
    if args.baseline:
        kinds.append("baseline")

    base = os.urandom(args.size + args.keys)
    values = [memoryview(base)[k:k + args.size] for k in range(args.keys)]

    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2]
    print(f"# {args.keys} keys x {args.size} bytes, {args.ops} requests per phase, "
          f"connections {args.conns}; kvcache-server --threads {args.kv_threads}"
          f"{'; kvcache writes TENSOR.SET' if args.tensor else ''}"
          f"{'; baseline ' + args.baseline if args.baseline else ''}; "
          f"redis-server {redis_version}"
          f"{' MALLOC_CONF=' + args.redis_malloc_conf if args.redis_malloc_conf else ''}; "
          f"load average {open('/proc/loadavg').read().strip()}")
    servers = {}
    try:
        for kind in kinds:
            binary = args.baseline if kind == "baseline" else args.kv_binary
            servers[kind] = Server(kind, args.kv_threads, binary, args.redis_malloc_conf,
                                   args.tensor)
            c = Client(servers[kind].port, args.size, servers[kind].tensor)
            for k in range(args.keys):
                c.set(key_name(k), values[k])
            c.close()
            verify(servers[kind], args.size, args.keys, values)
        print("# data checked: every key read back equals what was SET", file=sys.stderr)

        results = {}  # (kind, conns, op) -> list of measurements
        for r in range(args.rounds):
            order = kinds if r % 2 == 0 else kinds[::-1]
            for kind in order:
                s = servers[kind]
                for n in conns:
                    clients = [Client(s.port, args.size, s.tensor) for _ in range(n)]
                    try:
                        for op in ("SET", "GET"):
                            m = measure(s, clients, op, args, values)
                            results.setdefault((kind, n, op), []).append(m)
                            print(f"  round {r} {kind:7} {op} x{n}: {m['gbps']:.2f} GB/s, "
                                  f"server {m['cpu_per_gb']:.3f} CPU s/GB "
                                  f"{m['faults_per_op']:.0f} page faults/request, client "
                                  f"{m['client_cpu_per_gb']:.3f} CPU s/GB, other processes "
                                  f"{m['other_cpu']:.2f} CPUs", file=sys.stderr)
                    finally:
                        for c in clients:
                            c.close()
        for kind in kinds:
            verify(servers[kind], args.size, args.keys, values)
    finally:
        for s in servers.values():
            s.stop()

    def med(kind, n, op, field):
        return statistics.median(m[field] for m in results[(kind, n, op)])

    print(f"# medians of {args.rounds} rounds; ratio = kvcache / redis "
          f"(for CPU per GB, below 1 is better); load average "
          f"{open('/proc/loadavg').read().strip()}")
    for n in conns:
        for op in ("SET", "GET"):
            line = f"{op} x{n}:"
            for kind in kinds:
                line += (f" {kind} {med(kind, n, op, 'gbps'):.2f} GB/s "
                         f"{med(kind, n, op, 'cpu_per_gb'):.3f} CPU s/GB "
                         f"{med(kind, n, op, 'faults_per_op'):.0f} faults/req;")
            if "kvcache" in kinds and "redis" in kinds:
                ratios = [a["gbps"] / b["gbps"] for a, b in
                          zip(results[("kvcache", n, op)], results[("redis", n, op)])]
                line += (f" ratio GB/s {med('kvcache', n, op, 'gbps') / med('redis', n, op, 'gbps'):.2f}"
                         f" (per round {min(ratios):.2f}..{max(ratios):.2f}),"
                         f" CPU/GB {med('kvcache', n, op, 'cpu_per_gb') / med('redis', n, op, 'cpu_per_gb'):.2f}")
            if "baseline" in kinds:
                line += (f" kvcache/baseline GB/s "
                         f"{med('kvcache', n, op, 'gbps') / med('baseline', n, op, 'gbps'):.2f},"
                         f" CPU/GB {med('kvcache', n, op, 'cpu_per_gb') / med('baseline', n, op, 'cpu_per_gb'):.2f}")
            line += (" other processes " +
                     "/".join(f"{med(kind, n, op, 'other_cpu'):.2f}" for kind in kinds) + " CPUs")
            print(line)


if __name__ == "__main__":
    main()
