"""Task definitions as ECS validates and shows them.

`validate_registration` makes RegisterTaskDefinition's own checks, in this order, raising what ECS
raises (ClientException unless noted). Members have already passed botocore's type validation.

Messages confirmed from ECS responses quoted in public issue reports and the ECS docs:
  family "" -> "Family can not be blank."; not 1-255 of [A-Za-z0-9_-] -> "Family contains invalid
  characters."; no containers -> "Container list cannot be empty."; more than 10 -> "Too many
  containers."; task cpu unparsable -> "Invalid 'cpu' setting for task.";
  "Container.name should not be null or empty."; "Container.name contains invalid characters.";
  "Container.image should not be null or empty."; "Container names must be unique within a Task
  Definition."; "Task definition doesn't have any essential container."; "Links are not supported
  when networkMode=awsvpc."; "hostname is not supported on container when networkMode=awsvpc.";
  "Invalid 'containerPort' setting for container 'x'."; "When networkMode=awsvpc, the host ports
  and container ports in port mappings must match." (host alike); "Invalid setting for container
  'x'. At least one of 'memory' or 'memoryReservation' must be specified." (only when the task has
  no memory); "The 'memory' setting for container 'x' is greater than for the task."; "The sum of
  all container 'cpu' values cannot be greater than the value of the task 'cpu'."; "Unknown volume
  'x'." (a missing sourceVolume shows as 'null'); "Invalid 'volumesFrom' setting. Unknown
  container: 'x'."; "Cannot depend on container + 'x' because it does not exist"; "A dependency
  container with SUCCESS or COMPLETE condition cannot be an essential container".
  With FARGATE in requiresCompatibilities: "Fargate only supports network mode 'awsvpc'." (ECS
  sends typographic quotes around awsvpc);
  "Fargate requires that 'cpu' be defined at the task level." (and 'memory'); "No Fargate
  configuration exists for given values: 512 CPU, 128 memory. See the Amazon ECS documentation for
  the valid values."; "Tasks using the Fargate launch type do not support ipcMode."; "Tasks using
  the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is
  'task'."; "Fargate requires task definition to have execution role ARN to support log driver
  awslogs." (and "ECR images").

Documented rules whose message was not found, worded like their confirmed siblings: task cpu
outside 128-196608 units (the cpu message above); task memory unparsable or 0 ("Invalid 'memory'
setting for task."); links under host or none networking; port mappings under none networking;
hostPort outside 0-65535; container memory below its memoryReservation; reservations summing
above the task memory.

The view follows real DescribeTaskDefinition output, but for networkMode, which is always shown
(bridge when none was given, the mode an EC2 task then runs with); cpu, memory, roles and
requiresCompatibilities appear only when given (cpu and memory as unit strings); containers get
cpu 0, essential true, hostPort and protocol "tcp" on each port mapping, and empty environment,
mountPoints, volumesFrom and systemControls; compatibilities holds EC2, FARGATE whenever Fargate
would accept the definition (requested or not), and any other launch type requested.

DeregisterTaskDefinition of a DELETE_IN_PROGRESS revision raises ClientException; ECS's exact words
are not published, but the hashicorp/aws Terraform provider recognises the error by "in the process
of being deleted", which BEING_DELETED says.

References: `family`, `family:revision` or a task definition ARN. A revision that is not a number
raises InvalidParameterException "Invalid revision number. Number: x" (as ECS does); anything
else unreadable raises ClientException "Unable to describe task definition.".
"""

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from shim.errors import ClientException, InvalidParameterException
from shim.translate.names import ANNOTATION_TASK_DEFINITION_ARN, task_definition_arn

Definition = dict[str, Any]

UNABLE_TO_DESCRIBE = "Unable to describe task definition."
TASK_DEFINITION_INACTIVE = "TaskDefinition is inactive"
BEING_DELETED = "The specified task definition is in the process of being deleted."
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
REMOVAL_GRACE_SECONDS = 60.0
MAX_CONTAINERS = 10
TASK_CPU_UNITS = range(128, 196608 + 1)
MAX_REVISION = 2**31 - 1

