"""HTML forms read the way a browser submits them, for probes that run without a renderer.

The cheap path (watchdog/probe/requesting.py) posts the same forms a person would: hidden fields
as served, a box ticked, one submit button pressed. Only what `<form>` markup says is used;
a form that needs JavaScript to be submitted is not a form this module can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

from watchdog.probe.markup import read

_CHECKABLE = frozenset({"checkbox", "radio"})
_BUTTONS = frozenset({"submit", "image", "button", "reset"})
_NOT_SENT = frozenset({"file", "reset", "button"})


@dataclass(frozen=True)
class Field:
    """One named control of a form."""

    tag: str
    name: str
    type: str
    value: str
    checked: bool = False
    id: str | None = None
    classes: frozenset[str] = frozenset()
    disabled: bool = False


@dataclass
class Form:
    """A `<form>` and its named controls, in document order."""

    id: str | None
    action: str | None
    method: str
    fields: list[Field] = field(default_factory=list)

    def find(self, *, id: str | None = None, name: str | None = None) -> Field | None:
        for f in self.fields:
            if (id is None or f.id == id) and (name is None or f.name == name):
                return f
        return None

    def choices(self, name: str) -> list[str]:
        """Values offered by the radios or checkboxes called `name`."""
        return [f.value for f in self.fields if f.name == name and f.type in _CHECKABLE]

    def target(self, page_url: str) -> str:
        """The absolute URL the form posts to (its own page when `action` is empty)."""
        return urljoin(page_url, self.action or page_url)

    def submission(
        self, tick: dict[str, str] | None = None, press: Field | None = None
    ) -> list[tuple[str, str]]:
        """The (name, value) pairs a browser sends after ticking `tick` and pressing `press`.

        `tick` maps a checkbox/radio name to the value to select (a radio group then has
        exactly that one selected). Buttons other than `press` are not sent.
        """
        tick = tick or {}
        pairs: list[tuple[str, str]] = []
        for f in self.fields:
            if f.disabled or f.type in _NOT_SENT:
                continue
            if f.type in _BUTTONS:
                if f is press:
                    pairs.append((f.name, f.value))
                continue
            if f.type in _CHECKABLE:
                wanted = tick.get(f.name)
                if wanted == f.value or (wanted is None and f.checked):
                    pairs.append((f.name, f.value or "on"))
                continue
            pairs.append((f.name, f.value))
        return pairs

    def button(self, name: str) -> Field | None:
        """The first submit button called `name`."""
        return next((f for f in self.fields if f.name == name and f.type in _BUTTONS), None)


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._select: dict[str, str | None] | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("id"), a.get("action"), (a.get("method") or "get").upper())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag in ("input", "button") and a.get("name"):
            self._current.fields.append(_control(tag, a))
        elif tag == "select" and a.get("name"):
            self._select = dict(a)
            self._options = []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select" and self._select is not None and self._current is not None:
            chosen = next((v for v, sel in self._options if sel), None)
            if chosen is None and self._options:
                chosen = self._options[0][0]
            if chosen is not None:
                attrs = {k: v or "" for k, v in self._select.items()}
                self._current.fields.append(_control("select", {**attrs, "value": chosen}))
            self._select = None


def _control(tag: str, a: dict[str, str]) -> Field:
    default = "submit" if tag == "button" else "text"
    kind = tag if tag == "select" else (a.get("type") or default).lower()
    return Field(
        tag=tag,
        name=a["name"],
        type=kind,
        value=a.get("value", ""),
        checked="checked" in a,
        id=a.get("id"),
        classes=frozenset(a.get("class", "").split()),
        disabled="disabled" in a,
    )


def read_forms(html: str) -> list[Form]:
    """Every form of the document, in order."""
    reader = _FormReader()
    read(html, reader)
    return reader.forms


def form_by_id(html: str, form_id: str) -> Form | None:
    return next((f for f in read_forms(html) if f.id == form_id), None)
