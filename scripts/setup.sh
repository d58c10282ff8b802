#!/usr/bin/env bash
# Installs the Debian packages kvcache needs to build, test and benchmark. Idempotent: it runs
# apt-get only when a package is missing, and `apt-get update` at most once.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libxxhash-dev libabsl-dev libfmt-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-matplotlib python3-pytest python3-redis
  redis-server redis-tools
  librocksdb-dev libhiredis-dev liburing-dev dataset-fashion-mnist
  pybind11-dev python3-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
