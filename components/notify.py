"""Notifications: which events a run raised, which targets hear of them, where each target's URL
comes from, and what became of each delivery (docs/notifications.md).

- Events come from typed outcomes, never from text: a `rotate` run's `bulk_rotation.Status`
  (`rotation_notices`), an audit's `rotation-overdue` findings (`overdue_notice`).
- A target's URL is read when it is needed: from the environment the front end hands over (this
  module never reads `os.environ`), or from Vault through the stack's own login
  (`VaultSink.read_field`); it is checked by `webhook.check_url` and shown nowhere.
- A failed delivery is a `Delivery` with `delivered=False` and the reason: never an exception.
  The command reports it and keeps its exit code: a rotation that happened is not undone or failed
  by a webhook that did not answer. A target that gave no answer at all is not tried again for the
  run's other events, so a dead receiver costs one delivery's budget per run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.audit import AuditReport
from components.bulk_rotation import Outcome, Status
from components.config import NotificationTarget, UrlFromEnv, UrlFromVault
from components.errors import GradientKeysError
from components.notify_payloads import Event, KeyNotice, KeyStatus, Notice, Source, payload
from components.secret import Secret
from components.vault_sink import VaultSink
from components.webhook import DeliveryPolicy, WebhookUrl, WebhookUrlError, check_url, post_json

__all__ = ["OVERDUE_FINDING", "Delivery", "Notifier", "overdue_notice", "rotation_notices"]

OVERDUE_FINDING = "rotation-overdue"  # the audit's finding id (docs/audit.md), stable in its schema


def _notice_id() -> str:
    return uuid.uuid4().hex


def rotation_notices(
    stack: str, run_id: str, *, emergency: bool, outcomes: Iterable[Outcome], occurred_at: str
) -> list[Notice]:
    """What a `rotate` run that was not a dry run tells: its rotated keys (`rotation_succeeded`, or
    in an emergency `emergency` with every key it tried), and its failed keys (`rotation_failed`)."""
    rotated = [_key_notice(o, KeyStatus.ROTATED) for o in outcomes if o.status is Status.ROTATED]
    failed = [_key_notice(o, KeyStatus.FAILED) for o in outcomes if o.status is Status.FAILED]

    def notice(event: Event, keys: list[KeyNotice]) -> Notice:
        return Notice(event, Source.ROTATE, stack, occurred_at, _notice_id(), run_id, emergency, tuple(keys))

    notices = []
    if emergency and (rotated or failed):
        notices.append(notice(Event.EMERGENCY, rotated + failed))
    elif rotated:
        notices.append(notice(Event.ROTATION_SUCCEEDED, rotated))
    if failed:
        notices.append(notice(Event.ROTATION_FAILED, failed))
    return notices


def _key_notice(outcome: Outcome, status: KeyStatus) -> KeyNotice:
    return KeyNotice(
        outcome.key,
        outcome.vault_path,
        status,
        reason=outcome.reason,
        detail=outcome.detail if status is KeyStatus.FAILED else "",
        active_slot=outcome.active_slot,
        fingerprint=outcome.fingerprint,
        vault_version=outcome.vault_version,
    )


def overdue_notice(report: AuditReport) -> Notice | None:
    """The audit's keys whose rotation is overdue, as one `overdue` notice (None: there are none)."""
    due = {row.key: row.next_rotation for row in report.keys}
    keys = tuple(
        KeyNotice(
            f.key or "",
            f.vault_path or "",
            KeyStatus.OVERDUE,
            reason=f.message,
            due_since=due.get(f.key or "") or None,
        )
        for f in report.findings
        if f.id == OVERDUE_FINDING
    )
    if not keys:
        return None
    return Notice(Event.OVERDUE, Source.AUDIT, report.stack, report.generated_at, _notice_id(), keys=keys)


@dataclass(frozen=True)
class Delivery:
    """What became of one notice at one target (the run's output reports each)."""

    target: str
    event: Event
    delivered: bool
    attempts: int
    status: int | None = None  # the receiver's last HTTP status, None when it never answered
    error: str | None = None  # why it was not delivered: never the URL

    def document(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "event": str(self.event),
            "delivered": self.delivered,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }

    def line(self) -> str:
        head = f"notification {self.event} to {self.target}"
        if self.delivered:
            return f"{head}: delivered ({self.attempts} attempt(s))"
        return f"{head}: NOT delivered: {self.error} (this does not change the run's result)"


_Resolved = WebhookUrl | str  # the checked URL, or why there is none


class Notifier:
    """Sends a run's notices to the targets that asked for their events. `environ` is the front
    end's environment (URLs named by `url_from.env`, the http opt-in, the CA bundle); `vault`
    gives the stack's Vault sink, for URLs kept in Vault (asked only when one is)."""

    def __init__(
        self,
        targets: Iterable[NotificationTarget],
        *,
        environ: Mapping[str, str],
        vault: Callable[[], VaultSink] | None = None,
        policy: DeliveryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.targets = tuple(targets)
        self._environ = dict(environ)
        self._vault = vault
        self._policy = policy
        self._sleep = sleep
        self._urls: dict[str, _Resolved] = {}
        self._silent: set[str] = set()  # targets that gave no answer in this run

    def send(self, notices: Iterable[Notice]) -> list[Delivery]:
        return [
            self._deliver(target, notice)
            for notice in notices
            for target in self.targets
            if notice.event in target.events
        ]

    def _deliver(self, target: NotificationTarget, notice: Notice) -> Delivery:
        url = self._url(target)
        if isinstance(url, str):
            return Delivery(target.name, notice.event, False, 0, error=url)
        if target.name in self._silent:
            return Delivery(
                target.name,
                notice.event,
                False,
                0,
                error="not sent: the target gave no answer earlier in this run",
            )
        result = post_json(
            url, payload(notice, target.format), environ=self._environ, policy=self._policy, sleep=self._sleep
        )
        if not result.delivered and result.status is None:
            self._silent.add(target.name)
        return Delivery(
            target.name, notice.event, result.delivered, result.attempts, result.status, result.error
        )

    def _url(self, target: NotificationTarget) -> _Resolved:
        if target.name not in self._urls:
            self._urls[target.name] = self._resolve(target)
        return self._urls[target.name]

    def _resolve(self, target: NotificationTarget) -> _Resolved:
        """The target's URL, checked; or why there is none (never quoting the value read)."""
        where, read = self._read(target.url_from)
        if not isinstance(read, Secret):
            return read
        try:
            return check_url(read.reveal(), self._environ)
        except WebhookUrlError as exc:
            return f"the webhook URL in {where} {exc}"

    def _read(self, source: UrlFromEnv | UrlFromVault) -> tuple[str, Secret | str]:
        """Where the URL is kept, and the URL (sealed) or why it could not be read."""
        if isinstance(source, UrlFromEnv):
            where = f"the environment variable {source.variable}"
            text = self._environ.get(source.variable, "").strip()
            return where, Secret(text) if text else f"{where} is not set (it holds the webhook URL)"
        where = f"Vault path {source.path} (field {source.field}) under the stack's path_prefix"
        if self._vault is None:
            return where, f"the webhook URL is in {where}, and this run has no Vault login"
        try:
            secret = self._vault().read_field(source.path, source.field)
        except GradientKeysError as exc:
            return where, f"the webhook URL could not be read from {where}: {exc}"
        return where, secret or f"{where} holds no webhook URL (write it there: docs/notifications.md)"
