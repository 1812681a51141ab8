"""The list benchmark still runs end to end (small, one run); its numbers are not asserted on time."""

from __future__ import annotations

import json
from pathlib import Path

from bench import list_keys


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
