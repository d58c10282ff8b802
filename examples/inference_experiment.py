#!/usr/bin/python3
"""Inference with and without the cache: one model, one request sequence, seven ways to get its
input rows (issue #5).

A small NumPy model (a 2-layer MLP with fixed random weights) serves batches of requests. Each
request is one row of a table, row ids Zipf-distributed. For each table — Fashion-MNIST (60,000 x
784 uint8) and a synthetic float32 embedding table — the same requests are served with the rows
read:

  files               straight from the .npy file, one os.pread per row (no application cache)
  redis-get           through Debian's redis-server, one GET per row, cache-aside from the file
  redis-mget          through redis-server, one MGET per batch, cache-aside from the file
  kvcache-get         the same two functions against build/bin/kvcache-server
  kvcache-mget
  kvcache-tensor-mget kvcache-server reading through from the file itself (--origin npy:...),
                      one kvcache.Client.tensor_mget per batch
  embedded            kvcache.Cache inside this process, get_batch + put_batch, cache-aside

Every cache gets the same memory budget and first serves the same warm-up requests (untimed);
then the measured batches are timed end to end (fetch + model), the configurations taking turns
every few batches so that all see the same machine. The model's output of every measured batch
must be bit-identical in every configuration, or the run fails.

Usage (from anywhere; needs build/bin/kvcache-server and build/python, or skips what is missing):

  examples/inference_experiment.py              # default: a few minutes on 2 cores
  examples/inference_experiment.py --quick      # smoke test, well under a minute

Flags:
  --quick               small synthetic table, few batches
  --tables LIST         fmnist,synthetic (default both)
  --configs LIST        any of the seven names above (default all; files always runs: it is
                        the reference for the output check)
  --batch-size N        rows per batch (256)
  --batches N           measured batches per configuration (300; quick: 30)
  --warmup-batches N    untimed warm-up batches before them (4000; quick: 100)
  --round-batches N     the timed batches run in rounds of N per configuration, the
                        configurations taking turns (10)
  --zipf S              Zipf exponent of the row ids (0.99)
  --hidden N            the model's hidden units (64)
  --budget F            cache memory budget as a fraction of the table's bytes (0.25)
  --policy P            kvcache eviction policy, server and embedded ("default"); Redis
                        always runs allkeys-lru
  --synthetic-rows N    rows of the synthetic table (1000000; quick: 100000)
  --synthetic-dim N     float32 columns of the synthetic table (128)
  --seed N              seeds the request sequence, the model and the synthetic table (0)
  --data-dir DIR        where the .npy tables are kept (~/.cache/kvcache-examples)
  --fmnist FILE         the Fashion-MNIST .npy (made by scripts/make_fmnist_npy.py if missing)
  --out-dir DIR         logs and results (/tmp/kvcache-inference-experiment)
  --json FILE           results as JSON (OUT_DIR/results.json)
  --plot FILE           rows/s and batch latency as a PNG (OUT_DIR/inference_experiment.png)
  --kvcache-server BIN  (build/bin/kvcache-server)   --redis-server BIN (redis-server)

Servers are started on free loopback ports and stopped by PID when their table is done, also
on errors and Ctrl-C.
"""
import argparse
import atexit
import gc
import hashlib
import json
import os
import pathlib
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = ("files", "redis-get", "redis-mget", "kvcache-get", "kvcache-mget",
           "kvcache-tensor-mget", "embedded")
SERVER_OF = {"redis-get": "redis", "redis-mget": "redis", "kvcache-get": "kvcache",
             "kvcache-mget": "kvcache", "kvcache-tensor-mget": "kvcache-origin"}


# ---- The tables.

