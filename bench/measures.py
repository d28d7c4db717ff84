"""The benchmark's six measurements, each against its floor (the API server) or peer (moto).
Sides are sampled in turn (shim, then floor, then shim...) so that the noise of a shared
machine hits both alike. The shim is called over plain HTTP, like the floor, and again through
boto3 to show what a boto3 user sees on top."""

import functools
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api

from bench.clients import (
    BotoEcs,
    Ecs,
    Json,
    PlainEcs,
    create_pod,
    kube_client,
    page_through_pods,
    page_through_tasks,
    pods_not_running,
    pods_with_task_ids,
    raw,
    task_ids_of,
    task_pod,
)
from bench.processes import Server, wait_until
from bench.settings import Settings
from bench.timing import ClientPool, Samples, progress, sample, timed, within_budget
from shim.translate import names

CLUSTER = "bench"
PAGE_SIZE = 100
"""ListTasks' and ListContainerInstances' largest page; the direct LISTs use the same."""
POLL_SECONDS = 0.1
TASK_DEFINITION = {
    "family": "bench-task",
    "containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 8, "memory": 16, "essential": True}],
}
REGISTERED_DEFINITION = {
    "family": "bench-register",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "nginx:1.27",
            "cpu": 8,
            "memory": 16,
            "essential": True,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "bench"}, {"name": "LEVEL", "value": "info"}],
        }
    ],
}


def summary(samples: Samples) -> Json:
    figures: Json = {"samples": len(samples.seconds), "errors": len(samples.errors)}
    if samples.errors:
        figures["first_error"] = samples.errors[0]
    if samples.seconds:
        figures["p50_ms"] = samples.p50_ms()
        figures["p99_ms"] = samples.p99_ms()
    if samples.wall:
        figures["wall_s"] = samples.wall
        figures["throughput_per_s"] = samples.throughput()
    return figures


@dataclass
class Bench:
    settings: Settings
    kubeconfig: Path
    shim: Server
    moto: Server
    core: CoreV1Api
    ecs: PlainEcs
    boto: BotoEcs
    task_definition: Json = field(default_factory=dict)
    task_ids: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return names.cluster_namespace(CLUSTER)

    def prepare(self) -> None:
        self.ecs.call("CreateCluster", clusterName=CLUSTER)
        self.task_definition = self.ecs.call("RegisterTaskDefinition", **TASK_DEFINITION)["taskDefinition"]

    def ecs_pool(self, size: int, kind: type[PlainEcs] | type[BotoEcs]) -> ClientPool[Ecs]:
        return ClientPool.make(size, lambda: kind(self.shim.endpoint), lambda ecs: ecs.call("ListClusters"))

    def kube_pool(self, size: int) -> ClientPool[CoreV1Api]:
        return ClientPool.make(
            size,
            lambda: kube_client(self.kubeconfig, pool=2),
            lambda core: raw(core.list_namespaced_pod, self.namespace, limit=1),
        )

    def run_task(self, ecs: Ecs) -> str:
        answer = ecs.call("RunTask", cluster=CLUSTER, taskDefinition=TASK_DEFINITION["family"], count=1)
        if answer["failures"] or len(answer["tasks"]) != 1:
            raise RuntimeError(f"RunTask placed no task: {answer['failures']}")
        task_id = task_ids_of(answer["tasks"])[0]
        self.task_ids.append(task_id)
        return task_id

    def create_task_pod(self, core: CoreV1Api, pod: Json) -> str:
        create_pod(core, pod)
        task_id = str(pod["metadata"]["labels"][names.LABEL_TASK_ID])
        self.task_ids.append(task_id)
        return task_id

    def task_pods(self, count: int) -> list[Json]:
        return [task_pod(self.task_definition, CLUSTER) for _ in range(count)]

    def shim_sees(self, task_ids: list[str], status: str) -> bool:
        """Whether DescribeTasks shows all of `task_ids` (at most 100) with `status`."""
        answer = self.ecs.call("DescribeTasks", cluster=CLUSTER, tasks=task_ids)
        return not answer["failures"] and all(task["lastStatus"] == status for task in answer["tasks"])

    def settle(self, timeout: float) -> None:
        """Wait until every pod runs and the shim's caches show the newest tasks as RUNNING
        (several answers in a row, so that every gunicorn worker is likely to have been asked)."""
        wait_until("every task pod to run", lambda: pods_not_running(self.core, self.namespace) == 0, timeout, 1.0)
        newest = self.task_ids[-100:]
        for _ in range(2 * self.settings.workers):
            wait_until("the shim to show the newest tasks", lambda: self.shim_sees(newest, "RUNNING"), 60)


