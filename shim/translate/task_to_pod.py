"""ECS -> Kubernetes for tasks: a task definition, with RunTask's parameters and overrides, as a
Pod manifest. `task_from_pod` reads the task back from the Pod.

Pure: dicts in, dicts out, in the Kubernetes JSON shape. docs/translation.md lists every ECS
field, the Kubernetes field it becomes, and what is not translated and why.

Three steps: `apply_overrides` folds RunTask `overrides` into the task definition view;
`task_definition_to_pod_spec` (shared with Deployments) and `task_definition_annotations` turn a
definition into a pod template; `task_to_pod` wraps them into a bare Pod with the run's metadata.
"""

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.errors import ClientException, InvalidParameterException
from shim.translate import names
from shim.translate.task_definitions import DEPENDENCY_CYCLE, network_mode, task_cpu_units, task_memory_mib

Json = dict[str, Any]
TaskDefinition = Mapping[str, Any]

ECS_STOP_TIMEOUT_SECONDS = 30
HEALTH_CHECK_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}
WHOLE_SECRET_KEY = "value"
MAX_NAMESERVERS = 3
MAX_SEARCH_DOMAINS = 32

WINDOWS_BUILDS = {
    "WINDOWS_SERVER_2016_FULL": "10.0.14393",
    "WINDOWS_SERVER_2019_FULL": "10.0.17763",
    "WINDOWS_SERVER_2019_CORE": "10.0.17763",
    "WINDOWS_SERVER_2004_CORE": "10.0.19041",
    "WINDOWS_SERVER_20H2_CORE": "10.0.19042",
    "WINDOWS_SERVER_2022_FULL": "10.0.20348",
    "WINDOWS_SERVER_2022_CORE": "10.0.20348",
    "WINDOWS_SERVER_2025_FULL": "10.0.26100",
    "WINDOWS_SERVER_2025_CORE": "10.0.26100",
}
ARCHITECTURES = {"X86_64": "amd64", "ARM64": "arm64"}
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_WINDOWS_BUILD = "node.kubernetes.io/windows-build"
GPU_RESOURCE = "nvidia.com/gpu"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SERVICE_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_SYSCTL = re.compile(r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?")
_NUMBER = re.compile(r"[0-9]+")
_SECRETS_MANAGER_ARN = re.compile(r"arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(?P<rest>.+)")
_SSM_PARAMETER_ARN = re.compile(r"arn:[^:]+:ssm:[^:]*:[^:]*:parameter(?P<name>/.*)")
_S3_OBJECT_ARN = re.compile(r"arn:[^:]+:s3:::(?P<object>.+)")
_SECRETS_MANAGER_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}")
_IPC_SYSCTL = re.compile(r"kernel\.(shm|msg|sem)|fs\.mqueue\.")
_MAX_ID = 2**31 - 1
# RunTask's documented limits (botocore's model of RunTask): startedBy "up to 128 letters
# (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_)",
# clientToken "up to 64 characters ... in the range of 33-126". ECS documents no limit for group
# and referenceId: theirs are those of ECS names and of Kubernetes' annotation budget.
_STARTED_BY = re.compile(r"[A-Za-z0-9_/-]{1,128}")
_CLIENT_TOKEN = re.compile(r"[\x21-\x7e]{1,64}")
MAX_GROUP_LENGTH = 255
MAX_REFERENCE_ID_LENGTH = 1024
EPHEMERAL_STORAGE_GIB = (21, 200)

_INIT_CONDITIONS = ("COMPLETE", "SUCCESS")
_SIDECAR_CONDITIONS = ("START", "HEALTHY")


IMAGE_PULL_POLICY = "IfNotPresent"
"""An image already on the node is used as it is, as the ECS agent does with
ECS_IMAGE_PULL_BEHAVIOR=prefer-cached: a node without a registry (the local cluster's real node)
runs its preloaded images, tags like `latest` included, where `Always` would fail to pull them."""


@dataclass(frozen=True)
class RunParameters:
    """What RunTask / StartTask add to a task definition for one task."""

    cluster_name: str
    task_id: str
    launch_type: str = "EC2"
    group: str | None = None
    started_by: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[Mapping[str, str]] = ()
    reference_id: str | None = None
    client_token: str | None = None
    enable_execute_command: bool = False


def pod_name(task_id: str) -> str:
    return f"task-{task_id.lower()}"


def client_token_task_id(cluster_name: str, client_token: str, index: int) -> str:
    """The id of the `index`th task of a RunTask or StartTask made with `client_token`: the same
    in every worker and server, so its Pod's name is too, and the API server, which creates one
    Pod of a name, lets exactly one caller start each of the token's tasks."""
    return names.short_hash(f"{cluster_name}\n{client_token}\n{index}", 32)


