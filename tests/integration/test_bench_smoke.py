"""The benchmarks still run end to end (small, one run), and so does the suite (`bench/run --smoke`);
their numbers are never asserted on time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench import list_keys
from tests.pulumi_cli.engine import REPO, find_pulumi


def test_list_benchmark_counts_requests(tmp_path: Path) -> None:
    out = tmp_path / "list.json"
    list_keys.main(["--keys", "450", "--runs", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["request_floor"] == 3
    assert results["results"]["gradient-keys (per_page 200)"]["requests"] == 3
    assert results["results"]["naive (default per_page 20)"]["requests"] == 23


def test_vault_benchmark_counts_requests(tmp_path: Path) -> None:
    from bench import vault_ops

    out = tmp_path / "vault.json"
    vault_ops.main(["--ops", "5", "--out", str(out)])
    results = json.loads(out.read_text())["results"]
    assert results["ledger read (metadata only)"]["requests_per_op"] == 1
    assert results["secret write (new version, check-and-set)"]["requests_per_op"] == 3


def test_bulk_rotation_benchmark_runs(tmp_path: Path) -> None:
    from bench import rotate_bulk

    out = tmp_path / "bulk.json"
    rotate_bulk.main(["--keys", "20", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["rotated"] == 20 and results["refused_with_429"] == 0
    spent = results["time_seconds"]  # the command's own split of its time, from its clients
    assert all(spent[part] > 0 for part in ("pacing", "digitalocean", "vault", "verification")), spent


def test_audit_benchmark_counts_requests(tmp_path: Path) -> None:
    from bench import audit_scale

    out = tmp_path / "audit.json"
    audit_scale.main(["--keys", "450", "--naive-sample", "3", "--out", str(out)])
    results = json.loads(out.read_text())
    assert (
        results["gradient_keys_audit"]["digitalocean_requests"] == 3 == results["digitalocean_request_floor"]
    )
    assert results["naive_per_key"]["digitalocean_requests_measured"] == 9


def test_sandbox_state_benchmark_runs(tmp_path: Path) -> None:
    from bench import sandbox_state

    out = tmp_path / "state.json"
    sandbox_state.main(
        ["--keys", "250", "--runs", "1", "--regenerates", "10", "--naive-regenerates", "3", "--out", str(out)]
    )
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"memory", "json rewrite (naive)", "sqlite"}
    assert all(r["median_requests_per_second"] > 0 for r in results.values())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_suite_smoke(tmp_path: Path) -> None:
    """`bench/run --smoke --twice`, as CI runs it: every figure at tiny N through the real engine,
    twice and compared, the docs written to a temp dir (never the committed ones). Counts are
    checked, never times."""
    if find_pulumi() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the benchmark suite's smoke through the real engine")
        pytest.skip("no Pulumi engine here: scripts/setup builds one (docs/pulumi.md, 'The engine')")
    results, docs = tmp_path / "results", tmp_path / "docs"
    run = subprocess.run(
        [str(REPO / "bench" / "run"), "--smoke", "--twice", "--results", str(results), "--docs", str(docs)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert {p.name for p in results.iterdir()} == {
        "engine.json",
        "rotate_bulk.json",
        "rotate_bulk_short_window.json",
        "audit_scale.json",
        "list_keys.json",
        "reproducibility.json",
        "first-run",
    }
    # Twice: every count of the first run equal in the second (timings are never asserted).
    reproduced = json.loads((results / "reproducibility.json").read_text())["counts"]
    # at least the engine's: 4 commands x 2 programs x (DigitalOcean requests, Vault logins)
    assert reproduced["compared"] >= 16 and reproduced["equal"] == reproduced["compared"], reproduced
    engine = json.loads((results / "engine.json").read_text())["results"][0]
    ours = engine["variants"]["gradient-keys"]
    for phase, floor in engine["floor"].items():  # gradient-keys at the floor, one login a command
        assert ours[phase]["digitalocean_requests"]["median"] == floor, phase
        assert ours[phase]["vault_logins"]["median"] == 1, phase
    assert engine["variants"]["naive"]["first up"]["vault_logins"]["median"] == engine["keys"]
    rotation = json.loads((results / "rotate_bulk.json").read_text())
    assert rotation["rotated"] == 20 and rotation["refused_with_429"] == 0
    markdown = (docs / "benchmarks.md").read_text()
    for heading in ("Through the real engine", "Bulk rotation", "Audit", "Listing keys", "Reproducibility"):
        assert f"## {heading}" in markdown
    assert (docs / "benchmarks.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
