"""The domain model of docs/design.md §2: closed enums and typed records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    """The closed outcome vocabulary; the string values are a public contract."""

    AVAILABLE = "available"
    NO_SLOT = "no_slot"
    CAPTCHA = "captcha"
    QUEUE = "queue"
    CLOSED = "closed"
    MAINTENANCE = "maintenance"
    SITE_ERROR = "site_error"
    BLOCKED = "blocked"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    UNRECOGNIZED = "unrecognized"
    PROBE_ERROR = "probe_error"

    @property
    def counts_in_rates(self) -> bool:
        """Our own faults and unknown pages never count in any rate (rule 3)."""
        return self not in (Outcome.UNRECOGNIZED, Outcome.PROBE_ERROR)

    @property
    def site_up(self) -> bool | None:
        """Value of `watchdog_site_up`: None when the outcome says nothing about the site."""
        if self in DOWN_OUTCOMES:
            return False
        if self.counts_in_rates:
            return True
        return None


DOWN_OUTCOMES = frozenset(
    {
        Outcome.SITE_ERROR,
        Outcome.TIMEOUT,
        Outcome.NETWORK_ERROR,
        Outcome.BLOCKED,
        Outcome.MAINTENANCE,
    }
)


class Procedure(StrEnum):
    PREMIERE_DEMANDE = "premiere_demande"
    RENOUVELLEMENT = "renouvellement"
    CHANGEMENT_STATUT = "changement_statut"
    ADMISSION_EXCEPTIONNELLE = "admission_exceptionnelle"
    NATURALISATION = "naturalisation"
    REMISE_TITRE = "remise_titre"
    DUPLICATA = "duplicata"
    ETUDIANT = "etudiant"
    OTHER = "other"


# A platform's name (`legacy_booking`, `rdv_prefecture`…): the set of platforms is the plugin
# registry's (`probes.REGISTRY`), checked when the configuration is loaded, not a closed enum here.
Platform = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class Engine(StrEnum):
    """Which engine ran the probe (recorded in `env`)."""

    BROWSER = "browser"
    REQUEST = "request"


class EngineChoice(StrEnum):
    """Config: which engine a target runs on (`auto`: the request engine where the platform
    has one, the browser when a page needs rendering or is not recognized)."""

    AUTO = "auto"
    BROWSER = "browser"
    REQUEST = "request"


class Screenshots(StrEnum):
    """Config: when a screenshot is kept (DOM and hashes always are; the first observation
    of every outcome run always gets one)."""

    EVERY = "every"
    ON_CHANGE = "on_change"
    HOURLY = "hourly"
    DAILY = "daily"


class RequestClient(StrEnum):
    """Config: the HTTP client of the request engine (watchdog/probe/transport.py)."""

    AIOHTTP = "aiohttp"  # in the watchdog's own process
    PLAYWRIGHT = "playwright"  # Playwright's APIRequestContext, in its driver process


class Profile(StrEnum):
    """Config and env: the browser state a probe starts from. Both start with no cookie,
    storage, cache or history of an earlier probe (watchdog/engine/pages.py)."""

    CLEARED = "cleared"  # a kept page, wiped after each probe (cheaper: no new renderer)
    FRESH = "fresh"  # a new context and page for each probe


class Step(BaseModel):
    """One step of a probe's trail: what was loaded and how it answered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    url: str
    status: int | None = None
    ms: int = 0


