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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import sqlalchemy as sa

from watchdog.chain import format_datetime, sha256_hex
from watchdog.config import Target
from watchdog.dashboards.departements import departements
from watchdog.errors import StoreError
from watchdog.exportcli import FORMATS
from watchdog.models import Outcome
from watchdog.record import PARIS, Selection
from watchdog.stats.calendar import site_hour
from watchdog.stats.compute import _bucket, _month_marks
from watchdog.store import Store
from watchdog.store.schema import observations

BATCH = 10_000
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
        ("earliest_slot", pa.timestamp("us")),
        ("lead_days", pa.float64()),
        ("cimade_bucket", pa.int8()),
        ("published_next", pa.string()),
        ("simulated", pa.bool_()),
        ("prev_hash", pa.string()),
        ("hash", pa.string()),
    ]
)
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


def _row_stmt(selection: Selection) -> sa.Select[Any]:
    obs = observations.c
    stmt = sa.select(
        obs.id, obs.target, obs.started_at, obs.outcome, obs.detail, obs.slots,
        obs.earliest_slot, obs.published_next, obs.simulated, obs.prev_hash, obs.hash, obs.doc,
    ).order_by(obs.started_at, obs.id)  # fmt: skip
    if selection.targets is not None:
        stmt = stmt.where(obs.target.in_(selection.targets))
    if selection.since is not None:
        stmt = stmt.where(obs.started_at >= format_datetime(selection.since))
    if selection.until is not None:
        stmt = stmt.where(obs.started_at < format_datetime(selection.until))
    return stmt


def rows(
    store: Store, selection: Selection, catalog: dict[str, Target]
) -> Iterator[dict[str, Any]]:
    """One typed row per selected observation; StoreError when a document fails its hash."""
    names = {d.code: d.name for d in departements()}
    for row in store.scan(_row_stmt(selection)):
        if sha256_hex(row.doc.encode("utf-8", "surrogatepass")) != row.hash:
            raise StoreError(
                f"observation {row.id} ({row.target}): its stored document does not hash to "
                "its hash; nothing is published that the chain does not vouch for "
                "(run `watchdog verify`)"
            )
        yield _typed(row, json.loads(row.doc), catalog.get(row.target), names)


def _typed(
    row: Any, doc: dict[str, Any], target: Target | None, names: dict[str, str]
) -> dict[str, Any]:
    started = datetime.fromisoformat(row.started_at)
    outcome = Outcome(row.outcome)
    earliest = site_hour(row.earliest_slot[:13]) if row.earliest_slot else None
    lead_days, bucket = _lead(row.started_at, earliest, row.slots, outcome)
    department = target.department if target else None
    return {
        "observation_id": row.id,
        "target": row.target,
        "code_departement": department,
        "nom_departement": names.get(department or ""),
        "prefecture": target.prefecture if target else None,
        "procedure": target.procedure.value if target else None,
        "platform": target.platform.value if target else None,
        "day_paris": started.astimezone(PARIS).date(),
        "started_paris": started.astimezone(PARIS),
        "started_utc": started,
        "duration_s": doc.get("duration_s"),
        "outcome": outcome.value,
        "counts_in_rates": outcome.counts_in_rates,
        "detail": row.detail,
        "message": doc.get("message"),
        "slots": row.slots,
        "earliest_slot": _wall_time(row.earliest_slot),
        "lead_days": lead_days,
        "cimade_bucket": bucket,
        "published_next": row.published_next,
        "simulated": row.simulated,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


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

    def add(self, row: dict[str, Any]) -> None:
        key = (row["day_paris"], row["code_departement"], row["target"])
        self.counts.setdefault(key, Counter())[row["outcome"]] += 1

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
    """Counts and the rates of DESIGN §2 (None where the denominator is 0)."""
    counted = [o for o in Outcome if o.counts_in_rates]
    attempts = sum(counts[o.value] for o in counted)
    available, no_slot = counts[Outcome.AVAILABLE.value], counts[Outcome.NO_SLOT.value]
    return {
        "attempts": attempts,
        "available": available,
        "no_slot": no_slot,
        "barriers": attempts - available - no_slot,
        "excluded": sum(counts.values()) - attempts,
        "no_slot_rate": no_slot / (available + no_slot) if available + no_slot else None,
        "failure_rate": (attempts - available) / attempts if attempts else None,
    }


# -- writing ------------------------------------------------------------------------------


class _Writers:
    """The observation files being written, one per format, fed batch by batch."""

    def __init__(self, folder: Path, formats: Sequence[str]) -> None:
        self.csv_file: TextIO | None = None
        self.csv: csv.DictWriter[str] | None = None
        self.parquet: Any = None
        if "csv" in formats:
            self.csv_file = (folder / "observations.csv").open("w", encoding="utf-8", newline="")
            self.csv = csv.DictWriter(self.csv_file, fieldnames=SCHEMA.names, lineterminator="\n")
            self.csv.writeheader()
        if "parquet" in formats:
            self.parquet = pq.ParquetWriter(folder / "observations.parquet", SCHEMA)

    def write(self, batch: list[dict[str, Any]]) -> None:
        if self.csv is not None:
            self.csv.writerows(_csv_row(row) for row in batch)
        if self.parquet is not None:
            self.parquet.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))

    def close(self) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
        if self.parquet is not None:
            self.parquet.close()


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """CSV text: instants in ISO 8601 with their offset, UTC with Z, booleans as true/false."""
    out = dict(row)
    out["started_utc"] = format_datetime(row["started_utc"])
    out["started_paris"] = row["started_paris"].isoformat()
    if row["earliest_slot"] is not None:
        out["earliest_slot"] = row["earliest_slot"].isoformat()
    for name in ("counts_in_rates", "simulated"):
        if row[name] is not None:
            out[name] = "true" if row[name] else "false"
    return out


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
        batch: list[dict[str, Any]] = []
        for row in rows(store, selection, catalog):
            batch.append(row)
            daily.add(row)
            result.targets.add(row["target"])
            if len(batch) == BATCH:
                writers.write(batch)
                result.rows += len(batch)
                batch = []
                if advance:
                    advance(result.rows)
        writers.write(batch)
        result.rows += len(batch)
    finally:
        writers.close()
    if advance:
        advance(result.rows)
    result.files = [f"observations.{fmt}" for fmt in FORMATS if fmt in formats]
    result.files += _write_table(
        folder, "daily_targets", formats, daily.per_target(), DAILY_TARGETS
    )
    result.files += _write_table(
        folder, "daily_departements", formats, daily.per_departement(), DAILY_DEPARTEMENTS
    )
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
