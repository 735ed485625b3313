"""Pictures for the tests of equation cards on every network: real PNGs that decode.

Made by hand with zlib and struct (8-bit greyscale, a bar of ``shade`` across a white
card), so a test can make as many distinct pictures as it needs without an imaging
library, and every local server can read their size from the header as the real ones do.
"""

from __future__ import annotations

import struct
import zlib


def png(width: int = 96, height: int = 40, shade: int = 0) -> bytes:
    """A real PNG of that size: white, with a bar of grey ``shade`` (0 black) across its
    middle third; another shade gives other bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(shade if height // 3 <= y < 2 * height // 3 else 255 for _ in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
