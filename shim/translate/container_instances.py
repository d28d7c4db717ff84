"""ECS container instances as the Nodes show them: views, resources, attributes, and fit.

Pure: Node and Pod JSON as the API server sends them in, ECS shapes out.

- The instance id is the node's uid without dashes; ec2InstanceId the instance id in an AWS
  providerID (`aws:///<zone>/<i-...>`), else the node name.
- Resources are what the kube-scheduler counts: allocatable CPU (1000m = 1024 units, rounded
  down) and memory (MiB, rounded down), minus the effective requests of the pods on the node
  that have not terminated (pod-level requests when set, else the larger of the containers' sum
  and the init containers' peak, with sidecars, as Kubernetes computes them). PORTS/PORTS_UDP
  hold ECS's reserved ports, plus (remaining) the host ports in use.
- Attributes: the built-in ones backed by well-known node labels (zone, instance type, OS,
  architecture) and the custom ones stored as labels under ATTRIBUTE_LABEL_PREFIX, with the exact
  name and value in an annotation of the same key when a label could not hold them (at most
  MAX_CUSTOM_ATTRIBUTES per instance, as on ECS). The view also lists ecs.os-family and the
  agent capabilities ECS shows; placement expressions see only the label-backed ones (what the
  kube-scheduler can check).
- Placement fit follows ECS's order: CPU, then memory, then ports; the first check that leaves no
  instance names the failure.
"""

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shim.errors import AttributeLimitExceededException, InvalidParameterException
from shim.translate import cql, names, placement
from shim.translate.quantities import parse_quantity
from shim.translate.task_definitions import network_mode, task_cpu_units, task_memory_mib
from shim.translate.task_to_pod import apply_overrides, millicores

Json = dict[str, Any]
HostPort = tuple[int, str]

AGENT_VERSION = "1.89.0"
"""Numeric, as agentVersion comparisons in the cluster query language need: the ECS agent release
whose capabilities the shim answers for."""
AGENT_HASH = "ecs-shim"
RESERVED_PORTS = ("22", "2375", "2376", "51678", "51679")
MAX_CUSTOM_ATTRIBUTES = 10
MAX_ATTRIBUTE_LENGTH = 128
RESOURCE_CPU = "RESOURCE:CPU"
RESOURCE_MEMORY = "RESOURCE:MEMORY"
RESOURCE_PORTS = "RESOURCE:PORTS"
RESOURCE_PORTS_UDP = "RESOURCE:PORTS_UDP"

_UNITS_PER_CPU = 1024
_MIB = 2**20
_FINISHED_PHASES = ("Succeeded", "Failed")
_ATTRIBUTE_VALUE = re.compile(r"[A-Za-z0-9_.@/\\: -]+")
_RESERVED_ATTRIBUTE_PREFIX = "ecs."
_PROVIDER_INSTANCE = re.compile(r"aws://.*/(?P<instance>i-[0-9a-f]+)")
_ARCHITECTURES = {"amd64": "x86_64", "arm64": "arm64"}
_LABEL_ATTRIBUTES = {
    name: placement.node_label_for_attribute(name)
    for name in ("ecs.availability-zone", "ecs.instance-type", "ecs.os-type", "ecs.cpu-architecture")
}
_DOCKER_API_VERSIONS = [f"1.{minor}" for minor in range(17, 45)]
_LOGGING_DRIVERS = ("json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens", "none")
CAPABILITIES: tuple[str, ...] = (
    *(f"com.amazonaws.ecs.capability.docker-remote-api.{version}" for version in _DOCKER_API_VERSIONS),
    *(f"com.amazonaws.ecs.capability.logging-driver.{driver}" for driver in _LOGGING_DRIVERS),
    "com.amazonaws.ecs.capability.privileged-container",
    "com.amazonaws.ecs.capability.ecr-auth",
    "com.amazonaws.ecs.capability.task-iam-role",
    "com.amazonaws.ecs.capability.task-iam-role-network-host",
    "ecs.capability.execution-role-awslogs",
    "ecs.capability.execution-role-ecr-pull",
    "ecs.capability.task-eni",
    "ecs.capability.task-cpu-mem-limit",
    "ecs.capability.increased-task-cpu-limit",
    "ecs.capability.container-health-check",
    "ecs.capability.container-ordering",
    "ecs.capability.pid-ipc-namespace-sharing",
    "ecs.capability.secrets.asm.environment-variables",
    "ecs.capability.secrets.ssm.environment-variables",
    "ecs.capability.private-registry-authentication.secretsmanager",
    "ecs.capability.env-files.s3",
    "ecs.capability.efs",
    "ecs.capability.efsAuth",
    "ecs.capability.aws-appmesh",
    "ecs.capability.firelens.fluentd",
    "ecs.capability.firelens.fluentbit",
    "ecs.capability.container-port-range",
    "ecs.capability.docker-plugin.local",
    "ecs.capability.full-sync",
)


