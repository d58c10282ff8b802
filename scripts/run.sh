#!/usr/bin/env bash
# Builds kvcache and starts its main job: kvcache-server on 127.0.0.1:6379 with the defaults
# (1 GiB budget, the default eviction policy, one worker per core). Extra arguments go to the
# server, e.g. scripts/run.sh --maxmemory 4gb --requirepass secret.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
exec build/bin/kvcache-server --bind 127.0.0.1 --port 6379 "$@"
