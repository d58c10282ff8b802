#!/usr/bin/python3
"""One RENAME (or COPY) of a large value, and how long it holds up another client: with one value
of SIZE bytes and 2,000 small keys in a running server, one connection reading the small keys in a
loop, sends `RENAME big renamed` (or `COPY big copied`) on another and prints how long it took,
the reader's longest GET and the server's used_memory before and after.

  bench/rename_stall.py PORT SIZE [rename|copy]
"""
import sys

import redis

from setrange_stall import stalled


def main():
    port, size = int(sys.argv[1]), int(sys.argv[2])
    command = sys.argv[3] if len(sys.argv) > 3 else "rename"
    client = redis.Redis(port=port)
    client.set("big", b"x" * size)
    for i in range(2000):  # the reader's keys, which stalled() writes again, counted before
        client.set(f"k{i}", "v")
    used = client.info("memory")["used_memory"]
    if command == "copy":
        _, elapsed, worst = stalled(port, lambda c: c.copy("big", "copied"))
        assert client.strlen("copied") == size and client.strlen("big") == size
    else:
        _, elapsed, worst = stalled(port, lambda c: c.rename("big", "renamed"))
        assert client.strlen("renamed") == size and not client.exists("big")
    print(f"{command.upper()} of {size} bytes in {elapsed * 1000:.1f} ms; another client's "
          f"longest GET {worst * 1000:.1f} ms; used_memory {used} before, "
          f"{client.info('memory')['used_memory']} after")


if __name__ == "__main__":
    main()
