#!/usr/bin/python3
"""Converts Debian's Fashion-MNIST training images (package dataset-fashion-mnist: 60,000
images of 28x28 uint8 in a gzip IDX file) into a .npy table of 60,000 rows of 784 bytes, the
real data set that kvcache-server serves read-through with keys fmnist:<row>.

  scripts/make_fmnist_npy.py [OUT.npy] [--labels LABELS.npy]
"""
import argparse
import gzip
import pathlib
import struct
import sys

import numpy as np

SRC = pathlib.Path("/usr/share/datasets/fashion-mnist")


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        sys.exit(f"{path}: IDX magic {got:08x}, expected {magic:08x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        sys.exit(f"{path}: {body.size} bytes of data for shape {dims}")
    return body.reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="build/data/fmnist.npy")
    ap.add_argument("--labels", help="also write the labels (60,000 uint8) here")
    args = ap.parse_args()
    images = read_idx(SRC / "train-images-idx3-ubyte.gz", 0x00000803)
    table = np.ascontiguousarray(images.reshape(images.shape[0], -1))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, table)
    if args.labels:
        np.save(args.labels, read_idx(SRC / "train-labels-idx1-ubyte.gz", 0x00000801))
    print(f"{out}: {table.shape[0]} rows of {table.shape[1]} bytes ({table.dtype})")


if __name__ == "__main__":
    main()
