import copy
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import ClientException, EcsError, InvalidParameterException
from shim.translate.names import ANNOTATION_TASK_DEFINITION_ARN, task_definition_arn
from shim.translate.task_definitions import (
    FARGATE_MEMORY_BY_CPU,
    deletion_requested_view,
    deregistered_view,
    network_mode,
    parse_task_definition_ref,
    removal_due,
    required_attributes,
    revisions_in_use,
    sorted_task_definition_arns,
    task_cpu_units,
    task_definition_view,
    task_memory_mib,
    validate_registration,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REGISTERED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/alice"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1"


def container(**members: Any) -> dict[str, Any]:
    return {"name": "web", "image": "nginx", "memory": 128, **members}


def definition(*containers: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {"family": "shop", "containerDefinitions": list(containers or [container()]), **members}


def fargate(*containers: dict[str, Any], **members: Any) -> dict[str, Any]:
    return definition(
        *containers,
        **{"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"} | members,
    )


def view_of(params: dict[str, Any], revision: int = 1) -> dict[str, Any]:
    return task_definition_view(
        params,
        family_revision=revision,
        region=REGION,
        account=ACCOUNT,
        registered_at=REGISTERED_AT,
        registered_by=PRINCIPAL,
    )


REFUSED = {
    "blank family": (definition(family=""), ClientException, "Family can not be blank."),
    "family with a dot": (
        definition(family="my.family"),
        ClientException,
        "Family contains invalid characters.",
    ),
    "family of 256 characters": (
        definition(family="f" * 256),
        ClientException,
        "Family contains invalid characters.",
    ),
    "no containers": (
        {"family": "shop", "containerDefinitions": []},
        ClientException,
        "Container list cannot be empty.",
    ),
    "eleven containers": (
        definition(*(container(name=f"c{i}") for i in range(11))),
        ClientException,
        "Too many containers.",
    ),
    "cpu in unknown units": (
        definition(cpu="2 cores"),
        ClientException,
        "Invalid 'cpu' setting for task.",
    ),
    "cpu below 128 units": (definition(cpu="64"), ClientException, "Invalid 'cpu' setting for task."),
    "cpu above 192 vCPU": (
        definition(cpu="193 vCPU"),
        ClientException,
        "Invalid 'cpu' setting for task.",
    ),
    "cpu in fractions of a unit": (
        definition(cpu="0.3 vCPU"),
        ClientException,
        "Invalid 'cpu' setting for task.",
    ),
    "memory in unknown units": (
        definition(memory="2 TB"),
        ClientException,
        "Invalid 'memory' setting for task.",
    ),
    "zero memory": (definition(memory="0"), ClientException, "Invalid 'memory' setting for task."),
    "container without a name": (
        definition({"image": "nginx", "memory": 128}),
        ClientException,
        "Container.name should not be null or empty.",
    ),
    "container with an empty name": (
        definition(container(name="")),
        ClientException,
        "Container.name should not be null or empty.",
    ),
    "container name with a space": (
        definition(container(name="my app")),
        ClientException,
        "Container.name contains invalid characters.",
    ),
    "container without an image": (
        definition({"name": "web", "memory": 128}),
        ClientException,
        "Container.image should not be null or empty.",
    ),
    "two containers of one name": (
        definition(container(), container()),
        ClientException,
        "Container names must be unique within a Task Definition.",
    ),
    "no essential container": (
        definition(container(essential=False), container(name="sidecar", essential=False)),
        ClientException,
        "Task definition doesn't have any essential container.",
    ),
    "links under awsvpc": (
        definition(container(links=["db"]), networkMode="awsvpc"),
        ClientException,
        "Links are not supported when networkMode=awsvpc.",
    ),
    "links under host": (
        definition(container(links=["db"]), networkMode="host"),
        ClientException,
        "Links are not supported when networkMode=host.",
    ),
    "hostname under awsvpc": (
        definition(container(hostname="web"), networkMode="awsvpc"),
        ClientException,
        "hostname is not supported on container when networkMode=awsvpc.",
    ),
    "port mappings under none": (
        definition(container(portMappings=[{"containerPort": 80}]), networkMode="none"),
        ClientException,
        "Port mappings are not supported when networkMode=none.",
    ),
    "port mapping without containerPort": (
        definition(container(portMappings=[{"hostPort": 8080}])),
        ClientException,
        "Invalid 'containerPort' setting for container 'web'.",
    ),
    "containerPort 0": (
        definition(container(portMappings=[{"containerPort": 0}])),
        ClientException,
        "Invalid 'containerPort' setting for container 'web'.",
    ),
    "containerPort 65536": (
        definition(container(portMappings=[{"containerPort": 65536}])),
        ClientException,
        "Invalid 'containerPort' setting for container 'web'.",
    ),
    "hostPort 70000": (
        definition(container(portMappings=[{"containerPort": 80, "hostPort": 70000}])),
        ClientException,
        "Invalid 'hostPort' setting for container 'web'.",
    ),
    "awsvpc hostPort unlike containerPort": (
        definition(container(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="awsvpc"),
        ClientException,
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    ),
    "host hostPort unlike containerPort": (
        definition(container(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="host"),
        ClientException,
        "When networkMode=host, the host ports and container ports in port mappings must match.",
    ),
    "no memory anywhere": (
        definition({"name": "web", "image": "nginx"}),
        ClientException,
        "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified.",
    ),
    "memory below memoryReservation": (
        definition(container(memory=128, memoryReservation=256)),
        ClientException,
        "Invalid setting for container 'web'. 'memory' must be greater than or equal to 'memoryReservation'.",
    ),
    "container memory above the task's": (
        definition(container(memory=1024), memory="512"),
        ClientException,
        "The 'memory' setting for container 'web' is greater than for the task.",
    ),
    "container cpu summing above the task's": (
        definition(container(cpu=512), container(name="log", cpu=600), cpu="1024"),
        ClientException,
        "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
    ),
    "reservations summing above the task memory": (
        definition(
            {"name": "web", "image": "nginx", "memoryReservation": 300},
            container(name="log", memory=300),
            memory="512",
        ),
        ClientException,
        "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
    ),
    "mount point of an undeclared volume": (
        definition(container(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}])),
        ClientException,
        "Unknown volume 'data'.",
    ),
    "mount point without a volume": (
        definition(container(mountPoints=[{"containerPath": "/data"}]), volumes=[{"name": "data"}]),
        ClientException,
        "Unknown volume 'null'.",
    ),
    "volumes from an unknown container": (
        definition(container(volumesFrom=[{"sourceContainer": "data"}])),
        ClientException,
        "Invalid 'volumesFrom' setting. Unknown container: 'data'.",
    ),
    "dependency on an unknown container": (
        definition(container(dependsOn=[{"containerName": "db", "condition": "START"}])),
        ClientException,
        "Cannot depend on container + 'db' because it does not exist",
    ),
    "SUCCESS dependency on an essential container": (
        definition(
            container(dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
            container(name="init"),
        ),
        ClientException,
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
    ),
    "COMPLETE dependency on an essential container": (
        definition(
            container(dependsOn=[{"containerName": "init", "condition": "COMPLETE"}]),
            container(name="init", essential=True),
        ),
        ClientException,
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
    ),
    "Fargate on bridge": (
        fargate(networkMode="bridge"),
        ClientException,
        "Fargate only supports network mode \u2018awsvpc\u2019.",
    ),
    "Fargate on the default network mode": (
        {key: value for key, value in fargate().items() if key != "networkMode"},
        ClientException,
        "Fargate only supports network mode \u2018awsvpc\u2019.",
    ),
    "Fargate without task cpu": (
        {key: value for key, value in fargate().items() if key != "cpu"},
        ClientException,
        "Fargate requires that 'cpu' be defined at the task level.",
    ),
    "Fargate without task memory": (
        {key: value for key, value in fargate().items() if key != "memory"},
        ClientException,
        "Fargate requires that 'memory' be defined at the task level.",
    ),
    "Fargate size that does not exist": (
        fargate(cpu="512", memory="512"),
        ClientException,
        "No Fargate configuration exists for given values: 512 CPU, 512 memory. "
        "See the Amazon ECS documentation for the valid values.",
    ),
    "Fargate size written in vCPU and GB": (
        fargate(cpu="1 vCPU", memory="1 GB"),
        ClientException,
        "No Fargate configuration exists for given values: 1024 CPU, 1024 memory. "
        "See the Amazon ECS documentation for the valid values.",
    ),
    "Fargate with ipcMode": (
        fargate(ipcMode="task"),
        ClientException,
        "Tasks using the Fargate launch type do not support ipcMode.",
    ),
    "Fargate with pidMode host": (
        fargate(pidMode="host"),
        ClientException,
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.",
    ),
    "Fargate awslogs without an execution role": (
        fargate(container(logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}})),
        ClientException,
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    ),
    "Fargate ECR image without an execution role": (
        fargate(container(image=ECR_IMAGE)),
        ClientException,
        "Fargate requires task definition to have execution role ARN to support ECR images.",
    ),
}


@pytest.mark.parametrize("params, error, message", REFUSED.values(), ids=REFUSED.keys())
def test_registration_refused_as_ecs_refuses_it(params: dict[str, Any], error: type[EcsError], message: str) -> None:
    with pytest.raises(error) as refusal:
        validate_registration(params)
    assert type(refusal.value) is error
    assert refusal.value.message == message


ACCEPTED = {
    "one container with memory": definition(),
    "reservation only": definition({"name": "web", "image": "nginx", "memoryReservation": 64}),
    "task memory only": definition({"name": "web", "image": "nginx"}, memory="512"),
    "memory equal to its reservation": definition(container(memory=256, memoryReservation=256)),
    "one essential container among others": definition(container(), container(name="sidecar", essential=False)),
    "links under bridge": definition(container(links=["db"]), container(name="db")),
    "awsvpc with hostPort left out": definition(container(portMappings=[{"containerPort": 80}]), networkMode="awsvpc"),
    "awsvpc with hostPort 0": definition(
        container(portMappings=[{"containerPort": 80, "hostPort": 0}]), networkMode="awsvpc"
    ),
    "host with matching hostPort": definition(
        container(portMappings=[{"containerPort": 80, "hostPort": 80}]), networkMode="host"
    ),
    "bridge with a different hostPort": definition(container(portMappings=[{"containerPort": 80, "hostPort": 8080}])),
    "a port range": definition(container(portMappings=[{"containerPortRange": "8000-8010"}]), networkMode="awsvpc"),
    "declared volume mounted": definition(
        container(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
        volumes=[{"name": "data", "host": {"sourcePath": "/srv"}}],
    ),
    "volumes from a sibling": definition(container(volumesFrom=[{"sourceContainer": "data"}]), container(name="data")),
    "SUCCESS dependency on a non-essential container": definition(
        container(dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        container(name="init", essential=False),
    ),
    "HEALTHY dependency without health check": definition(
        container(dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), container(name="db")
    ),
    "container cpu summing to the task's": definition(container(cpu=512), container(name="log", cpu=512), cpu="1 vCPU"),
    "ten containers": definition(*(container(name=f"c{i}") for i in range(10))),
    "Fargate with execution role for awslogs and ECR": fargate(
        container(image=ECR_IMAGE, logConfiguration={"logDriver": "awslogs"}),
        executionRoleArn=EXECUTION_ROLE,
    ),
    "Fargate from public ECR without a role": fargate(container(image="public.ecr.aws/nginx/nginx:1")),
    "Fargate sharing the task's process namespace": fargate(pidMode="task"),
    "EC2 sharing the host's process namespace": definition(pidMode="host"),
    "awsvpc EC2 definition of a non-Fargate size": definition(networkMode="awsvpc", cpu="256", memory="700"),
}


@pytest.mark.parametrize("params", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_registration_accepted(params: dict[str, Any]) -> None:
    validate_registration(params)


@pytest.mark.parametrize(
    "cpu, memory",
    [(cpu, memory) for cpu, memories in FARGATE_MEMORY_BY_CPU.items() for memory in sorted(memories)],
)
def test_every_fargate_size_is_accepted(cpu: int, memory: int) -> None:
    validate_registration(fargate(cpu=str(cpu), memory=str(memory)))


@pytest.mark.parametrize(
    "cpu, memory",
    [
        (256, 1536),
        (256, 4096),
        (512, 512),
        (512, 5120),
        (1024, 9216),
        (4096, 31744),
        (8192, 18432),
        (128, 512),
    ],
)
def test_sizes_off_the_fargate_table_are_refused(cpu: int, memory: int) -> None:
    with pytest.raises(ClientException, match=r"^No Fargate configuration exists for given values"):
        validate_registration(fargate(cpu=str(cpu), memory=str(memory)))


@pytest.mark.parametrize(
    "written, units",
    [("1024", 1024), ("1 vCPU", 1024), ("1 vcpu", 1024), ("2vCPU", 2048), ("0.25 vCPU", 256), ("128", 128)],
)
def test_task_cpu_written_in_units_or_vcpu(written: str, units: int) -> None:
    assert task_cpu_units(written) == units


@pytest.mark.parametrize(
    "written, mib", [("2048", 2048), ("2 GB", 2048), ("2GB", 2048), ("1 gb", 1024), ("0.5 GB", 512)]
)
def test_task_memory_written_in_mib_or_gb(written: str, mib: int) -> None:
    assert task_memory_mib(written) == mib


def test_network_mode_defaults_to_bridge() -> None:
    assert network_mode(definition()) == "bridge"
    assert network_mode(definition(networkMode="awsvpc")) == "awsvpc"


def test_view_of_a_plain_ec2_bridge_definition() -> None:
    params = definition(
        container(command=["sleep", "360"], portMappings=[{"containerPort": 80}]),
        taskRoleArn="",
    )

    assert view_of(params, revision=3) == {
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/shop:3",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "nginx",
                "memory": 128,
                "command": ["sleep", "360"],
                "cpu": 0,
                "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
                "environment": [],
                "mountPoints": [],
                "volumesFrom": [],
                "systemControls": [],
            }
        ],
        "family": "shop",
        "networkMode": "bridge",
        "revision": 3,
        "volumes": [],
        "status": "ACTIVE",
        "placementConstraints": [],
        "compatibilities": ["EC2"],
        "registeredAt": REGISTERED_AT,
        "registeredBy": PRINCIPAL,
    }


def test_view_of_an_awsvpc_fargate_definition() -> None:
    params = fargate(
        container(
            image=ECR_IMAGE,
            portMappings=[{"containerPort": 8080, "protocol": "udp"}],
            logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop"}},
            essential=True,
        ),
        cpu="1 vCPU",
        memory="2 GB",
        executionRoleArn=EXECUTION_ROLE,
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop",
        tags=[{"key": "team", "value": "checkout"}],
    )

    view = view_of(params)

    assert view["cpu"] == "1024"
    assert view["memory"] == "2048"
    assert view["networkMode"] == "awsvpc"
    assert view["requiresCompatibilities"] == ["FARGATE"]
    assert view["compatibilities"] == ["EC2", "FARGATE"]
    assert view["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 8080, "protocol": "udp", "hostPort": 8080}
    ]
    assert view["requiresAttributes"] == [
        {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
        {"name": "ecs.capability.task-eni"},
        {"name": "com.amazonaws.ecs.capability.task-iam-role"},
        {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
        {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
        {"name": "ecs.capability.execution-role-awslogs"},
        {"name": "com.amazonaws.ecs.capability.ecr-auth"},
        {"name": "ecs.capability.execution-role-ecr-pull"},
    ]
    assert "tags" not in view


def test_view_of_a_host_mode_definition() -> None:
    params = definition(
        container(portMappings=[{"containerPort": 53, "protocol": "udp"}, {"containerPort": 80, "hostPort": 80}]),
        networkMode="host",
        cpu="512",
    )

    view = view_of(params)

    assert view["networkMode"] == "host"
    assert view["cpu"] == "512"
    assert view["compatibilities"] == ["EC2"]
    assert "requiresAttributes" not in view
    assert view["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 53, "protocol": "udp", "hostPort": 53},
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"},
    ]


def test_view_adds_fargate_whenever_fargate_would_accept_the_definition() -> None:
    unrequested = definition(networkMode="awsvpc", cpu="256", memory="512")
    odd_size = definition(networkMode="awsvpc", cpu="256", memory="700")

    assert view_of(unrequested)["compatibilities"] == ["EC2", "FARGATE"]
    assert view_of(odd_size)["compatibilities"] == ["EC2"]


def test_view_leaves_fargate_out_of_a_definition_sharing_the_hosts_process_namespace() -> None:
    awsvpc = {"networkMode": "awsvpc", "cpu": "256", "memory": "512"}

    assert view_of(definition(pidMode="host", **awsvpc))["compatibilities"] == ["EC2"]
    assert view_of(definition(pidMode="task", **awsvpc))["compatibilities"] == ["EC2", "FARGATE"]


def test_view_lists_other_requested_launch_types_in_ecs_order() -> None:
    params = definition(requiresCompatibilities=["MANAGED_INSTANCES", "EXTERNAL"])

    assert view_of(params)["compatibilities"] == ["EXTERNAL", "EC2", "MANAGED_INSTANCES"]


def test_view_keeps_what_the_user_gave_and_does_not_share_it() -> None:
    params = definition(
        container(essential=False, cpu=10, environment=[{"name": "A", "value": "1"}]),
        container(name="main"),
        volumes=[{"name": "data"}],
        pidMode="task",
        enableFaultInjection=False,
    )

    view = view_of(params)
    view["containerDefinitions"][0]["environment"].append({"name": "B", "value": "2"})
    view["volumes"][0]["name"] = "changed"

    assert view["containerDefinitions"][0]["essential"] is False
    assert view["containerDefinitions"][0]["cpu"] == 10
    assert view["pidMode"] == "task"
    assert view["enableFaultInjection"] is False
    assert params["containerDefinitions"][0]["environment"] == [{"name": "A", "value": "1"}]
    assert params["volumes"] == [{"name": "data"}]


def test_required_attributes_of_container_features() -> None:
    params = definition(
        container(
            dependsOn=[{"containerName": "init", "condition": "START"}],
            healthCheck={"command": ["CMD", "true"]},
            secrets=[
                {"name": "A", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a"},
                {"name": "B", "valueFrom": "/shop/b"},
            ],
            linuxParameters={"initProcessEnabled": True},
            privileged=True,
        ),
        container(name="init", firelensConfiguration={"type": "fluentbit"}),
        volumes=[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "authorizationConfig": {}}}],
    )

    assert required_attributes(params) == [
        "ecs.capability.efs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.25",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "com.amazonaws.ecs.capability.privileged-container",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.firelens.fluentbit",
    ]


def test_deregistered_and_deletion_requested_views() -> None:
    active = view_of(definition())
    deregistered_at = datetime(2024, 6, 1, tzinfo=UTC)
    deleted_at = datetime(2024, 7, 1, tzinfo=UTC)

    inactive = deregistered_view(active, deregistered_at)
    deleting = deletion_requested_view(inactive, deleted_at)

    assert active["status"] == "ACTIVE"
    assert "deregisteredAt" not in active
    assert (inactive["status"], inactive["deregisteredAt"]) == ("INACTIVE", deregistered_at)
    assert deleting["status"] == "DELETE_IN_PROGRESS"
    assert (deleting["deregisteredAt"], deleting["deleteRequestedAt"]) == (deregistered_at, deleted_at)


@pytest.mark.parametrize(
    "reference, parsed",
    [
        ("shop", ("shop", None)),
        ("shop:7", ("shop", 7)),
        ("arn:aws:ecs:eu-west-1:123456789012:task-definition/shop:7", ("shop", 7)),
        ("arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/my_app-2:12", ("my_app-2", 12)),
    ],
)
def test_task_definition_references(reference: str, parsed: tuple[str, int | None]) -> None:
    assert parse_task_definition_ref(reference) == parsed


@pytest.mark.parametrize("revision", ["latest", "", "-1", "1:2", "99999999999"])
def test_revision_that_is_not_a_number(revision: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        parse_task_definition_ref(f"shop:{revision}")
    assert refusal.value.message == f"Invalid revision number. Number: {revision}"


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "my shop",
        "shop/1",
        "arn:aws:ecs:eu-west-1:123456789012:service/shop",
        "arn:aws:ecs:task-definition/x",
    ],
)
def test_unreadable_reference(reference: str) -> None:
    with pytest.raises(ClientException) as refusal:
        parse_task_definition_ref(reference)
    assert refusal.value.message == "Unable to describe task definition."


families = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=12)
revisions = st.integers(min_value=1, max_value=2**31 - 1)


@settings(max_examples=200)
@given(family=families, revision=revisions)
def test_arn_reference_round_trip(family: str, revision: int) -> None:
    arn = task_definition_arn(REGION, ACCOUNT, family, revision)
    assert parse_task_definition_ref(arn) == (family, revision)
    assert parse_task_definition_ref(f"{family}:{revision}") == (family, revision)


@settings(max_examples=200)
@given(st.lists(st.tuples(families, st.integers(min_value=1, max_value=10_000)), unique=True))
def test_list_order_is_family_then_revision(entries: list[tuple[str, int]]) -> None:
    arns = [task_definition_arn(REGION, ACCOUNT, family, revision) for family, revision in entries]
    expected = [task_definition_arn(REGION, ACCOUNT, f, r) for f, r in sorted(entries)]

    assert sorted_task_definition_arns(arns) == expected
    assert sorted_task_definition_arns(arns, "DESC") == expected[::-1]


def test_revisions_sort_as_numbers_not_text() -> None:
    arns = [task_definition_arn(REGION, ACCOUNT, "shop", revision) for revision in (10, 9, 100)]

    assert [arn.rsplit(":", 1)[1] for arn in sorted_task_definition_arns(arns)] == ["9", "10", "100"]


@pytest.fixture(scope="module")
def task_definition_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("ecs")
    return model.shape_for("TaskDefinition")


def shape_problems(value: Any, shape: Shape, path: str = "taskDefinition") -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path} is not an object"]
        return [
            problem
            for key, member in value.items()
            for problem in (
                shape_problems(member, shape.members[key], f"{path}.{key}")
                if key in shape.members
                else [f"{path}.{key} is not a member of {shape.name}"]
            )
        ]
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path} is not a list"]
        return [p for i, item in enumerate(value) for p in shape_problems(item, shape.member, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path} is not a map"]
        return [p for key, item in value.items() for p in shape_problems(item, shape.value, f"{path}.{key}")]
    return _scalar_problems(value, shape, path)


def _scalar_problems(value: Any, shape: Shape, path: str) -> list[str]:
    expected: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "long": (int,),
        "boolean": (bool,),
        "timestamp": (datetime,),
    }
    kind = shape.type_name
    if not isinstance(value, expected[kind]) or (kind in ("integer", "long") and isinstance(value, bool)):
        return [f"{path} is not a {kind}: {value!r}"]
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        return [f"{path} value {value!r} is not one of {enum}"]
    return []


