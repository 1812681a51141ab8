"""A consumer that follows rotations on its own, in production shape (docs/consumers.md): the real
`bao agent`, logged in with AppRole under the shipped reader policy, renders the key from a 3-node
OpenBao cluster (TLS, behind a balancer) to a file; examples/consumer_file.py reads that file and
calls the sandbox's inference endpoint every 50 ms while `gradient-keys rotate` rotates the
dual-slot key 5 times and the cluster's leader is SIGKILLed during one rotation. No call fails, no
401 retry is even needed, and the test reports how long after each rotation the consumer switched.

The secrets stay in files and in Vault: the test compares fingerprints only (the first 12 hex of
the SHA-256, as `gradient-keys history` shows them).
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from components.secret import fingerprint
from sandbox.openbao import child_environment
from sandbox.server import Emulator
from tests.agent import EXAMPLE_CONFIG, Agent, example_config, start_agent
from tests.conftest import vault_client
from tests.ha.cluster_vault import ClusterVault
from tests.integration.rotation_env import REPO, Managed, manage, regenerations

# The key of the shipped examples: prefix + vault_path give secret/data/gradient/prod/apps/chatbot,
# the path examples/agent/agent.hcl renders and examples/agent/chatbot-consumer.hcl may read, so
# both run as shipped but for the render interval.
KEY, PREFIX, VAULT_PATH = "chatbot-prod", "gradient/prod", "apps/chatbot"
POLICY = EXAMPLE_CONFIG.with_name("chatbot-consumer.hcl")
CONSUMER = REPO / "examples" / "consumer_file.py"
# The example reads Vault every minute (docs/consumers.md: 60 times inside the one-hour
# --min-interval floor). This test compresses time: 5 rotations back to back, each waiting for the
# consumer, so the agent reads every second; the pickup scales with the interval, nothing else does.
RENDER_INTERVAL = 1.0
EVERY = 0.05  # the consumer's call period
ROTATIONS = 5
FAILOVER_DURING = 3  # the leader is SIGKILLed while this rotation's command runs
KILL_AFTER = 0.5  # seconds into that command: before its first Vault call (the CLI takes longer to start)
# The bound on a switch, from the moment Vault stored the version: the agent reads 85-95% of an
# interval after its last read, so the version reaches the file within one interval; a read that a
# standby answered from a copy not yet caught up costs one more; the consumer sees the file at its
# next call (EVERY, plus the call). 1 s of margin for a shared, loaded machine.
SWITCH_BOUND = 2 * RENDER_INTERVAL + 1.0
# During the failover the agent's reads may fail until a leader serves again (through the balancer
# they mostly reach a standby, which answers on its own); its template engine retries them with a
# backoff doubling from 250 ms, so its first read after recovery comes at most about as long after
# as the reads had been failing: that rotation's bound adds twice the time the cluster took to serve.
FAILOVER_ALLOWANCE = 2.0  # times the recovery time
PICKUP_DEADLINE = 60.0  # how long to wait for the file before giving up (far above every bound)


@dataclass
class Version:
    """A KV v2 version of the key, as the test sees it: never the secret, only its fingerprint."""

    number: int
    fingerprint: str
    created: float  # Vault's created_time, seconds since the epoch


@dataclass
class Rotation:
    number: int
    version: Version
    finished: float  # when the rotate command (and its rerun, if any) returned
    attempts: int
    note: str = ""
    file_seconds: float = 0.0  # from Vault's created_time to the file holding it (its mtime)
    switch_seconds: float = 0.0  # from Vault's created_time to the consumer's first call with it
    after_command_seconds: float = 0.0  # from the command's end to that call (< 0: before it ended)


def retrying(what: str, call: Callable[[], Any], deadline: float = 60.0) -> Any:
    """`call()`, again while the cluster cannot answer (a failover under way), up to `deadline`."""
    ends = time.monotonic() + deadline
    while True:
        try:
            return call()
        except (requests.RequestException, hvac.exceptions.VaultError) as exc:
            if time.monotonic() > ends:
                raise AssertionError(
                    f"{what}: not within {deadline:.0f}s ({type(exc).__name__}: {exc})"
                ) from None
            time.sleep(0.2)


def current_version(root: hvac.Client, newer_than: int = 0, context: object = None) -> Version:
    """The key's current version in Vault, once it is newer than `newer_than` (a standby behind the
    balancer may answer from a copy a moment behind the leader); `context` goes into the error."""

    def read() -> Version:
        answer = root.secrets.kv.v2.read_secret_version(
            path=f"{PREFIX}/{VAULT_PATH}", mount_point="secret", raise_on_deleted_version=True
        )
        metadata = answer["data"]["metadata"]
        created = datetime.datetime.fromisoformat(metadata["created_time"]).timestamp()
        version = Version(int(metadata["version"]), fingerprint(answer["data"]["data"]["api_key"]), created)
        if version.number <= newer_than:
            raise hvac.exceptions.VaultError(f"version {version.number} is not newer than {newer_than}")
        return version

    return retrying(f"the version after {newer_than} ({context})", read)  # type: ignore[no-any-return]


def every_node_holds(cluster: ClusterVault, version: int) -> None:
    """Wait until each node, asked directly, answers the key's reads with `version`.

    A workaround, not what the test is about: the node back from the SIGKILL joins as a standby
    before it has caught up, the balancer sends it reads, and `gradient-keys rotate` plans from its
    first reads, which carry no X-Vault-Index yet (components/vault_auth.py sends it only once an
    answer gave one). Planned against the version before, the rotation then finds the current one
    inside its lease and skips the key as "rotated meanwhile": exit 0, nothing rotated (2 runs in
    3 without this wait). Fixed since (a key planned from a lagging copy is decided again from the
    fresh read: tests/integration/test_overlapping_runs.py); the wait goes once this test has run
    repeatedly without it.
    """
    assert cluster.cluster is not None
    for node in cluster.cluster.nodes:
        client = hvac.Client(
            url=node.address, token=cluster.root_token, verify=str(cluster.ca_cert), timeout=10
        )
        current_version(client, newer_than=version - 1, context=f"node {node.name}")


def next_second(version: Version) -> None:
    """Wait for the wall clock's next second after `version` was stored.

    Another workaround, for this test's compressed time only: the ledger's `rotated_at` and a run's
    `started_at` are whole seconds, and a resumed run skips a key whose `rotated_at >= started_at`
    as "rotated after run started" (components/bulk_rotation.py). A run started in the second the
    previous rotation ended, then stopped by the failover, is resumed into skipping the key: exit 0,
    nothing rotated (1 run in 5 without this wait). With --min-interval 1h it takes two runs within
    one second. Reported.
    """
    time.sleep(max(0.0, math.floor(version.created) + 1.01 - time.time()))


def approle_login(cluster: ClusterVault) -> tuple[str, str]:
    """AppRole as docs/consumers.md sets it up: the role `chatbot` with the shipped reader policy.
    Set up on the active node itself: through the balancer a standby may answer the next step from
    a copy that does not hold the last one yet (no such route, no such role)."""
    leader = cluster.cluster.leader() if cluster.cluster else None
    assert leader is not None
    root = hvac.Client(url=leader.address, token=cluster.root_token, verify=str(cluster.ca_cert), timeout=10)
    root.sys.create_or_update_policy("chatbot-consumer", POLICY.read_text())
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("chatbot", token_policies=["chatbot-consumer"], token_ttl="1h")
    role_id = root.auth.approle.read_role_id("chatbot")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("chatbot")["data"]["secret_id"]
    return str(role_id), str(secret_id)


def rendered(agent: Agent) -> str:
    """The fingerprint of what the agent rendered (it renames a new file over the old one)."""
    return fingerprint(agent.key_file.read_text().strip())


def chat_calls(emulator: Emulator, status: int = 200) -> int:
    """Chat completions the endpoint answered with `status`: the consumer's alone (the rotate
    command checks a new secret with `GET /v1/models`)."""
    counts: dict[str, dict[str, int]] = emulator.stats.view()["requests"]
    return counts.get("chat_completions", {}).get(str(status), 0)


def wait_for(what: str, condition: Callable[[], bool], deadline: float = PICKUP_DEADLINE) -> None:
    ends = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < ends, f"{what}: not within {deadline:.0f}s"
        time.sleep(0.01)


class Consumer:
    """examples/consumer_file.py --every 0.05 as a process of its own; its key only from the file."""

    def __init__(self, key_file: Path, inference_url: str, home: Path) -> None:
        environment = child_environment(
            {
                "GRADIENT_KEY_FILE": str(key_file),
                "DIGITALOCEAN_INFERENCE_URL": inference_url,
                "HOME": str(home),
            }
        )
        self.process = subprocess.Popen(
            [sys.executable, str(CONSUMER), "--every", str(EVERY)],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> dict[str, Any]:
        """SIGTERM (the consumer finishes its call and prints its summary), by this process's PID."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise AssertionError("the consumer did not stop within 30s of SIGTERM") from None
        assert self.process.returncode == 0, f"the consumer exited with {self.process.returncode}: {err}"
        return json.loads(out)  # type: ignore[no-any-return]


