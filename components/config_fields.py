"""Field validators the stack-config schema is written with (components/config.py and the
policies block, components/policy_config.py): each adds a problem naming the field path, the bad
value and the fix to an `Errors`, and returns the validated value or None, so every problem in a
file is reported at once."""

from __future__ import annotations

import datetime
import re
from typing import Any

from components.errors import ConfigProblem, ConfigurationError
from components.terminal import escape_controls, has_controls
from components.vault_sink import check_path

__all__ = [
    "ROTATE_EVERY_EXAMPLES",
    "Errors",
    "Where",
    "duration",
    "given",
    "mapping",
    "parse_duration",
    "reject_secure",
    "shown_name",
    "text_field",
    "url",
    "vault_path_field",
]

Where = tuple[str | int, ...]  # a field path in parts: ("keys", 2, "rotate_every")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int | None:
    """Seconds in `30d`, `12h`, `90m` or `2w`; None for `never`. Raises ValueError otherwise."""
    if text == "never":
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)) * _UNITS[match.group(2)]


class Errors:
    """The problems found so far; all are reported at once."""

    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(self, where: Where, value: Any, fix: str) -> None:
        """`value`, found at `where`, is wrong: `fix` says what to write instead."""
        self.items.append(ConfigProblem.found(where, value, fix))

    def at(self, where: Where, fix: str) -> None:
        """A problem at `where` that quotes no value (a missing or unknown field)."""
        self.items.append(ConfigProblem(where, fix))

    def raise_if_any(self, source: str) -> None:
        if self.items:
            raise ConfigurationError(self.items, source=source)


def shown_name(text: object, limit: int = 60) -> str:
    """A name from the file (a field, a namespace) as messages show it: text, one line, bounded."""
    shown = escape_controls(text if isinstance(text, str) else repr(text))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def reject_secure(value: Any, where: Where, errors: Errors) -> bool:
    if isinstance(value, dict) and set(value) == {"secure"}:
        errors.at(
            where,
            "is a `secure:` value, but the stack config holds no credentials: put tokens in the "
            "environment (DIGITALOCEAN_TOKEN, VAULT_TOKEN or AppRole/JWT settings) and remove this value",
        )
        return True
    return False


def mapping(value: Any, where: Where, allowed: set[str], errors: Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if reject_secure(value, where, errors):
        return {}
    if not isinstance(value, dict):
        errors.add(where, value, f"must be a mapping with fields {', '.join(sorted(allowed))}")
        return {}
    for name in sorted(set(value) - allowed, key=repr):
        errors.at(
            (*where, shown_name(name)),
            f"is not a known field; use one of {', '.join(sorted(allowed))}",
        )
    for name, item in value.items():
        reject_secure(item, (*where, str(name)), errors)
    return {
        k: v for k, v in value.items() if k in allowed and not (isinstance(v, dict) and set(v) == {"secure"})
    }


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The fields written with a value. A field left empty (`strategy:`, YAML null) counts as
    absent: the default applies, and a required one is reported missing; a key is never dropped
    without a problem saying why."""
    return {name: value for name, value in values.items() if value is not None}


def text_field(
    value: Any, where: Where, errors: Errors, *, choices: tuple[str, ...] = (), max_len: int = 256
) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime.date, int, float)) and not isinstance(value, bool):
        value = value.isoformat() if isinstance(value, datetime.date) else str(value)
    if not isinstance(value, str) or not value.strip():
        errors.add(where, value, "must be a non-empty string")
        return None
    if choices and value not in choices:
        errors.add(where, value, f"is not one of {', '.join(choices)}")
        return None
    if len(value) > max_len or has_controls(value):
        errors.add(where, value, f"must be at most {max_len} printable characters (no control characters)")
        return None
    return value


ROTATE_EVERY_EXAMPLES = "30d, 12h, 90m, 2w or never"


def duration(
    value: Any, where: Where, errors: Errors, *, examples: str = ROTATE_EVERY_EXAMPLES
) -> str | None:
    """A duration as written (`30d`, `90m`, `never`); a problem's fix suggests `examples`."""
    text = text_field(value, where, errors)
    if text is None:
        return None
    try:
        parse_duration(text)
    except ValueError:
        zero = re.fullmatch(r"0+[mhdw]", text) is not None
        errors.add(
            where,
            text,
            f"must be longer than nothing; use {examples}" if zero else f"is not a duration; use {examples}",
        )
        return None
    return text


def url(value: Any, where: Where, errors: Errors) -> str | None:
    text = text_field(value, where, errors)
    if text is not None and not re.fullmatch(r"https?://[^\s/]+/?", text):
        errors.add(
            where, text, "is not a base URL; use e.g. https://api.digitalocean.com or http://127.0.0.1:8087"
        )
        return None
    return text.rstrip("/") if text else None


def vault_path_field(value: Any, where: Where, errors: Errors) -> str | None:
    text = text_field(value, where, errors)
    if text is None:
        return None
    try:
        return check_path(text)
    except ConfigurationError:
        errors.add(
            where,
            text,
            "is not a Vault path; use segments of letters, digits, '.', '_', '-' like apps/chatbot",
        )
        return None
