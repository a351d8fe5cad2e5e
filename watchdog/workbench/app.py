"""The workbench's pages (Starlette routes, Jinja2 templates with autoescape everywhere).

Every page reads the record through a read-only store (watchdog/store/record.py); the answers
that take seconds (the open-data CSV, the dossier, the bundle) run the same code as
`watchdog export`, `watchdog dossier` and `watchdog bundle`, into a temporary folder that
is deleted once the file is sent. A bad id is a 404 page, a bad date a 400 page: never a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from watchdog.config.loader import Config
from watchdog.domain.clock import PARIS
from watchdog.domain.errors import WatchdogError
from watchdog.domain.target import Target
from watchdog.report import causes, labels
from watchdog.report.examples import reduce_png
from watchdog.report.typo import Typo
from watchdog.stats.calendar import Period
from watchdog.store import Store, access
from watchdog.store.evidencefiles import image_extension
from watchdog.store.record import Selection, find, inspect
from watchdog.workbench import data
from watchdog.workbench.guard import Guard
from watchdog.workbench.timeline import LANES, lane, timeline_svg
from watchdog.workbench.words import WORDS

if TYPE_CHECKING:
    from watchdog.assist.desk import Desk

log = logging.getLogger(__name__)

IMAGE_KINDS = ("framed", "screenshot")
THUMB_WIDTH, THUMB_HEIGHT = 360, 270
# The DOM snapshot, rendered in a sandboxed frame: no script, no request of any kind (the
# page's own stylesheets and images stay unloaded), no form, no navigation of the workbench.
PAGE_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
TEXT_CSP = "default-src 'none'; sandbox; frame-ancestors 'self'"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("watchdog.workbench", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(labels=labels, books=causes.books, lane=lane, LANES=LANES)
    return env


@dataclass
class State:
    """One request's reading context: the language, the period and the query they make."""

    lang: str
    typo: Typo
    period: Period | None  # None on an error page
    words: dict[str, str]

    def query(self, **extra: str) -> str:
        """The query string that keeps this period and language (and `extra`)."""
        params = {}
        if self.period is not None:
            params["from"] = self.period.first_day.isoformat()
            params["to"] = self.period.last_day.isoformat()
        if self.lang == "en":
            params["lang"] = "en"
        params.update(extra)
        return "?" + urlencode(params) if params else ""

    def preset(self, days: int) -> str:
        """The query of the `days` days that end with this period."""
        assert self.period is not None
        last = self.period.last_day
        params = {"from": (last - timedelta(days=days - 1)).isoformat(), "to": last.isoformat()}
        if self.lang == "en":
            params["lang"] = "en"
        return "?" + urlencode(params)

    def other_language(self) -> str:
        params = {"lang": "fr" if self.lang == "en" else "en"}
        if self.period is not None:
            params["from"] = self.period.first_day.isoformat()
            params["to"] = self.period.last_day.isoformat()
        return "?" + urlencode(params)

    def paris(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


class Workbench:
    """The pages over one configuration and its read-only store."""

    def __init__(self, config: Config, store: Store, who: access.Who | None = None) -> None:
        self.config = config
        self.store = store
        self.who = who or access.os_user()  # who the access log names for a download
        self.catalog = data.catalog_of(config)
        self.heavy = asyncio.Semaphore(1)  # one dossier, bundle or CSV at a time
        self.thumbnail = lru_cache(maxsize=128)(self._thumbnail)

    def _thumbnail(self, sha: str) -> bytes:
        return reduce_png(self.store.blobs.get(sha), THUMB_WIDTH, THUMB_HEIGHT)[0]

    # -- helpers ----------------------------------------------------------------------------

    async def state(self, request: Request) -> tuple[State, Period]:
        lang = "en" if request.query_params.get("lang") == "en" else "fr"
        params = request.query_params
        newest = await asyncio.to_thread(data.newest_day, self.store, self.config.targets)
        try:
            period = data.choose_period(params.get("from"), params.get("to"), newest)
        except data.BadRequest as exc:
            raise HTTPException(400, str(exc)) from None
        return State(lang, Typo(lang), period, WORDS[lang]), period

    def page(self, template: str, state: State, status: int = 200, **context: Any) -> Response:
        body = environment().get_template(template).render(
            s=state, w=state.words, typo=state.typo, lang=state.lang,
            simulated=self.config.watchdog.simulated, **context,
        )  # fmt: skip
        return HTMLResponse(body, status_code=status)

    def target(self, request: Request) -> Target:
        target_id = request.path_params["target"]
        found = self.catalog.get(target_id) if data.safe_id(target_id) else None
        if found is None:
            raise HTTPException(404, f"no target {target_id[:80]!r} in the catalog")
        return found

    def observation_id(self, request: Request) -> str:
        obs_id: str = request.path_params["obs"]
        if not data.safe_id(obs_id):
            raise HTTPException(404, "no such observation")
        return obs_id

    # -- pages ------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        state, period = await self.state(request)
        rows = await asyncio.to_thread(data.target_rows, self.store, self.config.targets, period)
        return self.page("index.html.j2", state, departments=data.departments(rows))

    async def department(self, request: Request) -> Response:
        state, period = await self.state(request)
        code = request.path_params["code"]
        targets = [t for t in self.config.targets if t.department == code]
        if not targets:
            raise HTTPException(404, f"no target of département {code[:8]!r} in the catalog")
        ids = [t.id for t in targets]
        rows = await asyncio.to_thread(data.target_rows, self.store, targets, period)
        found = await asyncio.to_thread(data.incidents, self.store, ids, period)
        return self.page("department.html.j2", state, code=code, rows=rows, incidents=found,
                         name=data.department_names().get(code, ""))  # fmt: skip

    async def target_page(self, request: Request) -> Response:
        state, period = await self.state(request)
        target = self.target(request)
        rows = await asyncio.to_thread(data.target_rows, self.store, [target], period)
        line = await asyncio.to_thread(data.timeline, self.store, target, period)
        found = await asyncio.to_thread(data.incidents, self.store, [target.id], period)
        svg = timeline_svg(line.points, period, state.typo)
        return self.page("target.html.j2", state, t=target, row=rows[0], line=line, svg=svg,
                         incidents=found, inert=data.inert)  # fmt: skip

    async def observation(self, request: Request) -> Response:
        state, _period = await self.state(request)
        obs_id = self.observation_id(request)
        try:
            found = await asyncio.to_thread(inspect, self.store, obs_id)
        except WatchdogError:
            raise HTTPException(404, f"no observation {obs_id!r} in the record") from None
        target = self.catalog.get(found.observation.target)
        return self.page("observation.html.j2", state, f=found, o=found.observation, t=target,
                         inert=data.inert)  # fmt: skip

    async def capture(self, request: Request) -> Response:
        obs_id, kind = self.observation_id(request), request.path_params["kind"]
        entry = await asyncio.to_thread(find, self.store, obs_id)
        sha = getattr(entry.observation.evidence, kind) if entry and kind in IMAGE_KINDS else None
        if sha is None:
            raise HTTPException(404, "no such capture")
        thumb = request.query_params.get("size") == "thumb"
        try:
            body = await asyncio.to_thread(self.thumbnail if thumb else self.store.blobs.get, sha)
        except (OSError, WatchdogError):
            raise HTTPException(404, f"the capture {sha} is missing from the store") from None
        kind_of = {".png": "image/png", ".jpg": "image/jpeg"}.get(image_extension(body))
        if kind_of is None:
            raise HTTPException(404, "this capture is not an image")
        return Response(
            body, media_type=kind_of, headers={"cache-control": "private, max-age=3600"}
        )

    async def dom(self, request: Request) -> Response:
        """The page as kept, without its volatile values, for a sandboxed frame: never run,
        never loading anything, even when opened alone (its CSP says `sandbox`)."""
        return await self.kept_page(request, as_text=False)

    async def dom_text(self, request: Request) -> Response:
        """The same page as text: its source, to read."""
        return await self.kept_page(request, as_text=True)

    async def kept_page(self, request: Request, as_text: bool) -> Response:
        obs_id = self.observation_id(request)
        entry = await asyncio.to_thread(find, self.store, obs_id)
        sha = entry.observation.evidence.html if entry else None
        if sha is None:
            raise HTTPException(404, "no page was kept for this observation")
        try:
            raw = await asyncio.to_thread(self.store.blobs.get, sha)
        except (OSError, WatchdogError):
            raise HTTPException(404, f"the page {sha} is missing from the store") from None
        text = data.inert(raw.decode("utf-8", "replace")) or ""
        headers = {
            "content-security-policy": TEXT_CSP if as_text else PAGE_CSP,
            "x-frame-options": "SAMEORIGIN",
        }
        media = "text/plain" if as_text else "text/html"
        return Response(text, media_type=media, headers=headers)

    # -- downloads --------------------------------------------------------------------------

    def chosen(self, request: Request) -> list[Target]:
        """The targets a download covers: ?target=…, else ?departement=…, else all."""
        target_id = request.query_params.get("target")
        code = request.query_params.get("departement")
        if target_id:
            return [self.target_of(target_id)]
        targets = [t for t in self.config.targets if code is None or t.department == code]
        if not targets:
            raise HTTPException(404, f"no target of département {str(code)[:8]!r}")
        return targets

    def target_of(self, target_id: str) -> Target:
        found = self.catalog.get(target_id) if data.safe_id(target_id) else None
        if found is None:
            raise HTTPException(404, f"no target {target_id[:80]!r} in the catalog")
        return found

    async def observations_csv(self, request: Request) -> Response:
        _state, period = await self.state(request)
        targets = self.chosen(request)
        chosen = Selection(tuple(t.id for t in targets), (), period.since,
                           period.until)  # fmt: skip

        def write(folder: Path) -> Path:
            from watchdog.opendata.export import export_open_data  # pyarrow: loaded when asked

            export_open_data(self.store, chosen, self.catalog, folder, ("csv",))
            return folder / "observations.csv"

        name = f"observations-{period.first_day}-{period.last_day}.csv"
        logged = self.logged("export", period, targets)
        return await self.download(write, name, "text/csv; charset=utf-8", logged)

    async def dossier(self, request: Request) -> Response:
        from watchdog.report.dossier import DossierOptions, build_dossier_async

        state, period = await self.state(request)
        target = self.target(request)
        fmt = "pdf" if request.query_params.get("format") == "pdf" else "html"
        options = DossierOptions(
            formats=(fmt,), lang=state.lang, chromium=self.config.browser.executable_path,
            simulated=self.config.watchdog.simulated,
        )  # fmt: skip

        async def write(folder: Path) -> Path:
            paths = await build_dossier_async(self.store, target, since=period.since,
                until=period.until, out_dir=folder, options=options)  # fmt: skip
            return paths[0]

        name = f"dossier-{target.id}-{period.first_day}-{period.last_day}.{fmt}"
        media = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
        return await self.download(write, name, media, self.logged("dossier", period, [target]))

    async def bundle(self, request: Request) -> Response:
        from watchdog.bundle import export_bundle_async
        from watchdog.report import ReportOptions

        state, period = await self.state(request)
        targets = self.chosen(request)
        options = ReportOptions(lang=state.lang, chromium=self.config.browser.executable_path,
                                simulated=self.config.watchdog.simulated)  # fmt: skip

        async def write(folder: Path) -> Path:
            out = folder / "bundle.zip"
            await export_bundle_async(self.store, targets, since=period.since,
                until=period.until, out=out, report=options,
                tsa_ca=self.config.checkpoints.tsa_ca)  # fmt: skip
            return out

        name = f"bundle-{period.first_day}-{period.last_day}.zip"
        logged = self.logged("bundle", period, targets)
        return await self.download(write, name, "application/zip", logged)

    def logged(self, action: str, period: Period, targets: list[Target]) -> access.Access:
        """The access-log entry of a download (its output is added once written)."""
        ids = [t.id for t in targets]
        return access.Access(action, period.since, period.until, ids, (), who=self.who,
                             channel="workbench")  # fmt: skip

    async def download(
        self,
        write: Callable[[Path], Path] | Callable[[Path], Awaitable[Path]],
        name: str,
        media: str,
        logged: access.Access,
    ) -> Response:
        """Write one file into a temporary folder, log it (access log), send it, then delete
        the folder. A log that cannot be written is said in the server's log; the file goes."""
        folder = Path(tempfile.mkdtemp(prefix="watchdog-workbench-"))
        try:
            async with self.heavy:
                if asyncio.iscoroutinefunction(write):
                    path = await write(folder)
                else:
                    path = await asyncio.to_thread(write, folder)
        except WatchdogError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(404, str(exc)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        entry = replace(logged, outputs=(path,))
        try:
            await asyncio.to_thread(access.record, self.config.watchdog.data_dir, entry)
        except access.AccessLogError as exc:
            log.warning("workbench: this %s is not in the access log: %s", logged.action, exc)
        return FileResponse(
            path, media_type=media, filename=name,
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )  # fmt: skip

    # -- errors -----------------------------------------------------------------------------

    def plain_state(self, request: Request) -> State:
        """The language of a request, without a period (error and assist pages)."""
        lang = "en" if request.query_params.get("lang") == "en" else "fr"
        return State(lang, Typo(lang), None, WORDS[lang])

    def error_page(self, request: Request, status: int, message: str) -> Response:
        state = self.plain_state(request)
        return self.page("error.html.j2", state, status=status, code=status, message=message)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.error_page(request, exc.status_code, exc.detail)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        log.exception("workbench: %s failed", request.url.path, exc_info=exc)
        return self.error_page(request, 500, "the record could not be read (see the server log)")


def create_app(
    config: Config,
    store: Store,
    token: str | None,
    loopback: bool = True,
    desk: Desk | None = None,
) -> Guard:
    """The workbench over `store` (opened read-only by the caller), guarded; with `desk` (only
    inside `watchdog run`), the assist pages too (watchdog/workbench/assist.py)."""
    who = access.Who(kind="token", name="workbench") if token else None
    bench = Workbench(config, store, who)
    assist: list[Route] = []
    if desk is not None:  # Playwright's types: loaded only inside `watchdog run`
        from watchdog.workbench.assist import AssistPages

        assist = AssistPages(desk, bench.page, bench.plain_state).routes()
    routes = [
        *assist,
        Route("/", bench.index),
        Route("/departement/{code}", bench.department),
        Route("/cible/{target}", bench.target_page),
        Route("/observation/{obs}", bench.observation),
        Route("/observation/{obs}/capture/{kind}", bench.capture),
        Route("/observation/{obs}/page", bench.dom),
        Route("/observation/{obs}/page.txt", bench.dom_text),
        Route("/telechargement/observations.csv", bench.observations_csv),
        Route("/telechargement/dossier/{target}", bench.dossier),
        Route("/telechargement/lot.zip", bench.bundle),
        Mount("/static", StaticFiles(packages=[("watchdog.workbench", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: bench.http_error, Exception: bench.server_error},
    )
    return Guard(app, token, loopback, bench.error_page)