def task_to_pod(task_definition: TaskDefinition, run: RunParameters, namespace: str) -> Json:
    """The bare Pod one ECS task runs as: restartPolicy Never, ECS identity in labels/annotations."""
    definition = apply_overrides(task_definition, run.overrides)
    group = run.group or f"family:{definition['family']}"
    labels = task_labels(run.cluster_name, definition, group, run.started_by)
    labels[names.LABEL_TASK_ID] = run.task_id.lower()
    if run.client_token:
        labels[names.LABEL_CLIENT_TOKEN] = names.label_value(run.client_token)
    annotations = {**task_definition_annotations(definition), **_run_annotations(run, group)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(run.task_id),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {**task_definition_to_pod_spec(definition), "restartPolicy": "Never"},
    }


def task_labels(
    cluster_name: str, task_definition: TaskDefinition, group: str, started_by: str | None = None
) -> dict[str, str]:
    """Selectable identity of a task's pod; exact values are in annotations."""
    labels = {
        names.LABEL_MANAGED: "true",
        names.LABEL_CLUSTER: names.label_value(cluster_name),
        names.LABEL_FAMILY: names.label_value(task_definition["family"]),
        names.LABEL_REVISION: str(task_definition["revision"]),
        names.LABEL_GROUP: names.label_value(group),
    }
    if started_by:
        labels[names.LABEL_STARTED_BY] = names.label_value(started_by)
    return labels


def validate_run_parameters(params: Mapping[str, Any]) -> None:
    """ECS's checks of RunTask's and StartTask's free-form values, before anything is written."""
    started_by = params.get("startedBy")
    if started_by is not None and not _STARTED_BY.fullmatch(started_by):
        raise InvalidParameterException(
            "startedBy must be up to 128 letters (uppercase and lowercase), numbers, hyphens (-), "
            "forward slashes (/) and underscores (_)."
        )
    token = params.get("clientToken")
    if token is not None and not _CLIENT_TOKEN.fullmatch(token):
        raise InvalidParameterException(
            "clientToken must be 1 to 64 characters in the range of 33-126 (printable ASCII, no spaces)."
        )
    if len(params.get("group") or "") > MAX_GROUP_LENGTH:
        raise InvalidParameterException(f"group must be at most {MAX_GROUP_LENGTH} characters long.")
    if len(params.get("referenceId") or "") > MAX_REFERENCE_ID_LENGTH:
        raise InvalidParameterException(f"referenceId must be at most {MAX_REFERENCE_ID_LENGTH} characters long.")
    _validate_override_sizes(params.get("overrides") or {})


def _validate_override_sizes(overrides: Mapping[str, Any]) -> None:
    size = (overrides.get("ephemeralStorage") or {}).get("sizeInGiB")
    low, high = EPHEMERAL_STORAGE_GIB
    if size is not None and not low <= size <= high:
        raise InvalidParameterException(
            f"Invalid ephemeral storage size {size} GiB: "
            f"the ephemeral storage size must be between {low} and {high} GiB."
        )
    for container in overrides.get("containerOverrides") or []:
        for key in ("cpu", "memory", "memoryReservation"):
            if (container.get(key) or 0) < 0:
                raise InvalidParameterException(
                    f"Invalid '{key}' override for container '{container.get('name')}': it must not be negative."
                )


def apply_overrides(task_definition: TaskDefinition, overrides: Mapping[str, Any] | None) -> Json:
    """The task definition view as RunTask `overrides` change it for one task."""
    effective = dict(task_definition)
    if not overrides:
        return effective
    for key in ("cpu", "memory", "taskRoleArn", "executionRoleArn", "ephemeralStorage"):
        if overrides.get(key):
            effective[key] = overrides[key]
    by_name = {container["name"]: dict(container) for container in task_definition["containerDefinitions"]}
    for container_override in overrides.get("containerOverrides", []):
        name = container_override.get("name")
        if name not in by_name:
            raise InvalidParameterException(
                f"Override for container named {name} is not a container in the TaskDefinition."
            )
        by_name[name] = _override_container(by_name[name], container_override)
    effective["containerDefinitions"] = list(by_name.values())
    return effective


def task_definition_annotations(task_definition: TaskDefinition) -> dict[str, str]:
    """Annotations a pod template carries for reading the task back (`task_from_pod`): exact ECS
    values of the definition."""
    containers = task_definition["containerDefinitions"]
    annotations = {
        names.ANNOTATION_FAMILY: task_definition["family"],
        names.ANNOTATION_ESSENTIAL_CONTAINERS: _json([c["name"] for c in containers if _is_essential(c)]),
        names.ANNOTATION_CONTAINER_NAMES: _json({kube_name(c["name"]): c["name"] for c in containers}),
        names.ANNOTATION_NETWORK_MODE: network_mode(dict(task_definition)),
    }
    restarted = [c["name"] for c in containers if (c.get("restartPolicy") or {}).get("enabled")]
    if restarted:
        annotations[names.ANNOTATION_RESTART_POLICY_CONTAINERS] = _json(restarted)
    start_periods = {c["name"]: c["healthCheck"]["startPeriod"] for c in containers if _health_start_period(c)}
    if start_periods:
        annotations[names.ANNOTATION_HEALTH_START_PERIODS] = _json(start_periods)
    for key, annotation in (
        ("taskDefinitionArn", names.ANNOTATION_TASK_DEFINITION_ARN),
        ("cpu", names.ANNOTATION_TASK_CPU),
        ("memory", names.ANNOTATION_TASK_MEMORY),
        ("taskRoleArn", names.ANNOTATION_TASK_ROLE_ARN),
        ("executionRoleArn", names.ANNOTATION_EXECUTION_ROLE_ARN),
    ):
        if task_definition.get(key):
            annotations[annotation] = str(task_definition[key])
    for container in containers:
        for key, value in container.get("dockerLabels", {}).items():
            annotations[names.ANNOTATION_DOCKER_LABEL_PREFIX + names.label_value(key)] = value
    return annotations


