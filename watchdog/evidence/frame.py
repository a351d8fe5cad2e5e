"""The framed screenshot: the raw capture under a banner that says what, where and when.

Courts reject captures without URL and time (docs/design.md §4), so the banner carries
the URL, the UTC and Europe/Paris times, the target, the observation id and the SHA-256 of
the raw capture it frames. The raw capture itself is kept untouched beside it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from watchdog.domain.clock import PARIS

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
_PAD = 12
_LINE = 22
_BANNER_BG = (24, 32, 64)
_SIMULATED_BG = (128, 32, 32)


@dataclass(frozen=True)
class Banner:
    url: str
    taken_at: datetime
    target: str
    observation_id: str
    raw_sha256: str
    simulated: bool = False
    rendered_later: bool = False

    def lines(self) -> list[str]:
        utc = self.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        paris = self.taken_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S heure de Paris")
        lines = [
            f"URL : {self.url}",
            f"Date : {utc} — {paris}",
            f"Cible : {self.target} — observation {self.observation_id}",
            f"SHA-256 de la capture brute : {self.raw_sha256}",
        ]
        if self.rendered_later:
            lines.append("Rendu ultérieur de la page capturée (pas une capture en direct)")
        if self.simulated:
            lines.append("DONNÉES SIMULÉES — simulateur local, pas un site réel")
        return lines


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def frame(raw_png: bytes, banner: Banner) -> bytes:
    """Return a PNG with the banner above the raw capture (never drawn over it)."""
    raw = Image.open(io.BytesIO(raw_png)).convert("RGB")
    lines = banner.lines()
    height = _PAD * 2 + _LINE * len(lines)
    width = max(raw.width, 900)
    out = Image.new("RGB", (width, raw.height + height), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, width, height), fill=_SIMULATED_BG if banner.simulated else _BANNER_BG)
    font = _font(15)
    for index, line in enumerate(lines):
        draw.text((_PAD, _PAD + index * _LINE), line, fill=(255, 255, 255), font=font)
    out.paste(raw, (0, height))
    buffer = io.BytesIO()
    out.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