def create_nth_pod(bench: Bench, pods: list[Json], core: CoreV1Api, number: int) -> str:
    return bench.create_task_pod(core, pods[number])


@dataclass
class TimedAnswer:
    answer: Any
    seconds: float


def timed_answer(call: Callable[[], Any]) -> TimedAnswer:
    began = time.perf_counter()
    answer = call()
    return TimedAnswer(answer, time.perf_counter() - began)


def measure_task_definitions(bench: Bench) -> Json:
    """RegisterTaskDefinition then DescribeTaskDefinition of that revision, boto3 against the
    shim and against moto in turn."""
    sides: dict[str, Ecs] = {"shim": bench.boto, "moto": BotoEcs(bench.moto.endpoint)}
    samples = {side: {"register": Samples(), "describe": Samples(), "register_describe": Samples()} for side in sides}
    for ecs in sides.values():
        ecs.call("RegisterTaskDefinition", **REGISTERED_DEFINITION)
    for index in within_budget(bench.settings.task_definition_samples, bench.settings.budget_seconds):
        for side, ecs in sides.items():
            register = timed_answer(functools.partial(ecs.call, "RegisterTaskDefinition", **REGISTERED_DEFINITION))
            revision = register.answer["taskDefinition"]["revision"]
            name = f"{REGISTERED_DEFINITION['family']}:{revision}"
            describe = timed_answer(functools.partial(ecs.call, "DescribeTaskDefinition", taskDefinition=name))
            samples[side]["register"].seconds.append(register.seconds)
            samples[side]["describe"].seconds.append(describe.seconds)
            samples[side]["register_describe"].seconds.append(register.seconds + describe.seconds)
        if index % 25 == 24:
            progress(f"task definitions: {index + 1} register+describe pairs on each side")
    return {side: {name: summary(taken) for name, taken in figures.items()} for side, figures in samples.items()}