def task_definition_to_pod_spec(task_definition: TaskDefinition) -> Json:
    """The PodSpec (without restartPolicy) of a task definition, overrides already applied."""
    task = _Task.of(task_definition)
    containers = task_definition["containerDefinitions"]
    roles = container_roles(containers)
    ordered = _start_order(containers, roles, regular=False)
    spec: Json = {
        "containers": [task.container(c, "main") for c in _start_order(containers, roles, regular=True)],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": max(c.get("stopTimeout") or ECS_STOP_TIMEOUT_SECONDS for c in containers),
    }
    if ordered:
        spec["initContainers"] = [task.container(c, roles[c["name"]]) for c in ordered]
    _add_ephemeral_storage(spec["containers"], containers, task_definition.get("ephemeralStorage"))
    spec.update(task.pod_fields())
    return spec


def _health_start_period(container: Mapping[str, Any]) -> int:
    """A health check's startPeriod, which no probe field holds: the task's view needs it to tell
    a container still starting from one that has never passed its check (see task_from_pod)."""
    return int((container.get("healthCheck") or {}).get("startPeriod") or 0)


def container_roles(containers: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each container's place in the pod: `init` when others wait for it to exit, `sidecar` when
    they wait for it to start or be healthy, else `main`.

    An essential container that only regular containers wait on, to start, stays a regular one
    (listed before them, see `_start_order`): a kubelet restarts a sidecar that exits, where ECS
    runs the container once and stops the task when it exits.
    """
    known = {c["name"] for c in containers}
    conditions: dict[str, set[str]] = {name: set() for name in known}
    dependents: dict[str, set[str]] = {name: set() for name in known}
    for container in containers:
        for dependency in container.get("dependsOn", []):
            target = dependency["containerName"]
            if target not in known:
                raise ClientException(f"Cannot depend on container + '{target}' because it does not exist")
            conditions[target].add(dependency["condition"])
            dependents[target].add(container["name"])
    roles = {name: _role(found) for name, found in conditions.items()}
    essential = {c["name"] for c in containers if _is_essential(c)}
    promoted = True
    while promoted:
        promoted = False
        for name in sorted(essential):
            awaited_by_regular = all(roles[d] == "main" for d in dependents[name])
            if roles[name] == "sidecar" and conditions[name] == {"START"} and awaited_by_regular:
                roles[name] = "main"
                promoted = True
    return roles


def kube_name(ecs_name: str) -> str:
    """A container or volume name Kubernetes accepts: the ECS name when it is a DNS label."""
    return ecs_name if len(ecs_name) <= 63 and _DNS_LABEL.fullmatch(ecs_name) else names.dns_label(ecs_name)


def secret_key_ref(value_from: str) -> Json:
    """Where a Secret holds an ECS secret (Secrets Manager or SSM Parameter Store reference).

    Secrets Manager `...:secret:NAME-AbCdEf[:json-key[:stage[:id]]]` -> Secret `dns_label(NAME)`,
    key json-key (or `value` for the whole secret); SSM `...:parameter/NAME` or a bare parameter
    name -> Secret `dns_label(NAME without its leading slash)`, key `value`.
    """
    secrets_manager = _SECRETS_MANAGER_ARN.fullmatch(value_from)
    if secrets_manager:
        name, _, rest = secrets_manager["rest"].partition(":")
        json_key = rest.split(":")[0]
        name = name[:-7] if _SECRETS_MANAGER_SUFFIX.fullmatch(name[-7:]) else name
        return {"name": names.dns_label(name), "key": secret_key(json_key) if json_key else WHOLE_SECRET_KEY}
    ssm = _SSM_PARAMETER_ARN.fullmatch(value_from)
    parameter = ssm["name"] if ssm else value_from
    return {"name": names.dns_label(parameter.lstrip("/")), "key": WHOLE_SECRET_KEY}


def secret_key(json_key: str) -> str:
    """A Secret data key for a JSON key: itself when Kubernetes accepts it, else a stand-in."""
    if len(json_key) <= 253 and _SECRET_KEY.fullmatch(json_key):
        return json_key
    readable = re.sub(r"[^-._a-zA-Z0-9]+", "-", json_key).strip("-")[:200]
    return f"{readable}-{names.short_hash(json_key)}" if readable else names.short_hash(json_key)


def environment_file_config_map(s3_arn: str) -> str:
    """ConfigMap holding an S3 environment file: dns_label of `bucket/key` (or of the whole value)."""
    match = _S3_OBJECT_ARN.fullmatch(s3_arn)
    return names.dns_label(match["object"] if match else s3_arn)


def file_system_claim_name(file_system_id: str, access_point_id: str | None = None) -> str:
    """PersistentVolumeClaim standing for a network file system (and access point) of ECS."""
    identity = file_system_id.rsplit("/", 1)[-1]
    if access_point_id:
        identity = f"{identity}-{access_point_id.rsplit('/', 1)[-1]}"
    return kube_name(identity)


def millicores(cpu_units: int) -> int:
    """1024 ECS CPU units are one CPU; rounded up so a reservation is never shrunk."""
    return -(-cpu_units * 1000 // 1024)


def _role(conditions: set[str]) -> str:
    if conditions.intersection(_INIT_CONDITIONS):
        return "init"
    if conditions.intersection(_SIDECAR_CONDITIONS):
        return "sidecar"
    return "main"


def _start_order(
    containers: Sequence[Mapping[str, Any]], roles: Mapping[str, str], *, regular: bool
) -> list[Mapping[str, Any]]:
    """The regular containers, or the init and sidecar containers, each after what it depends on
    among them, else in definition order. A kubelet starts regular containers one after another
    in this order, so one waited on to START has started when the next starts, as on ECS."""
    pending = [c for c in containers if (roles[c["name"]] == "main") == regular]
    placed: list[Mapping[str, Any]] = []
    done = {c["name"] for c in containers if (roles[c["name"]] == "main") != regular}
    while pending:
        ready = next(
            (c for c in pending if all(d["containerName"] in done for d in c.get("dependsOn", []))),
            None,
        )
        if ready is None:
            raise ClientException(DEPENDENCY_CYCLE)
        placed.append(ready)
        done.add(ready["name"])
        pending.remove(ready)
    return placed


def _override_container(container: Json, override: Mapping[str, Any]) -> Json:
    for key in ("command", "environmentFiles", "cpu", "memory", "memoryReservation", "resourceRequirements"):
        if key in override:
            container[key] = override[key]
    if "environment" in override:
        merged = {pair["name"]: pair for pair in container.get("environment", [])}
        merged.update({pair["name"]: pair for pair in override["environment"]})
        container["environment"] = list(merged.values())
    return container


def _run_annotations(run: RunParameters, group: str) -> dict[str, str]:
    annotations = {
        names.ANNOTATION_CLUSTER_NAME: run.cluster_name,
        names.ANNOTATION_GROUP: group,
        names.ANNOTATION_LAUNCH_TYPE: run.launch_type,
    }
    optional = {
        names.ANNOTATION_STARTED_BY: run.started_by,
        names.ANNOTATION_REFERENCE_ID: run.reference_id,
        names.ANNOTATION_CLIENT_TOKEN: run.client_token,
        names.ANNOTATION_TAGS: _json([dict(tag) for tag in run.tags]) if run.tags else None,
        names.ANNOTATION_OVERRIDES: _json(dict(run.overrides)) if run.overrides else None,
        names.ANNOTATION_EXECUTE_COMMAND: "true" if run.enable_execute_command else None,
    }
    annotations.update({key: value for key, value in optional.items() if value})
    return annotations


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _is_essential(container: Mapping[str, Any]) -> bool:
    return container.get("essential", True) is not False


def _add_ephemeral_storage(
    kube_containers: list[Json], containers: Sequence[Mapping[str, Any]], storage: Mapping[str, Any] | None
) -> None:
    """Task ephemeral storage is the limit of the first essential main container (or the first)."""
    if not storage or not storage.get("sizeInGiB"):
        return
    essential = {kube_name(c["name"]) for c in containers if _is_essential(c)}
    target = next((c for c in kube_containers if c["name"] in essential), kube_containers[0])
    resources = target.setdefault("resources", {})
    resources.setdefault("limits", {})["ephemeral-storage"] = f"{storage['sizeInGiB']}Gi"


@dataclass(frozen=True)
class _Task:
    """A task definition with what every container translation needs to know about the task."""

    definition: TaskDefinition
    mode: str
    windows: bool
    volumes: Mapping[str, Mapping[str, Any]]

    @classmethod
    def of(cls, definition: TaskDefinition) -> "_Task":
        family = (definition.get("runtimePlatform") or {}).get("operatingSystemFamily", "")
        return cls(
            definition=definition,
            mode=network_mode(dict(definition)),
            windows=family.startswith("WINDOWS"),
            volumes={volume["name"]: volume for volume in definition.get("volumes", [])},
        )

    @property
    def containers(self) -> Sequence[Mapping[str, Any]]:
        containers: Sequence[Mapping[str, Any]] = self.definition["containerDefinitions"]
        return containers

    @property
    def host_network(self) -> bool:
        return self.mode == "host"

    @property
    def linux(self) -> bool:
        return not self.windows

    def container(self, container: Mapping[str, Any], role: str) -> Json:
        kube: Json = {
            "name": kube_name(container["name"]),
            "image": container["image"],
            "imagePullPolicy": IMAGE_PULL_POLICY,
        }
        if container.get("entryPoint"):
            kube["command"] = list(container["entryPoint"])
        if container.get("command"):
            kube["args"] = list(container["command"])
        if container.get("workingDirectory"):
            kube["workingDir"] = container["workingDirectory"]
        optional = {
            "env": _environment(container),
            "envFrom": _environment_files(container),
            "ports": self._ports(container),
            "resources": self._resources(container),
            "securityContext": self._security_context(container),
            "volumeMounts": self._volume_mounts(container),
            "stdin": bool(container.get("interactive")),
            "tty": bool(container.get("pseudoTerminal")),
        }
        kube.update({key: value for key, value in optional.items() if value})
        kube.update(self._lifecycle(container, role))
        return kube

    def pod_fields(self) -> Json:
        fields: Json = {}
        if self.host_network:
            fields["hostNetwork"] = True
        fields.update(self._namespaces())
        fields.update(self._hostname())
        fields.update(self._dns())
        optional = {
            "hostAliases": self._host_aliases(),
            "volumes": self._pod_volumes(),
            "nodeSelector": self._node_selector(),
            "imagePullSecrets": self._image_pull_secrets(),
            "securityContext": self._pod_security_context(),
            "resources": self._pod_resources(),
        }
        fields.update({key: value for key, value in optional.items() if value})
        os_name = self._os_name()
        if os_name:
            fields["os"] = {"name": os_name}
        return fields

    def _lifecycle(self, container: Mapping[str, Any], role: str) -> Json:
        """Probes and restart behaviour; plain init containers may have neither."""
        if role == "init":
            return {}
        lifecycle: Json = {}
        check = container.get("healthCheck")
        if check and self._health_command(check):
            lifecycle["readinessProbe"] = self._probe(check)
        if role == "sidecar":
            lifecycle["restartPolicy"] = "Always"
            if check and self._health_command(check) and self._is_awaited_healthy(container["name"]):
                lifecycle["startupProbe"] = self._probe(check, startup=True)
        else:
            lifecycle.update(_restart_policy(container.get("restartPolicy")))
        return lifecycle

    def _is_awaited_healthy(self, name: str) -> bool:
        return any(
            d["containerName"] == name and d["condition"] == "HEALTHY"
            for c in self.containers
            for d in c.get("dependsOn", [])
        )

    def _health_command(self, check: Mapping[str, Any]) -> list[str]:
        kind, *rest = list(check.get("command") or [""])
        if kind == "CMD-SHELL":
            shell = ["cmd", "/S", "/C"] if self.windows else ["/bin/sh", "-c"]
            return [*shell, " ".join(rest)] if rest else []
        if kind == "CMD":
            return rest
        return [kind, *rest] if kind and kind != "NONE" else []

    def _probe(self, check: Mapping[str, Any], *, startup: bool = False) -> Json:
        settings = {key: check.get(key) or default for key, default in HEALTH_CHECK_DEFAULTS.items()}
        probe: Json = {
            "exec": {"command": self._health_command(check)},
            "periodSeconds": settings["interval"],
            "timeoutSeconds": settings["timeout"],
            "failureThreshold": settings["retries"],
        }
        if startup:
            probe["failureThreshold"] += -(-settings["startPeriod"] // settings["interval"])
        return probe

    def _ports(self, container: Mapping[str, Any]) -> list[Json]:
        return [port for mapping in container.get("portMappings", []) for port in self._port_entries(mapping)]

    def _port_entries(self, mapping: Mapping[str, Any]) -> Iterator[Json]:
        protocol = str(mapping.get("protocol") or "tcp").upper()
        if mapping.get("containerPortRange"):
            low, _, high = str(mapping["containerPortRange"]).partition("-")
            for number in range(int(low), int(high or low) + 1):
                yield self._port(number, protocol, None)
            return
        port = self._port(mapping["containerPort"], protocol, mapping.get("hostPort"))
        name = mapping.get("name")
        if name and _is_service_port_name(name):
            port["name"] = name
        yield port

    def _port(self, number: int, protocol: str, host_port: int | None) -> Json:
        port: Json = {"containerPort": number, "protocol": protocol}
        if self.host_network:
            port["hostPort"] = number
        elif self.mode == "bridge" and host_port:
            port["hostPort"] = host_port
        return port

    def _resources(self, container: Mapping[str, Any]) -> Json:
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        cpu = container.get("cpu") or 0
        if cpu > 0:
            requests["cpu"] = f"{millicores(cpu)}m"
            if self.windows:
                limits["cpu"] = requests["cpu"]
        memory, reservation = _container_memory(container)
        if memory:
            limits["memory"] = f"{memory}Mi"
        if reservation:
            requests["memory"] = f"{reservation}Mi"
        for requirement in container.get("resourceRequirements", []):
            if requirement.get("type") == "GPU":
                limits[GPU_RESOURCE] = str(requirement["value"])
        return {key: value for key, value in (("requests", requests), ("limits", limits)) if value}

    def _pod_resources(self) -> Json:
        """Task-level cpu and memory as pod-level resources: the whole task's reservation and cap."""
        if self.windows:
            return {}
        amounts: dict[str, str] = {}
        if self.definition.get("cpu"):
            units = task_cpu_units(str(self.definition["cpu"]))
            _check_task_cpu(self.containers, units)
            container_sum = sum(millicores(c.get("cpu") or 0) for c in self.containers)
            amounts["cpu"] = f"{max(millicores(units), container_sum)}m"
        if self.definition.get("memory"):
            mib = task_memory_mib(str(self.definition["memory"]))
            _check_task_memory(self.containers, mib)
            amounts["memory"] = f"{mib}Mi"
        return {"requests": amounts, "limits": dict(amounts)} if amounts else {}

    def _security_context(self, container: Mapping[str, Any]) -> Json:
        if self.windows:
            user = container.get("user")
            return {"windowsOptions": {"runAsUserName": user}} if user else {}
        context: Json = _run_as(container.get("user"))
        if container.get("privileged"):
            context["privileged"] = True
        if container.get("readonlyRootFilesystem"):
            context["readOnlyRootFilesystem"] = True
        capabilities = (container.get("linuxParameters") or {}).get("capabilities") or {}
        kube_capabilities = {key: list(capabilities[key]) for key in ("add", "drop") if capabilities.get(key)}
        if kube_capabilities:
            context["capabilities"] = kube_capabilities
        context.update(_security_options(container.get("dockerSecurityOptions", []), context))
        return context

    def _volume_mounts(self, container: Mapping[str, Any]) -> list[Json]:
        mounts = {mount["mountPath"]: mount for mount in self._declared_mounts(container, set())}
        if self.linux:
            for volume, path, _ in _memory_volumes(container):
                mounts.setdefault(path, {"name": volume, "mountPath": path})
        return list(mounts.values())

    def _declared_mounts(self, container: Mapping[str, Any], seen: set[str]) -> Iterator[Json]:
        """mountPoints, then what volumesFrom brings from other containers (Docker's order)."""
        seen.add(container["name"])
        for mount_point in container.get("mountPoints", []):
            yield self._volume_mount(mount_point)
        by_name = {c["name"]: c for c in self.containers}
        for volume_from in container.get("volumesFrom", []):
            source_name = volume_from.get("sourceContainer")
            source = by_name.get(source_name or "")
            if source is None:
                raise ClientException(f"Invalid 'volumesFrom' setting. Unknown container: '{source_name}'.")
            if source["name"] in seen:
                continue
            for mount in self._declared_mounts(source, seen):
                yield {**mount, "readOnly": True} if volume_from.get("readOnly") else mount

    def _volume_mount(self, mount_point: Mapping[str, Any]) -> Json:
        volume = self.volumes.get(mount_point.get("sourceVolume", ""))
        if volume is None:
            raise ClientException(f"Unknown volume '{mount_point.get('sourceVolume')}'.")
        mount: Json = {"name": kube_name(volume["name"]), "mountPath": mount_point["containerPath"]}
        if mount_point.get("readOnly"):
            mount["readOnly"] = True
        sub_path = _file_system_sub_path(volume)
        if sub_path:
            mount["subPath"] = sub_path
        return mount

    def _pod_volumes(self) -> list[Json]:
        volumes = [_pod_volume(volume) for volume in self.volumes.values()]
        if self.linux:
            for container in self.containers:
                for name, _, size in _memory_volumes(container):
                    volumes.append({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": f"{size}Mi"}})
        return volumes

    def _namespaces(self) -> Json:
        """pidMode / ipcMode, and initProcessEnabled, which a shared PID namespace stands in for."""
        if self.windows:
            return {}
        fields: Json = {}
        pid_mode = self.definition.get("pidMode")
        if pid_mode == "host":
            fields["hostPID"] = True
        elif pid_mode == "task" or any(
            (c.get("linuxParameters") or {}).get("initProcessEnabled") for c in self.containers
        ):
            fields["shareProcessNamespace"] = True
        if self.definition.get("ipcMode") == "host":
            fields["hostIPC"] = True
        return fields

    def _hostname(self) -> Json:
        hostname = next((c["hostname"].lower() for c in self.containers if c.get("hostname")), None)
        if hostname is None or self.host_network:
            return {}
        if len(hostname) <= 63 and _DNS_LABEL.fullmatch(hostname):
            return {"hostname": hostname}
        return {"hostnameOverride": hostname} if _is_dns_subdomain(hostname, 64) else {}

    def _dns(self) -> Json:
        """All containers' servers and domains that Kubernetes accepts, up to its maximum counts."""
        servers = _unique(s for c in self.containers for s in c.get("dnsServers", []) if _is_ip(s))
        searches = _unique(
            d.lower()
            for c in self.containers
            for d in c.get("dnsSearchDomains", [])
            if _is_dns_subdomain(d.lower().rstrip("."), 253)
        )
        servers, searches = servers[:MAX_NAMESERVERS], searches[:MAX_SEARCH_DOMAINS]
        config = {key: value for key, value in (("nameservers", servers), ("searches", searches)) if value}
        if not config:
            return {}
        return {"dnsPolicy": "None", "dnsConfig": config} if servers else {"dnsConfig": config}

    def _host_aliases(self) -> list[Json]:
        """extraHosts grouped by address, and links as loopback names (a pod shares one network)."""
        by_ip: dict[str, list[str]] = {}
        for container in self.containers:
            for entry in container.get("extraHosts", []):
                by_ip.setdefault(entry["ipAddress"], []).append(entry["hostname"])
            for link in container.get("links", []):
                by_ip.setdefault("127.0.0.1", []).extend(link.split(":", 1))
        aliases = []
        for ip, hostnames in by_ip.items():
            valid = _unique(h.lower() for h in hostnames if _is_dns_subdomain(h.lower(), 253))
            if valid and _is_ip(ip):
                aliases.append({"ip": ip, "hostnames": valid})
        return aliases

    def _node_selector(self) -> dict[str, str]:
        platform = self.definition.get("runtimePlatform") or {}
        selector: dict[str, str] = {}
        os_name = self._os_name()
        if os_name:
            selector[LABEL_OS] = os_name
        build = WINDOWS_BUILDS.get(platform.get("operatingSystemFamily", ""))
        if build:
            selector[LABEL_WINDOWS_BUILD] = build
        architecture = ARCHITECTURES.get(platform.get("cpuArchitecture", ""))
        if architecture:
            selector[LABEL_ARCH] = architecture
        return selector

    def _os_name(self) -> str | None:
        family = (self.definition.get("runtimePlatform") or {}).get("operatingSystemFamily")
        if not family:
            return None
        return "windows" if self.windows else "linux"

    def _image_pull_secrets(self) -> list[Json]:
        parameters = ((c.get("repositoryCredentials") or {}).get("credentialsParameter") for c in self.containers)
        secrets = _unique(secret_key_ref(p)["name"] for p in parameters if p)
        return [{"name": name} for name in secrets]

    def _pod_security_context(self) -> Json:
        """systemControls of all containers as namespaced pod sysctls, minus those host namespaces forbid."""
        if self.windows:
            return {}
        sysctls: dict[str, str] = {}
        for container in self.containers:
            for control in container.get("systemControls", []):
                name = control.get("namespace") or ""
                if self._sysctl_allowed(name):
                    sysctls[name] = control.get("value") or ""
        return {"sysctls": [{"name": k, "value": v} for k, v in sysctls.items()]} if sysctls else {}

    def _sysctl_allowed(self, name: str) -> bool:
        if len(name) > 253 or not _SYSCTL.fullmatch(name):
            return False
        if self.host_network and name.startswith("net."):
            return False
        return not (self.definition.get("ipcMode") == "host" and _IPC_SYSCTL.match(name))


def _environment(container: Mapping[str, Any]) -> list[Json]:
    """environment, then secrets; a name given twice keeps its first place and last value."""
    env: dict[str, Json] = {}
    for pair in container.get("environment", []):
        env[pair["name"]] = {"name": pair["name"], "value": pair.get("value") or ""}
    for secret in container.get("secrets", []):
        env[secret["name"]] = {
            "name": secret["name"],
            "valueFrom": {"secretKeyRef": secret_key_ref(secret["valueFrom"])},
        }
    return list(env.values())


def _environment_files(container: Mapping[str, Any]) -> list[Json]:
    return [
        {"configMapRef": {"name": environment_file_config_map(f["value"])}}
        for f in container.get("environmentFiles", [])
        if f.get("type", "s3") == "s3"
    ]


def _container_memory(container: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(limit, request) in MiB: `memory` is both unless `memoryReservation` lowers the request."""
    memory = container.get("memory") or None
    reservation = container.get("memoryReservation") or memory
    if memory and reservation and reservation > memory:
        raise ClientException(
            f"Invalid setting for container '{container['name']}'. "
            "'memory' must be greater than or equal to 'memoryReservation'."
        )
    return memory, reservation


def _check_task_cpu(containers: Sequence[Mapping[str, Any]], task_units: int) -> None:
    if sum(c.get("cpu") or 0 for c in containers) > task_units:
        raise ClientException(
            "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
        )


def _check_task_memory(containers: Sequence[Mapping[str, Any]], task_mib: int) -> None:
    for container in containers:
        memory, _ = _container_memory(container)
        if memory and memory > task_mib:
            raise ClientException(
                f"The 'memory' setting for container '{container['name']}' is greater than for the task."
            )
    if sum(_container_memory(c)[1] or 0 for c in containers) > task_mib:
        raise ClientException(
            "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."
        )


def _restart_policy(policy: Mapping[str, Any] | None) -> Json:
    """ECS container restarts as container restart rules (Kubernetes 1.35+ default)."""
    if not policy or not policy.get("enabled"):
        return {}
    ignored = list(policy.get("ignoredExitCodes") or [])
    if not ignored:
        return {"restartPolicy": "Always"}
    return {
        "restartPolicy": "Never",
        "restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "NotIn", "values": ignored}}],
    }


def _run_as(user: str | None) -> Json:
    """Numeric `uid`, `uid:gid`, `user:gid`, `uid:group` parts; names need the image's passwd."""
    uid, _, gid = (user or "").partition(":")
    context: Json = {}
    if _NUMBER.fullmatch(uid) and int(uid) <= _MAX_ID:
        context["runAsUser"] = int(uid)
    if _NUMBER.fullmatch(gid) and int(gid) <= _MAX_ID:
        context["runAsGroup"] = int(gid)
    return context


def _security_options(options: Iterable[str], context: Mapping[str, Any]) -> Json:
    """no-new-privileges, apparmor:PROFILE and label:user|role|type|level:VALUE."""
    fields: Json = {}
    selinux: dict[str, str] = {}
    for option in options:
        kind, _, value = option.partition(":")
        if kind == "no-new-privileges" and _may_forbid_escalation(context):
            fields["allowPrivilegeEscalation"] = False
        elif kind == "apparmor" and value:
            fields["appArmorProfile"] = _apparmor_profile(value)
        elif kind == "label":
            part, _, setting = value.partition(":")
            if part in ("user", "role", "type", "level") and setting:
                selinux[part] = setting
    if selinux:
        fields["seLinuxOptions"] = selinux
    return fields


def _may_forbid_escalation(context: Mapping[str, Any]) -> bool:
    """Kubernetes refuses allowPrivilegeEscalation false with privileged or CAP_SYS_ADMIN."""
    added = (context.get("capabilities") or {}).get("add", [])
    return not context.get("privileged") and not {"SYS_ADMIN", "CAP_SYS_ADMIN", "ALL"} & set(added)


def _apparmor_profile(profile: str) -> Json:
    if profile == "unconfined":
        return {"type": "Unconfined"}
    if profile in ("runtime/default", "docker-default"):
        return {"type": "RuntimeDefault"}
    return {"type": "Localhost", "localhostProfile": profile}


def _memory_volumes(container: Mapping[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(volume name, mount path, MiB) of sharedMemorySize (/dev/shm) and tmpfs mounts."""
    parameters = container.get("linuxParameters") or {}
    if parameters.get("sharedMemorySize"):
        yield names.dns_label(f"shm:{container['name']}"), "/dev/shm", parameters["sharedMemorySize"]
    for tmpfs in parameters.get("tmpfs", []):
        path = tmpfs["containerPath"]
        yield names.dns_label(f"tmpfs:{container['name']}:{path}"), path, tmpfs["size"]


def _pod_volume(volume: Mapping[str, Any]) -> Json:
    name = kube_name(volume["name"])
    claim = _file_system_claim(volume)
    if claim:
        return {"name": name, "persistentVolumeClaim": {"claimName": claim}}
    source_path = (volume.get("host") or {}).get("sourcePath")
    if source_path:
        return {"name": name, "hostPath": {"path": source_path}}
    return {"name": name, "emptyDir": {}}


def _file_system_claim(volume: Mapping[str, Any]) -> str | None:
    efs = volume.get("efsVolumeConfiguration")
    if efs:
        access_point = (efs.get("authorizationConfig") or {}).get("accessPointId")
        return file_system_claim_name(efs["fileSystemId"], access_point)
    fsx = volume.get("fsxWindowsFileServerVolumeConfiguration")
    if fsx:
        return file_system_claim_name(fsx["fileSystemId"])
    s3files = volume.get("s3filesVolumeConfiguration")
    if s3files:
        return file_system_claim_name(s3files["fileSystemArn"], s3files.get("accessPointArn"))
    return None


def _file_system_sub_path(volume: Mapping[str, Any]) -> str | None:
    for key in (
        "efsVolumeConfiguration",
        "fsxWindowsFileServerVolumeConfiguration",
        "s3filesVolumeConfiguration",
    ):
        configuration = volume.get(key)
        if configuration:
            root = str(configuration.get("rootDirectory") or "").replace("\\", "/").strip("/")
            return root or None
    return None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _is_service_port_name(name: str) -> bool:
    return (
        len(name) <= 15
        and bool(_SERVICE_PORT_NAME.fullmatch(name))
        and "--" not in name
        and any(ch.isalpha() for ch in name)
    )


def _is_dns_subdomain(text: str, max_length: int) -> bool:
    return 0 < len(text) <= max_length and all(
        len(label) <= 63 and _DNS_LABEL.fullmatch(label) for label in text.split(".")
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
