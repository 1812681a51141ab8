"""Reading a request body's fields with their types checked: each helper returns the value, or
its default when the field is absent or null, and raises InferenceError 400 naming the field
when the value has the wrong type or is out of range (OpenAI's `invalid_request_error`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sandbox.inference.errors import InferenceError, bad_request

__all__ = ["json_object", "optional_bool", "optional_choice", "optional_int", "optional_number"]


def json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object", "invalid_body")
    return body


def _invalid(field: str, expected: str, value: Any) -> InferenceError:
    shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    return InferenceError(
        400, f"{field} must be {expected}, got {shown[:40]}", "invalid_request_error", "invalid_value"
    )


def optional_int(
    body: dict[str, Any], field: str, low: int, high: int | None = None, *, label: str | None = None
) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
        bound = f"between {low} and {high}" if high else f"at least {low}"
        raise _invalid(label or field, f"an integer {bound}", value)
    return value


def optional_number(body: dict[str, Any], field: str, low: float, high: float) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _invalid(field, f"a number between {low} and {high}", value)
    return float(value)


def optional_bool(body: dict[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(field, "a boolean", value)
    return value


def optional_choice(
    body: dict[str, Any], field: str, choices: Collection[str], *, label: str | None = None
) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise _invalid(label or field, f"one of {', '.join(choices)}", value)
    return value
