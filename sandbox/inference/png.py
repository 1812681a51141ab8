"""Real PNG files, written by hand (zlib and struct, no imaging library): one solid colour at any
size. A solid image compresses to a few kilobytes even at 1024x1024, so the sandbox can answer
with an image of exactly the size asked and still keep its answers small."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

__all__ = ["solid_png"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    # Each chunk: length, type, data, then the CRC-32 of type and data (PNG spec, section 5.3).
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=64)
def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A `width` x `height` 8-bit RGB PNG of one colour."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, truecolour, no interlace
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (None) before each scanline
    compressor = zlib.compressobj(9)
    # The same row, height times: compressing it row by row keeps memory at one row.
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