def container_instance_id(node: Mapping[str, Any]) -> str:
    uid: str = node["metadata"]["uid"]
    return uid.replace("-", "")


def ec2_instance_id(node: Mapping[str, Any]) -> str:
    match = _PROVIDER_INSTANCE.fullmatch(node.get("spec", {}).get("providerID") or "")
    name: str = node["metadata"]["name"]
    return match["instance"] if match else name


SIMULATED_NODE = ("kwok.x-k8s.io/node", "fake")
"""The annotation of a node kwok simulates: its containers run no process and print nothing."""


def is_simulated(node: Mapping[str, Any]) -> bool:
    return (node["metadata"].get("annotations") or {}).get(SIMULATED_NODE[0]) == SIMULATED_NODE[1]


def is_active(node: Mapping[str, Any]) -> bool:
    """ACTIVE unless cordoned (DRAINING)."""
    return not node.get("spec", {}).get("unschedulable")


def ready_condition(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The node's Ready condition, if it reports one."""
    conditions = (node.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def is_connected(node: Mapping[str, Any]) -> bool:
    """agentConnected: the node's Ready condition is True."""
    return (ready_condition(node) or {}).get("status") == "True"


@dataclass(frozen=True)
class PodUsage:
    """What one pod takes of its node, as the kube-scheduler counts it: CPU cores, memory bytes
    and host ports. A finished pod takes nothing."""

    cpu: Decimal
    memory: Decimal
    host_ports: frozenset[HostPort]


def pod_usage(pod: Mapping[str, Any]) -> PodUsage:
    if _finished(pod):
        return PodUsage(Decimal(0), Decimal(0), frozenset())
    return PodUsage(_pod_request(pod, "cpu"), _pod_request(pod, "memory"), frozenset(_host_ports([pod])))


def task_usage(task_cpu_units: int, task_memory_mib: int, host_ports: Iterable[HostPort]) -> PodUsage:
    """What a task's pod will take, before it exists: a task placed moments ago in the same call."""
    return PodUsage(Decimal(millicores(task_cpu_units)) / 1000, Decimal(task_memory_mib * _MIB), frozenset(host_ports))


def instance_resources(
    node: Mapping[str, Any], pods_on_node: Sequence[Mapping[str, Any]]
) -> tuple[list[Json], list[Json]]:
    """(registeredResources, remainingResources) as ECS `Resource` lists."""
    cpu_cores, memory_bytes = allocatable(node)
    left = _Remaining.of(node, [pod_usage(pod) for pod in pods_on_node])
    registered = [
        _integer_resource("CPU", _cpu_units(cpu_cores)),
        _integer_resource("MEMORY", _memory_mib(memory_bytes)),
        _ports_resource("PORTS", list(RESERVED_PORTS)),
        _ports_resource("PORTS_UDP", []),
    ]
    remaining = [
        _integer_resource("CPU", left.cpu),
        _integer_resource("MEMORY", left.memory),
        _ports_resource("PORTS", _port_strings([*RESERVED_PORTS], left.host_ports, "tcp")),
        _ports_resource("PORTS_UDP", _port_strings([], left.host_ports, "udp")),
    ]
    return registered, remaining


def instance_attributes(node: Mapping[str, Any]) -> list[Json]:
    """The `attributes` ECS shows for the instance: built-in, capabilities, then custom ones."""
    attributes = _label_attributes(node)
    shown: list[Json] = [{"name": name, "value": value} for name, value in attributes.items()]
    if attributes.get("ecs.os-type") == "linux":
        shown.append({"name": "ecs.os-family", "value": "LINUX"})
    shown.extend({"name": capability} for capability in CAPABILITIES)
    for name, value in custom_attributes(node).items():
        shown.append({"name": name, "value": value} if value else {"name": name})
    return shown


def custom_attributes(node: Mapping[str, Any]) -> dict[str, str | None]:
    """Custom attributes by exact name (None for an attribute set without a value)."""
    labels = node["metadata"].get("labels") or {}
    annotations = node["metadata"].get("annotations") or {}
    found: dict[str, str | None] = {}
    for key, label in labels.items():
        if not key.startswith(names.ATTRIBUTE_LABEL_PREFIX):
            continue
        name, value = key.removeprefix(names.ATTRIBUTE_LABEL_PREFIX), label or None
        exact = _exact_attribute(annotations.get(key))
        if exact is not None and attribute_label(*exact) == (key, label):
            name, value = exact
        found[name] = value
    return found


def instance_facts(
    node: Mapping[str, Any], pods_on_node: Sequence[Mapping[str, Any]], *, cluster_name: str | None = None
) -> cql.InstanceFacts:
    """What the cluster query language asks of the instance; `cluster_name` limits task counts and
    groups to that cluster's tasks (task groups are per cluster on ECS)."""
    tasks = _tasks(pods_on_node, cluster_name)
    attributes = _label_attributes(node)
    attributes.update({name: value or "" for name, value in custom_attributes(node).items()})
    return cql.InstanceFacts(
        attributes=attributes,
        ec2_instance_id=ec2_instance_id(node),
        agent_connected=is_connected(node),
        agent_version=AGENT_VERSION,
        registered_at=_registered_at(node),
        running_tasks_count=sum(1 for pod in tasks if _phase(pod) == "Running"),
        task_groups=frozenset(filter(None, (_group(pod) for pod in tasks if not _finished(pod)))),
    )


def container_instance_view(
    node: Mapping[str, Any],
    pods_on_node: Sequence[Mapping[str, Any]],
    *,
    region: str,
    account: str,
    cluster_name: str,
    include_tags: bool = False,
) -> Json:
    """The ECS `ContainerInstance` shape; `pods_on_node` are all pods bound to the node (every pod
    takes resources; only this cluster's tasks are counted)."""
    metadata = node["metadata"]
    registered, remaining = instance_resources(node, pods_on_node)
    tasks = _tasks(pods_on_node, cluster_name)
    runtime = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
    view: Json = {
        "containerInstanceArn": names.container_instance_arn(
            region, account, cluster_name, container_instance_id(node)
        ),
        "ec2InstanceId": ec2_instance_id(node),
        "version": _version(metadata),
        "versionInfo": {
            "agentVersion": AGENT_VERSION,
            "agentHash": AGENT_HASH,
            "dockerVersion": f"DockerVersion: {runtime}",
        },
        "remainingResources": remaining,
        "registeredResources": registered,
        "status": "ACTIVE" if is_active(node) else "DRAINING",
        "agentConnected": is_connected(node),
        "runningTasksCount": sum(1 for pod in tasks if _phase(pod) == "Running"),
        "pendingTasksCount": sum(1 for pod in tasks if _phase(pod) == "Pending"),
        "attributes": instance_attributes(node),
        "registeredAt": _registered_at(node).timestamp(),
        "attachments": [],
        "tags": json.loads((metadata.get("annotations") or {}).get(names.ANNOTATION_TAGS) or "[]")
        if include_tags
        else [],
    }
    health = _health_status(node)
    if health:
        view["healthStatus"] = health
    return view


def attribute_label(name: str, value: str | None) -> tuple[str, str]:
    """The node label (key, value) that holds a custom attribute."""
    return placement.node_label_for_attribute(name), placement.node_label_value_for_attribute(name, value or "")


def attribute_annotation(name: str, value: str | None) -> tuple[str, str]:
    """The node annotation (key, value) that keeps a custom attribute's exact name and value,
    which its label may only hold abbreviated; same key as the label."""
    key, _ = attribute_label(name, value)
    exact = {"name": name, "value": value} if value else {"name": name}
    return key, json.dumps(exact, separators=(",", ":"), sort_keys=True)


def validate_attribute(attribute: Mapping[str, Any]) -> None:
    """ECS's rules for a custom attribute PutAttributes may set."""
    name = attribute.get("name") or ""
    value = attribute.get("value")
    if not cql.ATTRIBUTE_NAME.fullmatch(name):
        raise InvalidParameterException(
            f"Invalid attribute name '{name}'. The name must contain between 1 and {MAX_ATTRIBUTE_LENGTH} "
            "characters: letters, numbers, hyphens, underscores, forward slashes, back slashes or periods."
        )
    if name.startswith(_RESERVED_ATTRIBUTE_PREFIX):
        raise InvalidParameterException(
            f"Invalid attribute name '{name}'. Attribute names starting with "
            f"'{_RESERVED_ATTRIBUTE_PREFIX}' are reserved for Amazon ECS."
        )
    if value is None:
        return
    if len(value) > MAX_ATTRIBUTE_LENGTH or not _ATTRIBUTE_VALUE.fullmatch(value) or value != value.strip(" "):
        raise InvalidParameterException(
            f"Invalid value '{value}' for attribute '{name}'. The value must contain between 1 and "
            f"{MAX_ATTRIBUTE_LENGTH} characters: letters, numbers, hyphens, underscores, periods, at signs, "
            "forward slashes, back slashes, colons or spaces, and cannot start or end with a space."
        )


def check_attribute_limit(targets: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> None:
    """ECS's limit for PutAttributes setting each (attribute, node) of `targets`: at most
    MAX_CUSTOM_ATTRIBUTES custom attributes per instance, counting those it has (setting one of
    them again replaces it)."""
    after: dict[str, set[str]] = {}
    for attribute, node in targets:
        after.setdefault(node["metadata"]["name"], set(custom_attributes(node))).add(attribute["name"])
    if any(len(attribute_names) > MAX_CUSTOM_ATTRIBUTES for attribute_names in after.values()):
        raise AttributeLimitExceededException(
            f"You can apply up to {MAX_CUSTOM_ATTRIBUTES} custom attributes for each resource."
        )


def task_requirements(
    task_definition: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> tuple[int, int, list[HostPort]]:
    """(CPU units, memory MiB, host ports) one task reserves on an instance."""
    definition = apply_overrides(task_definition, overrides)
    containers = definition["containerDefinitions"]
    cpu = (
        task_cpu_units(str(definition["cpu"])) if definition.get("cpu") else sum(c.get("cpu") or 0 for c in containers)
    )
    if definition.get("memory"):
        memory = task_memory_mib(str(definition["memory"]))
    else:
        memory = sum(c.get("memoryReservation") or c.get("memory") or 0 for c in containers)
    mode = network_mode(definition)
    ports = [port for c in containers for port in _required_host_ports(c, mode)]
    return cpu, memory, ports


def fit_failure(
    task_cpu_units: int,
    task_memory_mib: int,
    host_ports: Sequence[HostPort],
    nodes: Iterable[tuple[Mapping[str, Any], Sequence[PodUsage]]],
) -> str | None:
    """None when an ACTIVE, connected instance can take the task, else the ECS reason of the
    check (CPU, then memory, then TCP and UDP ports) that left no instance. `nodes` pairs each
    instance with the usage of the pods on it."""
    candidates = [_Remaining.of(node, usages) for node, usages in nodes if is_active(node) and is_connected(node)]
    checks = (
        (RESOURCE_CPU, lambda r: r.cpu >= task_cpu_units),
        (RESOURCE_MEMORY, lambda r: r.memory >= task_memory_mib),
        (RESOURCE_PORTS, lambda r: r.free(host_ports, "tcp")),
        (RESOURCE_PORTS_UDP, lambda r: r.free(host_ports, "udp")),
    )
    for reason, fits in checks:
        candidates = [remaining for remaining in candidates if fits(remaining)]
        if not candidates:
            return reason
    return None


@dataclass(frozen=True)
class _Remaining:
    """What is left on one instance: CPU units, memory MiB, and the host ports in use."""

    cpu: int
    memory: int
    host_ports: frozenset[HostPort]

    @classmethod
    def of(cls, node: Mapping[str, Any], usages: Sequence[PodUsage]) -> "_Remaining":
        cpu_cores, memory_bytes = allocatable(node)
        return cls(
            cpu=_cpu_units(cpu_cores - sum((usage.cpu for usage in usages), Decimal(0))),
            memory=_memory_mib(memory_bytes - sum((usage.memory for usage in usages), Decimal(0))),
            host_ports=frozenset().union(*(usage.host_ports for usage in usages)),
        )

    def free(self, host_ports: Iterable[HostPort], protocol: str) -> bool:
        wanted = [port for port, port_protocol in host_ports if port_protocol == protocol]
        in_use = {port for port, port_protocol in self.host_ports if port_protocol == protocol}
        if protocol == "tcp":
            in_use.update(int(port) for port in RESERVED_PORTS)
        return len(set(wanted)) == len(wanted) and not set(wanted) & in_use


def _required_host_ports(container: Mapping[str, Any], mode: str) -> list[HostPort]:
    if mode not in ("bridge", "host"):
        return []
    ports: list[HostPort] = []
    for mapping in container.get("portMappings", []):
        protocol = str(mapping.get("protocol") or "tcp").lower()
        if mapping.get("containerPortRange"):
            if mode == "host":
                low, _, high = str(mapping["containerPortRange"]).partition("-")
                ports.extend((number, protocol) for number in range(int(low), int(high or low) + 1))
            continue
        host_port = mapping.get("hostPort") or (mapping.get("containerPort") if mode == "host" else None)
        if host_port:
            ports.append((int(host_port), protocol))
    return ports


def allocatable(node: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """The CPU cores and memory bytes a node registers."""
    status = node.get("status") or {}
    amounts = status.get("allocatable") or status.get("capacity") or {}
    return _quantity(amounts.get("cpu")), _quantity(amounts.get("memory"))


def _pod_request(pod: Mapping[str, Any], resource: str) -> Decimal:
    """A pod's effective request of `resource`, as the kube-scheduler counts it."""
    spec = pod.get("spec") or {}
    pod_level = _container_request(spec, resource) if spec.get("resources") else None
    if pod_level:
        return pod_level + _quantity((spec.get("overhead") or {}).get(resource))
    sidecars = Decimal(0)
    init_peak = Decimal(0)
    for container in spec.get("initContainers", []):
        request = _container_request(container, resource)
        if container.get("restartPolicy") == "Always":
            sidecars += request
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, sidecars + request)
    main = sum((_container_request(c, resource) for c in spec.get("containers", [])), Decimal(0)) + sidecars
    return max(main, init_peak) + _quantity((spec.get("overhead") or {}).get(resource))


def _container_request(container: Mapping[str, Any], resource: str) -> Decimal:
    """Request, else limit (the API server defaults a missing request to the limit)."""
    resources = container.get("resources") or {}
    amount = (resources.get("requests") or {}).get(resource) or (resources.get("limits") or {}).get(resource)
    return _quantity(amount)


def _host_ports(pods: Iterable[Mapping[str, Any]]) -> set[HostPort]:
    used: set[HostPort] = set()
    for pod in pods:
        spec = pod.get("spec") or {}
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for port in container.get("ports", []):
                number = port.get("hostPort") or (port.get("containerPort") if spec.get("hostNetwork") else None)
                if number:
                    used.add((int(number), str(port.get("protocol") or "TCP").lower()))
    return used


def _port_strings(base: list[str], used: Collection[HostPort], protocol: str) -> list[str]:
    in_use = sorted(port for port, port_protocol in used if port_protocol == protocol)
    return list(dict.fromkeys([*base, *(str(port) for port in in_use)]))


def _integer_resource(name: str, value: int) -> Json:
    return {"name": name, "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": value}


def _ports_resource(name: str, ports: list[str]) -> Json:
    return {
        "name": name,
        "type": "STRINGSET",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": 0,
        "stringSetValue": ports,
    }


def _cpu_units(cores: Decimal) -> int:
    return max(0, int(cores * _UNITS_PER_CPU))


def _memory_mib(amount: Decimal) -> int:
    return max(0, int(amount // _MIB))


def _quantity(amount: Any) -> Decimal:
    return Decimal(parse_quantity(amount)) if amount not in (None, "") else Decimal(0)


def _label_attributes(node: Mapping[str, Any]) -> dict[str, str]:
    labels = node["metadata"].get("labels") or {}
    attributes = {name: labels[label] for name, label in _LABEL_ATTRIBUTES.items() if labels.get(label)}
    if "ecs.cpu-architecture" in attributes:
        architecture = attributes["ecs.cpu-architecture"]
        attributes["ecs.cpu-architecture"] = _ARCHITECTURES.get(architecture, architecture)
    return attributes


def _exact_attribute(annotation: str | None) -> tuple[str, str | None] | None:
    if not annotation:
        return None
    try:
        exact = json.loads(annotation)
    except ValueError:
        return None
    if not isinstance(exact, dict) or not isinstance(exact.get("name"), str):
        return None
    value = exact.get("value")
    return exact["name"], value if isinstance(value, str) else None


def _tasks(pods: Sequence[Mapping[str, Any]], cluster_name: str | None) -> list[Mapping[str, Any]]:
    """The ECS tasks among `pods` (of `cluster_name` only, when given)."""
    wanted = names.label_value(cluster_name) if cluster_name is not None else None
    tasks = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if labels.get(names.LABEL_MANAGED) != "true" or names.LABEL_TASK_ID not in labels:
            continue
        if wanted is None or labels.get(names.LABEL_CLUSTER) == wanted:
            tasks.append(pod)
    return tasks


def _group(pod: Mapping[str, Any]) -> str | None:
    group: str | None = (pod["metadata"].get("annotations") or {}).get(names.ANNOTATION_GROUP)
    return group


def _health_status(node: Mapping[str, Any]) -> Json | None:
    """The container runtime check, from the node's Ready condition."""
    ready = ready_condition(node)
    if ready is None:
        return None
    state = {"True": "OK", "False": "IMPAIRED"}.get(ready.get("status", ""), "INSUFFICIENT_DATA")
    detail: Json = {"type": "CONTAINER_RUNTIME", "status": state}
    for key, field in (("lastUpdated", "lastHeartbeatTime"), ("lastStatusChange", "lastTransitionTime")):
        if ready.get(field):
            detail[key] = _moment(ready[field]).timestamp()
    if state != "OK" and ready.get("message"):
        detail["statusReason"] = ready["message"]
    return {"overallStatus": state, "details": [detail]}


def _registered_at(node: Mapping[str, Any]) -> datetime:
    created = node["metadata"].get("creationTimestamp")
    return _moment(created) if created else datetime.fromtimestamp(0, UTC)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version(metadata: Mapping[str, Any]) -> int:
    resource_version = str(metadata.get("resourceVersion") or "")
    return int(resource_version) if resource_version.isdigit() else int(metadata.get("generation") or 1)


def _finished(pod: Mapping[str, Any]) -> bool:
    return _phase(pod) in _FINISHED_PHASES


def _phase(pod: Mapping[str, Any]) -> str:
    phase: str = (pod.get("status") or {}).get("phase") or "Pending"
    return phase
