"""Tiny generated media for captchas: a noisy PNG and a short silent WAV, no dependencies."""

from __future__ import annotations

import io
import random
import struct
import wave
import zlib


def captcha_png(seed: str, width: int = 200, height: int = 70) -> bytes:
    """A 200×70 grey noise image with dark stripes; it looks like a captcha, it reads as nothing."""
    rng = random.Random(seed)
    stripes = {rng.randrange(width) for _ in range(14)}
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            level = 60 if (x + y // 3) % width in stripes else 170 + rng.randrange(80)
            rows += bytes((level, level, min(255, level + 20)))
    return _png(width, height, bytes(rows))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def silent_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate)
        wav.writeframes(b"\x80" * int(seconds * rate))
    return out.getvalue()
