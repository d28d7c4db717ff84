"""ECS names and ARNs, and the Kubernetes names, labels and annotations they map to.

Kubernetes names are deterministic functions of ECS names, so every server process computes
the same object name without coordination; the exact ECS name is always kept in an
annotation and shown back from there.
"""

import functools
import hashlib
import re

from shim.errors import InvalidParameterException

PREFIX = "ecs.shim.io"

LABEL_MANAGED = f"{PREFIX}/managed"
LABEL_CLUSTER = f"{PREFIX}/cluster"
LABEL_FAMILY = f"{PREFIX}/family"
LABEL_REVISION = f"{PREFIX}/revision"
LABEL_GROUP = f"{PREFIX}/group"
LABEL_STARTED_BY = f"{PREFIX}/started-by"
LABEL_SERVICE = f"{PREFIX}/service"
LABEL_TASK_ID = f"{PREFIX}/task-id"
ATTRIBUTE_LABEL_PREFIX = "attribute.ecs.shim.io/"

ANNOTATION_CLUSTER_NAME = f"{PREFIX}/cluster-name"
ANNOTATION_FAMILY = f"{PREFIX}/family"
ANNOTATION_GROUP = f"{PREFIX}/group"
ANNOTATION_STARTED_BY = f"{PREFIX}/started-by"
ANNOTATION_TAGS = f"{PREFIX}/tags"

CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
KNOWN_NAMES = 4096
"""How many names each mapping below remembers: every request maps its cluster, family and group
names again, and each mapping costs a regular expression and a SHA-256."""
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@functools.lru_cache(maxsize=KNOWN_NAMES)
def dns_label(text: str, max_length: int = 63) -> str:
    """A DNS-1123 label made from `text`: unique per exact `text` (case and `_` included)."""
    readable = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    digest = short_hash(text)
    readable = readable[: max_length - len(digest) - 1].rstrip("-")
    return f"{readable}-{digest}" if readable else digest


def cluster_namespace(cluster_name: str) -> str:
    return dns_label(f"ecs-{cluster_name}") if cluster_name else "ecs"


@functools.lru_cache(maxsize=KNOWN_NAMES)
def label_value(text: str) -> str:
    """`text` itself when Kubernetes accepts it as a label value, else a deterministic stand-in."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:54].rstrip("-_.")
    digest = short_hash(text)
    return f"{readable}-{digest}" if readable else digest


def arn(region: str, account: str, resource: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:{resource}"


def cluster_arn(region: str, account: str, cluster_name: str) -> str:
    return arn(region, account, f"cluster/{cluster_name}")


def task_definition_arn(region: str, account: str, family: str, revision: int) -> str:
    return arn(region, account, f"task-definition/{family}:{revision}")


def task_arn(region: str, account: str, cluster_name: str, task_id: str) -> str:
    return arn(region, account, f"task/{cluster_name}/{task_id}")


def service_arn(region: str, account: str, cluster_name: str, service_name: str) -> str:
    return arn(region, account, f"service/{cluster_name}/{service_name}")


def container_instance_arn(region: str, account: str, cluster_name: str, instance_id: str) -> str:
    return arn(region, account, f"container-instance/{cluster_name}/{instance_id}")


def resource_id(value: str) -> str:
    """The id or name a reference gives: the last part of an ARN (`.../prod/4f2a...`), or the
    value itself when it is a plain id or name."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


INVALID_REGION = "Invalid Region in ARN"


def _arn_parts(value: str) -> tuple[str, str, str] | None:
    """The region, account and resource of an ARN; None for a plain name or id."""
    parts = value.split(":", 5)
    if not value.startswith("arn:") or len(parts) < 6:
        return None
    return parts[3], parts[4], parts[5]


def cluster_name_from(value: str, region: str, account: str) -> str:
    """The cluster name a cluster reference gives; an ARN of another region or account is refused,
    as ECS refuses it, rather than read as the local cluster of that name."""
    check_arn_home(value, region, account)
    return resource_from_arn_or_name(value, "cluster")


def check_arn_home(value: str, region: str, account: str) -> None:
    """Refuse an ARN of another region or account as ECS does (a plain name or id passes)."""
    parts = _arn_parts(value)
    if parts is None:
        return
    arn_region, arn_account, _ = parts
    if arn_region != region:
        raise InvalidParameterException(INVALID_REGION)
    if arn_account != account:
        raise InvalidParameterException(
            f"Invalid identifier: Identifier is for account {arn_account} in region {arn_region}. "
            f"Your account is {account} in region {region}"
        )


def cluster_resource_id(value: str, cluster_name: str, region: str, account: str) -> str:
    """The id or name a task, service or container instance reference gives within
    `cluster_name`, as `resource_id`; an ARN naming another region, account or cluster is
    refused, as ECS refuses it (it names nothing here)."""
    parts = _arn_parts(value)
    if parts is None:
        return resource_id(value)
    check_arn_home(value, region, account)
    pieces = parts[2].split("/")
    if len(pieces) == 3 and pieces[1] != cluster_name:
        raise InvalidParameterException(
            f"Invalid identifier: Identifier is for cluster {pieces[1]}. Your cluster is {cluster_name}"
        )
    return pieces[-1]


def resource_from_arn_or_name(value: str, resource_type: str) -> str:
    """The part after `<resource_type>/` of an ARN, or `value` unchanged when it is a plain name."""
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        if resource.startswith(f"{resource_type}/"):
            return resource[len(resource_type) + 1 :]
    return value


# Task pods (shim/translate/task_to_pod.py).
LABEL_CLIENT_TOKEN = f"{PREFIX}/client-token"
ANNOTATION_TASK_DEFINITION_ARN = f"{PREFIX}/task-definition-arn"
ANNOTATION_LAUNCH_TYPE = f"{PREFIX}/launch-type"
ANNOTATION_OVERRIDES = f"{PREFIX}/overrides"
ANNOTATION_REFERENCE_ID = f"{PREFIX}/reference-id"
ANNOTATION_CLIENT_TOKEN = f"{PREFIX}/client-token"
ANNOTATION_TASK_ROLE_ARN = f"{PREFIX}/task-role-arn"
ANNOTATION_EXECUTION_ROLE_ARN = f"{PREFIX}/execution-role-arn"
ANNOTATION_TASK_CPU = f"{PREFIX}/cpu"
ANNOTATION_TASK_MEMORY = f"{PREFIX}/memory"
ANNOTATION_ESSENTIAL_CONTAINERS = f"{PREFIX}/essential-containers"
ANNOTATION_RESTART_POLICY_CONTAINERS = f"{PREFIX}/restart-policy-containers"
ANNOTATION_CONTAINER_NAMES = f"{PREFIX}/container-names"
ANNOTATION_HEALTH_START_PERIODS = f"{PREFIX}/health-start-periods"
ANNOTATION_DOCKER_LABEL_PREFIX = "docker-label.ecs.shim.io/"
ANNOTATION_NETWORK_MODE = f"{PREFIX}/network-mode"
ANNOTATION_EXECUTE_COMMAND = f"{PREFIX}/enable-execute-command"
