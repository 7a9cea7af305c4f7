"""Write the results table of docs/benchmarks.md from ``bench/results/*.json``.

``python -m bench.report`` replaces the text between the ``results`` markers in
docs/benchmarks.md; everything else in that file is written by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DOC = BENCH.parent / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
ORDER = [
    "create_programmes",
    "startup",
    "lateness",
    "lateness_none",
    "maildir",
    "claim_cost",
    "delivery",
    "digests",
    "digest_stages",
    "failover",
    "cli_speed",
    "test_time",
]


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def verdict(metric: dict[str, Any]) -> str:
    target = metric.get("target")
    if target is None:
        return ""
    ok = metric["median"] >= target if metric["higher_is_better"] else metric["median"] <= target
    bound = "≥" if metric["higher_is_better"] else "≤"
    return f"{bound} {number(target)} {'✅' if ok else '❌ (see gap)'}"


def ratio(metric: dict[str, Any], metrics: dict[str, Any]) -> str:
    ours = metrics.get(metric.get("peer_of") or "")
    if not ours or not ours["median"] or not metric["median"]:
        return ""
    if metric["higher_is_better"]:
        return f"fbh ×{ours['median'] / metric['median']:.2g}"
    return f"peer ×{metric['median'] / ours['median']:.2g}"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| benchmark | figure | median | spread (min – max) | target | vs fbh |",
        "|---|---|---:|---|---|---|",
    ]
    for result in results:
        metrics = result["metrics"]
        for metric in metrics.values():
            spread = (
                f"{number(metric['min'])} – {number(metric['max'])} ({metric['spread_pct']:.0f} %)"
            )
            lines.append(
                f"| `{result['benchmark']}` | {metric['label']} | "
                f"{number(metric['median'])} {metric['unit']} | {spread} | {verdict(metric)} | "
                f"{ratio(metric, metrics)} |"
            )
    return lines


def runs(results: list[dict[str, Any]]) -> list[str]:
    lines = ["", "| benchmark | runs | date (UTC) | options | wall time | load before → after |"]
    lines.append("|---|---:|---|---|---:|---|")
    for result in results:
        options = ", ".join(f"{k}={v}" for k, v in result["options"].items()) or "defaults"
        lines.append(
            f"| `{result['benchmark']}` | {result['runs']} | {result['date']} | {options} "
            f"| {result['seconds']:.0f} s | {load_text(result.get('load'))} |"
        )
    return lines


def load_text(load: dict[str, list[float]] | None) -> str:
    """The load averages (1, 5, 15 min) around the runs; not recorded before issue 12."""
    if not load:
        return "not recorded"
    before, after = (" / ".join(f"{v:.2f}" for v in load[k]) for k in ("before", "after"))
    return f"{before} → {after}"


def machine(results: list[dict[str, Any]]) -> list[str]:
    seen = {json.dumps(r["machine"], sort_keys=True) for r in results}
    lines = [""]
    for text in sorted(seen):
        info = json.loads(text)
        lines.append(
            f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, {info['os']}, "
            f"Python {info['python']}, SQLite {info['sqlite']}."
        )
    return lines


def summary(results: list[dict[str, Any]]) -> list[str]:
    """Every figure that has a target, with its verdict: the issue's targets at a glance."""
    lines = ["", "| target | benchmark | median | verdict |", "|---|---|---:|---|"]
    for result in results:
        for metric in result["metrics"].values():
            if metric.get("target") is None:
                continue
            lines.append(
                f"| {metric['label']} | `{result['benchmark']}` | "
                f"{number(metric['median'])} {metric['unit']} | {verdict(metric)} |"
            )
    return lines


def per_run(results: list[dict[str, Any]]) -> list[str]:
    """Run by run, for a benchmark that records the load of each run: the load, every p99 and
    every CPU time, to tell a run that waited for the CPU from one that did more work."""
    lines: list[str] = []
    for result in results:
        metrics = result["metrics"]
        if "load_1min" not in metrics or result["runs"] < 2:
            continue
        keys = ["load_1min"] + [
            k for k in metrics if k.endswith("_cpu") or (k.endswith("_p99") and "done" not in k)
        ]
        lines += ["", f"`{result['benchmark']}` run by run:", ""]
        lines.append("| run | " + " | ".join(metrics[k]["label"] for k in keys) + " |")
        lines.append("|---:|" + "---:|" * len(keys))
        for run in range(result["runs"]):
            values = [number(metrics[k]["values"][run]) for k in keys]
            lines.append(f"| {run + 1} | " + " | ".join(values) + " |")
    return lines


def load() -> list[dict[str, Any]]:
    found = {p.stem: json.loads(p.read_text()) for p in sorted((BENCH / "results").glob("*.json"))}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    return [found[name] for name in names]


def main() -> None:
    results = load()
    if not results:
        raise SystemExit("no results in bench/results/: run a benchmark first")
    text = DOC.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{DOC}: the {START} … {END} markers are missing")
    block = "\n".join(
        [
            START,
            *table(results),
            *runs(results),
            *machine(results),
            *summary(results),
            *per_run(results),
            END,
        ]
    )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + block + tail)
    sys.stdout.write(f"wrote {len(results)} benchmark(s) into {DOC}\n")


if __name__ == "__main__":
    main()
