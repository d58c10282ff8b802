"""floor-server (bench/floor_server.cc), the physical limit of bench/compare_redis.py --floor:
it must answer what redis-benchmark sends, one reply per request, in each of its modes."""
import socket

import pytest

from conftest import BIN, ServerProcess


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("mode", ["epoll", "batch", "uring"])
def test_floor_server_answers_each_request_of_a_pipeline(mode):
    try:
        server = ServerProcess(BIN / "floor-server", "--mode", mode, "--value-bytes", "100")
    except RuntimeError as e:
        if "is not available" in str(e) or "io_uring" in str(e):
            pytest.skip(f"floor-server --mode {mode}: {e}")
        raise
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            get = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
            put = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
            sock.sendall(get + put + get)
            value = b"$100\r\n" + b"x" * 100 + b"\r\n"
            assert read_exactly(sock, 2 * len(value) + 5) == value + b"+OK\r\n" + value
            sock.settimeout(0.2)
            with pytest.raises(socket.timeout):  # nothing more than one reply per request
                sock.recv(1)
    finally:
        server.stop()
