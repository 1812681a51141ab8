"""Real WAV files, written by hand: silence, 8-bit mono PCM, for the audio that fal models return."""

from __future__ import annotations

import struct

__all__ = ["silent_wav"]

RATE = 8000  # samples a second: the lowest rate every player accepts, to keep the file small


def silent_wav(seconds: float) -> bytes:
    samples = b"\x80" * round(RATE * seconds)  # 8-bit PCM is unsigned: 128 is silence
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE, 1, 8)  # PCM, mono, rate, bytes/s, block, bits
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples))
    return b"RIFF" + struct.pack("<I", len(body) + len(samples)) + body + samples
