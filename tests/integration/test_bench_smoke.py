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
