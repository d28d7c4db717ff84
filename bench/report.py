"""The three outputs in bench/results/: every figure as JSON, the table of targets as Markdown,
and a plot of read latency against cluster size."""

import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

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
    table: list[Row] = []
    run_task = figures.get("run_task")
    if run_task:
        at = f"8 clients, at {run_task['tasks_before']:,} tasks"
        shim, direct = run_task["shim"], run_task["direct"]
        table += [
            row(f"RunTask p50 ({at})", "ms", shim, direct, "direct create", Target(max_ratio=1.5), p50),
            row(f"RunTask p99 ({at})", "ms", shim, direct, "direct create", NO_TARGET, p99),
            row(
                f"RunTask throughput ({at})",
                "tasks/s",
                shim,
                direct,
                "direct create",
                Target(min_ratio=0.7),
                lambda f: f.get("throughput_per_s"),
            ),
        ]
    reads = figures.get("reads", [])
    if reads:
        last = reads[-1]
        size = f"{last['tasks']:,}"
        describe, listing = last["describe_tasks"], last["list_tasks"]
        label = "label-selected LIST"
        table += [
            row(
                f"DescribeTasks 100 of {size} p50",
                "ms",
                describe["shim"],
                describe["direct"],
                label,
                Target(max_value=20, max_ratio=1.0),
                p50,
            ),
            row(f"DescribeTasks 100 of {size} p99", "ms", describe["shim"], describe["direct"], label, NO_TARGET, p99),
            row(
                f"ListTasks, all {size} in pages of {listing['page_size']} (p50 of runs)",
                "s",
                listing["shim"],
                listing["direct"],
                f"paginated LIST (limit {listing['page_size']})",
                Target(max_value=2, max_ratio=1.0),
                p50_seconds,
            ),
        ]
    definitions = figures.get("task_definitions")
    if definitions:
        shim, moto = definitions["shim"], definitions["moto"]
        table += [
            row(
                "RegisterTaskDefinition + DescribeTaskDefinition p50",
                "ms",
                shim["register_describe"],
                moto["register_describe"],
                "moto",
                Target(max_ratio=3),
                p50,
            ),
            row("RegisterTaskDefinition p50", "ms", shim["register"], moto["register"], "moto", NO_TARGET, p50),
            row("DescribeTaskDefinition p50", "ms", shim["describe"], moto["describe"], "moto", NO_TARGET, p50),
        ]
    instances = figures.get("container_instances")
    if instances:
        at = f"{instances['nodes']:,} nodes, {instances['tasks']:,} tasks"
        floor = instances["direct_node_page"]
        floor_name = "LIST of 100 nodes"
        table += [
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
                f"ListContainerInstances page of 100 + Describe those 100 p50 ({at})",
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
        ]
    end_to_end = figures.get("end_to_end")
    if end_to_end:
        table.append(
            row(
                f"{end_to_end['tasks']} concurrent RunTasks until all RUNNING (median of rounds)",
                "s",
                end_to_end["shim"],
                end_to_end["direct"],
                "direct creates until Running",
                Target(max_ratio=1.2),
                lambda f: f.get("p50_s"),
            )
        )
    for key, target in (("rss", Target(max_value=400)), ("rss_at_end", NO_TARGET)):
        memory = figures.get(key)
        if memory:
            workers = [process for process in memory["processes"] if process["role"] == "worker"]
            peak = {"peak": max(process["peak_mb"] for process in workers)} if workers else None
            table.append(
                row(
                    f"Peak RSS of the largest worker ({memory['nodes']:,} nodes, {memory['tasks']:,} tasks)",
                    "MB",
                    peak,
                    None,
                    "",
                    target,
                    lambda f: f.get("peak"),
                )
            )
    return table


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown(table: list[Row], meta: Json) -> str:
    lines = [
        f"# ecs-shim benchmark ({meta['mode']} mode)",
        "",
        f"{meta['date']}, {meta['machine']}; {meta['nodes']:,} simulated nodes, up to {meta['tasks']:,} tasks; "
        f"ecs-shim with {meta['workers']} gunicorn workers x {meta['threads']} threads.",
        "Ratios are shim / floor (or peer), measured in this run; MB are 10^6 bytes.",
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
            f"| {entry.figure} ({entry.unit}) | {number(entry.shim)} | {floor} | {number(entry.ratio)} "
            f"| {entry.target} | {met} |"
        )
    return "\n".join(lines) + "\n"


def plot(figures: Json, path: Path) -> None:
    reads = figures.get("reads", [])
    if not reads:
        return
    sizes = [stage["tasks"] for stage in reads]
    figure, (describe_axes, list_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    for side, style in (("shim", "o-"), ("direct", "s--")):
        describe_axes.plot(sizes, [stage["describe_tasks"][side].get("p50_ms") for stage in reads], style, label=side)
        list_axes.plot(sizes, [p50_seconds(stage["list_tasks"][side]) for stage in reads], style, label=side)
    describe_axes.set_title("DescribeTasks of 100 (shim) vs label-selected LIST (direct), p50")
    describe_axes.set_ylabel("ms")
    list_axes.set_title("ListTasks, all pages of 100 (shim) vs paginated LIST (direct), p50")
    list_axes.set_ylabel("s")
    for axes in (describe_axes, list_axes):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("tasks in the cluster")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        axes.title.set_fontsize(9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write(figures: Json, meta: Json, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    table = rows(figures)
    stem = meta["mode"]
    paths = [directory / f"{stem}.json", directory / f"{stem}.md", directory / f"{stem}-latency.png"]
    document = {"meta": meta, "figures": figures, "table": [{**asdict(r), "ratio": r.ratio} for r in table]}
    paths[0].write_text(json.dumps(document, indent=2) + "\n")
    paths[1].write_text(markdown(table, meta))
    plot(figures, paths[2])
    return paths
