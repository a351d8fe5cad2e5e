"""Open data (issue 15 item 3): one row per observation, daily aggregates, a data dictionary.

`export_open_data` streams the selected observations out of a read-only store into
`observations.csv` and/or `observations.parquet`, with `daily_targets` and
`daily_departements` aggregates in the same formats, the bilingual data dictionary
(`README.md`, from watchdog/data/opendata-README.md) and `SHA256SUMS`. Before a row is
written its stored document is hashed again: a row whose document no longer gives its
`hash` stops the export, so every published `hash` is one the chain vouches for, and the
`prev_hash` of each row links a target's rows as the chain does.

Only what an outside analyst needs, and nothing secret or personal: no URL (a final URL can
carry a session id), no step trail, no capture environment, no configuration value beyond
the catalog's public facts (département, prefecture, procedure, platform).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from watchdog.domain import rates
from watchdog.domain.clock import PARIS
from watchdog.domain.departements import departements
from watchdog.domain.errors import StoreError
from watchdog.domain.models import Outcome
from watchdog.domain.target import Target
from watchdog.opendata.sqlite import FILE as SQLITE_FILE
from watchdog.opendata.sqlite import SqliteOut
from watchdog.stats.calendar import site_hour
from watchdog.stats.compute import _bucket, _month_marks
from watchdog.store import Store, record
from watchdog.store.chain import format_datetime, sha256_hex
from watchdog.store.record import Selection

BATCH = 10_000
_DURATION = re.compile(r'"duration_s":(-?[0-9][0-9.eE+-]*)[,}]')
_MESSAGE = re.compile(r'"message":(null|"(?:[^"\\]|\\.)*")[,}]')
_SLOTS_SEEN = '"slots_seen":'
_DECODER = json.JSONDecoder()
OUTCOMES = {o.value: o for o in Outcome}  # a dict lookup: Outcome(value) costs more per row
NO_DATE_BUCKET = 5  # Cimade's « no date »: an attempt that met no slot
HOUR_S = 3600.0

# name -> Arrow type; the CSV has the same columns in the same order.
SCHEMA = pa.schema(
    [
        ("observation_id", pa.string()),
        ("target", pa.string()),
        ("code_departement", pa.string()),
        ("nom_departement", pa.string()),
        ("prefecture", pa.string()),
        ("procedure", pa.string()),
        ("platform", pa.string()),
        ("day_paris", pa.date32()),
        ("started_paris", pa.timestamp("us", tz="Europe/Paris")),
        ("started_utc", pa.timestamp("us", tz="UTC")),
        ("duration_s", pa.float64()),
        ("outcome", pa.string()),
        ("counts_in_rates", pa.bool_()),
        ("detail", pa.string()),
        ("message", pa.string()),
        ("slots", pa.int32()),
        ("slots_seen", pa.string()),
        ("earliest_slot", pa.timestamp("us")),
        ("lead_days", pa.float64()),
        ("cimade_bucket", pa.int8()),
        ("published_next", pa.string()),
        ("simulated", pa.bool_()),
        ("prev_hash", pa.string()),
        ("hash", pa.string()),
    ]
)
Row = tuple[Any, ...]  # one observation's values, in SCHEMA order
I_TARGET, I_DEPARTMENT, I_DAY, I_PARIS, I_UTC, I_OUTCOME, I_COUNTS, I_EARLIEST, I_SIMULATED = (
    SCHEMA.get_field_index(name)
    for name in ("target", "code_departement", "day_paris", "started_paris", "started_utc",
                 "outcome", "counts_in_rates", "earliest_slot", "simulated")
)  # fmt: skip
DAILY_COUNTS = ("attempts", "available", "no_slot", "barriers", "excluded")
DAILY_RATES = ("no_slot_rate", "failure_rate")


def _daily_schema(keys: Sequence[tuple[str, Any]]) -> Any:
    counts = [(name, pa.int64()) for name in DAILY_COUNTS]
    rates = [(name, pa.float64()) for name in DAILY_RATES]
    return pa.schema([("day_paris", pa.date32()), *keys, *counts, *rates])


DAILY_TARGETS = _daily_schema([("code_departement", pa.string()), ("target", pa.string())])
DAILY_DEPARTEMENTS = _daily_schema([("code_departement", pa.string())])


@dataclass
class ExportResult:
    """What was written: the files, how many rows, targets and days."""

    folder: Path
    files: list[str] = field(default_factory=list)
    rows: int = 0
    targets: set[str] = field(default_factory=set)

    def summary(self) -> str:
        return (
            f"wrote {self.rows} observation(s) of {len(self.targets)} target(s) to "
            f"{self.folder}: {', '.join(self.files)}"
        )


def rows(store: Store, selection: Selection, catalog: dict[str, Target]) -> Iterator[Row]:
    """One typed row (SCHEMA order) per selected observation; StoreError when a document
    fails its hash."""
    names = {d.code: d.name for d in departements()}
    facts: dict[str, tuple[str | None, ...]] = {}
    for row in record.published_rows(store, selection):
        values = tuple(row)  # unpacked once: a Row's attribute access costs more per field
        obs_id, target, doc, digest = values[0], values[1], values[-1], values[-2]
        if sha256_hex(doc.encode("utf-8", "surrogatepass")) != digest:
            raise StoreError(
                f"observation {obs_id} ({target}): its stored document does not hash to "
                "its hash; nothing is published that the chain does not vouch for "
                "(run `watchdog verify`)"
            )
        known = facts.get(target)
        if known is None:
            known = facts[target] = _facts(catalog.get(target), names)
        yield _typed(values, _read(doc), known)


def _read(doc: str) -> tuple[Any, Any, str | None]:
    """(duration_s, message, slots_seen) of a stored document, without parsing all of it;
    slots_seen as its canonical JSON text (None when the probe read no slot one by one).

    A stored document is canonical JSON (sorted keys, no spaces); these keys exist only at its
    top level, and a key's quote cannot appear unescaped inside a string, so the first match
    is the field. Anything unexpected falls back to the full parse."""
    duration, message = _DURATION.search(doc), _MESSAGE.search(doc)
    if duration is None or message is None:
        parsed = json.loads(doc)
        seen = parsed.get("slots_seen")
        listed = (
            None
            if seen is None
            else json.dumps(seen, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        )
        return parsed.get("duration_s"), parsed.get("message"), listed
    return json.loads(duration.group(1)), json.loads(message.group(1)), _slots_seen(doc)


def _slots_seen(doc: str) -> str | None:
    """The text of the document's `slots_seen` list (None when absent or null)."""
    at = doc.find(_SLOTS_SEEN)
    if at < 0:
        return None  # recorded before issue 19, or the field was never set
    start = at + len(_SLOTS_SEEN)
    try:
        value, end = _DECODER.raw_decode(doc, start)
    except ValueError:
        return None
    return doc[start:end] if value is not None else None