def rotate(managed: Managed, cluster: ClusterVault, root: hvac.Client, number: int, before: int) -> Rotation:
    """`gradient-keys rotate KEY --min-interval 0` (back-to-back rotations are the test's point);
    with the leader SIGKILLed KILL_AFTER seconds in when `number` is FAILOVER_DURING. A run that
    did not finish is rerun, the documented recovery (it resumes the same run)."""
    outcomes: list[tuple[int, dict[str, Any], str]] = []

    def command() -> None:
        outcomes.append(managed.rotate(KEY, "--min-interval", "0"))

    note = ""
    worker = threading.Thread(target=command)
    worker.start()
    if number == FAILOVER_DURING:
        worker.join(timeout=KILL_AFTER)
        when = "during" if worker.is_alive() else "right after"
        node = cluster.kill_leader()
        note = (
            f"leader {node.name} SIGKILLed {when} the command, "
            f"served again after {cluster.failovers[-1].recovered_seconds:.2f}s"
        )
    worker.join(timeout=600)
    code, document, stderr = outcomes[-1]
    if code != 0:
        assert "Traceback" not in stderr, stderr
        command()
        code, document, stderr = outcomes[-1]
    runs = [runs_said(*outcome) for outcome in outcomes]
    assert code == 0, (number, runs, stderr)
    finished = time.time()
    version = current_version(root, newer_than=before, context=runs)
    (entry,) = document["keys"]
    if entry["status"] == "rotated":
        assert (entry["vault_version"], entry["fingerprint"]) == (version.number, version.fingerprint)
    return Rotation(number, version, finished, len(outcomes), "; ".join(filter(None, [note, *runs[:-1]])))


