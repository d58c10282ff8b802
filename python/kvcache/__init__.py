"""kvcache from Python: the engine in the process (Cache) and the server's tensor commands (Client).

    import numpy as np, kvcache
    cache = kvcache.Cache("1GiB")                       # policy "s3fifo"
    cache.put_batch(np.arange(len(table)), table, prefix="emb:")
    batch = cache.get_batch(ids, prefix="emb:")         # one [len(ids), dim] array
    row = cache.get("emb:42")                           # read-only, shares the cache's memory

    client = kvcache.Client(port=6379)                  # a kvcache-server
    client.tensor_set("w", np.ones((4, 4), np.float32))
    batch = client.tensor_mget([f"emb:{i}" for i in ids])

Cache is the C++ engine (the _kvcache extension); Client is pure Python on redis-py and is
imported lazily, so `import kvcache` needs neither redis nor a server.
"""
from ._kvcache import (DEFAULT_POLICY, MAX_RANK, POLICIES, Cache, Error,  # noqa: F401
                       NoSpaceError)

__all__ = ["Cache", "Client", "Error", "NoSpaceError", "POLICIES", "DEFAULT_POLICY", "DTYPES",
           "MAX_RANK"]

# The tensor dtypes kvcache stores, by their kvcache names. bf16 has no NumPy type: its values
# come back as their raw bits (uint16); see Client.tensor_get for a float32 conversion.
DTYPES = ("f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool")


def __getattr__(name):
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError(f"module 'kvcache' has no attribute {name!r}")