def populate(bench: Bench, size: int) -> None:
    """Grow the cluster to `size` tasks with direct pod creations (pods as RunTask makes them)."""
    missing = size - len(bench.task_ids)
    if missing <= 0:
        return
    progress(f"populating: creating {missing} task pods directly ({len(bench.task_ids)} -> {size})")
    pods = bench.task_pods(missing)
    step = max(missing // 5, 100)

    def create(core: CoreV1Api, number: int) -> None:
        bench.create_task_pod(core, pods[number])
        if number % step == step - 1:
            progress(f"populating: {number + 1}/{missing} created")

    created = bench.kube_pool(bench.settings.populate_clients).run(missing, create)
    if created.errors:
        raise RuntimeError(f"{len(created.errors)} pod creations failed, first: {created.errors[0]}")
    progress(f"populating: {missing} pods in {created.wall:.1f} s; waiting for all to run and the shim to see them")
    bench.settle(timeout=120 + size / 20)


def measure_describe_tasks(bench: Bench, size: int) -> Json:
    """DescribeTasks of 100 random tasks vs a label-selected LIST of their pods."""
    settings = bench.settings
    describe = {"shim": Samples(), "shim_boto3": Samples(), "direct": Samples()}
    warm = random.sample(bench.task_ids, min(100, len(bench.task_ids)))
    describe_all(bench.ecs, warm)
    describe_all(bench.boto, warm)
    list_all(bench.core, bench.namespace, warm)
    for index in within_budget(settings.describe_samples, settings.budget_seconds):
        chosen = random.sample(bench.task_ids, min(100, len(bench.task_ids)))
        sample(functools.partial(describe_all, bench.ecs, chosen), describe["shim"])
        sample(functools.partial(describe_all, bench.boto, chosen), describe["shim_boto3"])
        sample(functools.partial(list_all, bench.core, bench.namespace, chosen), describe["direct"])
        if index % 25 == 24:
            progress(f"reads at {size} tasks: {index + 1} DescribeTasks / label-selected LISTs")
    progress(
        f"reads at {size} tasks: DescribeTasks p50 {describe['shim'].p50_ms():.1f} ms "
        f"(boto3 {describe['shim_boto3'].p50_ms():.1f} ms), LIST p50 {describe['direct'].p50_ms():.1f} ms"
    )
    return {side: summary(taken) for side, taken in describe.items()}


def measure_list_tasks(bench: Bench, size: int) -> Json:
    """ListTasks page by page vs a paginated LIST of all pods, both with pages of 100."""
    settings = bench.settings
    listing = {"shim": Samples(), "direct": Samples()}
    pages: dict[str, Callable[[], int]] = {
        "shim": functools.partial(page_through_tasks, bench.ecs, CLUSTER, PAGE_SIZE),
        "direct": functools.partial(page_through_pods, bench.core, bench.namespace, PAGE_SIZE),
    }
    bench.ecs.call("ListTasks", cluster=CLUSTER, maxResults=PAGE_SIZE)
    raw(bench.core.list_namespaced_pod, bench.namespace, limit=PAGE_SIZE)
    for index in within_budget(settings.list_runs, 2 * settings.budget_seconds):
        for side, page_through in pages.items():
            sample(functools.partial(expect_count, page_through, size), listing[side])
        progress(
            f"reads at {size} tasks: ListTasks run {index + 1}: shim {listing['shim'].seconds[-1]:.2f} s, "
            f"direct {listing['direct'].seconds[-1]:.2f} s"
        )
    return {"page_size": PAGE_SIZE, **{side: summary(taken) for side, taken in listing.items()}}


def expect_count(page_through: Callable[[], int], size: int) -> None:
    found = page_through()
    if found != size:
        raise RuntimeError(f"paged through {found} items, not {size}")


def describe_all(ecs: Ecs, task_ids: list[str]) -> None:
    answer = ecs.call("DescribeTasks", cluster=CLUSTER, tasks=task_ids)
    if answer["failures"] or len(answer["tasks"]) != len(task_ids):
        raise RuntimeError(f"DescribeTasks missed {len(answer['failures'])} of {len(task_ids)} tasks")


def list_all(core: CoreV1Api, namespace: str, task_ids: list[str]) -> None:
    found = pods_with_task_ids(core, namespace, task_ids)
    if len(found) != len(task_ids):
        raise RuntimeError(f"the label-selected LIST found {len(found)} of {len(task_ids)} pods")


def measure_container_instances(bench: Bench) -> Json:
    """ListContainerInstances pages of 100 and DescribeContainerInstances of each page (plain
    HTTP, and the describe again through boto3); for reference, a direct LIST of 100 nodes."""
    taken = {name: Samples() for name in ("list_page", "describe_100", "list_page_and_describe_100")}
    boto_describe, node_pages = Samples(), Samples()
    settings = bench.settings
    first_node_page(bench.core)
    for index in within_budget(settings.container_instance_samples, settings.budget_seconds):
        token = None
        while True:
            listed = timed_answer(functools.partial(list_instances, bench.ecs, token))
            arns = listed.answer["containerInstanceArns"]
            described = timed_answer(functools.partial(describe_instances, bench.ecs, arns))
            taken["list_page"].seconds.append(listed.seconds)
            taken["describe_100"].seconds.append(described.seconds)
            taken["list_page_and_describe_100"].seconds.append(listed.seconds + described.seconds)
            sample(functools.partial(describe_instances, bench.boto, arns), boto_describe)
            token = listed.answer.get("nextToken")
            if not token:
                break
        sample(functools.partial(first_node_page, bench.core), node_pages)
        if index % 5 == 4:
            progress(f"container instances: {len(taken['describe_100'].seconds)} pages of 100 described")
    return {
        "nodes": settings.nodes,
        "tasks": len(bench.task_ids),
        **{name: summary(samples) for name, samples in taken.items()},
        "describe_100_boto3": summary(boto_describe),
        "direct_node_page": summary(node_pages),
    }


def list_instances(ecs: Ecs, token: str | None) -> Json:
    return ecs.call(
        "ListContainerInstances", cluster=CLUSTER, maxResults=PAGE_SIZE, **({"nextToken": token} if token else {})
    )


def describe_instances(ecs: Ecs, arns: list[str]) -> None:
    answer = ecs.call("DescribeContainerInstances", cluster=CLUSTER, containerInstances=arns)
    if answer["failures"] or len(answer["containerInstances"]) != len(arns):
        raise RuntimeError(f"DescribeContainerInstances missed {len(answer['failures'])} of {len(arns)}")


def first_node_page(core: CoreV1Api) -> None:
    if not raw(core.list_node, limit=PAGE_SIZE)["items"]:
        raise RuntimeError("a LIST of nodes returned none")


def measure_rss(bench: Bench) -> Json:
    """Peak (VmHWM) and current (VmRSS) resident memory of the gunicorn master and each worker."""
    processes = [("master", bench.shim.process.pid)] + [("worker", pid) for pid in bench.shim.worker_pids()]
    shown = []
    for role, pid in processes:
        status = memory_status(pid)
        shown.append({"role": role, "pid": pid, "peak_mb": status["VmHWM"], "rss_mb": status["VmRSS"]})
    return {"tasks": len(bench.task_ids), "nodes": bench.settings.nodes, "processes": shown}


def memory_status(pid: int) -> dict[str, float]:
    """/proc/<pid>/status memory lines, in MB (10^6 bytes)."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            figures[key] = int(value.split()[0]) * 1024 / 1e6
    return figures


def measure_run_task(bench: Bench) -> Json:
    """RunTask(count=1) from concurrent clients (plain HTTP, then boto3) vs creating the same
    pods directly, in alternating blocks; a block stops early when its share of the time budget
    is spent (throughput counts the calls made). Each block starts once the pods of the block
    before it run, so that no side pays for the scheduling and start-up of the other's pods."""
    settings = bench.settings
    tasks_before = len(bench.task_ids)
    pools = {
        "shim": bench.ecs_pool(settings.write_clients, PlainEcs),
        "shim_boto3": bench.ecs_pool(settings.write_clients, BotoEcs),
    }
    kube_pool = bench.kube_pool(settings.write_clients)
    taken = {"shim": Samples(), "shim_boto3": Samples(), "direct": Samples()}
    block = settings.writes // settings.write_rounds
    budget = settings.budget_seconds / settings.write_rounds
    for round_number in range(settings.write_rounds):
        for side, pool in pools.items():
            taken[side].add(settled(bench, pool.run(block, lambda ecs, _: bench.run_task(ecs), budget)))
        pods = bench.task_pods(block)
        taken["direct"].add(
            settled(bench, kube_pool.run(block, functools.partial(create_nth_pod, bench, pods), budget))
        )
        progress(
            f"RunTask write path: round {round_number + 1}/{settings.write_rounds}: "
            f"shim p50 {taken['shim'].p50_ms():.1f} ms (boto3 {taken['shim_boto3'].p50_ms():.1f} ms), "
            f"direct p50 {taken['direct'].p50_ms():.1f} ms"
        )
    return {
        "clients": settings.write_clients,
        "tasks_before": tasks_before,
        **{side: summary(samples) for side, samples in taken.items()},
    }


def settled(bench: Bench, block: Samples) -> Samples:
    """`block` once the tasks it started (the newest ones) run."""
    started = bench.task_ids[len(bench.task_ids) - len(block.seconds) :]
    wait_until("the tasks of a block to run", lambda: pods_running(bench, started), 120, POLL_SECONDS)
    return block


def measure_end_to_end(bench: Bench) -> Json:
    """N concurrent RunTasks until DescribeTasks shows all RUNNING, vs N concurrent pod
    creations until a LIST of them shows all Running; both polled every POLL_SECONDS."""
    settings = bench.settings
    count = settings.end_to_end_tasks
    ecs_pool = bench.ecs_pool(count, PlainEcs)
    kube_pool = bench.kube_pool(count)
    rounds: dict[str, list[float]] = {"shim": [], "direct": []}
    for round_number in range(settings.end_to_end_rounds):
        rounds["shim"].append(shim_to_running(bench, ecs_pool, count))
        rounds["direct"].append(direct_to_running(bench, kube_pool, count))
        progress(
            f"end to end: round {round_number + 1}/{settings.end_to_end_rounds}: "
            f"shim {rounds['shim'][-1]:.2f} s, direct {rounds['direct'][-1]:.2f} s"
        )
    return {
        "tasks": count,
        "poll_seconds": POLL_SECONDS,
        **{side: {"rounds_s": taken, "p50_s": statistics.median(taken)} for side, taken in rounds.items()},
    }


def shim_to_running(bench: Bench, pool: ClientPool[Ecs], count: int) -> float:
    task_ids: list[str] = []
    started = pool.run(count, lambda ecs, _: task_ids.append(bench.run_task(ecs)))
    if started.errors:
        raise RuntimeError(f"{len(started.errors)} RunTasks failed, first: {started.errors[0]}")
    polled = timed(lambda: poll_until(lambda: bench.shim_sees(task_ids, "RUNNING")))
    return started.wall + polled


def direct_to_running(bench: Bench, pool: ClientPool[CoreV1Api], count: int) -> float:
    pods = bench.task_pods(count)
    task_ids = [pod["metadata"]["labels"][names.LABEL_TASK_ID] for pod in pods]
    started = pool.run(count, functools.partial(create_nth_pod, bench, pods))
    if started.errors:
        raise RuntimeError(f"{len(started.errors)} pod creations failed, first: {started.errors[0]}")
    return started.wall + timed(lambda: poll_until(lambda: pods_running(bench, task_ids)))


def pods_running(bench: Bench, task_ids: list[str]) -> bool:
    """Whether the pods of all `task_ids` (at most 100) are Running, by a label-selected LIST."""
    found = pods_with_task_ids(bench.core, bench.namespace, task_ids)
    return len(found) == len(task_ids) and all(pod["status"].get("phase") == "Running" for pod in found)


def poll_until(check: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all tasks ran within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