FARGATE_MEMORY_BY_CPU: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4096 + 1, 1024)),
    1024: frozenset(range(2048, 8192 + 1, 1024)),
    2048: frozenset(range(4096, 16384 + 1, 1024)),
    4096: frozenset(range(8192, 30720 + 1, 1024)),
    8192: frozenset(range(16384, 61440 + 1, 4096)),
    16384: frozenset(range(32768, 122880 + 1, 8192)),
}

COMPATIBILITY_ORDER = ("EXTERNAL", "EC2", "FARGATE", "MANAGED_INSTANCES")

_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_INTEGER = re.compile(r"[0-9]+")
_VCPU = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?vcpu", re.IGNORECASE)
_GB = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?gb", re.IGNORECASE)
_ECR_IMAGE = re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
_TASK_DEFINITION_ARN = re.compile(r"arn:[^:]+:ecs:[^:]*:[^:]*:task-definition/(?P<reference>.*)")

_PASSED_THROUGH = (
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "runtimePlatform",
    "inferenceAccelerators",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "ephemeralStorage",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
)

_DOCKER_API = "com.amazonaws.ecs.capability.docker-remote-api."
DEPENDENCY_CYCLE = "Container dependencies form a cycle."


def validate_registration(params: Definition) -> None:
    """Raise what ECS raises for a RegisterTaskDefinition input it would refuse."""
    _check_family(params["family"])
    containers: list[Definition] = params["containerDefinitions"]
    _check_container_count(containers)
    task_cpu, task_memory = _task_size(params)
    for container in containers:
        _check_container_identity(container)
    _check_unique_names(containers)
    if not any(_is_essential(container) for container in containers):
        raise ClientException("Task definition doesn't have any essential container.")
    mode = network_mode(params)
    for container in containers:
        _check_networking(container, mode)
        _check_container_memory(container, task_memory)
    _check_task_totals(containers, task_cpu, task_memory)
    _check_references(params)
    if "FARGATE" in params.get("requiresCompatibilities", []):
        problem = _fargate_problem(params)
        if problem:
            raise ClientException(problem)


def network_mode(params: Definition) -> str:
    """The network mode a definition runs with: `bridge` when none is given."""
    mode: str = params.get("networkMode") or "bridge"
    return mode


def task_cpu_units(value: str) -> int:
    """Task-level cpu as CPU units: "1024", "1 vCPU" and "0.25 vcpu" are all accepted."""
    units = _amount(value, _VCPU, 1024)
    if units is None or units not in TASK_CPU_UNITS:
        raise ClientException("Invalid 'cpu' setting for task.")
    return units


def task_memory_mib(value: str) -> int:
    """Task-level memory in MiB: "2048", "2 GB" and "2GB" are all accepted."""
    mib = _amount(value, _GB, 1024)
    if mib is None or mib < 1:
        raise ClientException("Invalid 'memory' setting for task.")
    return mib


def task_definition_view(
    params: Definition,
    *,
    family_revision: int,
    region: str,
    account: str,
    registered_at: datetime,
    registered_by: str,
) -> Definition:
    """The `TaskDefinition` ECS returns for a registered input, its defaults filled in; no tags."""
    family: str = params["family"]
    mode = network_mode(params)
    view: Definition = {
        "taskDefinitionArn": task_definition_arn(region, account, family, family_revision),
        "containerDefinitions": [_container_view(c, mode) for c in params["containerDefinitions"]],
        "family": family,
        "networkMode": mode,
        "revision": family_revision,
        "volumes": copy.deepcopy(params.get("volumes", [])),
        "status": "ACTIVE",
        "placementConstraints": copy.deepcopy(params.get("placementConstraints", [])),
        "compatibilities": _compatibilities(params),
        "registeredAt": registered_at,
        "registeredBy": registered_by,
    }
    attributes = required_attributes(params)
    if attributes:
        view["requiresAttributes"] = [{"name": name} for name in attributes]
    for key in _PASSED_THROUGH:
        if params.get(key) not in (None, ""):
            view[key] = copy.deepcopy(params[key])
    if params.get("cpu"):
        view["cpu"] = str(task_cpu_units(params["cpu"]))
    if params.get("memory"):
        view["memory"] = str(task_memory_mib(params["memory"]))
    return view