class EvidenceRefs(BaseModel):
    """SHA-256 of each evidence blob kept for an observation.

    The DOM is kept as two blobs (watchdog/evidence/volatile.py): `html`, the page with its volatile
    tokens cut out (equal from one visit to the next, so stored once), and `html_volatile`,
    the record of the cuts (None when nothing was cut). `html_sha256` is no blob: it is the
    SHA-256 of the page as served, which joining the two reproduces. Without `html_sha256`
    (observations from before the split), `html` is the page itself. `resources` holds the
    stylesheets, images and fonts the request engine fetched during the probe for a page it
    kept a screenshot of (watchdog/probe/resources.py): the later rendering was made from
    them alone.
    """

    model_config = ConfigDict(extra="forbid")

    screenshot: str | None = None
    framed: str | None = None
    html: str | None = None
    html_volatile: str | None = None
    html_sha256: str | None = None
    har: str | None = None
    trace: str | None = None
    resources: str | None = None
    axe: str | None = None  # an accessibility audit's axe-core results, every page (JSON)

    def blobs(self) -> dict[str, str]:
        """kind -> SHA-256 of each blob kept (`html_sha256` names a page, not a blob)."""
        refs = self.model_dump(exclude={"html_sha256"})
        return {kind: sha for kind, sha in refs.items() if sha is not None}


# Evidence fields that name no stored blob (readers of raw documents skip them).
NOT_BLOBS = frozenset({"html_sha256"})


class Env(BaseModel):
    """What an internet constat records about the capture environment (docs/design.md §4)."""

    model_config = ConfigDict(extra="forbid")

    software: str
    engine: Engine = Engine.BROWSER
    screenshots: Screenshots | None = None  # the evidence policy in force
    browser: str | None = None
    browser_version: str | None = None
    os: str | None = None
    user_agent: str | None = None
    viewport: str | None = None
    locale: str | None = None
    timezone: str | None = None
    fresh_context: bool = True  # a new context (profile), or a kept page wiped clean
    profile: Profile | None = None  # how the clean state was made (None: older records)
    proxy: str | None = None
    resolved_ip: str | None = None
    tls_fingerprint: str | None = None
    clock_offset_s: float | None = None
    simulated: bool = False
    # An assisted session's read (docs/runbook.md « Assisted sessions »): who answered the
    # captcha ("person", never software), our id of the session, seconds since the answer.
    captcha_solved_by: str | None = None
    assisted_session: str | None = None
    since_solve_s: float | None = None
    # A probe the scheduler planned around an instant the site announced (issue 19):
    # "publication", and its offset in seconds from the announced instant (−60: a minute
    # before). None: a probe of the regular cycle.
    planned_for: str | None = None
    planned_offset_s: float | None = None
    # The request engine's HTTP client and its version (`browser.request_client`, issue 20):
    # "aiohttp 3.11.18" or "playwright 1.65.2". None: a browser probe, or an older record.
    http_client: str | None = None


# The platforms whose probe reads each slot it is offered (`Observation.slots_seen`): the only
# ones whose slots have a lifetime to follow (issue 19).
SLOT_LISTING_PLATFORMS = frozenset({"rdv_prefecture"})


class SlotSeen(BaseModel):
    """One slot the page offered, as the page names it (issue 19): the site's own key where it
    shows one (RDV-Préfecture's `trhId`), the day (ISO `YYYY-MM-DD`, when the page gives it
    with a year to place it) and the start time (`HH:MM`, local). Only what was read; never a
    slot chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = None
    day: str | None = None
    time: str | None = None

    @property
    def identity(self) -> str:
        """What tells this slot from another across observations of one target."""
        if self.key is not None:
            return self.key
        return f"{self.day or '?'} {self.time or '?'}"


class AudioCheck(StrEnum):
    """What a captcha's sound resource answered when fetched once (never transcribed)."""

    AUDIO = "audio"  # 2xx with an audio content type and a body
    NOT_AUDIO = "not_audio"  # 2xx, but not audio (an HTML error page, an empty body)
    FAILED = "failed"  # an HTTP error or no answer
    NOT_CHECKED = "not_checked"  # its host is not one we may contact


class CaptchaSeen(BaseModel):
    """What a captcha page offered a person besides the image (RGAA 1.5), as rendered.

    Recorded on the page where the probe stops; the captcha is never solved and its audio
    never transcribed or kept. `rendered` False: the captcha's own markup never arrived, so
    nothing is known of its alternatives (never read as « no alternative »).
    """

    model_config = ConfigDict(extra="forbid")

    rendered: bool
    image: bool = False
    audio: bool = False  # a sound link or an audio element is offered
    audio_check: AudioCheck | None = None
    audio_status: int | None = None
    audio_type: str | None = None  # the Content-Type it answered with

    @property
    def alternative(self) -> bool | None:
        """Whether an alternative to the image was offered (None: not known)."""
        return self.audio if self.rendered else None


