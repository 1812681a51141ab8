"""Text from outside (DigitalOcean key names, stack files, error ids) made safe for a terminal.

A key name is whatever was typed in the control panel: C0/C1 control characters could move the
cursor, recolour or clear a CI log, and bidirectional controls can make a table lie about what it
shows (a name that reads `chatbot-prod` but is not). They are shown escaped, as `\\x1b` or `\\u202e`.
"""

from __future__ import annotations

import re

__all__ = ["escape_controls", "has_controls"]

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control shown escaped; `keep_newlines` leaves line breaks of our own
    multi-line messages as they are (table cells and quoted values escape them too)."""
    if keep_newlines:
        return "\n".join(_CONTROLS.sub(_escaped, line) for line in text.split("\n"))
    return _CONTROLS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
