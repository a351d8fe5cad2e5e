"""Legal references kept as data (watchdog/data/legal/*.yaml), with confidence tags.

The reports cite nothing else: the "Vu" block, the legal analysis and the dossier's
reminder iterate over these entries, and `cite()` refuses an unknown or unverified one.
Unverified items ("?") may appear only in the annex of points to verify.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from watchdog.domain.errors import WatchdogError

Use = Literal["vu", "principe", "droit", "jurisprudence", "dossier", "contexte", "annexe"]
Kind = Literal[
    "code", "loi", "ordonnance", "decret", "arrete", "norme", "principe", "decision", "avis",
    "rapport",
]  # fmt: skip


class Confidence(StrEnum):
    CONFIRMED = "C"
    SECONDARY = "C2"
    INFERENCE = "I"
    UNVERIFIED = "?"


class LegalRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    kind: Kind
    citation: str
    citation_en: str | None = None  # the English rendering's (the French one is the title)
    short: str | None = None
    short_en: str | None = None
    date: dt.date | None = None
    caveat: str | None = None
    holding: str
    holding_en: str | None = None  # the English rendering's summary (citations stay French)
    source: str
    source_en: str | None = None  # where the French source is described in words
    confidence: Confidence
    use: list[Use]

    @model_validator(mode="after")
    def _unverified_only_in_annex(self) -> LegalRef:
        if self.confidence is Confidence.UNVERIFIED and set(self.use) != {"annexe"}:
            raise ValueError("an unverified reference (confidence '?') may only use 'annexe'")
        return self

    @property
    def label(self) -> str:
        return self.short or self.citation

    def cited(self, lang: str) -> str:
        """The citation in `lang` (English falls back to the French title)."""
        return (self.citation_en or self.citation) if lang == "en" else self.citation

    def labelled(self, lang: str) -> str:
        if lang == "en":
            return self.short_en or self.short or self.cited("en")
        return self.label

    def sourced(self, lang: str) -> str:
        return (self.source_en or self.source) if lang == "en" else self.source

    def summary(self, lang: str) -> str:
        """The holding in `lang` (English falls back to the French one)."""
        return (self.holding_en or self.holding) if lang == "en" else self.holding

    @property
    def secondary(self) -> bool:
        return self.confidence is Confidence.SECONDARY


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    references: list[LegalRef]


@dataclass(frozen=True)
class LegalRefs:
    refs: tuple[LegalRef, ...]

    def __iter__(self) -> Iterator[LegalRef]:
        return iter(self.refs)

    def used_for(self, use: Use) -> list[LegalRef]:
        return [r for r in self.refs if use in r.use]

    @property
    def unverified(self) -> list[LegalRef]:
        return [r for r in self.refs if r.confidence is Confidence.UNVERIFIED]

    def cite(self, ref_id: str) -> LegalRef:
        """The reference a template cites; unknown or unverified ones are refused."""
        for ref in self.refs:
            if ref.id == ref_id:
                if ref.confidence is Confidence.UNVERIFIED:
                    raise WatchdogError(f"legal reference {ref_id!r} is unverified: not citable")
                return ref
        raise WatchdogError(f"legal reference {ref_id!r} is not in the legal data files")


def default_legal_dir() -> Path:
    return Path(str(resources.files("watchdog") / "data" / "legal"))


def load_legal(directory: Path | None = None) -> LegalRefs:
    """Every `*.yaml` of `directory` (default: the bundled files), in file-name order."""
    folder = directory or default_legal_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise WatchdogError(f"no legal reference file (*.yaml) in {folder}")
    refs: list[LegalRef] = []
    for path in files:
        try:
            refs.extend(_File.model_validate(_load_yaml(path.read_text("utf-8"))).references)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise WatchdogError(f"{path}: invalid legal references: {exc}") from exc
    seen: set[str] = set()
    for ref in refs:
        if ref.id in seen:
            raise WatchdogError(f"legal reference {ref.id!r} is defined twice in {folder}")
        seen.add(ref.id)
    return LegalRefs(tuple(refs))


def _load_yaml(text: str) -> Any:
    """yaml.safe_load, with libyaml's C parser when PyYAML has it (several times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