RICH_FARGATE = fargate(
    container(
        image=ECR_IMAGE,
        portMappings=[{"containerPort": 443, "name": "https", "appProtocol": "http2"}],
        logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop"}},
        healthCheck={"command": ["CMD-SHELL", "curl -f localhost"], "interval": 30},
        dependsOn=[{"containerName": "init", "condition": "SUCCESS"}],
        secrets=[{"name": "TOKEN", "valueFrom": "/shop/token"}],
        dockerLabels={"team": "checkout"},
        ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        mountPoints=[{"sourceVolume": "efs", "containerPath": "/data", "readOnly": True}],
        stopTimeout=30,
    ),
    {"name": "init", "image": "busybox", "essential": False, "memoryReservation": 64},
    executionRoleArn=EXECUTION_ROLE,
    cpu="0.5 vCPU",
    memory="1GB",
    runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    ephemeralStorage={"sizeInGiB": 30},
    volumes=[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "transitEncryption": "ENABLED"}}],
    placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
)

VIEWED = {
    "plain EC2 bridge": definition(),
    "rich Fargate": RICH_FARGATE,
    "host mode": definition(container(portMappings=[{"containerPort": 80}]), networkMode="host", cpu="256"),
    "port range": definition(container(portMappings=[{"containerPortRange": "8000-8010"}]), networkMode="awsvpc"),
}