class Impact(StrEnum):
    """axe-core's severity of an accessibility violation."""

    MINOR = "minor"
    MODERATE = "moderate"
    SERIOUS = "serious"
    CRITICAL = "critical"


class ElementShot(BaseModel):
    """A capture of one element in breach and its framed copy (SHA-256 of each blob)."""

    model_config = ConfigDict(extra="forbid")

    element: str  # the selector axe-core gave
    screenshot: str
    framed: str


class Violation(BaseModel):
    """One axe-core rule a page broke, with the RGAA 4.1 criteria it maps to
    (watchdog/data/a11y-rgaa.yaml; empty: the rule maps to no criterion)."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    impact: Impact | None = None
    criteria: list[str] = Field(default_factory=list)
    elements: list[str] = Field(default_factory=list)  # axe-core's selectors, in its order
    shots: list[ElementShot] = Field(default_factory=list)  # the first elements, captured


class AuditedPage(BaseModel):
    """One step page of the journey as the audit found it, before the probe left it."""

    model_config = ConfigDict(extra="forbid")

    step: str
    url: str
    violations: list[Violation] = Field(default_factory=list)
    passes: int = 0  # rules checked and passed
    incomplete: int = 0  # rules axe-core could not decide (a person must look)
    error: str | None = None  # why the page could not be audited (then nothing is known)
    screenshot: str | None = None  # SHA-256 of the page's capture (blob), when it broke a rule
    framed: str | None = None  # SHA-256 of its framed copy (blob)

    def blobs(self) -> list[tuple[str, str]]:
        """(kind, SHA-256) of every blob the page's audit kept: the page, then each element."""
        found = [
            (kind, sha)
            for kind, sha in (("screenshot", self.screenshot), ("framed", self.framed))
            if sha is not None
        ]
        for v in self.violations:
            for shot in v.shots:
                found += [("screenshot", shot.screenshot), ("framed", shot.framed)]
        return found


class AuditProfile(StrEnum):
    """The conditions an audit run browses under (issue 18 item 3; watchdog/a11y/profiles.py):
    `standard` is the configured viewport on the real network, with axe-core; `mobile` and
    `slow-3g` are runs of their own kind that measure each step's load and run no axe-core."""

    STANDARD = "standard"
    MOBILE = "mobile"
    SLOW_3G = "slow-3g"


class RunConditions(BaseModel):
    """What a profile changed in the browser: the viewport, and the throttling applied through
    the Chrome DevTools Protocol (Network.emulateNetworkConditions, Emulation.setCPUThrottlingRate).
    The User-Agent is never changed: it stays the watchdog's own."""

    model_config = ConfigDict(extra="forbid")

    viewport: str  # "390x844"
    mobile: bool = False  # Chromium's mobile emulation (meta viewport, touch)
    latency_ms: int | None = None  # added to every request (None: not throttled)
    download_kbps: int | None = None
    upload_kbps: int | None = None
    cpu_slowdown: float | None = None  # 4.0: the page's CPU runs four times slower


class StepLoad(BaseModel):
    """How long one step page took to load in an audit run: the trail's time from the
    navigation to the `load` event, and the page's own navigation timing (seconds by phase,
    watchdog/evidence/network.py)."""

    model_config = ConfigDict(extra="forbid")

    step: str
    url: str
    ms: int | None = None  # from the journey's action to the page's `load` (the trail's)
    phases: dict[str, float] = Field(default_factory=dict)  # dns, connect, tls, first_byte, load


