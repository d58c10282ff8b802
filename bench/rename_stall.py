#!/usr/bin/python3
"""One RENAME of a large value, and how long it holds up another client: writes 2,000 small keys
and one value of SIZE bytes to a running server, reads the small keys in a loop on a second
connection, sends `RENAME big renamed` on the first, and prints how long it took, the reader's
longest GET and the server's used_memory before and after.

  bench/rename_stall.py PORT SIZE
"""
import sys
import threading
import time

import redis


def main():
    port, size = int(sys.argv[1]), int(sys.argv[2])
    writer = redis.Redis(port=port)
    for i in range(2000):
        writer.set(f"k{i}", "v")
    writer.set("big", b"x" * size)
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
    used = writer.info("memory")["used_memory"]
    t = time.monotonic()
    writer.rename("big", "renamed")
    elapsed = time.monotonic() - t
    time.sleep(0.3)
    stop.set()
    thread.join()
    assert writer.strlen("renamed") == size and not writer.exists("big")
    print(f"RENAME of {size} bytes in {elapsed * 1000:.1f} ms; another client's longest GET "
          f"{worst[0] * 1000:.1f} ms; used_memory {used} before, "
          f"{writer.info('memory')['used_memory']} after")


if __name__ == "__main__":
    main()