@pytest.mark.parametrize("params", VIEWED.values(), ids=VIEWED.keys())
def test_every_view_conforms_to_the_botocore_shape(params: dict[str, Any], task_definition_shape: Shape) -> None:
    validate_registration(params)
    active = view_of(copy.deepcopy(params))
    inactive = deregistered_view(active, REGISTERED_AT)
    deleting = deletion_requested_view(inactive, REGISTERED_AT)

    for view in (active, inactive, deleting):
        assert shape_problems(view, task_definition_shape) == []


# Removal of deleted revisions

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "requested_ago", "due"),
    [
        ("DELETE_IN_PROGRESS", 60.0, True),
        ("DELETE_IN_PROGRESS", 3600.0, True),
        ("DELETE_IN_PROGRESS", 59.0, False),
        ("INACTIVE", None, False),
        ("ACTIVE", None, False),
    ],
)
def test_a_deleted_revision_is_due_for_removal_a_minute_after_its_deletion_was_requested(
    status: str, requested_ago: float | None, due: bool
) -> None:
    view: dict[str, Any] = {"status": status}
    if requested_ago is not None:
        view["deleteRequestedAt"] = NOW - requested_ago
    assert removal_due(view, NOW) is due


def arn_of(family: str, revision: int) -> str:
    return task_definition_arn("us-east-1", "123456789012", family, revision)


