"""The commands' notification hooks: `rotate` and `audit` call one each, after their run, and put
what they return in their JSON document as `notifications` (docs/notifications.md).

The run's work is done before a hook is called, so nothing a hook meets changes it: a delivery that
failed is a line on stderr and `delivered: false` in the document, and the exit code stays the
run's. In table mode each delivery gets a line on stderr; in JSON mode only the failed ones do.
"""

from __future__ import annotations

import argparse
import os

from components.audit import AuditReport
from components.bulk_rotation import Outcome, RotationRunner
from components.commands.common import say
from components.config import StackSettings
from components.keys import KeyOperations
from components.notify import Notifier, overdue_notice, rotation_notices
from components.notify_payloads import Notice
from components.rotation import format_time

__all__ = ["notify_audit", "notify_rotation"]

Deliveries = list[dict[str, object]]  # the JSON document's `notifications`


def notify_rotation(
    settings: StackSettings,
    ops: KeyOperations,
    runner: RotationRunner,
    outcomes: list[Outcome],
    args: argparse.Namespace,
) -> Deliveries:
    """Tell the stack's targets what a `rotate` run did. A dry run did nothing: it tells nothing."""
    if args.dry_run or not settings.notifications:
        return []
    notices = rotation_notices(
        settings.stack,
        runner.run_id,
        emergency=runner.emergency,
        outcomes=outcomes,
        occurred_at=format_time(ops.clock()),
    )
    return _send(settings, ops, notices, table=args.format == "table")


def notify_audit(
    settings: StackSettings, ops: KeyOperations, report: AuditReport, args: argparse.Namespace
) -> Deliveries:
    """Tell the stack's targets which keys the audit found overdue for rotation. Reports go to
    stderr as in table mode unless the output is JSON."""
    notice = overdue_notice(report) if settings.notifications else None
    return _send(settings, ops, [notice], table=args.format != "json") if notice is not None else []


def _send(settings: StackSettings, ops: KeyOperations, notices: list[Notice], *, table: bool) -> Deliveries:
    notifier = Notifier(settings.notifications, environ=os.environ, vault=lambda: ops.vault)
    deliveries = notifier.send(notices)
    for delivery in deliveries:
        if table or not delivery.delivered:
            say(delivery.line())
    return [delivery.document() for delivery in deliveries]