def deregistered_view(view: Definition, deregistered_at: datetime) -> Definition:
    return {**copy.deepcopy(view), "status": "INACTIVE", "deregisteredAt": deregistered_at}


def deletion_requested_view(view: Definition, delete_requested_at: datetime) -> Definition:
    return {**copy.deepcopy(view), "status": DELETE_IN_PROGRESS, "deleteRequestedAt": delete_requested_at}


def removal_due(view: Mapping[str, Any], now: float) -> bool:
    """Whether a revision may be removed for good if nothing uses it: its deletion was requested
    (`deleteRequestedAt`, epoch seconds) at least REMOVAL_GRACE_SECONDS before `now`. ECS removes
    such revisions when a periodic check finds them unused; the grace keeps a revision just
    deleted describable for a while, as that check does."""
    return bool(view["status"] == DELETE_IN_PROGRESS and view["deleteRequestedAt"] <= now - REMOVAL_GRACE_SECONDS)


def revisions_in_use(
    pods: Iterable[Mapping[str, Any]],
    stopped_tasks: Iterable[Mapping[str, Any]],
    services: Iterable[Mapping[str, Any]],
) -> set[tuple[str, int]]:
    """(family, revision) of every revision in use: by a task's pod (running, or stopped and not
    yet swept), by a stopped task's record (`{"task": view}`) while it is retained, or by a
    service record that is not INACTIVE (its task definition and every deployment's and task set's)."""
    arns = [
        *((pod["metadata"].get("annotations") or {}).get(ANNOTATION_TASK_DEFINITION_ARN, "") for pod in pods),
        *(record["task"].get("taskDefinitionArn", "") for record in stopped_tasks),
        *(arn for service in services if service["status"] != "INACTIVE" for arn in _service_revisions(service)),
    ]
    return {revision for revision in map(_revision_named, arns) if revision is not None}


def _service_revisions(service: Mapping[str, Any]) -> Iterator[str]:
    yield service.get("taskDefinition", "")
    for deployment in [*service.get("deployments", []), *service.get("taskSets", [])]:
        yield deployment.get("taskDefinition", "")


def _revision_named(arn: str) -> tuple[str, int] | None:
    try:
        family, revision = parse_task_definition_ref(arn)
    except (ClientException, InvalidParameterException):
        return None
    return None if revision is None else (family, revision)


def required_attributes(params: Definition) -> list[str]:
    """Container instance attributes ECS derives from a definition, first occurrence first.

    Best effort: ECS publishes no table. Each entry below was seen in real DescribeTaskDefinition
    output for the feature, or is the agent capability the developer guide names for it.
    """
    names = dict.fromkeys(_task_attributes(params))
    for container in params["containerDefinitions"]:
        names.update(dict.fromkeys(_container_attributes(container, params)))
    return list(names)


def parse_task_definition_ref(value: str) -> tuple[str, int | None]:
    """(family, revision) from `family`, `family:revision` or a task definition ARN."""
    arn = _TASK_DEFINITION_ARN.fullmatch(value)
    if value.startswith("arn:") and not arn:
        raise ClientException(UNABLE_TO_DESCRIBE)
    family, has_revision, revision = (arn["reference"] if arn else value).partition(":")
    if not _NAME.fullmatch(family):
        raise ClientException(UNABLE_TO_DESCRIBE)
    if not has_revision:
        return family, None
    if not _INTEGER.fullmatch(revision) or int(revision) > MAX_REVISION:
        raise InvalidParameterException(f"Invalid revision number. Number: {revision}")
    return family, int(revision)


