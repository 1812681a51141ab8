"""A pure-Python PNG reader for tests: checks the signature, every chunk's CRC, the IHDR and that
the IDAT data inflates to exactly the scanlines IHDR promises (no imaging library needed)."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a valid PNG; AssertionError saying what is wrong otherwise."""
    assert data[:8] == SIGNATURE, "not a PNG signature"
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        at += 12 + length
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND", kinds
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert width > 0 and height > 0 and depth == 8 and interlace == 0
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + width * CHANNELS[colour]), "IDAT does not inflate to the scanlines"
    assert all(raw[row * (1 + width * CHANNELS[colour])] <= 4 for row in range(height)), "bad filter type"
    return width, height
