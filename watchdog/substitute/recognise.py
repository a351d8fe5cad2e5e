"""What counts as a substitute channel on a page: conservative rules on the page's text.

A channel is recognised only inside a passage that speaks of not being able to book online
(`MARKERS`: « vous ne parvenez pas à prendre rendez-vous », « aucun créneau disponible »,
« solution de substitution »…): from the block that says so to the next heading, at most
`CONTEXT_BLOCKS` blocks. A switchboard number in the footer, the data-protection officer's
address or a CERFA form to download are therefore not the channel. Inside the passage:

- form: a `<form>` element, or a link whose text says « formulaire » together with
  « contact », « en ligne », « rendez-vous », « saisine » or « demande », and that is no
  document to download (.pdf, .doc, .odt…);
- email: an address in a `mailto:` link or written out in full (never an obfuscated one);
- phone: a French number (`01 23 45 67 89`, `+33 1 23 45 67 89`) or a `tel:` link;
- postal: a street (number and « rue », « avenue », « place »…) or a BP, CS or TSA box, and a
  five-digit postcode followed by a town, in the same block or the next.

When in doubt the rule says « not found »: a channel missed is a finding a person checks
against the page kept as evidence; a channel invented would hide a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from watchdog.domain.models import ChannelKind

RULES = "1"  # bump when a rule below changes: recorded with every check
CONTEXT_BLOCKS = 12
EXCERPT = 300
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "td", "th", "tr", "ul",
})  # fmt: skip
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "svg"})
MARKERS = tuple(
    re.compile(p)
    for p in (
        r"\b(?:ne|n')\s*(?:parvenez|pouvez|arrivez|réussissez)\s+pas\s+à\s+(?:prendre|obtenir"
        r"|réserver|trouver)",
        r"\bimpossib\w*\s+(?:de\s+|d')?(?:prendre|obtenir|réserver|trouver)",
        r"\baucun\s+(?:créneau|rendez-vous)\s+(?:n'est\s+|n'étant\s+)?(?:disponible|proposé)",
        r"\bpas\s+de\s+(?:créneau|rendez-vous)\s+disponible",
        r"\bsolution\s+de\s+substitution\b",
        r"\bdifficultés?\s+(?:pour|à)\s+(?:prendre|obtenir)\s+(?:un\s+)?rendez-vous",
    )
)
EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
PHONE = re.compile(r"(?<![\d+])(?:\+33\s?(?:\(0\)\s?)?|0)[1-9](?:[ .\-\u00a0]?\d{2}){4}(?!\d)")
STREET = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|quai|cours|allée"
    r"|chemin|impasse|route|esplanade|square|parvis|rond-point)\b|\b(?:BP|CS|TSA)\s?\d{2,6}\b",
    re.IGNORECASE,
)
_WORD = r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’\-]*"
POSTCODE_TOWN = re.compile(
    rf"\b(?:\d{{5}}|\d{{2}} \d{{3}})\s+{_WORD}(?:\s{_WORD})*(?:\s+(?:CEDEX|Cedex)(?:\s\d{{1,2}})?)?"
)
FORM_WORDS = ("contact", "en ligne", "rendez-vous", "saisine", "demande")
DOCUMENT = re.compile(r"\.(?:pdf|docx?|odt|rtf|xlsx?|ods|zip)(?:$|[?#])", re.IGNORECASE)


@dataclass
class Block:
    text: str = ""
    heading: bool = False
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)
    forms: list[str] = field(default_factory=list)  # each <form>'s action (may be "")


class _Blocks(HTMLParser):
    """The page's text cut into blocks at block-level tags, with each block's links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._links: list[tuple[str, str]] = []
        self._forms: list[str] = []
        self._heading = False
        self._skip = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text or self._links or self._forms:
            self.blocks.append(Block(text, self._heading, self._links, self._forms))
        self._text, self._links, self._forms, self._heading = [], [], [], False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self._skip += 1
            return
        if tag in BLOCK_TAGS:
            self._flush()
            self._heading = tag in HEADINGS
        if tag == "form":
            self._forms.append(dict(attrs).get("action") or "")
        elif tag == "a":
            self._href, self._link_text = dict(attrs).get("href") or "", []

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skip = max(0, self._skip - 1)
            return
        if tag == "a" and self._href is not None:
            self._links.append((self._href, " ".join("".join(self._link_text).split())))
            self._href = None
        if tag in BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._text.append(data)
        if self._href is not None:
            self._link_text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def blocks(html: str) -> list[Block]:
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    return parser.blocks


