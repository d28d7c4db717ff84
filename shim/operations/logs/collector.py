"""The awslogs collector: what the ECS agent's `awslogs` log driver does. For each task container
whose task definition sends its output to CloudWatch Logs (`logConfiguration.logDriver` awslogs),
the container's output, with the container runtime's timestamps, is copied into the stream
`<awslogs-stream-prefix>/<container-name>/<task-id>` of the group `awslogs-group` (created first
when `awslogs-create-group` is "true"; without the group no output is kept: ECS would not start
the task at all).

Output is read from `pods/log` (the kubelet keeps a finished container's log until its pod goes):
every few seconds for every running container, and at once when a pod changes (so that a
container's last lines are read before a stopped task's pod is deleted). Each stream remembers
how far each container's output was copied (`sources`, by pod uid and container), and appends
replace the stream as it was read, so any number of server processes collect at once without
losing or repeating a line. A simulated (kwok) node has no output: its containers' streams exist
and stay empty."""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from shim.kube.cache import KubeObject
from shim.kube.errors import Conflict, NotFound
from shim.kube.logs import LogStore
from shim.kube.records import Record
from shim.kube.store import Store
from shim.operations.reconciler import carry_on
from shim.translate import logs, names
from shim.translate.container_instances import is_simulated
from shim.translate.task_definitions import parse_task_definition_ref
from shim.translate.task_from_pod import task_id_of
from shim.translate.task_to_pod import kube_name

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Source:
    """One container's output and the stream it goes to."""

    namespace: str
    pod: str
    container: str
    """The container's name in the pod."""
    key: str
    """How the stream remembers this container: pod uid / container."""
    awslogs: logs.AwsLogs
    stream: str
    finished: bool
    simulated: bool


class LogCollector:
    """Copies awslogs containers' output into their log streams (see the module docstring)."""

    def __init__(self, store: Store, log_store: LogStore) -> None:
        self.store = store
        self.log_store = log_store
        self.configured: dict[str, list[tuple[str, logs.AwsLogs]]] = {}
        """By pod uid: its containers that log with awslogs (ECS name, configuration), read once
        from its task definition; most pods have none and cost a set lookup per pass after that."""
        self.complete: set[str] = set()
        """Sources whose output is all copied (or that have none), by key."""
        self.wake = threading.Event()

    def start(self) -> None:
        self.store.add_pod_listener(self.on_pod_event)
        threading.Thread(target=self.run, name="awslogs-collector", daemon=True).start()

    def on_pod_event(self, event_type: str, pod: KubeObject) -> None:
        """A pod with awslogs containers changed (a container may have exited, and its pod may
        soon go): read its output now rather than at the next poll."""
        if event_type == "MODIFIED" and self.configured.get(pod["metadata"].get("uid", "")):
            self.wake.set()

    def run(self) -> None:
        while True:
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
            carry_on(self.collect, "collect container output", expected=(NotFound,))

    def collect(self) -> None:
        present: set[str] = set()
        configured: dict[str, list[tuple[str, logs.AwsLogs]]] = {}
        for pod in self.store.all_pods():
            uid = pod["metadata"]["uid"]
            configured[uid] = self.configured[uid] if uid in self.configured else self._awslogs_containers(pod)
            for source in self.sources(pod, configured[uid]):
                present.add(source.key)
                if source.key not in self.complete:
                    carry_on(partial(self.copy, source), f"copy the output of {source.key}")
        self.configured = configured
        self.complete &= present

    def sources(self, pod: KubeObject, containers: list[tuple[str, logs.AwsLogs]]) -> Iterator[Source]:
        """The pod's started `containers` (those that log with awslogs)."""
        node = self.store.node_of(pod) if containers else None
        if node is None:
            return
        statuses = {status["name"]: status for status in pod.get("status", {}).get("containerStatuses") or []}
        simulated = is_simulated(node)
        for name, awslogs in containers:
            status = statuses.get(kube_name(name))
            if status is None or "waiting" in (status.get("state") or {}):
                continue
            container_id = logs.runtime_container_id(status.get("containerID"))
            stream = awslogs.stream_name(name, task_id_of(pod), container_id)
            if stream is None:
                continue
            yield Source(
                namespace=pod["metadata"]["namespace"],
                pod=pod["metadata"]["name"],
                container=kube_name(name),
                key=f"{pod['metadata']['uid']}/{kube_name(name)}",
                awslogs=awslogs,
                stream=stream,
                finished="terminated" in (status.get("state") or {}),
                simulated=simulated,
            )

    def _awslogs_containers(self, pod: KubeObject) -> list[tuple[str, logs.AwsLogs]]:
        definition = self._task_definition(pod)
        if definition is None:
            return []
        configured = [
            (container["name"], logs.awslogs_of(container)) for container in definition["containerDefinitions"]
        ]
        return [(name, awslogs) for name, awslogs in configured if awslogs is not None]

    def _task_definition(self, pod: KubeObject) -> Record | None:
        arn = (pod["metadata"].get("annotations") or {}).get(names.ANNOTATION_TASK_DEFINITION_ARN)
        if not arn:
            return None
        family, revision = parse_task_definition_ref(arn)
        found = self.store.get_task_definition(family, revision) if revision is not None else None
        return found.record if found is not None else None

    def copy(self, source: Source) -> None:
        """Copy what `source` printed since its stream's position for it."""
        group = source.awslogs.group
        if not self._group_exists(source):
            self.complete.add(source.key)
            return
        stream = self._stream(group, source.stream)
        position = logs.Position.of_record((stream.get("sources") or {}).get(source.key))
        if source.simulated:
            self.complete.add(source.key)
            return
        output = self.log_store.container_log(source.namespace, source.pod, source.container, _whole_second(position))
        if output is None:
            return
        events, _ = logs.new_output(output, position, _now_ms())
        if events:
            self.log_store.update_stream(group, source.stream, lambda record: _append(record, source, output))
        if source.finished:
            self.complete.add(source.key)

    def _group_exists(self, source: Source) -> bool:
        group = source.awslogs.group
        if self.log_store.get_group(group) is not None:
            return True
        if not source.awslogs.create_group:
            log.info(
                "log group %s does not exist and awslogs-create-group is not true: %s's output is not kept",
                group,
                source.key,
            )
            return False
        with contextlib.suppress(Conflict):
            self.log_store.create_group({"logGroupName": group, "creationTime": _now_ms()})
        return True

    def _stream(self, group: str, stream: str) -> Record:
        found = self.log_store.get_stream(group, stream)
        if found is not None:
            return found
        try:
            return self.log_store.create_stream(logs.new_stream_record(group, stream, _now_ms()))
        except Conflict:
            return self.log_store.get_stream(group, stream) or {}


def _append(record: Record, source: Source, output: str) -> None:
    """Add the lines of `output` past the stream's position for `source` (as the API server has
    the stream now: another process may have copied some since it was read)."""
    sources: dict[str, Any] = record.setdefault("sources", {})
    events, after = logs.new_output(output, logs.Position.of_record(sources.get(source.key)), _now_ms())
    logs.append_events(record, events)
    sources[source.key] = after.as_record()


def _whole_second(position: logs.Position) -> str | None:
    """`sinceTime` for pods/log: the position's second (the API takes whole seconds; the lines
    of that second already copied are skipped by position)."""
    return f"{position.since[:19]}Z" if position.since else None


def _now_ms() -> int:
    return int(time.time() * 1000)
