"""The three outputs in bench/results/: every figure as JSON, the table of targets as Markdown,
and a plot of read latency against cluster size."""

import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

Json = dict[str, Any]


@dataclass(frozen=True)
class Row:
    figure: str
    unit: str
    shim: float | None
    floor: float | None
    floor_name: str
    target: str
    met: bool | None
    errors: int

    @property
    def ratio(self) -> float | None:
        return self.shim / self.floor if self.shim is not None and self.floor else None


@dataclass(frozen=True)
class Target:
    """What a figure must meet: a largest or smallest ratio to its floor, a largest value."""

    max_ratio: float | None = None
    min_ratio: float | None = None
    max_value: float | None = None

    def text(self, floor_name: str, unit: str) -> str:
        parts = []
        if self.max_value is not None:
            parts.append(f"≤ {self.max_value:g} {unit}")
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g} x {floor_name}")
        if self.min_ratio is not None:
            parts.append(f"≥ {self.min_ratio:g} x {floor_name}")
        return " and ".join(parts) or "—"

    def met(self, shim: float | None, floor: float | None) -> bool | None:
        if self.max_ratio is None and self.min_ratio is None and self.max_value is None:
            return None
        if shim is None or (floor is None and (self.max_ratio is not None or self.min_ratio is not None)):
            return False
        ratio = shim / floor if floor else None
        checks = [
            self.max_value is None or shim <= self.max_value,
            self.max_ratio is None or (ratio is not None and ratio <= self.max_ratio),
            self.min_ratio is None or (ratio is not None and ratio >= self.min_ratio),
        ]
        return all(checks)


NO_TARGET = Target()


def row(
    figure: str,
    unit: str,
    shim: Json | None,
    floor: Json | None,
    floor_name: str,
    target: Target,
    value: Callable[[Json], float | None],
) -> Row:
    shim_value = value(shim) if shim else None
    floor_value = value(floor) if floor else None
    errors = sum(int(side.get("errors", 0)) for side in (shim, floor) if side)
    met = target.met(shim_value, floor_value)
    if errors and met is not None:
        met = False
    return Row(figure, unit, shim_value, floor_value, floor_name, target.text(floor_name, unit), met, errors)


def p50(figures: Json) -> float | None:
    return figures.get("p50_ms")


def p99(figures: Json) -> float | None:
    return figures.get("p99_ms")


def p50_seconds(figures: Json) -> float | None:
    value = figures.get("p50_ms")
    return value / 1000 if value is not None else None


def rows(figures: Json) -> list[Row]:
    return [
        *run_task_rows(figures.get("run_task")),
        *read_rows(figures.get("reads")),
        *task_definition_rows(figures.get("task_definitions")),
        *container_instance_rows(figures.get("container_instances")),
        *end_to_end_rows(figures.get("end_to_end")),
        *memory_rows(figures.get("rss"), Target(max_value=400)),
        *memory_rows(figures.get("rss_at_end"), NO_TARGET),
    ]


def run_task_rows(run_task: Json | None) -> list[Row]:
    if not run_task:
        return []
    at = f"{run_task['clients']} clients, at {run_task['tasks_before']:,} tasks"
    shim, boto, direct = run_task["shim"], run_task["shim_boto3"], run_task["direct"]
    floor = "direct create"

    def throughput(figures: Json) -> float | None:
        return figures.get("throughput_per_s")

    return [
        row(f"RunTask p50 ({at})", "ms", shim, direct, floor, Target(max_ratio=1.5), p50),
        row(f"RunTask throughput ({at})", "tasks/s", shim, direct, floor, Target(min_ratio=0.7), throughput),
        row(f"RunTask p99 ({at})", "ms", shim, direct, floor, NO_TARGET, p99),
        row(f"RunTask p50, boto3 ({at})", "ms", boto, direct, floor, NO_TARGET, p50),
        row(f"RunTask throughput, boto3 ({at})", "tasks/s", boto, direct, floor, NO_TARGET, throughput),
    ]


def read_rows(reads: list[Json] | None) -> list[Row]:
    if not reads:
        return []
    last = reads[-1]
    size = f"{last['tasks']:,}"
    describe, listing = last["describe_tasks"], last["list_tasks"]
    selected = "label-selected LIST"
    paginated = f"paginated LIST, limit {listing['page_size']}"
    all_pages = f"all {size} in pages of {listing['page_size']}, p50 of runs"
    return [
        row(
            f"DescribeTasks 100 of {size} p50",
            "ms",
            describe["shim"],
            describe["direct"],
            selected,
            Target(max_value=20, max_ratio=1.0),
            p50,
        ),
        row(f"DescribeTasks 100 of {size} p99", "ms", describe["shim"], describe["direct"], selected, NO_TARGET, p99),
        row(
            f"DescribeTasks 100 of {size} p50, boto3",
            "ms",
            describe["shim_boto3"],
            describe["direct"],
            selected,
            NO_TARGET,
            p50,
        ),
        row(
            f"ListTasks, {all_pages}",
            "s",
            listing["shim"],
            listing["direct"],
            paginated,
            Target(max_value=2, max_ratio=1.0),
            p50_seconds,
        ),
    ]


def task_definition_rows(definitions: Json | None) -> list[Row]:
    if not definitions:
        return []
    shim, moto = definitions["shim"], definitions["moto"]
    return [
        row(
            "RegisterTaskDefinition + DescribeTaskDefinition p50, boto3",
            "ms",
            shim["register_describe"],
            moto["register_describe"],
            "moto",
            Target(max_ratio=3),
            p50,
        ),
        row("RegisterTaskDefinition p50, boto3", "ms", shim["register"], moto["register"], "moto", NO_TARGET, p50),
        row("DescribeTaskDefinition p50, boto3", "ms", shim["describe"], moto["describe"], "moto", NO_TARGET, p50),
    ]