def task_definition_sort_key(arn: str) -> tuple[str, int]:
    family, revision = parse_task_definition_ref(arn)
    if revision is None:
        raise ValueError(f"{arn} names no revision")
    return family, revision


def sorted_task_definition_arns(arns: Iterable[str], sort: str = "ASC") -> list[str]:
    """ListTaskDefinitions order: by family, then revision; DESC reverses both."""
    return sorted(arns, key=task_definition_sort_key, reverse=sort == "DESC")


def _amount(value: str, unit: re.Pattern[str], per_unit: int) -> int | None:
    if _INTEGER.fullmatch(value):
        return int(value)
    match = unit.fullmatch(value)
    if not match:
        return None
    amount = Decimal(match[1]) * per_unit
    return int(amount) if amount == amount.to_integral_value() else None


def _task_size(params: Definition) -> tuple[int | None, int | None]:
    cpu = task_cpu_units(params["cpu"]) if params.get("cpu") else None
    memory = task_memory_mib(params["memory"]) if params.get("memory") else None
    return cpu, memory


def _check_family(family: str) -> None:
    if not family:
        raise ClientException("Family can not be blank.")
    if not _NAME.fullmatch(family):
        raise ClientException("Family contains invalid characters.")


def _check_container_count(containers: list[Definition]) -> None:
    if not containers:
        raise ClientException("Container list cannot be empty.")
    if len(containers) > MAX_CONTAINERS:
        raise ClientException("Too many containers.")


def _check_container_identity(container: Definition) -> None:
    name = container.get("name")
    if not name:
        raise ClientException("Container.name should not be null or empty.")
    if not _NAME.fullmatch(name):
        raise ClientException("Container.name contains invalid characters.")
    if not container.get("image"):
        raise ClientException("Container.image should not be null or empty.")


def _check_unique_names(containers: list[Definition]) -> None:
    names = [container["name"] for container in containers]
    if len(set(names)) != len(names):
        raise ClientException("Container names must be unique within a Task Definition.")


def _is_essential(container: Definition) -> bool:
    return container.get("essential") is not False


def _check_networking(container: Definition, mode: str) -> None:
    if container.get("links") and mode != "bridge":
        raise ClientException(f"Links are not supported when networkMode={mode}.")
    if container.get("hostname") and mode == "awsvpc":
        raise ClientException("hostname is not supported on container when networkMode=awsvpc.")
    port_mappings = container.get("portMappings", [])
    if port_mappings and mode == "none":
        raise ClientException("Port mappings are not supported when networkMode=none.")
    for port_mapping in port_mappings:
        _check_port_mapping(port_mapping, container["name"], mode)


def _check_port_mapping(port_mapping: Definition, container_name: str, mode: str) -> None:
    if "containerPortRange" in port_mapping:
        return
    container_port = port_mapping.get("containerPort")
    if container_port is None or not 1 <= container_port <= 65535:
        raise ClientException(f"Invalid 'containerPort' setting for container '{container_name}'.")
    host_port = port_mapping.get("hostPort")
    if host_port is not None and not 0 <= host_port <= 65535:
        raise ClientException(f"Invalid 'hostPort' setting for container '{container_name}'.")
    if mode in ("awsvpc", "host") and host_port not in (None, 0, container_port):
        raise ClientException(
            f"When networkMode={mode}, the host ports and container ports in port mappings must match."
        )


def _check_container_memory(container: Definition, task_memory: int | None) -> None:
    name = container["name"]
    for key in ("cpu", "memory", "memoryReservation"):
        if (container.get(key) or 0) < 0:
            raise ClientException(f"Invalid '{key}' setting for container '{_java_text(name)}'.")
    memory = container.get("memory")
    reservation = container.get("memoryReservation")
    if task_memory is None and not memory and not reservation:
        raise ClientException(
            f"Invalid setting for container '{name}'. "
            "At least one of 'memory' or 'memoryReservation' must be specified."
        )
    if memory and reservation and memory < reservation:
        raise ClientException(
            f"Invalid setting for container '{name}'. 'memory' must be greater than or equal to 'memoryReservation'."
        )
    if task_memory is not None and memory and memory > task_memory:
        raise ClientException(f"The 'memory' setting for container '{name}' is greater than for the task.")


