"""The open-data export as one SQLite file (`--format sqlite`): the same tables and columns.

`open-data.sqlite` holds `observations`, `daily_targets` and `daily_departements` with the
columns of the CSV and Parquet files, typed as SQLite types: text for strings, dates and
instants (ISO 8601, as in the CSV), integers for counts and booleans (0/1), reals for
durations and rates. An analyst opens it with any SQLite client, or Datasette.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

FILE = "open-data.sqlite"


def _sqlite_type(kind: Any) -> str:
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return "INTEGER"
    if pa.types.is_floating(kind):
        return "REAL"
    return "TEXT"


class SqliteOut:
    """One SQLite file, written in one transaction and committed at `close`."""

    def __init__(self, folder: Path) -> None:
        path = folder / FILE
        path.unlink(missing_ok=True)  # a new file each export: no row of an earlier one stays
        self.conn = sqlite3.connect(path)

    def create(self, name: str, schema: Any) -> None:
        columns = ", ".join(f'"{f.name}" {_sqlite_type(f.type)}' for f in schema)
        self.conn.execute(f'CREATE TABLE "{name}" ({columns})')

    def insert(self, name: str, schema: Any, rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(schema))
        self.conn.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)

    def table(
        self, name: str, schema: Any, data: list[dict[str, Any]], text: Callable[[Any], Any]
    ) -> None:
        """A whole small table at once (the daily aggregates)."""
        self.create(name, schema)
        self.insert(name, schema, ([text(row[n]) for n in schema.names] for row in data))

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()