class Extendable(StrEnum):
    """Whether a time limit can be extended by the person (RGAA 4.1 criterion 13.1)."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # neither observed nor documented: never read as « no »


class TimeLimit(BaseModel):
    """A time limit of the journey (issue 18 item 3): one the audit saw on a page it visited
    (`seen`), or one the platform's documentation records (watchdog/data/a11y-time-limits.yaml),
    which the audit may never reach (`past_availability`: after the availability step)."""

    model_config = ConfigDict(extra="forbid")

    kind: str  # session, confirmation, refresh
    seen: bool  # True: on a page of this run; False: documented only
    step: str | None = None  # the step it was seen on
    seconds: float | None = None  # the limit, when shown or documented (None: not known)
    extendable: Extendable = Extendable.UNKNOWN
    shown_as: str | None = None  # the site's own marker, verbatim (a URL, a meta element)
    source: str | None = None  # where a documented limit comes from, and its reliability
    past_availability: bool = False
    # A session the site ended after a person answered the captcha (an assisted session,
    # watchdog/assist): still open `lasted_s` after the answer (its last read of the slot
    # page), ended by `ended_s` (the read that met the site's marker), at `ended_at` (that
    # read's start, ISO 8601 in UTC: a hashed document holds datetimes at its top level only).
    lasted_s: float | None = None
    ended_s: float | None = None
    ended_at: str | None = None
    session: str | None = None  # the assisted session's id


class SessionEnd(BaseModel):
    """The last assisted session of a target that the site ended (watchdog/store/record.py):
    its reads of the slot page ran up to `lasted_s` after the person's answer (None: the site
    ended it before any), and the read at `ended_s` met the site's end of session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session: str
    lasted_s: float | None
    ended_s: float
    ended_at: datetime


class Audit(BaseModel):
    """An accessibility audit of a journey (issue 18): axe-core on every step page the probe
    visited, up to the availability step. The observation that holds it is an audit: it sits
    in the audit chain of its target (`audit_chain`), outside every rate. A `mobile` or
    `slow-3g` run (`profile`) runs no axe-core: its `pages` are empty and its `loads` are the
    finding."""

    model_config = ConfigDict(extra="forbid")

    target: str  # the audited target's id
    engine: str  # "axe-core 4.12.1"; "navigation timing" for a profile run without axe-core
    mapping: str  # SHA-256 of the RGAA mapping table used ("" when axe-core did not run)
    tags: list[str] = Field(default_factory=list)  # the axe-core rule tags run
    pages: list[AuditedPage] = Field(default_factory=list)
    profile: AuditProfile = AuditProfile.STANDARD
    conditions: RunConditions | None = None  # a profile's viewport and throttling
    loads: list[StepLoad] = Field(default_factory=list)  # each step page's load
    time_limits: list[TimeLimit] = Field(default_factory=list)

    @property
    def axe_ran(self) -> bool:
        return self.profile is AuditProfile.STANDARD


AUDIT_CHAIN_SUFFIX = ".a11y"  # never in a target id (watchdog/domain/target.py: [a-z0-9-])


def audit_chain(target_id: str) -> str:
    """The chain that holds `target_id`'s audits, beside its probes' chain: no reader of the
    probes' chain (rates, last outcome, incidents, evidence policy, status) sees an audit."""
    return target_id + AUDIT_CHAIN_SUFFIX


def is_audit_chain(chain: str) -> bool:
    return chain.endswith(AUDIT_CHAIN_SUFFIX)


class AssistFrame(BaseModel):
    """One captcha image the parked page showed in an assisted session (kept when the page
    was parked, and each new one the person was shown): the bytes as the site served them
    (blob kind `captcha`) and a framed copy (`framed`, watchdog/evidence/frame.py),
    `shown_after_s` seconds after the page was parked; `answer` is what became of the answer
    typed while it was shown (`solved`, `wrong`, `left`; None: none was sent)."""

    model_config = ConfigDict(extra="forbid")

    shown_after_s: float
    url: str  # the image's address on the site
    media_type: str  # as the site served it; `how` says "screenshot" when photographed
    how: str
    image: str  # SHA-256 of the image as served (or of the element's screenshot)
    framed: str  # SHA-256 of its framed copy
    answer: str | None = None