def container_instance_rows(instances: Json | None) -> list[Row]:
    if not instances:
        return []
    at = f"{instances['nodes']:,} nodes, {instances['tasks']:,} tasks"
    floor, floor_name = instances["direct_node_page"], "LIST of 100 nodes"
    return [
        row(
            f"DescribeContainerInstances 100 p50 ({at})",
            "ms",
            instances["describe_100"],
            floor,
            floor_name,
            Target(max_value=50),
            p50,
        ),
        row(
            f"ListContainerInstances page of 100 + DescribeContainerInstances of it, p50 ({at})",
            "ms",
            instances["list_page_and_describe_100"],
            floor,
            floor_name,
            Target(max_value=50),
            p50,
        ),
        row(
            f"ListContainerInstances page of 100 p50 ({at})",
            "ms",
            instances["list_page"],
            floor,
            floor_name,
            NO_TARGET,
            p50,
        ),
        row(
            f"DescribeContainerInstances 100 p50, boto3 ({at})",
            "ms",
            instances["describe_100_boto3"],
            floor,
            floor_name,
            NO_TARGET,
            p50,
        ),
    ]


def end_to_end_rows(end_to_end: Json | None) -> list[Row]:
    if not end_to_end:
        return []

    def median(figures: Json) -> float | None:
        return figures.get("p50_s")

    return [
        row(
            f"{end_to_end['tasks']} concurrent RunTasks until all RUNNING, median of rounds",
            "s",
            end_to_end["shim"],
            end_to_end["direct"],
            "direct creates until Running",
            Target(max_ratio=1.2),
            median,
        )
    ]


def memory_rows(memory: Json | None, target: Target) -> list[Row]:
    if not memory:
        return []
    workers = [process["peak_mb"] for process in memory["processes"] if process["role"] == "worker"]
    peak = {"peak": max(workers)} if workers else None
    figure = f"Peak RSS of the largest of {len(workers)} workers ({memory['nodes']:,} nodes, {memory['tasks']:,} tasks)"
    return [row(figure, "MB", peak, None, "", target, lambda figures: figures.get("peak"))]


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio_text(ratio: float | None) -> str:
    """Three decimals, so that a ratio just over its target does not print as on it."""
    return "—" if ratio is None else f"{ratio:.3f}"


def markdown(table: list[Row], meta: Json) -> str:
    lines = [
        f"# ecs-shim benchmark ({meta['mode']} mode)",
        "",
        f"{meta['date']}, {meta['machine']}; {meta['nodes']:,} simulated nodes, up to {meta['tasks']:,} tasks; "
        f"ecs-shim ({meta.get('shim_version', 'commit not recorded')}) with {meta['workers']} gunicorn workers "
        f"x {meta['threads']} threads.",
        "Ratios are shim / floor (or peer), measured in this run; MB are 10^6 bytes. The shim is called over",
        "plain HTTP + json.loads, as the floor is (kubernetes client, raw JSON), unless a row says boto3.",
        *(
            ["", "**Profiled run: py-spy sampled the workers, so these figures are skewed.**"]
            if meta.get("profiled")
            else []
        ),
        "",
        "| figure | shim | floor or peer | ratio | target | met? |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for entry in table:
        floor = f"{number(entry.floor)} ({entry.floor_name})" if entry.floor is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[entry.met]
        if entry.errors:
            met += f" ({entry.errors} errors)"
        lines.append(
            f"| {entry.figure}, {entry.unit} | {number(entry.shim)} | {floor} | {ratio_text(entry.ratio)} "
            f"| {entry.target} | {met} |"
        )
    return "\n".join(lines) + "\n"


def plot(figures: Json, path: Path) -> None:
    reads = figures.get("reads", [])
    if not reads:
        return
    sizes = [stage["tasks"] for stage in reads]
    figure, (describe_axes, list_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    lines = (("shim", "o-", "shim, plain HTTP"), ("shim_boto3", "^:", "shim, boto3"), ("direct", "s--", "direct"))
    for side, style, label in lines:
        describe_axes.plot(sizes, [stage["describe_tasks"][side].get("p50_ms") for stage in reads], style, label=label)
        if side in reads[0]["list_tasks"]:
            list_axes.plot(sizes, [p50_seconds(stage["list_tasks"][side]) for stage in reads], style, label=label)
    describe_axes.axhline(20, color="grey", linewidth=0.8, linestyle="-.", label="target 20 ms")
    list_axes.axhline(2, color="grey", linewidth=0.8, linestyle="-.", label="target 2 s")
    describe_axes.set_title("DescribeTasks of 100 tasks vs label-selected LIST of their pods, p50")
    describe_axes.set_ylabel("ms")
    list_axes.set_title("ListTasks, every page of 100, vs paginated LIST of all pods, p50")
    list_axes.set_ylabel("s")
    for axes in (describe_axes, list_axes):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axes.minorticks_off()
        axes.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axes.set_xlabel("tasks in the cluster")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
        axes.title.set_fontsize(9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def shim_version(root: Path) -> str:
    """The commit the measured shim was at, and whether shim/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "shim"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' with uncommitted changes in shim/' if changed else ''}"


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write(figures: Json, meta: Json, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    table = rows(figures)
    stem = meta["stem"]
    paths = [directory / f"{stem}.json", directory / f"{stem}.md", directory / f"{stem}-latency.png"]
    document = {"meta": meta, "figures": figures, "table": [{**asdict(r), "ratio": r.ratio} for r in table]}
    paths[0].write_text(json.dumps(document, indent=2) + "\n")
    paths[1].write_text(markdown(table, meta))
    plot(figures, paths[2])
    return paths