def _facts(target: Target | None, names: dict[str, str]) -> tuple[str | None, ...]:
    """The catalog's public facts of a target (None for one no longer in the catalog)."""
    if target is None:
        return (None,) * 5
    return (
        target.department,
        names.get(target.department),
        target.prefecture,
        target.procedure.value,
        target.platform,
    )


def _typed(
    values: tuple[Any, ...], read: tuple[Any, Any, str | None], facts: tuple[str | None, ...]
) -> Row:
    """The row of one observation from its stored columns (watchdog/store/record.py's
    `PUBLISHED`, in that order)."""
    (obs_id, target, started_at, outcome_value, detail, slots, earliest_slot, published_next,
     simulated, prev_hash, digest, _doc) = values  # fmt: skip
    started = datetime.fromisoformat(started_at)
    local = started.astimezone(PARIS)
    outcome = OUTCOMES[outcome_value]
    earliest = site_hour(earliest_slot[:13]) if earliest_slot else None
    lead_days, bucket = _lead(started_at, earliest, slots, outcome)
    return (
        obs_id, target, *facts, local.date(), local, started, read[0], outcome_value,
        outcome.counts_in_rates, detail, read[1], slots, read[2], _wall_time(earliest_slot),
        lead_days,
        bucket, published_next, simulated, prev_hash, digest,
    )  # fmt: skip