class AssistRead(BaseModel):
    """One read of the slot page in an assisted session: its observation, in its target's
    chain, and the hash it was sealed with."""

    model_config = ConfigDict(extra="forbid")

    id: str
    hash: str


class AssistRecord(BaseModel):
    """An assisted session as evidence of its own (issue 16), written when it ends into the
    chain `assist_chain(target)`: the observation that holds it starts when the page was
    parked at the captcha and finishes when the session ended. Instants inside are seconds
    after the parking (a hashed document holds top-level instants only)."""

    model_config = ConfigDict(extra="forbid")

    session: str  # our id (a ULID), never the site's
    target: str  # the journey's id
    solved_after_s: float | None = None  # a person's answer opened the slot page
    end: str  # why it ended: site_ended, max_session, no_answer, shutdown, …
    wrong_answers: int = 0
    frames: list[AssistFrame] = Field(default_factory=list)
    reads: list[AssistRead] = Field(default_factory=list)


ASSIST_CHAIN_SUFFIX = ".assist"  # never in a target id, like AUDIT_CHAIN_SUFFIX


def assist_chain(target_id: str) -> str:
    """The chain that holds `target_id`'s assisted-session records, beside its probes' chain
    (the reads themselves stay in the probes' chain, as observations like any other)."""
    return target_id + ASSIST_CHAIN_SUFFIX


def is_assist_chain(chain: str) -> bool:
    return chain.endswith(ASSIST_CHAIN_SUFFIX)


def nested_blobs(doc: dict[str, object] | None) -> list[tuple[str, str, str]]:
    """(SHA-256, blob kind, where) of each blob a hashed document names outside its
    `evidence`: an audit's captures (`audit.pages[]`, their elements), an assisted
    session's captcha frames (`assist.frames[]`) and the pages a substitute channel check
    read (`substitute.pages[].sha256`). Read from the raw document, as `verify`
    and a bundle's reader see it; anything malformed names nothing."""
    found: list[tuple[str, str, str]] = []
    audit = doc.get("audit") if doc else None
    pages = audit.get("pages") if isinstance(audit, dict) else None
    for index, page in enumerate(pages if isinstance(pages, list) else []):
        where = f"audit page {index + 1}"
        found += _named(page, ("screenshot", "framed"), where)
        violations = page.get("violations") if isinstance(page, dict) else None
        for v in violations if isinstance(violations, list) else []:
            rule = v.get("rule") if isinstance(v, dict) else None
            shots = v.get("shots") if isinstance(v, dict) else None
            for shot in shots if isinstance(shots, list) else []:
                found += _named(shot, ("screenshot", "framed"), f"{where} {rule} element")
    assist = doc.get("assist") if doc else None
    frames = assist.get("frames") if isinstance(assist, dict) else None
    for index, shown in enumerate(frames if isinstance(frames, list) else []):
        found += _named(shown, ("image", "framed"), f"captcha frame {index + 1}")
    check = doc.get("substitute") if doc else None
    checked = check.get("pages") if isinstance(check, dict) else None
    for index, page in enumerate(checked if isinstance(checked, list) else []):
        sha = page.get("sha256") if isinstance(page, dict) else None
        if sha is not None:  # a page a substitute channel check read, as served
            found.append((str(sha), "html", f"substitute page {index + 1} html"))
    return found


_BLOB_KIND = {"image": "captcha"}  # a frame's `image` is a blob of kind `captcha`


def _named(refs: object, keys: tuple[str, ...], where: str) -> list[tuple[str, str, str]]:
    if not isinstance(refs, dict):
        return []
    return [(str(refs[key]), _BLOB_KIND.get(key, key), f"{where} {key}")
            for key in keys if refs.get(key) is not None]  # fmt: skip


class ChannelKind(StrEnum):
    """A way in for people who cannot book online (issue 18): what the substitute channel
    check looks for on a prefecture's information page (watchdog/substitute)."""

    FORM = "form"  # a contact form (its page is fetched once: reachable or not)
    EMAIL = "email"  # an e-mail address: recorded, never written to
    POSTAL = "postal"  # a postal address
    PHONE = "phone"  # a telephone number


