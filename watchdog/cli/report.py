"""The `report`, `dossier` and `bundle` verbs, and `verify BUNDLE.zip` (issue 6).

watchdog report --from 2026-09-01 --to 2026-11-30 --department 93 [--format html,pdf]
watchdog dossier TARGET --from 2026-10-01 --to 2026-11-30
watchdog bundle --from 2026-09-01 --to 2026-11-30 --department 93 --out lot.zip
watchdog verify lot.zip
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from watchdog.bundle import export_bundle, verify_bundle
from watchdog.cli.accesslog import log_access
from watchdog.cli.outputs import writable_dir, writable_file
from watchdog.cli.progress import progress
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.domain.clock import PARIS
from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import Procedure
from watchdog.domain.target import Target
from watchdog.report import ReportOptions, build_report, select_targets
from watchdog.report.applicant import load_applicant
from watchdog.report.dossier import DossierOptions, build_dossier
from watchdog.report.steps import count_steps
from watchdog.stats.calendar import Period
from watchdog.stats.compute import observed_window
from watchdog.store import Store, retention
from watchdog.store.access import Access


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(part.strip() for part in text.split(",") if part.strip())
    if not formats or set(formats) - {"html", "pdf", "odt", "docx"}:
        raise argparse.ArgumentTypeError(f"{text!r}: use html, pdf, odt, docx (comma-separated)")
    return formats


def _period(args: argparse.Namespace, today: date | None = None) -> Period:
    """The asked period; a --to after today (Paris) is refused: nothing is observed yet."""
    if args.last < args.first:
        raise WatchdogError("--to is before --from")
    now = today or datetime.now(PARIS).date()
    if args.last > now:
        raise WatchdogError(
            f"--to {args.last.isoformat()} is in the future (today is {now.isoformat()}, "
            "Paris): a report cannot cover what has not been observed"
        )
    return Period.from_dates(args.first, args.last)


def _prepare(args: argparse.Namespace) -> Period:
    """The period, once the output is known to be writable: before minutes of work."""
    period = _period(args)
    if args.command == "bundle":
        writable_file(args.out)
    else:
        writable_dir(args.out)
    return period


def _observed(store: Store, targets: Sequence[Target], period: Period, allow_empty: bool) -> None:
    """Say on stderr which window was observed beside the asked one; refuse an empty period
    unless --allow-empty (a report over nothing would only say so)."""
    found = observed_window(store, [t.id for t in targets], period)
    asked = f"{period.first_day.isoformat()} to {period.last_day.isoformat()} (Paris)"
    gone = retention.pruned_in(store, [t.id for t in targets], period.since, period.until)
    for summary in gone:
        print(
            f"pruned by retention: {summary.target} {summary.seqs()}, {summary.observations} "
            f"observation(s) from {summary.period()} (« {summary.retention} », on "
            f"{summary.pruned_at}): its observations are not in this document, which names the "
            "period and its signed summary",
            file=sys.stderr,
        )
    if found is None:
        if not allow_empty:
            why = " (retention pruned it: see above)" if gone else ""
            raise WatchdogError(
                f"no observation from {asked} for the target(s) selected{why}; "
                "pass --allow-empty to write a document that says so"
            )
        print(f"asked: {asked}; observed: nothing", file=sys.stderr)
        return
    count, first, last = found
    print(
        f"asked: {asked}; observed: {count} observation(s) from "
        f"{_local(first)} to {_local(last)} (Paris)",
        file=sys.stderr,
    )


def _local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def _common(
    p: argparse.ArgumentParser, add_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    add_config(p)
    p.add_argument(
        "--from",
        dest="first",
        type=_day,
        required=True,
        metavar="YYYY-MM-DD",
        help="first day covered (Paris time)",
    )
    p.add_argument(
        "--to",
        dest="last",
        type=_day,
        required=True,
        metavar="YYYY-MM-DD",
        help="last day covered, included",
    )
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language (default fr)")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="write the document even when the period holds no observation",
    )
    p.add_argument(
        "--format",
        dest="formats",
        type=_formats,
        default=("html", "pdf"),
        metavar="html,pdf",
        help="html, pdf, and an editable odt or docx copy made by pandoc (default html,pdf)",
    )


def _selectors(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target", action="append", default=[], metavar="ID", help="a target id (repeatable)"
    )
    p.add_argument(
        "--department",
        action="append",
        default=[],
        metavar="CODE",
        help="a département code, e.g. 93 (repeatable)",
    )
    p.add_argument(
        "--procedure",
        action="append",
        default=[],
        choices=[x.value for x in Procedure],
        metavar="PROCEDURE",
        help="a procedure (repeatable)",
    )
    p.add_argument(
        "--recommendations",
        type=Path,
        metavar="FILE",
        help="recommendation rules (YAML; default: the bundled rules)",
    )
    p.add_argument(
        "--legal",
        type=Path,
        metavar="DIR",
        help="directory of legal reference files (default: the bundled ones)",
    )
    p.add_argument("--issuer", help="who issues the report (cover and reference block)")


def _report_options(args: argparse.Namespace, config: Config) -> ReportOptions:
    extra = {"issuer": args.issuer} if args.issuer else {}
    return ReportOptions(
        formats=args.formats,
        lang=args.lang,
        recommendations=args.recommendations,
        legal_dir=args.legal,
        chromium=config.browser.executable_path,
        simulated=config.watchdog.simulated,
        **extra,
    )


def _open(config: Config) -> Store:
    return Store.open(config.watchdog.data_dir, config.watchdog.database_url)


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    targets = select_targets(config.targets, args.target, args.department, args.procedure)
    period = _prepare(args)
    options = _report_options(args, config)
    with _open(config) as store:
        _observed(store, targets, period, args.allow_empty)
        with progress("writing the report", count_steps(options.formats)) as advance:
            paths = build_report(
                store,
                targets,
                since=period.since,
                until=period.until,
                out_dir=args.out,
                options=options,
                advance=advance,
            )
    _wrote(config, "report", paths, targets, period, args.out)
    return 0


def cmd_dossier(args: argparse.Namespace, config: Config) -> int:
    (target,) = select_targets(config.targets, [args.target_id])
    period = _prepare(args)
    options = DossierOptions(
        formats=args.formats,
        lang=args.lang,
        captures=args.captures,
        chromium=config.browser.executable_path,
        applicant=load_applicant(args.applicant) if args.applicant else None,
        issuer=args.issuer,
        place=args.place,
        simulated=config.watchdog.simulated,
    )
    with _open(config) as store:
        _observed(store, [target], period, args.allow_empty)
        steps = count_steps(options.formats, pdf_passes=1)
        with progress("writing the dossier", steps) as advance:
            paths = build_dossier(
                store,
                target,
                since=period.since,
                until=period.until,
                out_dir=args.out,
                options=options,
                advance=advance,
            )
    _wrote(config, "dossier", paths, [target], period, args.out)
    return 0


def cmd_bundle(args: argparse.Namespace, config: Config) -> int:
    targets = select_targets(config.targets, args.target, args.department, args.procedure)
    period = _prepare(args)
    with _open(config) as store:
        _observed(store, targets, period, args.allow_empty)
        with progress("writing the bundle", None) as advance:
            result = export_bundle(
                store,
                targets,
                since=period.since,
                until=period.until,
                out=args.out,
                report=_report_options(args, config),
                advance=advance,
                tsa_ca=config.checkpoints.tsa_ca,
            )
    if result.timestamps:
        print(f"{result.timestamps} RFC 3161 timestamp(s) included, with the TSA's CA")
    if result.timestamps_left_out:
        print(f"warning: the store's timestamps are not included: {result.timestamps_left_out}")
    for sha in result.missing_evidence:
        print(f"warning: evidence {sha} is missing from the store (run `watchdog verify`)")
    print(f"Bundle fingerprint (SHA-256 of manifest.json): {result.fingerprint}")
    print("Publish or timestamp this fingerprint: it identifies the bundle.")
    print(
        f"wrote {result.path}: {result.observations} observation(s), "
        f"{result.evidence_files} evidence file(s), {_size(result.path)}"
    )
    ids = [t.id for t in targets]
    log_access(config, Access("bundle", period.since, period.until, ids, [result.path],
                              fingerprint=result.fingerprint))  # fmt: skip
    return 0


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    """Add `report`, `dossier` and `bundle`; `load` is the CLI's config loader."""

    p = add_verb(sub, "report")
    _common(p, add_config)
    _selectors(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="output directory (default ./reports)",
    )
    p.set_defaults(handler=lambda a: cmd_report(a, load(a)))

    p = add_verb(sub, "dossier")
    _common(p, add_config)
    p.add_argument("target_id", metavar="TARGET", help="target id (see `watchdog targets`)")
    p.add_argument(
        "--captures",
        choices=("day", "all", "none"),
        default="day",
        help="framed captures shown: first failure of each day (default), all, none",
    )
    p.add_argument(
        "--applicant",
        type=Path,
        metavar="FILE",
        help="the applicant's own attempts and letters, situation, issuer (YAML or CSV)",
    )
    p.add_argument("--issuer", help="who issues the file (signature block)")
    p.add_argument("--place", help="where the file is signed (« Fait à … »)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="output directory (default ./reports)",
    )
    p.set_defaults(handler=lambda a: cmd_dossier(a, load(a)))

    p = add_verb(sub, "bundle")
    _common(p, add_config)
    _selectors(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.zip", help="the zip to write")
    p.set_defaults(handler=lambda a: cmd_bundle(a, load(a)))


def _wrote(
    config: Config,
    kind: str,
    paths: Sequence[Path],
    targets: Sequence[Target],
    period: Period,
    out: Path,
) -> None:
    """The paths on standard output, one a line; the summary on stderr; the access log."""
    for path in paths:
        print(path)
    formats = ", ".join(p.suffix.lstrip(".") for p in paths)
    print(
        f"wrote the {kind} ({formats}) of {len(targets)} target(s), "
        f"{period.first_day.isoformat()} to {period.last_day.isoformat()} (Paris), to {out}",
        file=sys.stderr,
    )
    ids = [t.id for t in targets]
    log_access(config, Access(kind, period.since, period.until, ids, list(paths)))


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def verify_bundle_command(path: str) -> int:
    """`watchdog verify BUNDLE.zip`: 0 when the bundle checks out, 1 otherwise."""
    check = verify_bundle(Path(path))
    print(check.render())
    return 0 if check.ok else 1
