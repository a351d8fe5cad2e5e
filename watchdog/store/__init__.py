"""Observation store (SQLite or PostgreSQL) and content-addressed evidence blobs."""

from watchdog.store.blobs import BlobStore
from watchdog.store.db import Store

__all__ = ["BlobStore", "Store"]