def _check_task_totals(containers: list[Definition], task_cpu: int | None, task_memory: int | None) -> None:
    if task_cpu is not None and sum(c.get("cpu") or 0 for c in containers) > task_cpu:
        raise ClientException(
            "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
        )
    reserved = sum(c.get("memoryReservation") or c.get("memory") or 0 for c in containers)
    if task_memory is not None and reserved > task_memory:
        raise ClientException(
            "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."
        )


def _check_references(params: Definition) -> None:
    containers: list[Definition] = params["containerDefinitions"]
    by_name = {container["name"]: container for container in containers}
    volume_names = {volume.get("name") for volume in params.get("volumes", [])}
    for container in containers:
        for mount_point in container.get("mountPoints", []):
            source = mount_point.get("sourceVolume")
            if not source or source not in volume_names:
                raise ClientException(f"Unknown volume '{_java_text(source)}'.")
        for volume_from in container.get("volumesFrom", []):
            source = volume_from.get("sourceContainer")
            if source not in by_name:
                raise ClientException(f"Invalid 'volumesFrom' setting. Unknown container: '{_java_text(source)}'.")
        for dependency in container.get("dependsOn", []):
            _check_dependency(dependency, by_name)
    _check_no_dependency_cycle(containers)


def _check_no_dependency_cycle(containers: list[Definition]) -> None:
    """RunTask could never start a task whose containers wait on each other in a ring."""
    waiting = {c["name"]: {d["containerName"] for d in c.get("dependsOn", [])} for c in containers}
    while waiting:
        ready = [name for name, needs in waiting.items() if not needs & waiting.keys()]
        if not ready:
            raise ClientException(DEPENDENCY_CYCLE)
        for name in ready:
            del waiting[name]


def _check_dependency(dependency: Definition, by_name: dict[str, Definition]) -> None:
    target = by_name.get(dependency["containerName"])
    if target is None:
        raise ClientException(f"Cannot depend on container + '{dependency['containerName']}' because it does not exist")
    if dependency["condition"] in ("SUCCESS", "COMPLETE") and _is_essential(target):
        raise ClientException(
            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
        )


def _java_text(value: str | None) -> str:
    return "null" if value is None else value


def _fargate_problem(params: Definition) -> str | None:
    """Why Fargate would refuse the definition, in ECS's words; None when it would not."""
    if network_mode(params) != "awsvpc":
        return "Fargate only supports network mode \u2018awsvpc\u2019."
    cpu, memory = _task_size(params)
    if cpu is None:
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory is None:
        return "Fargate requires that 'memory' be defined at the task level."
    if memory not in FARGATE_MEMORY_BY_CPU.get(cpu, frozenset()):
        return (
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )
    if params.get("ipcMode"):
        return "Tasks using the Fargate launch type do not support ipcMode."
    if params.get("pidMode", "task") != "task":
        return (
            f"Tasks using the Fargate launch type do not support pidMode '{params['pidMode']}'. "
            "The supported value for pidMode is 'task'."
        )
    if not params.get("executionRoleArn"):
        return _execution_role_problem(params["containerDefinitions"])
    return None


def _execution_role_problem(containers: list[Definition]) -> str | None:
    for container in containers:
        if _log_driver(container) == "awslogs":
            return "Fargate requires task definition to have execution role ARN to support log driver awslogs."
        if _is_ecr_image(container):
            return "Fargate requires task definition to have execution role ARN to support ECR images."
    return None


def _log_driver(container: Definition) -> str | None:
    driver: str | None = container.get("logConfiguration", {}).get("logDriver")
    return driver


def _is_ecr_image(container: Definition) -> bool:
    return bool(_ECR_IMAGE.match(container.get("image", "")))


