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
    """build/bin, or KVCACHE_BIN_DIR (a sanitizer build's bin, for the tests that use only
    kvcache-server)."""
    other = os.environ.get("KVCACHE_BIN_DIR")
    if other:
        assert (pathlib.Path(other) / "kvcache-server").exists(), f"no kvcache-server in {other}"
        return pathlib.Path(other)
    assert (BIN / "kvcache-sim").exists(), "build first: scripts/test.sh builds build/bin"
    return BIN


@pytest.fixture(scope="session")
def traces():
    return find_traces()


# ---- kvcache-server as a child process on a free loopback port.

import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A kvcache-server started on a free port; stopped by its PID (SIGTERM)."""

    def __init__(self, binary, *args, host="127.0.0.1"):
        self.host = host
        self.port = free_port()
        self.args = [str(binary), "--port", str(self.port), *args]
        self.log = b""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace")
                raise RuntimeError(f"kvcache-server exited with {self.proc.returncode}: {out}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                    if reply.startswith((b"+PONG", b"-NOAUTH", b"-DENIED")):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("kvcache-server did not become ready")

    def client(self, **kwargs):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.log = self.proc.stdout.read()
        return self.proc.returncode


@pytest.fixture
def start_server(bin_dir):
    started = []

    def start(*args, **kwargs):
        s = ServerProcess(bin_dir / "kvcache-server", *args, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server("--maxmemory", "256mb")
