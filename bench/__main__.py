"""`python -m bench [--quick]`: bring up a benchmark cluster, measure, write bench/results/."""

import argparse
import contextlib
import dataclasses
import datetime
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from bench import report
from bench.clients import BotoEcs, PlainEcs, kube_client
from bench.measures import (
    Bench,
    measure_container_instances,
    measure_describe_tasks,
    measure_end_to_end,
    measure_list_tasks,
    measure_rss,
    measure_run_task,
    measure_task_definitions,
    populate,
)
from bench.processes import ROOT, local_cluster, moto_server, shim_server
from bench.profiling import profiled
from bench.settings import FULL, QUICK, Settings
from bench.timing import progress

RESULTS = ROOT / "bench" / "results"


@dataclasses.dataclass(frozen=True)
class Run:
    settings: Settings
    results: Path
    profile: bool

    @property
    def stem(self) -> str:
        """How this run's outputs are named: a profiled run's figures are kept apart."""
        return self.settings.mode + ("-profiled" if self.profile else "")

    @property
    def profile_directory(self) -> Path | None:
        return self.results / f"profile-{self.settings.mode}" if self.profile else None


def parse_run(argv: list[str]) -> Run:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI smoke test: 100 nodes, 500 tasks")
    parser.add_argument("--nodes", type=int, help="simulated nodes (default: 1000, quick: 100)")
    parser.add_argument("--workers", type=int, help="gunicorn workers of ecs-shim (default 2, as `ecs-shim serve`)")
    parser.add_argument("--threads", type=int, help="threads per worker (default 8, as `ecs-shim serve`)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the outputs go (bench/results/)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the shim's workers with py-spy in every phase (RESULTS/profile-MODE/); skews the figures",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    changes = {key: getattr(args, key) for key in ("nodes", "workers", "threads") if getattr(args, key)}
    return Run(dataclasses.replace(settings, **changes), args.results, args.profile)


def stop_on_sigterm(signal_number: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signal_number)


def measure(bench: Bench, figures: report.Json, profile: Path | None) -> None:
    settings = bench.settings

    def phase(name: str) -> contextlib.AbstractContextManager[None]:
        return profiled(bench.shim, name, profile)

    bench.prepare()
    progress("1/6 task definitions: shim vs moto")
    with phase("task-definitions"):
        figures["task_definitions"] = measure_task_definitions(bench)
    figures["reads"] = []
    for size in settings.stages:
        with phase(f"populate-{size}"):
            populate(bench, size)
        progress(f"2/6 read path at {size} tasks")
        with phase(f"describe-tasks-{size}"):
            describe = measure_describe_tasks(bench, size)
        with phase(f"list-tasks-{size}"):
            listing = measure_list_tasks(bench, size)
        figures["reads"].append({"tasks": size, "describe_tasks": describe, "list_tasks": listing})
    progress(f"3/6 container instances at {settings.nodes} nodes")
    with phase("container-instances"):
        figures["container_instances"] = measure_container_instances(bench)
    progress(f"4/6 shim memory at {len(bench.task_ids)} tasks")
    figures["rss"] = measure_rss(bench)
    progress(f"5/6 RunTask write path, {settings.writes} tasks on each side")
    with phase("run-task"):
        figures["run_task"] = measure_run_task(bench)
    progress(f"6/6 end to end: {settings.end_to_end_tasks} tasks to RUNNING")
    with phase("end-to-end"):
        figures["end_to_end"] = measure_end_to_end(bench)
    figures["rss_at_end"] = measure_rss(bench)


def main(argv: list[str]) -> int:
    run = parse_run(argv)
    settings, results = run.settings, run.results
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    meta: report.Json = {
        "mode": settings.mode,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "shim_version": report.shim_version(ROOT),
        "load_average_at_start": os.getloadavg(),
        **dataclasses.asdict(settings),
        "tasks": settings.tasks,
        "profiled": run.profile,
        "stem": run.stem,
    }
    figures: report.Json = {}
    failure: BaseException | None = None
    try:
        with contextlib.ExitStack() as stack:
            kubeconfig = stack.enter_context(local_cluster(settings.nodes))
            shim = stack.enter_context(
                shim_server(kubeconfig, settings.workers, settings.threads, results / f"{run.stem}-shim.log")
            )
            moto = stack.enter_context(moto_server(results / f"{run.stem}-moto.log"))
            core = kube_client(kubeconfig)
            bench = Bench(settings, kubeconfig, shim, moto, core, PlainEcs(shim.endpoint), BotoEcs(shim.endpoint))
            measure(bench, figures, run.profile_directory)
    except BaseException as error:
        failure = error
    meta["load_average_at_end"] = os.getloadavg()
    if failure is not None:
        meta["failed"] = f"{type(failure).__name__}: {failure}"
    paths = report.write(figures, meta, results)
    print(paths[1].read_text())
    progress("wrote " + ", ".join(os.path.relpath(path, ROOT) for path in paths))
    if failure is not None:
        raise failure
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
