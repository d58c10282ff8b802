"""floor-server (bench/floor_server.cc), the physical limit of bench/compare_redis.py --floor:
it must answer what redis-benchmark sends, one reply per request, in both of its modes."""
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, free_port


def start(mode, value_bytes):
    port = free_port()
    proc = subprocess.Popen([str(BIN / "floor-server"), "--port", str(port), "--mode", mode,
                             "--value-bytes", str(value_bytes)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode()
            if "not available" in out or "io_uring" in out:
                pytest.skip(f"floor-server --mode {mode}: {out.strip()}")
            raise AssertionError(f"floor-server exited: {out}")
        try:
            return proc, socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("floor-server did not listen")


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("mode", ["epoll", "uring"])
def test_floor_server_answers_each_request_of_a_pipeline(mode):
    proc, sock = start(mode, 100)
    try:
        sock.sendall(b"PING\r\n")
        assert read_exactly(sock, 7) == b"+PONG\r\n"
        get = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
        put = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
        sock.sendall(get + put + get)
        value = b"$100\r\n" + b"x" * 100 + b"\r\n"
        assert read_exactly(sock, 2 * len(value) + 5) == value + b"+OK\r\n" + value
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):  # nothing more than one reply per request
            sock.recv(1)
    finally:
        sock.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
