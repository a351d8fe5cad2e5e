"""What a later rendering needs from the site, fetched during the probe (issue 11).

A page the request engine captured is rendered later (watchdog/engine/rendering.py) with the network
blocked: the stylesheets, images and fonts it shows are fetched during the probe, by the
same request context (our user agent, the allowed hosts, the probe's deadline), and kept as
one evidence blob (`evidence.resources`) from which the rendering is served. Nothing a
rendering shows was fetched at another moment or under another name.

What is fetched, in this order and within `Budget`: the page's `<link rel=stylesheet>`, the
`url(…)`s and `@import`s of its `<style>` blocks, `style` attributes and of those
stylesheets (one level: an imported stylesheet's own references are not followed), then its
`<img src>` and `<input type=image src>` (not `srcset` candidates: Chromium's choice among
them depends on the screen; such an image may show missing). Scripts are never fetched: the
rendering runs with scripts off.

Blob format (JSON, UTF-8, keys sorted, no spaces; `format` names the version), one entry per
URL in URL order, the body in base64 and its SHA-256 beside it:

    {"format":"prefecture-watchdog-resources/1","resources":[{"body":"…","content_type":
    "text/css","sha256":"…","size":1043,"status":200,"url":"https://…/style.css"}]}

Equal resources give equal bytes, so an unchanged set is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, urldefrag, urljoin, urlsplit, urlunsplit

from watchdog.probe.markup import read
from watchdog.probe.session import PageState

FORMAT = "prefecture-watchdog-resources/1"
_CSS_URL = re.compile(
    r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""",
    re.I,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What Chromium's URL parser leaves as is in a path or query (everything else is escaped).
_SAFE = "%/:=&?~+!$,;'@()*[]-._"


@dataclass(frozen=True)
class Budget:
    """Bounds on what a probe fetches for its rendering (the site's load, the store's size)."""

    count: int = 20
    each: int = 2 * 1024 * 1024
    total: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class Resource:
    """One response the rendering may show: a stylesheet, an image or a font."""

    url: str  # as the page references it (`resource_key`), redirects followed
    status: int
    content_type: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class RenderablePage(PageState):
    """A page as served with the resources fetched for its rendering during the probe."""

    resources: tuple[Resource, ...] = ()


def resources_of(state: PageState) -> tuple[Resource, ...]:
    """The resources fetched with `state` (none for a page captured without them)."""
    return state.resources if isinstance(state, RenderablePage) else ()


def with_resources(state: PageState, resources: Iterable[Resource]) -> RenderablePage:
    return RenderablePage(
        state.url, state.status, state.html, state.dialogs, state.redirects, tuple(resources)
    )


def resource_key(url: str) -> str:
    """`url` as Chromium requests it: no fragment, lower-case scheme and host, no default
    port, unsafe characters escaped (so the rendering finds what the probe fetched)."""
    parts = urlsplit(urldefrag(url)[0])
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{parts.port}"
    path = quote(parts.path or "/", safe=_SAFE)
    return urlunsplit((scheme, netloc, path, quote(parts.query, safe=_SAFE), ""))


def _fetchable(url: str, base: str) -> str | None:
    try:
        absolute = urljoin(base, url.strip())
        if urlsplit(absolute).scheme.lower() not in _DEFAULT_PORTS:
            return None  # data:, blob:, javascript: … need no request
        return resource_key(absolute)
    except ValueError:  # no URL a browser would request either (a bad port, a broken [v6])
        return None


def css_references(css: str, css_url: str) -> list[str]:
    """The URLs a stylesheet (or a style attribute) asks for, resolved against `css_url`."""
    found = (next(g for g in match.groups() if g is not None) for match in _CSS_URL.finditer(css))
    return [url for ref in found if ref and (url := _fetchable(ref, css_url)) is not None]


class _References(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.based = False
        self.stylesheets: list[str] = []
        self.images: list[str] = []
        self.css: list[str] = []  # inline: `<style>` blocks and `style` attributes
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "base" and found.get("href") and not self.based:
            self.base, self.based = urljoin(self.base, found["href"]), True
        elif tag == "link" and "stylesheet" in found.get("rel", "").lower().split():
            self._add(self.stylesheets, found.get("href", ""))
        elif tag == "img" or (tag == "input" and found.get("type", "").lower() == "image"):
            self._add(self.images, found.get("src", ""))
        self._in_style = tag == "style"
        if found.get("style"):
            self.css.extend(css_references(found["style"], self.base))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.extend(css_references(data, self.base))

    def _add(self, found: list[str], ref: str) -> None:
        url = _fetchable(ref, self.base) if ref.strip() else None
        if url is not None:
            found.append(url)


@dataclass(frozen=True)
class PageReferences:
    stylesheets: list[str]
    inline: list[str]  # what the page's own `<style>` and `style` attributes ask for
    images: list[str]


def page_references(html: str, page_url: str) -> PageReferences:
    """What `html`, served from `page_url`, asks a renderer to fetch (its `<base>` honoured)."""
    parser = _References(page_url)
    read(html, parser)
    return PageReferences(parser.stylesheets, parser.css, parser.images)


def to_json(resources: Iterable[Resource]) -> bytes:
    """The stored form (see the module docstring)."""
    entries = [
        {
            "body": base64.b64encode(r.body).decode("ascii"),
            "content_type": r.content_type,
            "sha256": r.sha256,
            "size": len(r.body),
            "status": r.status,
            "url": r.url,
        }
        for r in sorted(resources, key=lambda r: r.url)
    ]
    document = {"format": FORMAT, "resources": entries}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def from_json(data: bytes) -> dict[str, Resource]:
    """url -> resource of a stored blob; ValueError when it is not one or a body is altered."""
    document = json.loads(data)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    found: dict[str, Resource] = {}
    for entry in document.get("resources", []):
        resource = Resource(
            str(entry["url"]),
            int(entry["status"]),
            str(entry["content_type"]),
            base64.b64decode(entry["body"], validate=True),
        )
        if resource.sha256 != entry["sha256"]:
            raise ValueError(f"the body of {resource.url} does not hash to its sha256")
        found[resource.url] = resource
    return found


def by_url(resources: Iterable[Resource]) -> Mapping[str, Resource]:
    return {resource.url: resource for resource in resources}