class ChannelOutcome(StrEnum):
    """The closed vocabulary of one channel kind in one check (docs/design.md §2)."""

    PUBLISHED = "published"  # found on a page as served (a form: and its page answered)
    NOT_FOUND = "not_found"  # every page was read, and none publishes it
    UNREACHABLE = "unreachable"  # a form whose page did not answer, or a page not read


class CheckedPage(BaseModel):
    """One page fetched by a substitute channel check: the page as served is a blob."""

    model_config = ConfigDict(extra="forbid")

    url: str
    role: str = "information"  # "information" (configured) or "form" (a form's page)
    final_url: str | None = None
    status: int | None = None
    sha256: str | None = None  # the body as served (blob kind `html`)
    ms: int = 0
    error: str | None = None  # why it was not read (then nothing on it is known)


class ChannelSeen(BaseModel):
    """One channel kind in one check: its outcome, what was read, where."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    outcome: ChannelOutcome
    values: list[str] = Field(default_factory=list)  # addresses, numbers, form URLs, verbatim
    page: str | None = None  # the information page that published it (first one)
    excerpt: str | None = None  # the passage it was read in (page text, trimmed)
    form_status: int | None = None  # a form's page: its HTTP status
    checked: bool | None = None  # a form's page: fetched (False: its host is not allowed)


class SubstituteCheck(BaseModel):
    """A substitute channel check of one journey (issue 18 item 4): its target's configured
    information pages, read as served, and each channel kind's outcome. The observation
    that holds it sits in its own chain (`substitute_chain`), outside every rate."""

    model_config = ConfigDict(extra="forbid")

    target: str
    department: str
    rules: str  # version of the recognition rules (watchdog/substitute/recognise.py)
    pages: list[CheckedPage] = Field(default_factory=list)
    channels: list[ChannelSeen] = Field(default_factory=list)

    def blobs(self) -> dict[str, str]:
        return {f"page {i + 1}": p.sha256 for i, p in enumerate(self.pages) if p.sha256}


SUBSTITUTE_CHAIN_SUFFIX = ".substitute"  # never in a target id, like AUDIT_CHAIN_SUFFIX
# Chains of records that are no booking attempt: audits, substitute channel checks, assisted
# sessions' records (their reads stay in the journey's own chain).
SIDE_CHAIN_SUFFIXES = (AUDIT_CHAIN_SUFFIX, SUBSTITUTE_CHAIN_SUFFIX, ASSIST_CHAIN_SUFFIX)


def substitute_chain(target_id: str) -> str:
    """The chain of `target_id`'s substitute channel checks, beside its probes' chain."""
    return target_id + SUBSTITUTE_CHAIN_SUFFIX


class Observation(BaseModel):
    """One attempt at a booking journey; hashed into its target's chain."""

    model_config = ConfigDict(extra="forbid")

    id: str
    target: str
    outcome: Outcome
    detail: str
    message: str | None = None
    dialogs: list[str] = Field(default_factory=list)  # alert()/confirm() texts, verbatim
    captcha: CaptchaSeen | None = None  # alternatives a captcha page offered (RGAA 1.5)
    audit: Audit | None = None  # set on an audit (issue 18), which is in its own chain
    assist: AssistRecord | None = None  # set on an assisted session's record (issue 16)
    substitute: SubstituteCheck | None = None  # a substitute channel check (its own chain)
    slots: int | None = None
    # The slots the page offered, one by one, where the probe reads them (None: not read).
    slots_seen: list[SlotSeen] | None = None
    earliest_slot: datetime | None = None
    published_next: datetime | None = None
    started_at: datetime
    finished_at: datetime
    duration_s: float
    steps: list[Step] = Field(default_factory=list)
    final_url: str | None = None
    http_status: int | None = None
    evidence: EvidenceRefs = Field(default_factory=EvidenceRefs)
    env: Env
    vantage: str = "default"
    tags: list[str] = Field(default_factory=list)
    prev_hash: str | None = None
    hash: str | None = None
