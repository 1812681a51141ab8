"""What a notification says, and the two shapes it is sent in (docs/notifications.md).

Pure: no I/O. A `Notice` is one event of one run (`rotate` or `audit`) with the keys it concerns;
`generic_payload` renders it as the versioned JSON document `gradient-keys.notification/v1`
(docs/notification.schema.json), `slack_payload` as a Slack incoming-webhook message (`text` plus
`blocks`, which Mattermost and other Slack-compatible receivers take too).

Nothing secret is ever part of a notice: key names, Vault paths, slots, the 12-hex fingerprint,
versions, run ids, reasons and error messages (which never hold a secret: components/errors.py).
The webhook URL, itself a credential, is not part of any payload either.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from components.terminal import escape_controls

__all__ = [
    "MAX_DETAIL",
    "MAX_LISTED_KEYS",
    "SCHEMA",
    "SLACK_LISTED_KEYS",
    "Event",
    "KeyNotice",
    "KeyStatus",
    "Notice",
    "PayloadFormat",
    "Source",
    "generic_payload",
    "payload",
    "slack_payload",
]

SCHEMA = "gradient-keys.notification/v1"
MAX_LISTED_KEYS = 1000  # a generic payload lists this many keys; `keys_total` counts them all
SLACK_LISTED_KEYS = 20  # a Slack message names this many, then says how many more
MAX_DETAIL = 500  # characters of a key's detail (an error message) in a payload
_SLACK_SECTION = 3000  # Slack's limit on a section's text
_SLACK_HEADER = 150  # and on a header's


class Event(enum.StrEnum):
    """What a notification is about (a target's `events` names some of them)."""

    ROTATION_SUCCEEDED = "rotation_succeeded"  # a `rotate` run rotated keys (not an emergency)
    ROTATION_FAILED = "rotation_failed"  # keys a `rotate` run could not rotate (emergencies too)
    EMERGENCY = "emergency"  # a `rotate --emergency` run: every key it tried, rotated or not
    OVERDUE = "overdue"  # `audit` found keys whose rotation is overdue


class PayloadFormat(enum.StrEnum):
    """How a target wants it: the versioned generic document, or a Slack message."""

    GENERIC = "generic"
    SLACK = "slack"


class Source(enum.StrEnum):
    """The command whose run raised the event."""

    ROTATE = "rotate"
    AUDIT = "audit"


class KeyStatus(enum.StrEnum):
    """What became of one key, as a notice reports it."""

    ROTATED = "rotated"
    FAILED = "failed"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class KeyNotice:
    """One key in a notice: facts the run printed anyway, never a secret."""

    key: str
    vault_path: str
    status: KeyStatus
    reason: str = ""  # why it rotated, or why it is overdue
    detail: str = ""  # what went wrong (an error message), bounded
    active_slot: str = ""
    fingerprint: str = ""  # 12 hex of SHA-256 of the secret Vault now holds ("" if unchanged)
    vault_version: int = 0
    due_since: str | None = None  # overdue keys: when the rotation was due

    def document(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "vault_path": self.vault_path,
            "status": str(self.status),
            "reason": _bounded(self.reason),
            "detail": _bounded(self.detail),
            "active_slot": self.active_slot,
            "fingerprint": self.fingerprint,
            "vault_version": self.vault_version,
            "due_since": self.due_since,
        }


@dataclass(frozen=True)
class Notice:
    """One event of one run, with the keys it concerns."""

    event: Event
    source: Source
    stack: str
    occurred_at: str  # ISO 8601 UTC
    notice_id: str  # unique per notice, the same in every retry of its delivery (receivers dedupe)
    run_id: str | None = None  # the `rotate` run; None for an audit
    emergency: bool = False
    keys: tuple[KeyNotice, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        """The notice in one line of words."""
        n = len(self.keys)
        stack = _one_line(self.stack, 60)
        if self.event is Event.ROTATION_SUCCEEDED:
            return f"rotated {n} key(s) in stack {stack}"
        if self.event is Event.ROTATION_FAILED:
            what = "an emergency rotation" if self.emergency else "rotation"
            return f"{n} key(s) failed {what} in stack {stack}"
        if self.event is Event.EMERGENCY:
            failed = sum(1 for k in self.keys if k.status is KeyStatus.FAILED)
            done = n - failed
            tail = f", {failed} FAILED" if failed else ""
            return f"emergency rotation in stack {stack}: {done} key(s) revoked and replaced{tail}"
        return f"{n} key(s) overdue for rotation in stack {stack}"


def generic_payload(notice: Notice) -> dict[str, Any]:
    """The `gradient-keys.notification/v1` document (docs/notification.schema.json)."""
    return {
        "schema": SCHEMA,
        "id": notice.notice_id,
        "event": str(notice.event),
        "source": str(notice.source),
        "stack": notice.stack,
        "run_id": notice.run_id,
        "emergency": notice.emergency,
        "occurred_at": notice.occurred_at,
        "summary": notice.summary,
        "keys_total": len(notice.keys),
        "keys": [key.document() for key in notice.keys[:MAX_LISTED_KEYS]],
    }


_TITLES = {
    Event.ROTATION_SUCCEEDED: "Key rotation succeeded",
    Event.ROTATION_FAILED: "Key rotation FAILED",
    Event.EMERGENCY: "Emergency key rotation",
    Event.OVERDUE: "Key rotation overdue",
}


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the notification's fallback) and `blocks`.

    Every piece of text from outside (key names, the stack, error messages) is escaped as Slack
    asks (`&`, `<`, `>`), so a key named `<!channel>` is shown, not obeyed, and backticks cannot
    break out of the code spans names are shown in."""
    run = f" (run {notice.run_id})" if notice.run_id else ""
    text = _slack(f"gradient-keys: {notice.summary}{run}")
    header = _one_line(f"{_TITLES[notice.event]}: stack {notice.stack}", _SLACK_HEADER)
    lines = [_slack_line(notice, key) for key in notice.keys[:SLACK_LISTED_KEYS]]
    more = len(notice.keys) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    body = _fit("\n".join(lines), _SLACK_SECTION)
    context = _slack(f"gradient-keys {notice.source}{run} at {notice.occurred_at}")
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{body}"[:_SLACK_SECTION]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def payload(notice: Notice, shape: PayloadFormat) -> dict[str, Any]:
    return slack_payload(notice) if shape is PayloadFormat.SLACK else generic_payload(notice)


def _slack_line(notice: Notice, key: KeyNotice) -> str:
    name = "`" + _slack(_one_line(key.key, 120)).replace("`", "'") + "`"
    if key.status is KeyStatus.FAILED:
        return f"• {name} FAILED: {_slack(_one_line(key.detail, 300))}"
    if key.status is KeyStatus.OVERDUE:
        return f"• {name} due since {_slack(key.due_since or '?')}: {_slack(_one_line(key.reason, 200))}"
    slot = f" (slot {key.active_slot} active)" if key.active_slot else ""
    done = "revoked and replaced" if notice.event is Event.EMERGENCY else "rotated"
    return f"• {name} {done}{slot}"


def _slack(text: str) -> str:
    """Text as Slack shows it literally: `&`, `<` and `>` escaped (Slack's formatting rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str, limit: int) -> str:
    shown = escape_controls(text.replace("\n", " "))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _bounded(text: str) -> str:
    return _one_line(text, MAX_DETAIL)


def _fit(text: str, limit: int) -> str:
    """`text` cut at a line break so the section stays under Slack's limit (with room for the head)."""
    budget = limit - 400
    if len(text) <= budget:
        return text
    cut = text.rfind("\n", 0, budget)
    return text[: cut if cut > 0 else budget] + "\n... (cut)"
