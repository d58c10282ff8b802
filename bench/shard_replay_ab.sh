#!/bin/bash
# shard-replay of every trace in ../shared/traces (the .txt ones) for POLICY, by this build's
# build/bin/shard-replay and by BASE (the same program linked against another build's library,
# see docs/BENCHMARKS.md), in three settings: a = the default shard count and equal values,
# b = the same with one value in 100 of 100 KB, c = four shards. Prints each trace's miss ratios
# at 1%, 5%, 10%, 20% as new/base, then per setting the mean difference and its extremes.
#
#   bench/shard_replay_ab.sh POLICY BASE
set -euo pipefail
POLICY=$1
BASE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
T="$HERE/../../shared/traces"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for tr in cloudphysics lirs_gli lirs_loop lirs_multi2 lirs_ps lirs_sprite; do
  for cfg in "a:--shards 0" "b:--shards 0 --large-every 100 --large-bytes 100000" "c:--shards 4"; do
    # shellcheck disable=SC2086
    "$HERE/../build/bin/shard-replay" "$T/$tr.txt" "$POLICY" ${cfg#*:} >"$OUT/$tr.${cfg%%:*}.new" &
    # shellcheck disable=SC2086
    "$BASE" "$T/$tr.txt" "$POLICY" ${cfg#*:} >"$OUT/$tr.${cfg%%:*}.base" &
    wait
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import glob, os, sys
out = sys.argv[1]
for setting in "abc":
    diffs = []
    for f in sorted(glob.glob(f"{out}/*.{setting}.new")):
        new = [float(line.split()[2]) for line in open(f)]
        base = [float(line.split()[2]) for line in open(f[:-3] + "base")]
        diffs += [a - b for a, b in zip(new, base)]
        pairs = " ".join(f"{a:.4f}/{b:.4f}" for a, b in zip(new, base))
        print(f"{setting} {os.path.basename(f).split('.')[0]} {pairs}")
    print(f"{setting} mean new-base {sum(diffs) / len(diffs):+.4f}, "
          f"from {min(diffs):+.4f} to {max(diffs):+.4f}")
PY