class NpyRows:
    """Rows of a C-order .npy table read from disk with one os.pread each: no copy of the table
    is kept in this process (the OS page cache may still hold the file)."""

    def __init__(self, path):
        self.path = str(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            self.offset = f.tell()
        if fortran or len(shape) < 2:
            sys.exit(f"{path}: need a C-order table of rank 2 or more, got {shape}")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        self.nbytes = self.shape[0] * self.row_bytes
        self.fd = os.open(self.path, os.O_RDONLY)

    def row_bytes_of(self, row):
        return os.pread(self.fd, self.row_bytes, self.offset + int(row) * self.row_bytes)

    def batch(self, blobs):
        """One [n, ...] array of n rows given as bytes."""
        return np.frombuffer(b"".join(blobs), self.dtype).reshape(len(blobs), *self.row_shape)

    def read(self, rows):
        return self.batch([self.row_bytes_of(r) for r in rows])

    def close(self):
        os.close(self.fd)


def fmnist_table(args):
    path = pathlib.Path(args.fmnist or pathlib.Path(args.data_dir) / "fmnist.npy")
    if not path.exists():
        print(f"making {path} with scripts/make_fmnist_npy.py", flush=True)
        subprocess.run([sys.executable, str(REPO / "scripts/make_fmnist_npy.py"), str(path)],
                       check=True)
    return path


def synthetic_table(args):
    """A seeded float32 table, written in chunks so that it is never whole in memory."""
    rows, dim = args.synthetic_rows, args.synthetic_dim
    path = pathlib.Path(args.data_dir) / f"synthetic_{rows}x{dim}_f32_seed{args.seed}.npy"
    if path.exists():
        return path
    print(f"making {path} ({rows * dim * 4 / 2**20:.0f} MiB)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, dim))
    rng = np.random.default_rng([args.seed, 1])
    for start in range(0, rows, 65536):
        end = min(rows, start + 65536)
        out[start:end] = rng.standard_normal((end - start, dim), dtype=np.float32)
    out.flush()
    del out
    os.replace(tmp, path)
    return path


def zipf_rows(n_rows, count, s, rng):
    """count row ids in [0, n_rows), rank k drawn with probability ~ 1/k^s; ranks are mapped to
    rows by a random permutation so that the hot rows are spread over the file."""
    weights = 1.0 / np.arange(1, n_rows + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), n_rows - 1)
    return rng.permutation(n_rows)[ranks].astype(np.int64)


# ---- The model.

class Model:
    """A 2-layer MLP, float32, fixed random weights: features -> hidden ReLU -> 10 logits."""

    def __init__(self, dim, hidden, seed, scale):
        rng = np.random.default_rng([seed, 2])
        self.scale = np.float32(scale)
        self.w1 = (rng.standard_normal((dim, hidden)) * np.sqrt(2.0 / dim)).astype(np.float32)
        self.b1 = (rng.standard_normal(hidden) * 0.01).astype(np.float32)
        self.w2 = (rng.standard_normal((hidden, 10)) * np.sqrt(1.0 / hidden)).astype(np.float32)
        self.b2 = np.zeros(10, np.float32)

    def __call__(self, batch):
        x = batch.astype(np.float32)  # always a new, aligned array: the same input bits
        if self.scale != 1:
            x *= self.scale
        h = np.maximum(x @ self.w1 + self.b1, np.float32(0))
        return h @ self.w2 + self.b2


# ---- Servers.

_RUNNING = {}


def _stop_all():
    for proc in list(_RUNNING.values()):
        stop_server(proc)


atexit.register(_stop_all)


def _on_signal(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind, args, budget, table_path, prefix, log_dir):
    import redis
    port = free_port()
    if kind == "redis":
        cmd = [args.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--maxmemory", str(budget),
               "--maxmemory-policy", "allkeys-lru", "--dir", str(log_dir)]
    else:
        cmd = [args.kvcache_server, "--port", str(port), "--bind", "127.0.0.1",
               "--maxmemory", str(budget), "--maxmemory-policy", args.policy]
        if kind == "kvcache-origin":
            cmd += ["--origin", f"npy:{table_path}:{prefix}"]
    log = open(log_dir / f"{kind}-{port}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    proc.port, proc.log_path, proc.cmd = port, log_dir / f"{kind}-{port}.log", cmd
    _RUNNING[proc.pid] = proc
    deadline = time.monotonic() + 15
    while True:
        try:
            redis.Redis(port=port, socket_timeout=1).ping()
            return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                tail = proc.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(cmd)} did not start:\n{tail}")
            time.sleep(0.05)


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _RUNNING.pop(proc.pid, None)


def proc_status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


class PeakSampler(threading.Thread):
    """Samples a process's RssAnon every 50 ms and keeps the largest. VmHWM, the kernel's peak,
    also counts the pages of files the process maps: kvcache-server maps its npy origin, so its
    VmHWM grows with the part of the table it has read, whether it caches it or not."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._stop_event = pid, 0, threading.Event()
        self.start()

    def run(self):
        while True:
            self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "RssAnon") or 0)
            if self._stop_event.wait(0.05):
                return

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.peak_kb


def reset_own_peak_rss():
    """Resets this process's VmHWM to its current RSS (Linux: clear_refs 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def info_int(r, section, field):
    return int(r.info(section).get(field, 0))


# ---- The ways to fetch a batch. Each returns (batch array, rows read from the file).

def keys_of(ids, state):
    prefix = state["prefix"]
    return [f"{prefix}{i}" for i in ids.tolist()]


def fetch_files(table, ids, state):
    return table.read(ids.tolist()), len(ids)


def fetch_get(table, ids, state):
    """Cache-aside with one GET per row: a miss reads the row from the file and SETs it."""
    r, keys = state["redis"], keys_of(ids, state)
    blobs, reads = [], 0
    for row, key in zip(ids.tolist(), keys):
        blob = r.get(key)
        if blob is None:
            blob = table.row_bytes_of(row)
            r.set(key, blob)
            reads += 1
        blobs.append(blob)
    return table.batch(blobs), reads


def fetch_mget(table, ids, state):
    """Cache-aside with one MGET per batch and one MSET of the rows it missed."""
    r, keys = state["redis"], keys_of(ids, state)
    blobs = r.mget(keys)
    loaded = {}
    for i, blob in enumerate(blobs):
        if blob is None:
            key = keys[i]
            if key not in loaded:
                loaded[key] = table.row_bytes_of(ids[i])
            blobs[i] = loaded[key]
    if loaded:
        r.mset(loaded)
    return table.batch(blobs), len(loaded)


def fetch_tensor_mget(table, ids, state):
    """The server reads missing rows through from the file; one reply is the whole batch.

    Rows it still answers as missing are read here from the file, so that the model sees the
    right input, and counted apart: with read-through there should be none."""
    batch, missing = state["client"].tensor_mget(keys_of(ids, state), missing="zero",
                                                  return_missing=True)
    if not len(missing):
        return batch, 0  # the server's file reads are counted from INFO's origin_loads
    if batch.shape[1:] != table.row_shape or batch.dtype != table.dtype:
        batch = np.zeros((len(ids), *table.row_shape), table.dtype)
    else:
        batch = batch.copy()
    batch[missing] = table.read(ids[missing].tolist())
    state["missing_after_read_through"] = len(missing) + state.get("missing_after_read_through",
                                                                   0)
    return batch, len(missing)


def fetch_embedded(table, ids, state):
    """Cache-aside in process: get_batch by integer ids, then read and put_batch the misses."""
    cache, prefix = state["cache"], state["prefix"]
    batch, missing = cache.get_batch(ids, prefix=prefix, missing="zero", return_missing=True)
    if not len(missing):
        return batch, 0
    if batch.shape[1:] != table.row_shape or batch.dtype != table.dtype:
        batch = np.zeros((len(ids), *table.row_shape), table.dtype)  # nothing was found
    rows, where = np.unique(ids[missing], return_inverse=True)
    loaded = table.read(rows.tolist())
    cache.put_batch(rows, loaded, prefix=prefix)
    batch[missing] = loaded[where]
    return batch, len(rows)


FETCH = {"files": fetch_files, "redis-get": fetch_get, "redis-mget": fetch_mget,
         "kvcache-get": fetch_get, "kvcache-mget": fetch_mget,
         "kvcache-tensor-mget": fetch_tensor_mget, "embedded": fetch_embedded}
# The warm-up fills GET and MGET caches alike (cache-aside per batch), so both measure from the
# same state; per-row GETs would only make the warm-up slower.
WARMUP_FETCH = dict(FETCH, **{"redis-get": fetch_mget, "kvcache-get": fetch_mget})


# ---- One configuration on one table.

class Configuration:
    """One way of fetching rows, with its server or cache: set up and warmed up one after the
    other, then timed batch by batch (interleaved with the others), then finished."""

    def __init__(self, name, spec, args, log_dir):
        self.name, self.table = name, NpyRows(spec["path"])
        self.state = {"prefix": spec["prefix"]}
        self.server = self.sampler = None
        self.times, self.fetch_times, self.reads, self.digests, self.classes = [], [], 0, [], []
        self.warmup_crc = []
        gc.collect()
        self.peak_reset = reset_own_peak_rss()
        self.rss_before = proc_status_kb(os.getpid(), "VmRSS")
        if name in SERVER_OF:
            import redis
            self.server = start_server(SERVER_OF[name], args, spec["budget"], spec["path"],
                                       spec["prefix"], log_dir)
            self.state["redis"] = redis.Redis(port=self.server.port)
            self.sampler = PeakSampler(self.server.pid)
            if name == "kvcache-tensor-mget":
                import kvcache
                self.state["client"] = kvcache.Client(port=self.server.port)
        elif name == "embedded":
            import kvcache
            self.state["cache"] = kvcache.Cache(spec["budget"], policy=args.policy)

    def warm_up(self, warmup_ids, batch_size):
        t0 = time.monotonic()
        for b in range(0, len(warmup_ids), batch_size):
            batch, _ = WARMUP_FETCH[self.name](self.table, warmup_ids[b:b + batch_size],
                                                self.state)
            self.warmup_crc.append(zlib.crc32(np.ascontiguousarray(batch).data))
        self.warmup_seconds = time.monotonic() - t0
        hwm = proc_status_kb(os.getpid(), "VmHWM")
        self.client_drss_mb = (hwm - self.rss_before) / 1024 if self.peak_reset else None
        self.warmup_missing = self.state.pop("missing_after_read_through", 0)
        if self.server:
            r = self.state["redis"]
            self.stats_before = r.info("stats")
            self.origin_before = int(r.info("all").get("origin_loads", 0))

    def run_batch(self, ids, model):
        t0 = time.perf_counter()
        batch, n_read = FETCH[self.name](self.table, ids, self.state)
        t1 = time.perf_counter()
        logits = model(batch)
        t2 = time.perf_counter()
        self.times.append(t2 - t0)
        self.fetch_times.append(t1 - t0)
        self.reads += n_read
        self.digests.append(hashlib.sha1(logits.tobytes()).hexdigest())
        self.classes.append(logits.argmax(axis=1).astype(np.int8))

    def finish(self, batch_size):
        rows = len(self.times) * batch_size
        result = {"rows": rows, "batches": len(self.times),
                  "warmup_seconds": self.warmup_seconds,
                  "client_peak_rss_delta_mb": self.client_drss_mb}
        reads = self.reads
        if self.server:
            r = self.state["redis"]
            stats = r.info("stats")
            result["server_stats_delta"] = {
                k: int(stats.get(k, 0)) - int(self.stats_before.get(k, 0))
                for k in ("keyspace_hits", "keyspace_misses", "evicted_keys")}
            if self.name == "kvcache-tensor-mget":
                # The server's loads, plus the rows it answered missing (read here).
                reads += int(r.info("all").get("origin_loads", 0)) - self.origin_before
                result["missing_after_read_through"] = self.state.get(
                    "missing_after_read_through", 0)
                result["missing_after_read_through_warmup"] = self.warmup_missing
            result["keys_held"] = int(r.dbsize())
            result["server_vmhwm_mb"] = proc_status_kb(self.server.pid, "VmHWM") / 1024
            result["server_rss_file_mb_at_end"] = (
                proc_status_kb(self.server.pid, "RssFile") / 1024)
            result["server_peak_anon_mb"] = self.sampler.stop() / 1024
            result["server_cmd"] = " ".join(self.server.cmd)
        elif self.name == "embedded":
            result["keys_held"] = len(self.state["cache"])
            result["cache_stats"] = self.state["cache"].stats()
        times_ms = np.array(self.times) * 1e3
        result.update({
            "batch_ms_p50": float(np.median(times_ms)),
            "batch_ms_p99": float(np.percentile(times_ms, 99)),
            "fetch_ms_p50": float(np.median(np.array(self.fetch_times) * 1e3)),
            "rows_per_s": rows / float(np.sum(self.times)),
            "file_reads": int(reads),
            "hit_ratio": None if self.name == "files" else 1.0 - reads / rows,
        })
        return result

    def close(self):
        self.state.clear()
        if self.sampler is not None:
            self.sampler.stop()
        if self.server is not None:
            stop_server(self.server)
        self.table.close()


def run_table(spec, configs, args, model, warmup_ids, measured_ids, log_dir):
    """Sets up and warms up every configuration in turn, then times them in rounds of
    --round-batches batches, the order rotating every round, so that all see the same
    machine (others' load drifts over minutes on a shared host)."""
    running, bs = [], args.batch_size
    try:
        for name in configs:
            print(f"{spec['name']}: {name}: warm-up ...", end=" ", flush=True)
            conf = Configuration(name, spec, args, log_dir)
            running.append(conf)
            conf.warm_up(warmup_ids, bs)
            print(f"{conf.warmup_seconds:.1f} s", flush=True)
        n_batches = len(measured_ids) // bs
        print(f"{spec['name']}: {n_batches} timed batches per configuration, in rounds ...",
              end=" ", flush=True)
        t0 = time.monotonic()
        for r, first in enumerate(range(0, n_batches, args.round_batches)):
            k = r % len(running)
            for conf in running[k:] + running[:k]:
                for b in range(first, min(n_batches, first + args.round_batches)):
                    conf.run_batch(measured_ids[b * bs:(b + 1) * bs], model)
        print(f"{time.monotonic() - t0:.1f} s", flush=True)
        return {conf.name: (conf.finish(bs), conf) for conf in running}
    finally:
        for conf in running:
            conf.close()


# ---- What can run here.

def available_configs(args, wanted):
    """{config: None if it can run, else the reason it is skipped}."""
    import redis
    reasons = {name: None for name in wanted}
    server_missing = not os.access(args.kvcache_server, os.X_OK)
    try:
        subprocess.run([args.redis_server, "--version"], capture_output=True, check=True)
        redis_missing = None
    except (OSError, subprocess.CalledProcessError) as e:
        redis_missing = f"{args.redis_server} does not run ({e})"
    try:
        import kvcache
        kvcache.Cache
        module_missing = None
    except ImportError as e:
        module_missing = f"the kvcache module does not import ({e}); build it (README, Python)"
    tensor_missing = None
    if server_missing:
        tensor_missing = f"{args.kvcache_server} not found; build it (scripts/run.sh)"
    elif module_missing:
        tensor_missing = module_missing
    else:
        log_dir = pathlib.Path(args.out_dir)
        proc = start_server("kvcache", args, 1 << 20, "", "", log_dir)
        try:
            redis.Redis(port=proc.port).execute_command("TENSOR.MGET", "x")
        except redis.ResponseError as e:
            tensor_missing = f"this kvcache-server has no TENSOR.MGET ({e})"
        finally:
            stop_server(proc)
    for name in wanted:
        if name.startswith("redis-"):
            reasons[name] = redis_missing
        elif name in ("kvcache-get", "kvcache-mget"):
            reasons[name] = server_missing and f"{args.kvcache_server} not found"
        elif name == "kvcache-tensor-mget":
            reasons[name] = tensor_missing
        elif name == "embedded":
            reasons[name] = module_missing
    return reasons


# ---- Output.

def print_table(spec, results):
    print(f"\n{spec['name']}: {spec['shape'][0]:,} x {spec['shape'][1]} {spec['dtype']} "
          f"({spec['bytes'] / 2**20:.1f} MiB), budget {spec['budget'] / 2**20:.1f} MiB "
          f"= {spec['budget'] // spec['row_bytes']:,} rows of {spec['row_bytes']} bytes; "
          f"{spec['distinct_rows_requested']:,} distinct rows requested")
    head = (f"{'configuration':<20} {'p50 ms':>7} {'p99 ms':>7} {'fetch p50':>9} {'rows/s':>8} "
            f"{'x files':>7} {'hit ratio':>9} {'keys held':>9} {'srv HWM MB':>10} "
            f"{'srv anon MB':>11} {'client dRSS MB':>14}")
    print(head)
    print("-" * len(head))
    base = results.get("files", {}).get("rows_per_s")
    for name, r in results.items():
        hit = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.3f}"
        held = f"{r['keys_held']:,}" if "keys_held" in r else "-"
        hwm = f"{r['server_vmhwm_mb']:.1f}" if "server_vmhwm_mb" in r else "-"
        anon = f"{r['server_peak_anon_mb']:.1f}" if "server_peak_anon_mb" in r else "-"
        drss = ("?" if r["client_peak_rss_delta_mb"] is None
                else f"{r['client_peak_rss_delta_mb']:.1f}")
        ratio = f"{r['rows_per_s'] / base:.2f}" if base else "-"
        print(f"{name:<20} {r['batch_ms_p50']:>7.2f} {r['batch_ms_p99']:>7.2f} "
              f"{r['fetch_ms_p50']:>9.2f} {r['rows_per_s']:>8,.0f} {ratio:>7} {hit:>9} "
              f"{held:>9} {hwm:>10} {anon:>11} {drss:>14}")


