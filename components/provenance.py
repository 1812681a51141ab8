"""Who wrote a Vault version, and why: the provenance every ledger records with its secret.

- `Actor`: the front end that wrote it (the Pulumi provider, or `gradient-keys rotate`).
- `Reason`: why, from the typed decisions that made it (`rotation.rotation_due`'s `DueKind`, the
  emergency flag, the command's selection), never from a message's text.
- `Provenance`: the actor, its run id, and the CI job and user when the front end runs in CI.
  Built by a front end from its environment (`Provenance.from_environ`); the core is handed it in
  the `KeyContext`. Nothing here reads the process environment itself.

Everything here is stored in Vault's metadata and shown by `gradient-keys history` and the audit:
values from the environment are kept only when they have the documented shape (a CI job URL
without a user or password in it, a login name), so nothing else rides along.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.ledger import MAX_FIELD_LENGTH, Ledger
from components.rotation import DueKind

__all__ = ["Actor", "Provenance", "Reason", "reason_for", "stamp"]


class Actor(enum.StrEnum):
    """The front end that wrote a version."""

    PULUMI = "pulumi"  # the dynamic provider, in a `pulumi up`
    ROTATE = "gradient-keys rotate"  # the command


class Reason(enum.StrEnum):
    """Why a version was written (the ledger's `reason`)."""

    ADOPTION = "adoption"  # created or adopted: the first secret gradient-keys stored
    AGE = "age"  # rotate_every had passed
    TOKEN = "token"  # noqa: S105 - a new rotation_token was declared
    REQUESTED = "requested"  # `gradient-keys rotate KEY` or `--all`: asked for, due or not
    EMERGENCY = "emergency"  # `--emergency`: every slot regenerated
    EMERGENCY_FINISH = "emergency-finish"  # an interrupted emergency finished by a later run
    SECRET_DEAD = "secret-dead"  # noqa: S105 - the stored secret was found dead (a late regenerate)
    RESTORE = "restore"  # Vault held no current secret: the active slot's was minted again


_BY_DUE_KIND = {
    DueKind.NOT_DUE: Reason.REQUESTED,  # rotated although not due: someone asked for it
    DueKind.EMERGENCY_UNFINISHED: Reason.EMERGENCY_FINISH,
    DueKind.TOKEN_CHANGED: Reason.TOKEN,
    DueKind.AGE_UNREADABLE: Reason.AGE,
    DueKind.AGE: Reason.AGE,
}


def reason_for(kind: DueKind) -> Reason:
    """The reason a rotation records when `rotation_due` said `kind`."""
    return _BY_DUE_KIND[kind]


_RUN_ID = re.compile(r"[0-9]{1,20}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
# GitHub logins (bots end in "[bot]") and GitLab usernames.
_LOGIN = re.compile(r"[A-Za-z0-9_.\[\]-]{1,100}")


@dataclass(frozen=True)
class Provenance:
    """Who is writing: the front end, its run, and the CI job and user when known. Never a
    credential; every field fits a ledger field."""

    actor: Actor
    run_id: str | None = None  # the command's run; the provider process's id (one `pulumi up`)
    ci_job: str | None = None  # a link to the CI job (GitHub Actions run, GitLab job)
    ci_user: str | None = None  # who started that job (GITHUB_ACTOR, GITLAB_USER_LOGIN)

    @classmethod
    def from_environ(cls, actor: Actor, environ: Mapping[str, str], run_id: str | None = None) -> Provenance:
        """The provenance of a front end running with `environ` (a front end hands in its own)."""
        return cls(actor, run_id, ci_job(environ), ci_user(environ))

    def stamp(self, ledger: Ledger, reason: Reason, run_id: str | None = None) -> Ledger:
        """`ledger` as this front end writes it for `reason`: every provenance field set, so none
        of an earlier writer's survives (`run_id`, when given, is the command's run)."""
        return ledger.with_provenance(
            actor=self.actor.value,
            reason=reason.value,
            run_id=run_id or self.run_id,
            ci_job=self.ci_job,
            ci_user=self.ci_user,
        )


def stamp(provenance: Provenance | None, ledger: Ledger, reason: Reason, run_id: str | None = None) -> Ledger:
    """`Provenance.stamp`, or without a known writer (a test driving the core directly), the
    reason and run id alone, the other fields cleared."""
    if provenance is not None:
        return provenance.stamp(ledger, reason, run_id)
    return ledger.with_provenance(actor=None, reason=reason.value, run_id=run_id, ci_job=None, ci_user=None)


def ci_job(environ: Mapping[str, str]) -> str | None:
    """A link to the CI job this runs in: GitHub Actions (the workflow run) or GitLab CI (the
    job); None elsewhere, or when the variables do not have their documented shape."""
    server = environ.get("GITHUB_SERVER_URL", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run = environ.get("GITHUB_RUN_ID", "")
    if server and repository and run:
        named = _REPOSITORY.fullmatch(repository) and not {".", ".."} & set(repository.split("/"))
        if _plain_url(server) and named and _RUN_ID.fullmatch(run):
            return _bounded(f"{server.rstrip('/')}/{repository}/actions/runs/{run}")
        return None
    job_url = environ.get("CI_JOB_URL", "")
    return _bounded(job_url) if job_url and _plain_url(job_url) else None


def ci_user(environ: Mapping[str, str]) -> str | None:
    """Who started the CI job (a login name), when the CI says so."""
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN"):
        login = environ.get(variable, "")
        if login:
            return login if _LOGIN.fullmatch(login) else None
    return None


def _plain_url(url: str) -> bool:
    """An http(s) URL with a host, no user or password, nothing outside printable ASCII."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def _bounded(url: str) -> str | None:
    return url if len(url) <= MAX_FIELD_LENGTH else None
