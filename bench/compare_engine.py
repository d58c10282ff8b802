#!/usr/bin/python3
"""Runs kvcache-bench engine for several implementations in alternating short rounds and prints
the median ops/s of each and the median of the per-round ratios to the first, so that the noise
of a shared machine hits every implementation alike.

  bench/compare_engine.py --rounds 7 --seconds 1 --impl mutex-lru,kvcache:default -- \
      --threads 2 --keys 1000000 --zipf 0.99 --read-ratio 0.9
"""
import argparse
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True, help="comma-separated; ratios are to the first")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--bench", default=str(ROOT / "build" / "bin" / "kvcache-bench"))
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then kvcache-bench engine flags")
    args = ap.parse_args()
    rest = [a for a in args.rest if a != "--"]
    impls = args.impl.split(",")
    ops = {i: [] for i in impls}
    for r in range(args.rounds):
        for impl in impls:
            cmd = [args.bench, "engine", "--impl", impl, "--seconds", str(args.seconds), *rest]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            ops[impl].append(float(re.search(r"ops_per_sec=([0-9.]+)", out).group(1)))
            hit = re.search(r"hit_ratio=([0-9.]+)", out).group(1)
            print(f"round {r} {impl} ops_per_sec={ops[impl][-1]:.0f} hit_ratio={hit}",
                  file=sys.stderr)
    base = impls[0]
    for impl in impls:
        ratios = [a / b for a, b in zip(ops[impl], ops[base])]
        print(f"{impl}: median_ops_per_sec={statistics.median(ops[impl]):.0f} "
              f"median_ratio_to_{base}={statistics.median(ratios):.3f} "
              f"min_ratio={min(ratios):.3f} max_ratio={max(ratios):.3f}")


if __name__ == "__main__":
    main()