def runs_said(code: int, document: dict[str, Any], stderr: str) -> str:
    """What a rotate run said, in a line: its exit code, and the key's status and detail, or the
    error document's message when the run stopped before its plan (docs/exit-codes.md)."""
    if not document.get("keys"):
        error = document.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return f"exit {code}, stopped: {message or stderr.strip()[-300:]}"
    (key,) = document["keys"]
    resumed = " (resumed)" if document.get("resumed") else ""
    return f"exit {code}, run {document.get('run_id')}{resumed}, {key.get('status')}: {key.get('detail')}"


def follow(agent: Agent, emulator: Emulator, rotation: Rotation) -> None:
    """Wait until the file holds the rotation's version and the consumer has called with it."""
    expected = rotation.version.fingerprint
    wait_for(f"rotation {rotation.number} in the file", lambda: rendered(agent) == expected)
    rotation.file_seconds = round(agent.key_file.stat().st_mtime - rotation.version.created, 3)
    # Two calls begun after the file changed (a third may have been under way): the consumer holds
    # the new key before the next rotation kills the one before it (dual-slot keeps one previous).
    calls = chat_calls(emulator)
    wait_for(
        f"the consumer's calls after rotation {rotation.number}", lambda: chat_calls(emulator) >= calls + 3
    )


