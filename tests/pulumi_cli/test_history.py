"""`gradient-keys history` after `pulumi up`s through the real engine: the provider the engine
starts records itself, one run id per `pulumi up`, and the CI job from the environment the
engine was given."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable

from tests.pulumi_cli.engine import REPO, PulumiProject
from tests.pulumi_cli.stackkit import DUAL

GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/infra",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_ACTOR": "octocat",
}


def test_each_pulumi_up_is_one_run_and_says_its_ci_job(
    adopted: Callable[..., PulumiProject], prefix: str
) -> None:
    project = adopted([DUAL])  # the first `pulumi up` adopts, outside CI
    project.configure([{**DUAL, "rotation_token": "2026-11-25"}], prefix)
    project.up(env=GITHUB)  # the second, in a GitHub Actions run, applies the new token

    result = subprocess.run(
        [sys.executable, "-m", "components.cli", "history", "chatbot", "--config", str(project.stack_file),
         "--format", "json"],
        cwd=REPO, env=project.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token, adoption = json.loads(result.stdout)["versions"]
    assert (adoption["version"], adoption["actor"], adoption["reason"], adoption["ci_job"]) == (
        1,
        "pulumi",
        "adoption",
        None,
    )
    assert (token["version"], token["actor"], token["reason"], token["active_slot"]) == (
        2,
        "pulumi",
        "token",
        "b",
    )
    assert token["ci_job"] == "https://github.com/acme/infra/actions/runs/4242"
    assert token["ci_user"] == "octocat" and token["rotation_token"] == "2026-11-25"
    assert re.fullmatch(r"[0-9a-f]{12}", token["run_id"]) and re.fullmatch(
        r"[0-9a-f]{12}", adoption["run_id"]
    )
    assert token["run_id"] != adoption["run_id"]  # two `pulumi up`s, two runs
