"""Run a benchmark several times, each in a fresh process, and record median and spread.

A benchmark module defines ``METRICS`` (what it reports, with the target) and
``measure_once(options) -> dict[str, float]``; its ``__main__`` calls :func:`main`. The parent
process runs ``python -m bench.<name> --once`` ``--runs`` times (so start-up cost and peak
RSS are those of a fresh process), then writes ``bench/results/<name>.json``;
``python -m bench.report`` turns the result files into the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DISCARDED = "FBH_BENCH_DISCARDED"  # set by main(): where runs put what they are done with
PG_URL = os.environ.get("FBH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Metric:
    """One figure a benchmark reports. ``target`` is the issue's bound (None: no target)."""

    label: str
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    peer_of: str | None = None  # for a peer's figure: the fbh metric it is compared with

    def meets(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target


Options = Mapping[str, Any]
MeasureOnce = Callable[[Options], dict[str, float]]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def summarise(values: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {
        "values": values,
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread_pct": (max(values) - min(values)) / median * 100 if median else 0.0,
    }


def discard(path: Path) -> None:
    """Remove the folder ``path``: after the last run when the runs are :func:`main`'s, else
    now. Deleting files makes creating files near them slower for a while on a file system
    like the benchmark VM's, ext4 without a journal (docs/benchmarks.md, "What creating a
    file costs on this machine"): a run that deleted the previous run's files measured its
    own clean-up, more in each run. Moved aside (a rename: nothing is freed), they are
    deleted when the runs are done."""
    aside = os.environ.get(DISCARDED)
    if aside and path.exists():
        try:
            os.rename(path, Path(aside) / f"{time.time_ns()}-{path.name}")
            return
        except OSError:  # another file system
            pass
    shutil.rmtree(path, ignore_errors=True)


BASELINE = "baseline_"  # prefix of the figures measured at --baseline REV


def _baseline_metrics(metrics: Mapping[str, Metric], revision: str) -> dict[str, Metric]:
    """fbh's own figures again, measured at ``revision``: shown as its peers ("vs fbh")."""
    return {
        f"{BASELINE}{key}": Metric(f"{metric.label}, fbh at {revision}", metric.unit, peer_of=key)
        for key, metric in metrics.items()
        if metric.peer_of is None
    }


def _checkout(revision: str, folder: Path) -> Path:
    """The files of ``revision`` (``git archive``) in a new folder under ``folder``."""
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(BENCH.parent), "archive", revision], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def run_child(module: str, options: Options, tree: Path | None = None) -> dict[str, float]:
    """One fresh-process run of ``module``; in ``tree`` (a checkout of another revision, whose
    packages then shadow the installed ones) instead of this checkout if given."""
    command = [sys.executable, "-m", module, "--once", "--options", json.dumps(dict(options))]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tree or BENCH.parent)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{module} failed (exit {done.returncode})")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(
    name: str,
    metrics: Mapping[str, Metric],
    measure_once: MeasureOnce,
    *,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    module: str | None = None,
) -> None:
    """Run ``module`` (default ``bench.NAME``) ``--runs`` times in fresh processes and write
    ``bench/results/NAME.json``."""
    module = module or f"bench.{name}"
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--runs", type=int, default=5, help="fresh-process runs (default 5)")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure fbh at git revision REV, run by run beside this checkout",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(measure_once(json.loads(args.options))))
        return
    skipped = {"runs", "once", "options", "baseline"}
    options = {k: v for k, v in vars(args).items() if k not in skipped}
    if args.baseline:
        metrics = {**metrics, **_baseline_metrics(metrics, args.baseline)}
    kept = metrics
    runs: list[dict[str, float]] = []
    load_before = _load()
    started = time.perf_counter()
    aside = Path(tempfile.mkdtemp(prefix="fbh-bench-discarded-"))
    os.environ[DISCARDED] = str(aside)  # the children's discard() moves their folders there
    tree = _checkout(args.baseline, aside) if args.baseline else None
    try:
        for run in range(1, args.runs + 1):
            figures = run_child(module, options)
            if tree is not None:
                base = run_child(module, options, tree)
                figures |= {f"{BASELINE}{key}": value for key, value in base.items()}
            runs.append(figures)
            kept = {k: m for k, m in kept.items() if k in figures or not k.startswith(BASELINE)}
            shown = ", ".join(f"{key}={value:.4g}" for key, value in figures.items())
            print(f"run {run}/{args.runs}: {shown}", flush=True)
    finally:
        del os.environ[DISCARDED]
        shutil.rmtree(aside, ignore_errors=True)
    result = {
        "benchmark": name,
        "description": description,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": options | ({"baseline": args.baseline} if args.baseline else {}),
        "runs": args.runs,
        "seconds": round(time.perf_counter() - started, 1),
        # the machine's load averages (1, 5, 15 minutes, as uptime shows them) around the runs:
        # figures from a busy machine are only comparable with a peer measured beside them
        "load": {"before": load_before, "after": _load()},
        "metrics": {
            key: {**asdict(metric), **summarise([run[key] for run in runs])}
            for key, metric in kept.items()
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    for key, metric in kept.items():  # a figure the baseline's code does not report is left out
        figure = result["metrics"][key]
        verdict = {True: "meets", False: "MISSES", None: ""}[metric.meets(figure["median"])]
        target = "" if metric.target is None else f" (target {metric.target:g} {metric.unit})"
        print(
            f"{metric.label}: median {figure['median']:.4g} {metric.unit}, "
            f"spread {figure['spread_pct']:.1f}%{target} {verdict}"
        )
