"""The rotation ledger: what gradient-keys knows about one logical key, stored beside its secret.

It is written twice per Vault version, on purpose:
- inside the version's data, as the JSON field `gradient_keys_ledger`, so the secret and the
  facts about it are committed together by one check-and-set write (the source of truth);
- as KV v2 `custom_metadata` (a mirror, plus the `version` it describes), so the ledger can be
  read without reading the secret. A mirror whose `version` is not the current version is stale
  (a writer died between the two writes, or lost a race) and is rebuilt from the data.

Nothing in it is secret: key uuids, the active slot, times, the rotation token, a 12-hex
fingerprint of the secret, the stack name, and who wrote the version and why (the front end, its
run id, the CI job and user when known, the reason). Every version keeps its own ledger, so the
versions Vault keeps are the key's history (components/history.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any

__all__ = ["LEDGER_DATA_FIELD", "MANAGED_BY", "SLOTS", "Ledger", "LedgerFormatError"]

MANAGED_BY = "gradient-keys"
LEDGER_DATA_FIELD = "gradient_keys_ledger"
SECRET_DATA_FIELD = "api_key"  # noqa: S105 - a field name
SLOTS = ("a", "b")
_FINGERPRINT = re.compile(r"[0-9a-f]{12}")
# KV v2 caps custom_metadata values at 512 bytes; keep every field well inside it.
MAX_FIELD_LENGTH = 256


class LedgerFormatError(ValueError):
    """A ledger in Vault that gradient-keys did not write, or that was edited by hand."""


@dataclass(frozen=True)
class Ledger:
    fingerprint: str  # first 12 hex of SHA-256 of the secret this version holds
    rotated_at: str  # ISO 8601 UTC, when that secret was minted
    slot_a: str | None = None  # DigitalOcean key uuid of slot a
    slot_b: str | None = None  # slot b (dual-slot keys only)
    active_slot: str = "a"  # the slot whose secret this version holds
    rotation_token: str | None = None  # the last `rotation_token` applied
    stack: str | None = None
    # The run that wrote it: a `gradient-keys rotate` run (makes bulk runs resumable), or the
    # provider process of one `pulumi up`.
    run_id: str | None = None
    # Slots an emergency has still to regenerate: their old (possibly leaked) secrets may still
    # work. Written with the emergency's first version, cleared once every slot is regenerated.
    pending_slots: str | None = None
    # How the current secret came to be: "adopt" (adoption or creation; no earlier secret was
    # handed to consumers) or "rotate". Rotating again soon after a "rotate" kills the secret
    # consumers held until then, so `gradient-keys rotate` waits a minimum interval after one.
    origin: str | None = None
    # "true" when the secret came from a regenerate retried after a lost answer: the lost request
    # may commit later and kill it, so the next `gradient-keys rotate` checks that it still works.
    unsettled: str | None = None
    # Who wrote this version and why (components/provenance.py); absent from ledgers written
    # before they were recorded, which read as None. `run_id` above is the writer's run.
    actor: str | None = None  # "pulumi" (the provider) or "gradient-keys rotate" (the command)
    reason: str | None = None  # adoption, age, token, requested, emergency, ... (`Reason`)
    ci_job: str | None = None  # a link to the CI job that wrote it, when known
    ci_user: str | None = None  # who started that CI job, when known
    managed_by: str = MANAGED_BY

    def __post_init__(self) -> None:
        if not isinstance(self.fingerprint, str) or not _FINGERPRINT.fullmatch(self.fingerprint):
            raise LedgerFormatError("fingerprint must be 12 lowercase hex characters")
        if not isinstance(self.active_slot, str) or self.active_slot not in SLOTS:
            raise LedgerFormatError(f"active_slot must be one of {', '.join(SLOTS)}")
        if self.pending_slots is not None and (
            not isinstance(self.pending_slots, str) or not set(self.pending_slots) <= set(SLOTS)
        ):
            raise LedgerFormatError(f"pending_slots must be made of {', '.join(SLOTS)}")
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH):
                raise LedgerFormatError(
                    f"{item.name} must be a string of at most {MAX_FIELD_LENGTH} characters"
                )

    @property
    def active_uuid(self) -> str | None:
        return self.slot_a if self.active_slot == "a" else self.slot_b

    def with_provenance(
        self,
        *,
        actor: str | None,
        reason: str | None,
        run_id: str | None,
        ci_job: str | None,
        ci_user: str | None,
    ) -> Ledger:
        """This ledger, written by someone else: every provenance field replaced together."""
        return replace(self, actor=actor, reason=reason, run_id=run_id, ci_job=ci_job, ci_user=ci_user)

    def provenance_of(self, other: Ledger) -> Ledger:
        """This ledger with `other`'s provenance (a writer keeping another's facts, not its name)."""
        return self.with_provenance(
            actor=other.actor,
            reason=other.reason,
            run_id=other.run_id,
            ci_job=other.ci_job,
            ci_user=other.ci_user,
        )

    # -- custom_metadata (string -> string) ---------------------------------------------------
    def to_metadata(self, version: int) -> dict[str, str | None]:
        """custom_metadata for a JSON merge patch: None removes a key this ledger no longer has,
        and keys that are not the ledger's (an operator's `owner: team-x`) are left alone."""
        values: dict[str, str | None] = dict(asdict(self))
        values["managed-by"] = values.pop("managed_by")
        values["version"] = str(version)
        return values

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> tuple[Ledger, int] | None:
        """The mirrored ledger and the version it describes; None when there is none."""
        if not metadata or metadata.get("managed-by") != MANAGED_BY:
            return None
        known = {f.name for f in fields(cls)}
        # Keys that are not the ledger's (added by an operator, or by a newer gradient-keys) are ignored.
        values = {k: v for k, v in metadata.items() if k in known}
        values["managed_by"] = metadata["managed-by"]
        raw_version = metadata.get("version")
        if not isinstance(raw_version, str) or not re.fullmatch(r"[0-9]{1,18}", raw_version):
            raise LedgerFormatError("the ledger's version field is missing or not a number")
        return cls._build(values), int(raw_version)

    # -- the copy inside the secret's data ----------------------------------------------------
    def to_data_field(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_data_field(cls, raw: Any) -> Ledger | None:
        if raw is None:
            return None
        try:
            values = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise LedgerFormatError(f"the {LEDGER_DATA_FIELD} field is not a JSON object")
        # Fields a newer gradient-keys adds are ignored, as in the mirror: runners of two versions
        # against one Vault keep working while they are upgraded.
        known = {f.name for f in fields(cls)}
        return cls._build({k: v for k, v in values.items() if k in known})

    @classmethod
    def _build(cls, values: dict[str, Any]) -> Ledger:
        required = [f.name for f in fields(cls) if f.default is MISSING]
        if any(name not in values for name in required):
            raise LedgerFormatError(f"the ledger lacks {' or '.join(required)}")
        return cls(**values)
