"""Shared fixtures of the black-box tests: where the built binaries and the real traces are."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "build" / "bin"


def find_traces():
    candidates = [os.environ.get("KVCACHE_TRACES"), ROOT.parent / "shared" / "traces",
                  "/work/shared/traces"]
    for c in candidates:
        if c and (pathlib.Path(c) / "reference_miss_ratios.csv").exists():
            return pathlib.Path(c)
    raise RuntimeError("real traces not found: set KVCACHE_TRACES to the folder that holds "
                       "reference_miss_ratios.csv (../shared/traces)")


@pytest.fixture(scope="session")
def bin_dir():
    assert (BIN / "kvcache-sim").exists(), "build first: scripts/test.sh builds build/bin"
    return BIN


@pytest.fixture(scope="session")
def traces():
    return find_traces()