def _compatibilities(params: Definition) -> list[str]:
    """EC2 always, FARGATE whenever Fargate would accept it, other launch types when requested."""
    supported = {"EC2", *params.get("requiresCompatibilities", [])} - {"FARGATE"}
    if _fargate_problem(params) is None:
        supported.add("FARGATE")
    return [compatibility for compatibility in COMPATIBILITY_ORDER if compatibility in supported]


def _container_view(container: Definition, mode: str) -> Definition:
    view = copy.deepcopy(container)
    view.setdefault("cpu", 0)
    view["essential"] = _is_essential(container)
    view["portMappings"] = [_port_mapping_view(p, mode) for p in container.get("portMappings", [])]
    for key in ("environment", "mountPoints", "volumesFrom", "systemControls"):
        view.setdefault(key, [])
    return view


def _port_mapping_view(port_mapping: Definition, mode: str) -> Definition:
    view = dict(port_mapping)
    if "containerPortRange" not in port_mapping:
        static = mode in ("awsvpc", "host")
        view["hostPort"] = port_mapping["containerPort"] if static else port_mapping.get("hostPort") or 0
    view.setdefault("protocol", "tcp")
    return view


def _task_attributes(params: Definition) -> Iterator[str]:
    mode = network_mode(params)
    if mode == "awsvpc":
        yield from (f"{_DOCKER_API}1.18", "ecs.capability.task-eni")
    if params.get("taskRoleArn"):
        yield "com.amazonaws.ecs.capability.task-iam-role"
        if mode == "host":
            yield "com.amazonaws.ecs.capability.task-iam-role-network-host"
    if params.get("pidMode") or params.get("ipcMode"):
        yield "ecs.capability.pid-ipc-namespace-sharing"
    if params.get("proxyConfiguration"):
        yield "ecs.capability.aws-appmesh"
    for volume in params.get("volumes", []):
        efs = volume.get("efsVolumeConfiguration")
        if efs:
            yield from ("ecs.capability.efs", f"{_DOCKER_API}1.25")
            if efs.get("authorizationConfig"):
                yield "ecs.capability.efsAuth"


def _container_attributes(container: Definition, params: Definition) -> Iterator[str]:
    execution_role = bool(params.get("executionRoleArn"))
    yield from _logging_attributes(container, execution_role)
    if _is_ecr_image(container):
        yield "com.amazonaws.ecs.capability.ecr-auth"
        if execution_role:
            yield "ecs.capability.execution-role-ecr-pull"
    if container.get("dockerLabels") or container.get("ulimits"):
        yield f"{_DOCKER_API}1.18"
    if container.get("linuxParameters", {}).get("initProcessEnabled"):
        yield f"{_DOCKER_API}1.25"
    if container.get("healthCheck"):
        yield "ecs.capability.container-health-check"
    if container.get("dependsOn") or "startTimeout" in container or "stopTimeout" in container:
        yield "ecs.capability.container-ordering"
    if container.get("privileged"):
        yield "com.amazonaws.ecs.capability.privileged-container"
    for secret in container.get("secrets", []):
        store = "asm" if ":secretsmanager:" in secret["valueFrom"] else "ssm"
        yield f"ecs.capability.secrets.{store}.environment-variables"
    if container.get("environmentFiles"):
        yield "ecs.capability.env-files.s3"
    if container.get("firelensConfiguration"):
        yield f"ecs.capability.firelens.{container['firelensConfiguration']['type']}"


def _logging_attributes(container: Definition, execution_role: bool) -> Iterator[str]:
    log_configuration = container.get("logConfiguration")
    if not log_configuration:
        return
    driver = log_configuration["logDriver"]
    yield f"com.amazonaws.ecs.capability.logging-driver.{driver}"
    yield f"{_DOCKER_API}1.19" if log_configuration.get("options") else f"{_DOCKER_API}1.18"
    if driver == "awslogs" and execution_role:
        yield "ecs.capability.execution-role-awslogs"
