"""bench/compare.py: when two runs of the suite agree, and when they do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import compare


def spread(median: float, low: float, high: float) -> dict[str, Any]:
    return {"median": median, "min": low, "max": high, "runs": [low, median, high]}


def results(directory: Path, *, requests: float, wall: dict[str, Any]) -> Path:
    directory.mkdir()
    engine = {
        "results": [
            {
                "keys": 100,
                "variants": {"ours": {"requests": spread(requests, requests, requests), "wall": wall}},
            }
        ]
    }
    (directory / "engine.json").write_text(json.dumps(engine))
    return directory


def test_identical_counts_and_overlapping_timings_agree(tmp_path: Path) -> None:
    a = results(tmp_path / "a", requests=201, wall=spread(2.0, 1.8, 2.4))
    b = results(tmp_path / "b", requests=201, wall=spread(2.3, 2.1, 2.9))  # its median inside a's range
    document = compare.compare(a, b)
    assert document["counts"] == {"compared": 1, "equal": 1}
    assert document["timings"] == {"compared": 1, "within_noise": 1}
    assert document["disagreeing"] == []


def test_a_changed_count_disagrees(tmp_path: Path) -> None:
    a = results(tmp_path / "a", requests=201, wall=spread(2.0, 1.8, 2.4))
    b = results(tmp_path / "b", requests=202, wall=spread(2.0, 1.8, 2.4))
    document = compare.compare(a, b)
    assert document["counts"] == {"compared": 1, "equal": 0}
    [figure] = document["disagreeing"]
    assert figure["path"] == "results / N=100 / variants / ours / requests"


def test_a_timing_outside_both_ranges_disagrees_with_its_difference(tmp_path: Path) -> None:
    a = results(tmp_path / "a", requests=201, wall=spread(2.0, 1.9, 2.1))
    b = results(tmp_path / "b", requests=201, wall=spread(3.0, 2.9, 3.1))
    document = compare.compare(a, b)
    assert document["timings"] == {"compared": 1, "within_noise": 0}
    [figure] = document["disagreeing"]
    assert figure["difference"] == 0.5


def test_either_median_inside_the_others_range_is_enough(tmp_path: Path) -> None:
    """A narrow second run inside a wide first one (or the reverse) is the same noise."""
    wide, narrow = spread(2.0, 1.0, 3.0), spread(2.8, 2.75, 2.85)
    a = results(tmp_path / "a", requests=1, wall=wide)
    b = results(tmp_path / "b", requests=1, wall=narrow)
    assert compare.compare(a, b)["timings"]["within_noise"] == 1
    assert compare.compare(b, a)["timings"]["within_noise"] == 1


def test_nothing_in_common_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    b = results(tmp_path / "b", requests=1, wall=spread(1, 1, 1))
    with pytest.raises(SystemExit, match="no figure found"):
        compare.compare(tmp_path / "a", b)
