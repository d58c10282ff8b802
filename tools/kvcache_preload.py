#!/usr/bin/python3
"""kvcache-preload: asks a running kvcache-server to preload a tensor file (or a range of its
origin) and shows the progress, as a bar on a terminal and as lines otherwise.

  kvcache-preload [--host 127.0.0.1] [--port 6379] [--password PW] SPEC

SPEC is what the server's PRELOAD command takes: npy:FILE[:PREFIX], safetensors:FILE[:PREFIX],
or origin[:BEGIN[:END]]. Exits 0 when the preload finished, 1 if it failed.
"""
import argparse
import sys
import time

import redis


def bar(fraction, width=40):
    full = int(fraction * width)
    return "[" + "#" * full + "." * (width - full) + "]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--password")
    ap.add_argument("--interval", type=float, default=0.2)
    args = ap.parse_args()
    r = redis.Redis(host=args.host, port=args.port, password=args.password)
    try:
        r.execute_command("PRELOAD", args.spec)
    except redis.RedisError as e:
        sys.exit(f"kvcache-preload: {e}")
    tty = sys.stdout.isatty()
    last_line = ""
    while True:
        info = r.info("persistence")
        total = int(info.get("loading_total_bytes", 0))
        done = int(info.get("loading_loaded_bytes", 0))
        keys = int(info.get("loading_loaded_keys", 0))
        eta = int(info.get("loading_eta_seconds", 0))
        frac = done / total if total else 0.0
        line = (f"{bar(frac)} {frac * 100:5.1f}%  {done / 2**20:8.1f} / {total / 2**20:.1f} MiB"
                f"  {keys} keys  ETA {eta} s")
        if tty:
            print("\r" + line, end="", flush=True)
        elif line.split("%")[0] != last_line.split("%")[0]:
            print(line, flush=True)
        last_line = line
        if int(info.get("loading", 0)) == 0:
            break
        time.sleep(args.interval)
    if tty:
        print()
    error = info.get("loading_error")
    if error:
        sys.exit(f"kvcache-preload: {error}")
    print(f"preloaded {keys} keys ({done / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
