#!/usr/bin/python3
"""One SETRANGE that builds a large value, and how long it holds up another client: writes
2,000 small keys to a running server, reads them in a loop on a second connection, sends
`SETRANGE big OFFSET x` on the first, and prints how long it took and the reader's longest GET.

  bench/setrange_stall.py PORT OFFSET
"""
import sys
import threading
import time

import redis


def stalled(port, command):
    """Runs command(client) on one connection while another reads 2,000 small keys in a loop;
    returns its result, how long it took and the reader's longest GET, in seconds."""
    writer = redis.Redis(port=port)
    for i in range(2000):
        writer.set(f"k{i}", "v")
    stop = threading.Event()
    worst = [0.0]

    def read():
        reader = redis.Redis(port=port)
        i = 0
        while not stop.is_set():
            t = time.monotonic()
            reader.get(f"k{i % 2000}")
            worst[0] = max(worst[0], time.monotonic() - t)
            i += 1

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.3)
    t = time.monotonic()
    try:
        result = command(writer)
    finally:
        elapsed = time.monotonic() - t
        time.sleep(0.3)
        stop.set()
        thread.join()
    return result, elapsed, worst[0]


def main():
    port, offset = int(sys.argv[1]), int(sys.argv[2])

    def setrange(client):
        try:
            return f"length {client.setrange('big', offset, 'x')}"
        except redis.ResponseError as e:
            return f"refused: {e}"

    result, elapsed, worst = stalled(port, setrange)
    print(f"SETRANGE big {offset} x: {result} in {elapsed:.3f} s; "
          f"another client's longest GET {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
