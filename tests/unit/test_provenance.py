"""Who wrote a version and why (components/provenance.py): the CI job and user taken only when
the CI's variables have their documented shape, one reason for every due decision, and a stamp
that replaces every provenance field an earlier writer left."""

from __future__ import annotations

import pytest

from components.ledger import MAX_FIELD_LENGTH, Ledger
from components.provenance import Actor, Provenance, Reason, ci_job, ci_user, reason_for, stamp
from components.rotation import DueKind

GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/infra",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_ACTOR": "octocat",
}
GITLAB = {"CI_JOB_URL": "https://gitlab.example.com/acme/infra/-/jobs/77", "GITLAB_USER_LOGIN": "jane.doe"}


def test_github_actions_gives_the_workflow_run_and_its_actor() -> None:
    assert ci_job(GITHUB) == "https://github.com/acme/infra/actions/runs/4242"
    assert ci_job({**GITHUB, "GITHUB_SERVER_URL": "https://github.example.com/"}) == (
        "https://github.example.com/acme/infra/actions/runs/4242"
    )
    assert ci_user(GITHUB) == "octocat"
    assert ci_user({"GITHUB_ACTOR": "dependabot[bot]"}) == "dependabot[bot]"


def test_gitlab_gives_the_job_and_its_user() -> None:
    assert ci_job(GITLAB) == "https://gitlab.example.com/acme/infra/-/jobs/77"
    assert ci_user(GITLAB) == "jane.doe"


def test_outside_ci_nothing_is_recorded() -> None:
    assert ci_job({}) is None and ci_user({}) is None
    assert Provenance.from_environ(Actor.ROTATE, {}, "run1") == Provenance(Actor.ROTATE, "run1")


@pytest.mark.parametrize(
    "environ",
    [
        {**GITHUB, "GITHUB_SERVER_URL": "https://user:hunter2@github.com"},
        {**GITHUB, "GITHUB_SERVER_URL": "javascript:alert(1)"},
        {**GITHUB, "GITHUB_REPOSITORY": "acme/infra evil"},
        {**GITHUB, "GITHUB_REPOSITORY": "../.."},
        {**GITHUB, "GITHUB_RUN_ID": "42; rm -rf"},
        {"CI_JOB_URL": "https://token:glpat-x@gitlab.example.com/jobs/1"},
        {"CI_JOB_URL": "https://gitlab.example.com/jobs/1\x1b[2J"},
        {"CI_JOB_URL": "https://gitlab.example.com/jobs/1 and more"},
        {"CI_JOB_URL": "ftp://gitlab.example.com/jobs/1"},
        {"CI_JOB_URL": "https://gitlab.example.com/" + "x" * MAX_FIELD_LENGTH},
    ],
    ids=[
        "userinfo",
        "not http",
        "repository with a space",
        "repository of dots",
        "run id not a number",
        "gitlab userinfo",
        "control characters",
        "spaces",
        "ftp",
        "too long for the ledger",
    ],
)
def test_a_ci_variable_of_another_shape_is_not_recorded(environ: dict[str, str]) -> None:
    assert ci_job(environ) is None


@pytest.mark.parametrize(
    "login", ["evil\x1b[31m", "a b", "x" * 101, "ünïcode"], ids=["escape", "space", "long", "non-ascii"]
)
def test_a_login_of_another_shape_is_not_recorded(login: str) -> None:
    assert ci_user({"GITHUB_ACTOR": login}) is None


def test_every_due_decision_has_its_reason() -> None:
    assert {kind: reason_for(kind) for kind in DueKind} == {
        DueKind.NOT_DUE: Reason.REQUESTED,
        DueKind.EMERGENCY_UNFINISHED: Reason.EMERGENCY_FINISH,
        DueKind.TOKEN_CHANGED: Reason.TOKEN,
        DueKind.AGE_UNREADABLE: Reason.AGE,
        DueKind.AGE: Reason.AGE,
    }


def test_a_stamp_replaces_every_field_an_earlier_writer_left() -> None:
    earlier = Provenance(Actor.ROTATE, "run-1", "https://ci.example.com/1", "someone").stamp(
        Ledger("0123456789ab", "2026-11-25T00:00:00Z"), Reason.EMERGENCY
    )
    assert (earlier.actor, earlier.reason, earlier.run_id) == ("gradient-keys rotate", "emergency", "run-1")
    later = Provenance(Actor.PULUMI, "proc-2").stamp(earlier, Reason.AGE)
    assert (later.actor, later.reason, later.run_id, later.ci_job, later.ci_user) == (
        "pulumi",
        "age",
        "proc-2",
        None,
        None,
    )
    # The command's run id wins over its provenance's own.
    assert Provenance(Actor.ROTATE).stamp(earlier, Reason.REQUESTED, "run-3").run_id == "run-3"
    # No known writer (the core driven directly): the reason, the rest cleared.
    anonymous = stamp(None, earlier, Reason.ADOPTION)
    assert (anonymous.actor, anonymous.reason, anonymous.run_id, anonymous.ci_job) == (
        None,
        "adoption",
        None,
        None,
    )


def test_provenance_of_copies_only_who_and_why() -> None:
    theirs = Ledger("0123456789ab", "2026-11-25T00:00:00Z", slot_a="a-uuid", active_slot="a")
    ours = Provenance(Actor.ROTATE, "run-9", None, "octocat").stamp(
        Ledger("ba9876543210", "2026-11-26T00:00:00Z", slot_a="other"), Reason.TOKEN
    )
    merged = theirs.provenance_of(ours)
    assert (merged.fingerprint, merged.slot_a) == (theirs.fingerprint, "a-uuid")
    assert (merged.actor, merged.reason, merged.run_id, merged.ci_user) == (
        "gradient-keys rotate",
        "token",
        "run-9",
        "octocat",
    )