@dataclass(frozen=True)
class Found:
    """A channel read on a page: its kind, its value (verbatim), the passage it was in."""

    kind: ChannelKind
    value: str
    excerpt: str
    on_page: bool = False  # a form: the <form> is on the page itself (no page to fetch)


def normalised(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").replace("\u00a0", " ").split())


def passages(found: list[Block]) -> list[list[Block]]:
    """The runs of blocks that speak of not being able to book online (see module doc)."""
    runs: list[list[Block]] = []
    index = 0
    while index < len(found):
        block = found[index]
        if not any(m.search(normalised(block.text)) for m in MARKERS):
            index += 1
            continue
        run = [block]
        index += 1
        while index < len(found) and len(run) < CONTEXT_BLOCKS and not found[index].heading:
            run.append(found[index])
            index += 1
        runs.append(run)
    return runs


def recognise(html: str, base_url: str) -> list[Found]:
    """Every channel the page publishes for people who cannot book online, in page order,
    each value once."""
    seen: dict[tuple[ChannelKind, str], Found] = {}
    for run in passages(blocks(html)):
        excerpt = _excerpt(run)
        for found in _in_run(run, base_url, excerpt):
            seen.setdefault((found.kind, found.value.lower()), found)
    return list(seen.values())


def _in_run(run: list[Block], base_url: str, excerpt: str) -> list[Found]:
    found: list[Found] = []
    for index, block in enumerate(run):
        for action in block.forms:
            found.append(Found(ChannelKind.FORM, urljoin(base_url, action), excerpt, True))
        for href, text in block.links:
            found += _link(href, text, base_url, excerpt)
        found += [Found(ChannelKind.EMAIL, m.group(0), excerpt) for m in EMAIL.finditer(block.text)]
        found += [Found(ChannelKind.PHONE, _phone(m.group(0)), excerpt)
                  for m in PHONE.finditer(block.text)]  # fmt: skip
        following = run[index + 1].text if index + 1 < len(run) else ""
        address = _postal(block.text, following)
        if address is not None:
            found.append(Found(ChannelKind.POSTAL, address, excerpt))
    return found


def _link(href: str, text: str, base_url: str, excerpt: str) -> list[Found]:
    scheme = urlsplit(href).scheme.lower()
    if scheme == "mailto":
        address = unquote(href.split(":", 1)[1].split("?", 1)[0]).strip()
        return [Found(ChannelKind.EMAIL, address, excerpt)] if EMAIL.fullmatch(address) else []
    if scheme == "tel":
        number = unquote(href.split(":", 1)[1]).strip()
        return [Found(ChannelKind.PHONE, _phone(number), excerpt)] if PHONE.search(number) else []
    words = normalised(text)
    url = urljoin(base_url, href)
    says_form = "formulaire" in words and any(w in words for w in FORM_WORDS)
    if says_form and not DOCUMENT.search(url) and urlsplit(url).scheme in ("http", "https"):
        return [Found(ChannelKind.FORM, url, excerpt)]
    return []


def _phone(text: str) -> str:
    """A number as printed, spaces normalised (`01 23 45 67 89`)."""
    return " ".join(text.replace("\u00a0", " ").split())


def _postal(text: str, following: str) -> str | None:
    """The address in `text` (or running into the next block): a street or box, then a
    postcode and town."""
    street = STREET.search(text)
    if street is None:
        return None
    town = POSTCODE_TOWN.search(text, street.end())
    if town is not None:
        return text[street.start() : town.end()].strip(" ,;")
    town = POSTCODE_TOWN.match(following.strip())
    if town is not None and len(text) - street.start() <= 120:
        return f"{text[street.start() :].strip(' ,;')}, {town.group(0).strip()}"
    return None


def _excerpt(run: list[Block]) -> str:
    text = " ".join(b.text for b in run if b.text)
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"