def _lead(
    started_at: str, earliest: datetime | None, slots: int | None, outcome: Outcome
) -> tuple[float | None, int | None]:
    """Lead time in days and Cimade bucket, by the report's rule (watchdog/stats/compute.py:
    whole hours, Paris wall time, months added on the calendar)."""
    if outcome is Outcome.NO_SLOT:
        return None, NO_DATE_BUCKET
    if outcome is not Outcome.AVAILABLE or earliest is None:
        return None, None
    start, one_month, two_months = _month_marks(started_at[:13])
    hours = max(0, round((earliest - start).total_seconds() / HOUR_S))
    several = slots is not None and slots >= 2
    return round(hours / 24, 2), _bucket(earliest, one_month, two_months, several)


def _wall_time(text: str | None) -> datetime | None:
    """A site's reading as its naive Paris wall time (the offset, when stored, dropped)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text.removesuffix("Z"))
    return value.replace(tzinfo=None)


# -- daily aggregates ---------------------------------------------------------------------


class Daily:
    """Outcome counts per (day, département, target), folded as rows stream past."""

    def __init__(self) -> None:
        self.counts: dict[tuple[date, str | None, str], Counter[str]] = {}

    def add(self, row: Row) -> None:
        key = (row[I_DAY], row[I_DEPARTMENT], row[I_TARGET])
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = Counter()
        counts[row[I_OUTCOME]] += 1

    def per_target(self) -> list[dict[str, Any]]:
        return [
            {"day_paris": day, "code_departement": dep, "target": target, **_figures(c)}
            for (day, dep, target), c in sorted(self.counts.items(), key=_order)
        ]

    def per_departement(self) -> list[dict[str, Any]]:
        merged: dict[tuple[date, str | None], Counter[str]] = {}
        for (day, dep, _target), c in self.counts.items():
            merged.setdefault((day, dep), Counter()).update(c)
        return [
            {"day_paris": day, "code_departement": dep, **_figures(c)}
            for (day, dep), c in sorted(merged.items(), key=_order)
        ]


def _order(item: tuple[tuple[Any, ...], Any]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in item[0])


def _figures(counts: Counter[str]) -> dict[str, Any]:
    """Counts and the rates of watchdog/domain/rates.py (None where the denominator is 0)."""
    attempts = rates.attempts(counts)
    available, no_slot = counts[Outcome.AVAILABLE], counts[Outcome.NO_SLOT]
    return {
        "attempts": attempts,
        "available": available,
        "no_slot": no_slot,
        "barriers": attempts - available - no_slot,
        "excluded": sum(counts.values()) - attempts,
        "no_slot_rate": rates.no_slot_rate(counts).value,
        "failure_rate": rates.failure_rate(counts).value,
    }


# -- writing ------------------------------------------------------------------------------


class _Writers:
    """The observation files being written, one per format, fed batch by batch."""

    def __init__(self, folder: Path, formats: Sequence[str]) -> None:
        self.csv_file: TextIO | None = None
        self.csv: Any = None
        self.parquet: Any = None
        self.sqlite: SqliteOut | None = None
        if "sqlite" in formats:
            self.sqlite = SqliteOut(folder)
            self.sqlite.create("observations", SCHEMA)
        if "csv" in formats:
            self.csv_file = (folder / "observations.csv").open("w", encoding="utf-8", newline="")
            self.csv = csv.writer(self.csv_file, lineterminator="\n")
            self.csv.writerow(SCHEMA.names)
        if "parquet" in formats:
            self.parquet = pq.ParquetWriter(folder / "observations.parquet", SCHEMA)

    def write(self, batch: list[Row]) -> None:
        if not batch:
            return
        if self.csv is not None:
            self.csv.writerows(map(_csv_values, batch))
        if self.parquet is not None:
            columns = zip(*batch, strict=True)
            arrays = [pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)]
            self.parquet.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA))
        if self.sqlite is not None:
            self.sqlite.insert("observations", SCHEMA, map(_sqlite_values, batch))

    def close(self) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
        if self.parquet is not None:
            self.parquet.close()
        if self.sqlite is not None:
            self.sqlite.close()


def _csv_values(row: Row) -> list[Any]:
    """CSV text: instants in ISO 8601 with their offset, UTC with Z, booleans as true/false."""
    values = list(row)
    values[I_PARIS] = row[I_PARIS].isoformat()
    values[I_UTC] = format_datetime(row[I_UTC])
    if row[I_EARLIEST] is not None:
        values[I_EARLIEST] = row[I_EARLIEST].isoformat()
    for index in (I_COUNTS, I_SIMULATED):
        if row[index] is not None:
            values[index] = "true" if row[index] else "false"
    return values


def _sqlite_values(row: Row) -> list[Any]:
    """SQLite values: text as in the CSV, booleans as 0/1."""
    values = _csv_values(row)
    values[I_DAY] = row[I_DAY].isoformat()
    for index in (I_COUNTS, I_SIMULATED):
        values[index] = None if row[index] is None else int(row[index])
    return values


def _sqlite_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _write_table(folder: Path, stem: str, formats: Sequence[str], data: list[dict[str, Any]],
                 schema: Any) -> list[str]:  # fmt: skip
    written = []
    if "csv" in formats:
        with (folder / f"{stem}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=schema.names, lineterminator="\n")
            writer.writeheader()
            writer.writerows(data)
        written.append(f"{stem}.csv")
    if "parquet" in formats:
        pq.write_table(pa.Table.from_pylist(data, schema=schema), folder / f"{stem}.parquet")
        written.append(f"{stem}.parquet")
    return written


def export_open_data(
    store: Store,
    selection: Selection,
    catalog: dict[str, Target],
    folder: Path,
    formats: Sequence[str],
    advance: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the open-data files for `selection` into `folder`; return what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    result = ExportResult(folder)
    daily = Daily()
    writers = _Writers(folder, formats)
    try:
        batch: list[Row] = []
        for row in rows(store, selection, catalog):
            batch.append(row)
            daily.add(row)
            result.targets.add(row[I_TARGET])
            if len(batch) == BATCH:
                writers.write(batch)
                result.rows += len(batch)
                batch = []
                if advance:
                    advance(result.rows)
        writers.write(batch)
        result.rows += len(batch)
        tables = (("daily_targets", daily.per_target(), DAILY_TARGETS),
                  ("daily_departements", daily.per_departement(), DAILY_DEPARTEMENTS))  # fmt: skip
        if writers.sqlite is not None:
            for name, data, schema in tables:
                writers.sqlite.table(name, schema, data, _sqlite_value)
    finally:
        writers.close()
    if advance:
        advance(result.rows)
    result.files = [f"observations.{fmt}" for fmt in ("csv", "parquet") if fmt in formats]
    for name, data, schema in tables:
        result.files += _write_table(folder, name, formats, data, schema)
    if writers.sqlite is not None:
        result.files.append(SQLITE_FILE)
    readme = files("watchdog").joinpath("data/opendata-README.md").read_bytes()
    (folder / "README.md").write_bytes(readme)
    result.files.append("README.md")
    sums = "".join(f"{_sha256(folder / name)}  {name}\n" for name in result.files)
    (folder / "SHA256SUMS").write_text(sums, encoding="ascii")
    result.files.append("SHA256SUMS")
    return result


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
