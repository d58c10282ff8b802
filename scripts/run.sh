#!/usr/bin/env bash
# Builds kvcache and runs its main job. Until the network server lands, that is the trace
# simulator over the real traces: every policy, at 1%, 5%, 10% and 20% of each trace's objects.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
TRACES=${KVCACHE_TRACES:-../shared/traces}
exec build/bin/kvcache-sim \
  --trace "$TRACES/cloudphysics.oracleGeneral.bin,$TRACES/lirs_gli.txt,$TRACES/lirs_loop.txt,$TRACES/lirs_multi2.txt,$TRACES/lirs_ps.txt,$TRACES/lirs_sprite.txt" \
  --policy default,lru,lfu,fifo,s3fifo,sieve,wtinylfu,arc,lirs,twoq --size 0.01,0.05,0.1,0.2 "$@"