def task_pod(arn: str | None) -> dict[str, Any]:
    return {"metadata": {"annotations": {ANNOTATION_TASK_DEFINITION_ARN: arn} if arn else {}}}


def service(status: str, *revisions: str) -> dict[str, Any]:
    return {
        "status": status,
        "taskDefinition": revisions[0],
        "deployments": [{"id": f"ecs-svc/{index}", "taskDefinition": arn} for index, arn in enumerate(revisions)],
    }


def test_revisions_in_use_are_those_of_tasks_and_of_every_deployment_of_live_services() -> None:
    in_use = revisions_in_use(
        pods=[task_pod(arn_of("web", 1)), task_pod(None), {"metadata": {}}],
        stopped_tasks=[{"task": {"taskDefinitionArn": arn_of("batch", 7)}}],
        services=[
            service("ACTIVE", arn_of("api", 3), arn_of("api", 2)),
            service("DRAINING", arn_of("worker", 5)),
            service("INACTIVE", arn_of("gone", 1)),
        ],
    )

    assert in_use == {("web", 1), ("batch", 7), ("api", 3), ("api", 2), ("worker", 5)}


def test_a_revision_nothing_names_is_not_in_use() -> None:
    assert revisions_in_use(pods=[], stopped_tasks=[{"task": {}}], services=[]) == set()
