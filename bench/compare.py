"""Does the suite reproduce within its own noise? Two result directories of `bench/run`, compared
figure by figure.

Every figure the suite reports as a spread (median, min and max of its runs) is found in both
directories by its place in the JSON. A count (requests, logins, 429s: every run agreed) must be
equal in both. A measured figure agrees when either run's median lies inside the other's min-max
range: the second run landed where the first one's own runs did, or the other way round. What does
not agree is listed with its relative difference, and the machine's load for both runs is noted.

    .venv/bin/python -m bench.compare FIRST_RESULTS SECOND_RESULTS [--out FILE]

`bench/run --results DIR --docs DIR` makes a second directory without touching the first;
`--out bench/results/reproducibility.json` puts the comparison on docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.measure import machine

FILES = ("engine", "rotate_bulk", "rotate_bulk_short_window", "audit_scale", "list_keys")
Where = tuple[str, ...]  # a figure's place in its document


@dataclass(frozen=True)
class Figure:
    file: str
    path: str
    first: dict[str, float]
    second: dict[str, float]

    @property
    def is_count(self) -> bool:
        """Every run of both agreed exactly on a whole number: a count, not a timing."""
        values = [*self.first.values(), *self.second.values()]
        return all(float(v).is_integer() for v in values) and (
            self.first["min"] == self.first["max"] and self.second["min"] == self.second["max"]
        )

    @property
    def agrees(self) -> bool:
        if self.is_count:
            return self.first["median"] == self.second["median"]
        a, b = self.first, self.second
        return a["min"] <= b["median"] <= a["max"] or b["min"] <= a["median"] <= b["max"]

    @property
    def difference(self) -> float | None:
        """The second median's change from the first's, as a fraction (None when the first is 0)."""
        base = self.first["median"]
        return round((self.second["median"] - base) / base, 3) if base else None


def spreads(node: Any, where: Where = ()) -> Iterator[tuple[Where, dict[str, float]]]:
    """Every {median, min, max} in a results document, with its place."""
    if isinstance(node, dict):
        if {"median", "min", "max"} <= node.keys():
            yield where, {k: float(node[k]) for k in ("median", "min", "max")}
            return
        for key, value in node.items():
            yield from spreads(value, (*where, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            label = str(value.get("keys", index)) if isinstance(value, dict) else str(index)
            yield from spreads(value, (*where, f"N={label}" if isinstance(value, dict) else label))


def figures(first: Path, second: Path) -> list[Figure]:
    found: list[Figure] = []
    for name in FILES:
        a_file, b_file = first / f"{name}.json", second / f"{name}.json"
        if not (a_file.exists() and b_file.exists()):
            continue
        a = dict(spreads(json.loads(a_file.read_text())))
        b = dict(spreads(json.loads(b_file.read_text())))
        found += [Figure(name, " / ".join(where), a[where], b[where]) for where in a if where in b]
    return found


def compare(first: Path, second: Path) -> dict[str, Any]:
    found = figures(first, second)
    if not found:
        raise SystemExit(f"bench.compare: no figure found in both {first} and {second}")
    counts = [f for f in found if f.is_count]
    timings = [f for f in found if not f.is_count]
    return {
        "benchmark": "reproducibility: two runs of the suite compared figure by figure",
        "first": str(first),
        "second": str(second),
        "machines": {
            "first": _machines(first),
            "second": _machines(second),
        },
        "counts": {"compared": len(counts), "equal": sum(f.agrees for f in counts)},
        "timings": {"compared": len(timings), "within_noise": sum(f.agrees for f in timings)},
        "disagreeing": [{**asdict(f), "difference": f.difference} for f in found if not f.agrees],
        "compared_at": machine(),
    }


def _machines(results: Path) -> list[Any]:
    """The load each figure of one run was measured under."""
    noted = []
    for name in FILES:
        path = results / f"{name}.json"
        if path.exists():
            doc = json.loads(path.read_text())
            noted.append({name: doc.get("machine") or doc.get("machine_before")})
    return noted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    document = compare(args.first, args.second)
    text = json.dumps(document, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    counts, timings = document["counts"], document["timings"]
    print(
        f"counts equal: {counts['equal']} of {counts['compared']}; "
        f"timings within noise: {timings['within_noise']} of {timings['compared']}"
    )
    for figure in document["disagreeing"]:
        print(f"  {figure['file']}: {figure['path']}: {figure['first']} vs {figure['second']}")


if __name__ == "__main__":
    main()