def plot(path, tables):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    fig, axes = plt.subplots(2, len(tables), figsize=(5 * len(tables), 6), squeeze=False)
    for col, (tname, results) in enumerate(tables.items()):
        names = list(results)
        y = np.arange(len(names))
        ax = axes[0][col]
        rate = [results[n]["rows_per_s"] for n in names]
        ax.barh(y, rate, color="tab:blue")
        for yi, v in zip(y, rate):
            ax.text(v, yi, f" {v:,.0f}", va="center", fontsize=7)
        ax.set_xlim(0, max(rate) * 1.25)
        ax.set_title(f"{tname}: rows/s (higher is better)", fontsize=10)
        ax = axes[1][col]
        ax.barh(y - 0.2, [results[n]["batch_ms_p50"] for n in names], 0.4, label="p50")
        ax.barh(y + 0.2, [results[n]["batch_ms_p99"] for n in names], 0.4, label="p99")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{tname}: ms per batch, log scale (lower is better)", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_yticks(y)
            ax.set_yticklabels(names, fontsize=8)
            ax.invert_yaxis()
            ax.tick_params(axis="x", labelsize=8)
            ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)


# ---- Main.

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tables", default="fmnist,synthetic")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--batches", type=int)
    ap.add_argument("--round-batches", type=int, default=10)
    ap.add_argument("--warmup-batches", type=int)
    ap.add_argument("--zipf", type=float, default=0.99)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--policy", default="default")
    ap.add_argument("--synthetic-rows", type=int)
    ap.add_argument("--synthetic-dim", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kvcache-examples"))
    ap.add_argument("--fmnist")
    ap.add_argument("--out-dir", default="/tmp/kvcache-inference-experiment")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    ap.add_argument("--kvcache-server", default=str(REPO / "build/bin/kvcache-server"))
    ap.add_argument("--redis-server", default="redis-server")
    args = ap.parse_args()
    quick = args.quick
    args.batches = args.batches or (30 if quick else 300)
    args.warmup_batches = args.warmup_batches if args.warmup_batches is not None else (
        100 if quick else 4000)
    args.synthetic_rows = args.synthetic_rows or (100_000 if quick else 1_000_000)
    args.json = args.json or os.path.join(args.out_dir, "results.json")
    args.plot = args.plot or os.path.join(args.out_dir, "inference_experiment.png")
    bad = [c for c in args.configs.split(",") if c not in CONFIGS]
    if bad:
        ap.error(f"unknown configuration {', '.join(bad)}; choose from {', '.join(CONFIGS)}")
    bad = [t for t in args.tables.split(",") if t not in ("fmnist", "synthetic")]
    if bad:
        ap.error(f"unknown table {', '.join(bad)}; choose from fmnist, synthetic")
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    sys.path.insert(0, str(REPO / "build/python"))  # the kvcache module, if built
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_start = os.getloadavg()

    wanted = [c for c in CONFIGS if c in args.configs.split(",")]
    if "files" not in wanted:
        wanted.insert(0, "files")  # the reference for the output check and the speed ratio
    skipped = {n: why for n, why in available_configs(args, wanted).items() if why}
    for name, why in skipped.items():
        print(f"SKIPPED {name}: {why}", flush=True)
    configs = [c for c in wanted if c not in skipped]

    report = {"command": " ".join([sys.argv[0]] + sys.argv[1:]),
              "settings": {k: v for k, v in vars(args).items()},
              "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                          "kernel": platform.release(), "python": sys.version.split()[0],
                          "numpy": np.__version__},
              "method": "each configuration is set up and warmed up (untimed) in turn; then "
                        "all take turns in rounds of --round-batches timed batches; the same "
                        "row ids everywhere",
              "skipped": skipped, "tables": {}}
    all_results, identical, warnings = {}, True, []
    for tname in args.tables.split(","):
        path = fmnist_table(args) if tname == "fmnist" else synthetic_table(args)
        table = NpyRows(path)
        spec = {"name": tname, "path": str(path), "shape": list(table.shape),
                "dtype": str(table.dtype), "bytes": table.nbytes, "row_bytes": table.row_bytes,
                "prefix": "fmnist:" if tname == "fmnist" else "emb:",
                "budget": int(args.budget * table.nbytes)}
        table.close()
        rng = np.random.default_rng([args.seed, 0, len(tname)])
        n_warm, n_meas = args.warmup_batches * args.batch_size, args.batches * args.batch_size
        ids = zipf_rows(spec["shape"][0], n_warm + n_meas, args.zipf, rng)
        spec["distinct_rows_requested"] = int(len(np.unique(ids)))
        model = Model(int(np.prod(spec["shape"][1:])), args.hidden, args.seed,
                      1 / 255 if spec["dtype"] == "uint8" else 1)
        runs = run_table(spec, configs, args, model, ids[:n_warm], ids[n_warm:], out_dir)
        results, reference = {}, runs[configs[0]][1]
        for name, (result, conf) in runs.items():
            if conf is not reference:
                same = (conf.warmup_crc == reference.warmup_crc
                        and conf.digests == reference.digests
                        and all(np.array_equal(a, b)
                                for a, b in zip(conf.classes, reference.classes)))
                result["output_identical_to_files"] = same
                if not same:
                    identical = False
                    print(f"MODEL OUTPUT DIFFERS: {tname} {name} vs files", flush=True)
            results[name] = result
            if result.get("missing_after_read_through_warmup") or result.get(
                    "missing_after_read_through"):
                warning = (f"{tname} {name}: the server answered "
                           f"{result['missing_after_read_through_warmup']:,} rows in the warm-up "
                           f"and {result['missing_after_read_through']:,} in the timed batches "
                           "as missing although it reads through from the file (read here "
                           "from the file instead, counted as misses)")
                warnings.append(warning)
                print(f"WARNING: {warning}", flush=True)
        all_results[tname] = results
        report["tables"][tname] = {"table": spec, "results": results}
        print_table(spec, results)

    report["model_output_identical"] = identical
    report["warnings"] = warnings
    report["seconds"] = time.time() - started
    report["loadavg_start"], report["loadavg_end"] = load_start, os.getloadavg()
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1, default=str)
    plot(args.plot, all_results)

    print(f"\nbatches of {args.batch_size} rows, Zipf {args.zipf}; {args.warmup_batches} warm-up "
          f"batches (untimed) then {args.batches} timed batches per configuration, one client, "
          f"configurations taking turns every {args.round_batches} batches")
    print("hit ratio: share of requested rows not read from the .npy file during the timed "
          "batches")
    print("p50/p99: end-to-end ms per batch (fetch + model); fetch p50: the fetch alone")
    print("srv HWM: the server's VmHWM (peak RSS, including pages of files it maps: the npy "
          "origin); srv anon: its peak anonymous RSS (sampled every 50 ms); client dRSS: peak "
          "RSS growth of this Python process from the configuration's set-up to the end of its "
          "warm-up (the embedded cache lives there)")
    print("Redis stores each key with more overhead than kvcache, so it holds fewer rows in the "
          "same maxmemory (compare 'keys held')")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    for warning in warnings:
        print(f"WARNING: {warning}")
    print(f"load average {load_start[0]:.2f} at start, {report['loadavg_end'][0]:.2f} at end; "
          f"{report['seconds']:.0f} s")
    print(f"results: {args.json}\nplot: {args.plot}")
    if not identical:
        sys.exit("model output identical in all configurations: NO")
    print("model output identical in all configurations: yes")


if __name__ == "__main__":
    main()
