#!/usr/bin/env bash
# Builds kvcache (Release with debug info) and runs every test: the unit tests beside the code,
# the concurrency tests and the server's client tests again under ThreadSanitizer, and the
# black-box tests in tests/ that run the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

JOBS=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS"

# ThreadSanitizer build of the library and the concurrency tests only (tools are not needed
# there): the stress test, and writers while the budget changes.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKV_SANITIZE=thread \
  -DKV_BUILD_TOOLS=OFF >/dev/null
cmake --build build-tsan -j "$JOBS" --target cache_stress_test cache_resize_test
TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/cache_stress_test --gtest_filter='Policies/Stress.*'
TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/cache_resize_test \
  --gtest_filter='CacheResize.WritersKeepGoingWhileTheBudgetChanges'

# The server under ThreadSanitizer, driven by the black-box client tests: its two workers share
# connections' state (CLIENT LIST, WATCH, MONITOR) and the settings (CONFIG SET).
cmake --build build-tsan -j "$JOBS" --target kvcache-server
TSAN_OPTIONS="halt_on_error=1" KVCACHE_BIN_DIR="$PWD/build-tsan/bin" \
  /usr/bin/python3 -m pytest -q tests/test_server_clients.py tests/test_pubsub.py

/usr/bin/python3 -m pytest -q tests/
