"""docs/benchmarks.md and docs/benchmarks.png from the suite's results (bench/results/*.json).

Generated, never edited by hand: `bench/run` writes both after measuring; `python -m bench.report`
rewrites them from the results already there. The chart is drawn with matplotlib (a dev-only
dependency, pinned in requirements-dev.txt and constraints.txt) on its file-only Agg backend.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKDOWN, CHART = "benchmarks.md", "benchmarks.png"
SKIPPED_CHECKPOINTS = (
    "The engine ran with `PULUMI_SKIP_CHECKPOINTS=true` at this size (both programs): by default "
    "its file backend rewrites the whole checkpoint after every resource it changes (3 MB at 800 "
    "resources), so the first `pulumi up` of 1,000 keys took over 5 minutes here (809 resources "
    "after 4.5 minutes, measured once) against about 30 s without. Pulumi documents the trade: a "
    "crash mid-update loses that update's state edits. docs/pulumi.md says when to use it."
)


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _s(stat: dict[str, Any], unit: str = "") -> str:
    """`median (min-max)` of a spread; just the number when every run agreed."""
    if stat["min"] == stat["max"]:
        return f"{stat['median']:g}{unit}"
    return f"{stat['median']:g}{unit} ({stat['min']:g}-{stat['max']:g})"


def _x(value: float | None) -> str:
    return "ours 0" if value is None else f"{value:g}x"


def _machine(m: dict[str, Any] | None) -> str:
    if not m:
        return "machine not recorded"
    load = m.get("load_average_1_5_15") or m.get("load_average")
    loads = "/".join(f"{v:.2f}" for v in load) if load else "not recorded"
    return f"{m.get('cpus')} CPUs, load average (1/5/15 min) {loads}, Python {m.get('python')}"


def _engine(doc: dict[str, Any]) -> list[str]:
    lines = [
        "## Through the real engine",
        "",
        f"`bench/engine.py`: the real `pulumi` binary (file backend) on N dual-slot keys made in the "
        f"control panel, gradient-keys' program and the naive baseline's (`bench/naive_program.py`: "
        f"a Vault login per call, a listing per create, read and check of a key in state) in the same run; "
        f"{doc['runs']} fresh stacks each; median (min-max). Floor = issue 16's target. "
        f"Machine before: {_machine(doc['machine_before'])}; after: {_machine(doc['machine_after'])}.",
        "",
    ]
    lines += [
        "Wall time at these sizes is mostly the processes the engine starts (the engine, the "
        "program, the provider) and the engine's own bookkeeping; the emulator answers in about a "
        "millisecond, so a request saved is worth little here. Against DigitalOcean's 250 requests "
        "a minute every request above the floor costs 0.24 s, and the requests columns are the "
        "ones that carry over.",
        "",
    ]
    for row in doc["results"]:
        ours, naive = row["variants"]["gradient-keys"], row["variants"]["naive"]
        lines += [
            f"### N = {row['keys']:,} declared keys ({2 * row['keys']:,} at DigitalOcean)",
            "",
            "| command | DO requests: floor | ours | naive | Vault logins: ours | naive "
            "| wall s: ours | naive | naive / ours (requests, wall) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        if row.get("engine_environment", {}).get("PULUMI_SKIP_CHECKPOINTS") == "true":
            lines[-3:-3] = [SKIPPED_CHECKPOINTS, ""]
        for phase, o in ours.items():
            n, r = naive[phase], row["naive_over_ours"][phase]
            cells = [
                f"`{phase}`",
                str(row["floor"][phase]),
                _s(o["digitalocean_requests"]),
                _s(n["digitalocean_requests"]),
                _s(o["vault_logins"]),
                _s(n["vault_logins"]),
                _s(o["wall_seconds"]),
                _s(n["wall_seconds"]),
                f"{_x(r['digitalocean_requests'])}, {_x(r['wall_seconds'])}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _rotation(doc: dict[str, Any]) -> list[str]:
    sp = doc.get("spread", {})
    times = sp.get("time_seconds", {})
    fraction = _s(sp["fraction_of_burst_limit"]) if sp else f"{doc['fraction_of_burst_limit']:g}"
    lines = [
        "## Bulk rotation against the burst limit",
        "",
        f"`bench/rotate_bulk.py`: `gradient-keys rotate --due` of {doc['keys']:,} due dual-slot keys "
        f"under DigitalOcean's documented headers, scaled down ({doc['burst_limit']}; hourly quota "
        f"{doc['hourly_quota']}); {doc.get('runs', 1)} runs, median (min-max). "
        f"{_machine(doc.get('machine'))}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| fraction of the burst limit sustained (target >= 0.95) | **{fraction}** |",
        f"| requests refused with 429 (target 0) | "
        f"{_s(sp['refused_with_429']) if sp else doc['refused_with_429']} |",
        f"| DigitalOcean requests (1 per key, the floor) | {doc['digitalocean_requests']:,} |",
        f"| Vault requests per key | {doc['vault_requests_per_key']:g} |",
    ]
    if sp:
        lines.append(f"| busiest window (of {doc['burst_limit'].split()[0]}) | "
                     f"{_s(sp['busiest_window_requests'])} |")  # fmt: skip
        lines.append(
            f"| unpaced requests/s (the work's own rate) | {_s(sp['unpaced_requests_per_second'])} |"
        )
    lines += ["", "Where the time went (seconds):", "", "| part | seconds |", "|---|---|"]
    labels = {
        "wall": "wall (the command, start to exit)",
        "process_start_and_plan": "process start, config, plan",
        "rotation": "rotation, paced: the sum of the five parts below",
        "pacing": "- pacing (the pacer's waits for the burst limit)",
        "digitalocean": "- DigitalOcean (regenerate answers)",
        "vault": "- Vault (ledger reads, check-and-set writes, journal, lease)",
        "verification": "- verification (each new secret tried at the inference endpoint)",
        "other": "- other (gradient-keys' own work between calls)",
        "rotation_without_rate_limit": "cross-check: the same rotation without a rate limit",
        "pacing_by_difference": "cross-check: pacing by difference (paced minus unpaced)",
    }
    for part, label in labels.items():
        if part in times or part in doc["time_seconds"]:
            value = _s(times[part]) if part in times else f"{doc['time_seconds'][part]:g}"
            lines.append(f"| {label} | {value} |")
    return [*lines, ""]


def _short_window(doc: dict[str, Any]) -> list[str]:
    sp = doc["spread"]
    return [
        "### The same on a sub-second window",
        "",
        f"{doc['keys']:,} keys, {doc['burst_limit']} (hourly quota {doc['hourly_quota']}); "
        f"{doc.get('runs', 1)} runs: **{_s(sp['fraction_of_burst_limit'])}** of the burst limit, "
        f"{_s(sp['refused_with_429'])} x 429, busiest window {_s(sp['busiest_window_requests'])} of "
        f"{doc['burst_limit'].split()[0]}; pacing {_s(sp['time_seconds']['pacing'])} s of a "
        f"{_s(sp['time_seconds']['rotation'])} s rotation. {_machine(doc.get('machine'))}.",
        "",
        "The pacer knows only the burst per minute: it lets a request go up to half an interval "
        "early to catch up after a slow one, which stays inside the limit while a window holds at "
        "least 13 requests (0.5 / (1 - 0.96)). DigitalOcean's window holds 250; a test window "
        "scaled down below 13 requests can see a 429 the real API would not send.",
        "",
    ]


def _audit(doc: dict[str, Any]) -> list[str]:
    ours, naive = doc["gradient_keys_audit"], doc["naive_per_key"]
    walls = doc.get("wall_seconds", {})
    lines = [
        "## Audit",
        "",
        f"`bench/audit_scale.py`: `gradient-keys audit` of {doc['keys']:,} in-place keys; "
        f"{doc.get('runs', 1)} runs on the same keys, median (min-max); the naive way (a listing "
        f"per key, the API has no GET for one key) measured on {naive['measured_on_keys']} keys and "
        f"extrapolated. {_machine(doc.get('machine'))}.",
        "",
        "| way | DigitalOcean requests | Vault requests | wall s |",
        "|---|---|---|---|",
    ]
    concurrent = walls.get("audit (8 concurrent Vault reads)")
    lines.append(
        f"| gradient-keys audit (8 concurrent Vault reads) | **{ours['digitalocean_requests']:,}** "
        f"(floor {doc['digitalocean_request_floor']:,}) | {ours['vault_requests']:,} | "
        f"{_s(concurrent) if concurrent else ours['wall_seconds']} |"
    )
    if serial := walls.get("audit serial (1 worker)"):
        lines.append(
            f"| the same, serial (1 worker) | {ours['digitalocean_requests']:,} | "
            f"{ours['vault_requests']:,} | {_s(serial)} |"
        )
    extrapolated = walls.get("naive per key, extrapolated")
    lines.append(
        f"| naive per key (extrapolated) | {naive['digitalocean_requests_extrapolated']:,} | "
        f"~{doc['keys']:,} | {_s(extrapolated) if extrapolated else naive['wall_seconds_extrapolated']} |"
    )
    lines.append("")
    if "serial_over_concurrent" in doc:
        lines.append(
            f"Serial / concurrent: **{_x(doc['serial_over_concurrent'])}**; naive / ours: "
            f"**{_x(doc['naive_over_concurrent'])}** in wall time, "
            f"{naive['digitalocean_requests_extrapolated'] / max(ours['digitalocean_requests'], 1):,.0f}x "
            "in DigitalOcean requests. OpenBao runs on the same 2 cores as the audit, so its reads "
            "are CPU-bound and 8 at once buy little over 1; against a Vault across a network, where "
            "each read waits on a round trip, the ratio grows toward the worker count."
        )
        lines.append("")
    return lines


def _list(doc: dict[str, Any]) -> list[str]:
    lines = [
        "## Listing keys",
        "",
        f"`bench/list_keys.py`: every one of {doc['keys']:,} keys through the real `pydo` client, the "
        f"sandbox as its own process; {doc['runs']} runs. {_machine(doc.get('machine'))}.",
        "",
        "| client | requests | median s | min s | max s |",
        "|---|---|---|---|---|",
    ]
    for label, r in doc["results"].items():
        lines.append(
            f"| {label} | {r['requests']:,} | {r['median_seconds']:g} | {r['min_seconds']:g} | "
            f"{r['max_seconds']:g} |"
        )
    rows = list(doc["results"].values())
    if len(rows) == 2:
        lines += [
            "",
            f"Naive / ours: {rows[1]['requests'] / rows[0]['requests']:.1f}x the requests, "
            f"{rows[1]['median_seconds'] / rows[0]['median_seconds']:.2f}x the wall time (medians).",
        ]
    return [*lines, ""]


def chart(docs: dict[str, dict[str, Any]], path: Path) -> None:
    """Engine requests and wall time at the largest N (ours vs naive), and the other figures."""
    import matplotlib  # noqa: PLC0415 - a dev-only dependency, loaded only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    colours = {"gradient-keys": "#2a7ab0", "naive": "#c8553d"}
    if eng := docs.get("engine"):
        row = eng["results"][-1]
        phases = list(row["floor"])
        for k, variant in enumerate(("gradient-keys", "naive")):
            data = row["variants"][variant]
            xs = [i + (k - 0.5) * 0.38 for i in range(len(phases))]
            requests = [data[p]["digitalocean_requests"]["median"] for p in phases]
            axes[0][0].bar(xs, requests, 0.38, label=variant, color=colours[variant])
            walls = [data[p]["wall_seconds"] for p in phases]
            med = [w["median"] for w in walls]
            err = [[w["median"] - w["min"] for w in walls], [w["max"] - w["median"] for w in walls]]
            axes[0][1].bar(xs, med, 0.38, yerr=err, capsize=3, label=variant, color=colours[variant])
        for ax, title in ((axes[0][0], "DigitalOcean requests"), (axes[0][1], "wall s (median, min-max)")):
            ax.set_xticks(range(len(phases)), phases)
            ax.set_title(f"pulumi, N = {row['keys']:,} keys: {title}")
            ax.legend()
    if audit := docs.get("audit_scale"):
        walls = audit.get("wall_seconds", {})
        labels = [label.replace(" (", "\n(") for label in walls]
        med = [w["median"] for w in walls.values()]
        axes[1][0].bar(labels, med, color=["#2a7ab0", "#7fb3d5", "#c8553d"][: len(med)])
        axes[1][0].set_yscale("log")
        axes[1][0].set_title(f"audit of {audit['keys']:,} keys: wall s (median, log scale)")
    if rot := docs.get("rotate_bulk"):
        times = rot["time_seconds"]
        order = ("process_start_and_plan", "digitalocean", "vault", "verification", "other", "pacing")
        parts = [(name.replace("_", " "), times.get(name, 0.0)) for name in order]
        part_colours = ("#999999", "#2a7ab0", "#7fb3d5", "#5b8c5a", "#cccccc", "#f0b429")
        bottom = 0.0
        for (label, value), colour in zip(parts, part_colours, strict=True):
            axes[1][1].bar(["bulk rotation"], [value], bottom=bottom, label=label, color=colour)
            bottom += value
        axes[1][1].set_title(
            f"rotate {rot['keys']} keys: {rot['fraction_of_burst_limit']:g} of the burst limit, "
            f"{rot['refused_with_429']} x 429 (s)"
        )
        axes[1][1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _reproducibility(doc: dict[str, Any]) -> list[str]:
    counts, timings = doc["counts"], doc["timings"]
    lines = [
        "## Reproducibility",
        "",
        "`bench/compare.py`: the suite run twice (`bench/run --twice`), every figure above compared with "
        "the same figure of the other run. A count (requests, logins, 429s) must be equal; a timing "
        "agrees when either run's median lies inside the other's min-max range.",
        "",
        f"- Counts equal: **{counts['equal']} of {counts['compared']}**.",
        f"- Timings within the noise of the other run: **{timings['within_noise']} of "
        f"{timings['compared']}**.",
    ]
    if doc["disagreeing"]:
        lines += [
            "",
            "Outside each other's range (first run, then second; change of the median):",
            "",
            "| figure | first | second | change |",
            "|---|---|---|---|",
        ]
        for f in doc["disagreeing"]:
            change = "n/a" if f["difference"] is None else f"{f['difference']:+.1%}"
            lines.append(f"| {f['file']}: {f['path']} | {_s(f['first'])} | {_s(f['second'])} | {change} |")
    return [*lines, ""]


def write(results: Path, docs_dir: Path) -> None:
    docs = {
        name: doc
        for name in (
            "engine",
            "rotate_bulk",
            "rotate_bulk_short_window",
            "audit_scale",
            "list_keys",
            "reproducibility",
        )
        if (doc := _load(results, name))
    }
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run` (bench/suite.py, bench/report.py) from `bench/results/*.json`: do not "
        "edit by hand. Against the sandbox emulator and a real OpenBao on one machine; every figure is "
        "the median of its runs with min and max, the machine's load average noted, and the naive "
        "baseline measured in the same run, so numbers from a noisy machine still compare as ratios.",
        "",
        f"![benchmarks]({CHART})",
        "",
    ]
    for name, section in (
        ("engine", _engine),
        ("rotate_bulk", _rotation),
        ("rotate_bulk_short_window", _short_window),
        ("audit_scale", _audit),
        ("list_keys", _list),
        ("reproducibility", _reproducibility),
    ):
        if name in docs:
            lines += section(docs[name])
    (docs_dir / MARKDOWN).write_text("\n".join(lines).rstrip() + "\n")
    chart(docs, docs_dir / CHART)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    write(args.results, args.docs)


if __name__ == "__main__":
    main()