def report(
    summary: dict[str, Any],
    rotations: list[Rotation],
    failover: float,
    expected_calls: float,
    regenerated: dict[str, int],
    path: Path,
) -> dict[str, Any]:
    """The measurements, printed (`-s`) and written to `path` as JSON: no secret, fingerprints only."""
    document = {
        "render_interval_seconds": RENDER_INTERVAL,
        "calls": summary["calls"],
        "expected_calls": round(expected_calls),
        "failed": summary["failed"],
        "retried_after_401": summary["retried_after_401"],
        "failover_recovered_seconds": failover,
        "regenerations": regenerated,
        "rotations": [
            {**asdict(r), "version": r.version.number, "fingerprint": r.version.fingerprint}
            for r in rotations
        ],
    }
    path.write_text(json.dumps(document, indent=2))
    print(
        f"\nbao agent + consumer_file.py: {summary['calls']} calls (~{expected_calls:.0f} at most), "
        f"{summary['failed']} failed; the leader failover served again after {failover:.2f}s; "
        f"slots regenerated {sum(regenerated.values())} times"
    )
    for r in rotations:
        print(
            f"  rotation {r.number} (version {r.version.number}, {r.attempts} run(s)): file "
            f"{r.file_seconds:.3f}s, consumer {r.switch_seconds:.3f}s after Vault stored it "
            f"({r.after_command_seconds:+.3f}s after the command ended){'; ' + r.note if r.note else ''}"
        )
    return document


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_file_consumer_follows_rotations_and_a_failover_without_a_failed_call(
    cluster: ClusterVault, emulator: Emulator, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    managed = manage(emulator, cluster.server(), tmp_path, [{"name": KEY, "vault_path": VAULT_PATH}], PREFIX)
    root = vault_client(cluster.server())
    adopted = current_version(root)
    adoption = regenerations(emulator, KEY)  # adoption regenerates: DigitalOcean shows a secret once
    role_id, secret_id = approle_login(cluster)
    config = example_config(render_interval=f"{RENDER_INTERVAL:.0f}s")
    rotations: list[Rotation] = []
    agent_dir = tmp_path / "agent"
    with start_agent(
        config, cluster.address, agent_dir, role_id=role_id, secret_id=secret_id, ca_cert=cluster.ca_cert
    ) as agent:
        assert rendered(agent) == adopted.fingerprint
        consumer = Consumer(agent.key_file, emulator.base_url, tmp_path)
        try:
            wait_for("the consumer's first calls", lambda: chat_calls(emulator) >= 3)
            for number in range(1, ROTATIONS + 1):
                before = rotations[-1].version if rotations else adopted
                next_second(before)
                rotations.append(rotate(managed, cluster, root, number, before.number))
                follow(agent, emulator, rotations[-1])
                if number == FAILOVER_DURING:
                    cluster.restore()
                    every_node_holds(cluster, rotations[-1].version.number)
        finally:
            stopped = time.time()
            summary = consumer.stop()
    log = agent.log_path.read_text()
    assert role_id not in log and secret_id not in log

    used = {k["fingerprint"]: float(k["since"]) for k in summary["keys_used"]}
    for rotation in rotations:
        first_use = used.get(rotation.version.fingerprint, float("nan"))
        rotation.switch_seconds = round(first_use - rotation.version.created, 3)
        rotation.after_command_seconds = round(first_use - rotation.finished, 3)
    expected_calls = (stopped - float(summary["keys_used"][0]["since"])) / EVERY
    failover = cluster.failovers[-1].recovered_seconds
    regenerated = {name: n - adoption.get(name, 0) for name, n in regenerations(emulator, KEY).items()}
    document = report(
        summary, rotations, failover, expected_calls, regenerated, tmp_path / "agent_failover.json"
    )
    # In --junitxml's report as a property (the record_property fixture would warn under xunit2).
    request.node.user_properties.append(("agent_failover", json.dumps(document)))

    # Not one failed call, and none that needed the 401 retry: the old key always still worked.
    assert summary["failed"] == 0, summary["failures"]
    assert summary["retried_after_401"] == 0
    assert chat_calls(emulator, 401) == 0  # the endpoint's view agrees
    assert summary["calls"] >= 0.5 * expected_calls, (summary["calls"], expected_calls)
    # Every version in turn, each used before the next rotation was stored, and soon enough.
    versions = [adopted] + [r.version for r in rotations]
    assert [v.number for v in versions] == list(range(adopted.number, adopted.number + ROTATIONS + 1))
    assert [k["fingerprint"] for k in summary["keys_used"]] == [v.fingerprint for v in versions]
    for earlier, later in itertools.pairwise(rotations):
        assert used[earlier.version.fingerprint] < later.version.created, (earlier.number, later.number)
    # One regenerate per rotation; a run stopped by the failover may have regenerated the unused
    # slot before it stopped (its answer never reached Vault), and the rerun regenerates it again.
    reruns = sum(r.attempts - 1 for r in rotations)
    assert ROTATIONS <= sum(regenerated.values()) <= ROTATIONS + reruns, regenerated
    for rotation in rotations:
        bound = SWITCH_BOUND
        if rotation.number == FAILOVER_DURING:
            bound += FAILOVER_ALLOWANCE * failover
        assert rotation.switch_seconds < bound, (rotation.number, rotation.switch_seconds, bound)
