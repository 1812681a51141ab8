"""An audit report for people: the inventory (one row per declared key) and the findings, as a
terminal table that fits 100 columns, or as Markdown for a CI job summary.

Cells come from outside (key names typed in DigitalOcean's control panel, Vault paths from a stack
file): in the terminal their control characters are shown escaped; in Markdown they are also
escaped for the table and for HTML (a job summary renders HTML), so a name cannot add a column,
a link, an image or a script.
"""

from __future__ import annotations

import datetime
import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from components.audit import AuditReport, Finding, KeyRow, Severity
from components.rotation import parse_time
from components.terminal import escape_controls

__all__ = ["WIDTH", "InventoryRow", "inventory", "markdown", "markdown_cell", "terminal_lines"]

WIDTH = 100
KEY_WIDTH = 28  # the longest name shown whole; longer ones end in "~"


@dataclass(frozen=True)
class InventoryRow:
    key: str
    strategy: str
    slots: str  # "a,b" (dual-slot), "a" (in-place), "-" when Vault has no ledger
    active: str
    age: str  # since the current secret was minted: "12d", "5h", "40m"
    next_rotation: str  # "2026-12-02", "due now", or "-"
    vault_version: str  # "v3", or "-"
    findings: int

    def cells(self) -> tuple[str, ...]:
        return (
            self.key,
            self.strategy,
            self.slots,
            self.active,
            self.age,
            self.next_rotation,
            self.vault_version,
            str(self.findings),
        )


HEADERS = ("KEY", "STRATEGY", "SLOTS", "ACTIVE", "AGE", "NEXT ROTATION", "VAULT", "FINDINGS")


def inventory(report: AuditReport) -> list[InventoryRow]:
    now = parse_time(report.generated_at)
    return [_row(key, now) for key in report.keys]


def _row(key: KeyRow, now: datetime.datetime) -> InventoryRow:
    managed = bool(key.rotated_at)
    slots = ",".join(s for s, uuid in (("a", key.slot_a_uuid), ("b", key.slot_b_uuid)) if uuid)
    return InventoryRow(
        key=key.key,
        strategy=key.strategy,
        slots=slots or "-",
        active=key.active_slot or "-",
        age=_age(now - parse_time(key.rotated_at)) if managed else "-",
        next_rotation=_next(key.next_rotation, now) if key.next_rotation else "-",
        vault_version=f"v{key.vault_version}" if key.vault_version else "-",
        findings=key.findings,
    )


def _age(elapsed: datetime.timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds >= 86400:
        return f"{seconds // 86400}d"
    if seconds >= 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _next(when: str, now: datetime.datetime) -> str:
    try:
        moment = parse_time(when)
    except ValueError:
        return when  # not a time: a reason the audit wrote, shown as it is
    return "due now" if moment <= now else moment.strftime("%Y-%m-%d")


# -- the terminal --------------------------------------------------------------------------------
def terminal_lines(report: AuditReport) -> list[str]:
    """The inventory table, then each finding as a wrapped block; no line is wider than WIDTH."""
    rows = [tuple(_cell(c) for c in row.cells()) for row in inventory(report)]
    rows = [(_clip(r[0], KEY_WIDTH), *r[1:]) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(HEADERS)]
    lines = [_join(HEADERS, widths), *(_join(r, widths) for r in rows)]
    for finding in report.findings:
        lines += _finding_block(finding)
    return [line[:WIDTH] for line in lines]


def _cell(text: str) -> str:
    return escape_controls(text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _join(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _finding_block(finding: Finding) -> list[str]:
    where = finding.key or finding.digitalocean_uuid or finding.vault_path or ""
    head = f"{finding.severity.upper()} {finding.id} {escape_controls(where)}: "
    head += escape_controls(finding.message)
    indent = " " * 4
    lines = textwrap.wrap(head, WIDTH, subsequent_indent=indent, break_on_hyphens=False)
    lines += textwrap.wrap(
        f"fix: {escape_controls(finding.fix)}",
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "     ",
        break_on_hyphens=False,
    )
    return ["", *lines]


# -- Markdown (a CI job summary) -----------------------------------------------------------------
_MARKS = {
    Severity.CRITICAL: "🛑",
    Severity.HIGH: "❌",
    Severity.MEDIUM: "⚠️",
    Severity.LOW: "🔹",
    Severity.INFO: "💬",
}
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|~])")
# GitHub turns bare `https://...` and `www.` into links: an entity in their middle keeps them text.
_AUTOLINKS = ((re.compile(r":(?=//)"), "&#58;"), (re.compile(r"(?i)(?<=www)\."), "&#46;"))


def markdown_cell(text: str) -> str:
    """Text from outside as one inert Markdown table cell: controls escaped, then HTML, then the
    characters Markdown gives a meaning (a `|` would add a column, `[x](y)` a link, `**` bold),
    then what GitHub would link by itself."""
    cell = _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(escape_controls(text), quote=False))
    for pattern, entity in _AUTOLINKS:
        cell = pattern.sub(entity, cell)
    return cell


def markdown(report: AuditReport, fail_on: Severity) -> str:
    counts = [(s, sum(1 for f in report.findings if f.severity is s)) for s in reversed(Severity)]
    found = ", ".join(f"{n} {s}" for s, n in counts if n)
    failing = report.fails(fail_on)
    verdict = (
        f"❌ **fails** at `--fail-on {fail_on}`: {found}"
        if failing
        else (f"✅ **passes** at `--fail-on {fail_on}`: {found}" if found else "✅ **no findings**")
    )
    lines = [
        f"## gradient-keys audit: stack `{markdown_cell(report.stack)}`",
        "",
        verdict,
        "",
        f"{len(report.keys)} declared key(s), {report.digitalocean_keys} DigitalOcean key(s); "
        f"{report.digitalocean_requests} DigitalOcean and {report.vault_requests} Vault requests; "
        f"generated {report.generated_at}" + (" (secrets verified)" if report.verify_secrets else ""),
        "",
        "| " + " | ".join(h.lower() for h in HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row.cells()) + " |" for row in inventory(report)]
    if report.findings:
        lines += [
            "",
            "### Findings",
            "",
            "| | severity | id | key | message | fix |",
            "|---|---|---|---|---|---|",
        ]
        for f in report.findings:
            where = markdown_cell(f.key or f.digitalocean_uuid or f.vault_path or "")
            lines.append(
                f"| {_MARKS[f.severity]} | {f.severity} | `{f.id}` | {where} | "
                f"{markdown_cell(f.message)} | {markdown_cell(f.fix)} |"
            )
    return "\n".join(lines) + "\n"
