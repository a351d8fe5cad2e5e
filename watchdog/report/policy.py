"""What the report and the dossier say about the evidence policy in force (issue 7).

Over the period: which screenshot policy (`env.screenshots`, watchdog/evidence/policy.py) and
which engine (`env.engine`) the observations were made under, with dates and counts when
more than one was in force, and what each means for the evidence a reader can expect.
The figures come from the statistics' SQL pass over the documents (`SeriesStats.capture_modes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from watchdog.domain.models import Engine, Screenshots
from watchdog.report.typo import NNBSP, Typo
from watchdog.stats.series import CaptureMode, Span

Key = TypeVar("Key")

POLICY_NAMES: dict[str, dict[Screenshots | None, str]] = {
    "fr": {
        Screenshots.EVERY: "à chaque observation",
        Screenshots.ON_CHANGE: "au changement de la page",
        Screenshots.HOURLY: "au plus une par heure",
        Screenshots.DAILY: "au plus une par jour",
        None: "non enregistrée",
    },
    "en": {
        Screenshots.EVERY: "at every observation",
        Screenshots.ON_CHANGE: "when the page changes",
        Screenshots.HOURLY: "at most one an hour",
        Screenshots.DAILY: "at most one a day",
        None: "not recorded",
    },
}
_KEPT = {
    "fr": " ; le DOM et les empreintes sont conservés pour chaque observation",
    "en": "; the DOM and the hashes are kept for every observation",
}
_RUN = {
    "fr": " (et à la première observation de chaque nouvelle issue)",
    "en": " (and at the first observation of each new outcome)",
}
POLICY_MEANINGS: dict[str, dict[Screenshots | None, str]] = {
    "fr": {
        Screenshots.EVERY: "une capture d'écran est conservée pour chaque observation",
        Screenshots.ON_CHANGE: "les captures d'écran ne sont conservées qu'au changement de la "
        "page" + _RUN["fr"] + _KEPT["fr"],
        Screenshots.HOURLY: "une capture d'écran au plus par heure et par série est conservée"
        + _RUN["fr"]
        + _KEPT["fr"],
        Screenshots.DAILY: "une capture d'écran au plus par jour et par série est conservée"
        + _RUN["fr"]
        + _KEPT["fr"],
        None: "ces observations, antérieures à l'enregistrement de la politique, ne disent pas "
        "laquelle s'appliquait",
    },
    "en": {
        Screenshots.EVERY: "a screenshot is kept for every observation",
        Screenshots.ON_CHANGE: "screenshots are kept only when the page changes"
        + _RUN["en"]
        + _KEPT["en"],
        Screenshots.HOURLY: "at most one screenshot an hour per series is kept"
        + _RUN["en"]
        + _KEPT["en"],
        Screenshots.DAILY: "at most one screenshot a day per series is kept"
        + _RUN["en"]
        + _KEPT["en"],
        None: "these observations predate the recording of the policy and do not say which "
        "one applied",
    },
}
ENGINE_NAMES: dict[str, dict[Engine, str]] = {
    "fr": {Engine.BROWSER: "navigateur", Engine.REQUEST: "requête HTTP"},
    "en": {Engine.BROWSER: "browser", Engine.REQUEST: "HTTP request"},
}
ENGINE_MEANINGS: dict[str, dict[Engine, str]] = {
    "fr": {
        Engine.BROWSER: "page rendue par un navigateur sans interface ; les captures sont "
        "prises au moment de l'observation",
        Engine.REQUEST: "page lue sans moteur de rendu ; les captures sont des rendus "
        "ultérieurs de la page capturée",
    },
    "en": {
        Engine.BROWSER: "page rendered by a headless browser; screenshots are taken at the "
        "time of the observation",
        Engine.REQUEST: "page read without a rendering engine; screenshots are later "
        "renderings of the captured page",
    },
}


@dataclass(frozen=True)
class PolicyText:
    """The sentences a report or a dossier prints about its evidence policy."""

    summary: str  # one line, for the reference block
    screenshots: str  # the policies with their periods, and what each means
    engines: str  # the engines with their periods, and what each means
    uses_request: bool  # some pages were read by the request engine
    every_screenshot: bool  # every observation has its screenshot (or predates the policy)


def by_screenshots(modes: Mapping[CaptureMode, Span]) -> list[tuple[Screenshots | None, Span]]:
    return _merge(modes, lambda mode: mode.screenshots)


def by_engine(modes: Mapping[CaptureMode, Span]) -> list[tuple[Engine, Span]]:
    return _merge(modes, lambda mode: mode.engine)


def _merge(
    modes: Mapping[CaptureMode, Span], key: Callable[[CaptureMode], Key]
) -> list[tuple[Key, Span]]:
    """Spans added up by `key`, in the order each value was first in force."""
    merged: dict[Key, Span] = {}
    for mode, span in modes.items():
        merged.setdefault(key(mode), Span()).add(span)
    return sorted(merged.items(), key=lambda item: item[1].order)


def describe(modes: Mapping[CaptureMode, Span], typo: Typo) -> PolicyText | None:
    """What to print about `modes` (SeriesStats.capture_modes); None without observations."""
    shots, engines = by_screenshots(modes), by_engine(modes)
    if not shots:
        return None
    lang = typo.lang
    names = POLICY_NAMES[lang]
    engine_names = ENGINE_NAMES[lang]
    summary = _seq(typo, [names[p] for p, _ in shots], then=_one_after_another(shots))
    summary += f"{_semicolon(typo)}{_seq(typo, [engine_names[e] for e, _ in engines])}"
    return PolicyText(
        summary=summary,
        screenshots=_paragraph(typo, shots, names, POLICY_MEANINGS[lang], "shots"),
        engines=_paragraph(typo, engines, engine_names, ENGINE_MEANINGS[lang], "engine"),
        uses_request=any(e is Engine.REQUEST for e, _ in engines),
        every_screenshot=all(p in (Screenshots.EVERY, None) for p, _ in shots),
    )


_HEADS = {
    "fr": {"shots": "Politique de conservation des captures d'écran", "engine": "Moteur"},
    "en": {"shots": "Screenshot policy", "engine": "Engine"},
}


def _paragraph(
    typo: Typo,
    spans: list[tuple[Key, Span]],
    names: Mapping[Key, str],
    meanings: Mapping[Key, str],
    kind: str,
) -> str:
    """ "Head : « name » du … au … (n observations) ; … . « Name » : meaning. …" """
    fr = typo.fr
    head = _HEADS[typo.lang][kind]
    if len(spans) == 1:
        value, span = spans[0]
        whole = "toute la période" if fr else "the whole period"
        count = _observations(typo, span.observations)
        text = f"{head}{typo.colon()} {typo.quote(names[value])} ({whole}, {count})."
    else:
        parts = [f"{typo.quote(names[v])} {_dates(typo, s)}" for v, s in spans]
        text = f"{head}{typo.colon()} {_semicolon(typo).join(parts)}."
    for value, _ in spans:
        name = names[value]
        meaning = meanings[value].replace(" ; ", _semicolon(typo)) if fr else meanings[value]
        text += f" {typo.quote(name[0].upper() + name[1:])}{typo.colon()} {meaning}."
    return text


def _one_after_another(spans: list[tuple[Key, Span]]) -> bool:
    """Each span ends before the next starts (not policies in force side by side)."""
    return all(
        a.last is not None and b.first is not None and a.last < b.first
        for (_, a), (_, b) in pairwise(spans)
    )


def _dates(typo: Typo, span: Span) -> str:
    count = _observations(typo, span.observations)
    if typo.fr:
        return f"du {typo.date(span.first)} au {typo.date(span.last)} ({count})"
    return f"from {typo.date(span.first)} to {typo.date(span.last)} ({count})"


def _observations(typo: Typo, n: int) -> str:
    return typo.unit(n, "observation", "observations")


def _semicolon(typo: Typo) -> str:
    return f"{NNBSP}; " if typo.fr else "; "


def _seq(typo: Typo, words: list[str], *, then: bool = False) -> str:
    if then:
        return (", puis " if typo.fr else ", then ").join(words)
    return (" et " if typo.fr else " and ").join(words)
