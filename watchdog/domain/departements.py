"""The départements and their approximate centroids (watchdog/data/departements.csv).

Coordinates are approximate centres written from general knowledge (±0.2°), good enough
to place a marker; 975 (Saint-Pierre-et-Miquelon, a collectivité) is listed because the
configuration accepts that code.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True)
class Departement:
    code: str
    name: str
    lat: float
    lon: float


@cache
def csv_text() -> str:
    return files("watchdog").joinpath("data/departements.csv").read_text(encoding="utf-8")


def departements() -> list[Departement]:
    rows = csv.DictReader(io.StringIO(csv_text()))
    return [
        Departement(row["department"], row["nom"], float(row["lat"]), float(row["lon"]))
        for row in rows
    ]
