"""The record: the observation store (SQLite or PostgreSQL), evidence blobs, the hash chain,
checkpoints, `verify`, and read-only access to the record.

May import `domain`, `config` and `evidence`. Only `store` and `stats` read the observations table.
"""

from watchdog.store.blobs import BlobStore
from watchdog.store.db import Store

__all__ = ["BlobStore", "Store"]
