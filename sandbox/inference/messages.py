"""Chat `messages`, read and checked: each message's text as segments, with the prompt-caching
breakpoints (`cache_control`) the request marks.

A message's `content` is a string, one content part (`{"type": "text", "text", "cache_control"?}`,
as DigitalOcean's prompt-caching example sends it) or a list of parts; `cache_control` may sit on a
part or on the message. Parts other than text (images, audio, files) are accepted and count no tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.inference.errors import bad_request

__all__ = ["CACHE_TTLS", "Prompt", "Segment", "read_messages"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
CACHE_TTLS = ("5m", "1h")


@dataclass(frozen=True)
class Segment:
    role: str
    text: str
    cache_ttl: str | None  # a caching breakpoint ends here, kept this long ("5m", "1h")


@dataclass(frozen=True)
class Prompt:
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def last_text(self) -> str:
        return self.segments[-1].text if self.segments else ""


def _is_among(value: Any, names: frozenset[str]) -> bool:
    # A string test first: a list or an object (unhashable) is not looked up in the set.
    return isinstance(value, str) and value in names


def _cache_ttl(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise bad_request(f'{where}.cache_control must be {{"type": "ephemeral", "ttl"?}}', "invalid_value")
    ttl = value.get("ttl", "5m")
    if ttl not in CACHE_TTLS:
        raise bad_request(
            f"{where}.cache_control.ttl must be one of {', '.join(CACHE_TTLS)}", "invalid_value"
        )
    return str(ttl)


def _part(part: Any, role: str, where: str) -> Segment:
    if not isinstance(part, dict) or not _is_among(part.get("type"), PART_TYPES):
        raise bad_request(
            f"{where} must be a content part with a type among {', '.join(sorted(PART_TYPES))}",
            "invalid_content",
        )
    text = part.get("text", part.get("refusal", "")) if part["type"] in ("text", "refusal") else ""
    if not isinstance(text, str):
        raise bad_request(f"{where}.text must be a string", "invalid_content")
    return Segment(role, text, _cache_ttl(part.get("cache_control"), where))


def _content(content: Any, role: str, where: str) -> list[Segment]:
    if content is None and role == "assistant":  # a reply that only called tools
        return [Segment(role, "", None)]
    if isinstance(content, str):
        return [Segment(role, content, None)]
    if isinstance(content, dict):
        return [_part(content, role, f"{where}.content")]
    if isinstance(content, list) and content:
        return [_part(part, role, f"{where}.content[{i}]") for i, part in enumerate(content)]
    raise bad_request(
        f"{where}.content must be a string, a content part or a non-empty list of parts", "invalid_content"
    )


def _message(message: Any, where: str) -> list[Segment]:
    if not isinstance(message, dict) or not _is_among(message.get("role"), ROLES):
        raise bad_request(
            f"{where} must be an object with a role among {', '.join(sorted(ROLES))}", "invalid_messages"
        )
    role = message["role"]
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise bad_request(f"{where}.tool_call_id must be a string for a tool message", "invalid_messages")
    segments = _content(message.get("content"), role, where)
    ttl = _cache_ttl(message.get("cache_control"), where)
    if ttl is not None:  # a breakpoint on the message ends after its last part
        last = segments[-1]
        segments[-1] = Segment(last.role, last.text, ttl)
    return segments


def read_messages(messages: Any) -> Prompt:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list of {role, content} objects", "invalid_messages")
    segments = [s for i, message in enumerate(messages) for s in _message(message, f"messages[{i}]")]
    return Prompt(tuple(segments))
