"""Task definition + RunTask parameters -> Pod: every translated field, and pods an API server accepts."""

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiClient

from shim.errors import ClientException, InvalidParameterException
from shim.translate import names
from shim.translate.task_to_pod import (
    RunParameters,
    apply_overrides,
    environment_file_config_map,
    kube_name,
    secret_key_ref,
    task_definition_annotations,
    task_definition_to_pod_spec,
    task_to_pod,
)

TASK_ID = "0123456789abcdef0123456789abcdef"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
API = ApiClient()


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name.lower()}:1", "memory": 256, **fields}


def definition(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "family": "web",
        "revision": 7,
        "containerDefinitions": list(containers) or [container()],
        **fields,
    }


def pod(task_definition: dict[str, Any] | None = None, **run_fields: Any) -> dict[str, Any]:
    run = RunParameters(**{"cluster_name": "default", "task_id": TASK_ID, **run_fields})
    manifest = task_to_pod(task_definition or definition(), run, "ecs-default")
    assert_valid(manifest)
    return manifest


def spec(task_definition: dict[str, Any], **options: Any) -> dict[str, Any]:
    pod_spec = task_definition_to_pod_spec(task_definition, **options)
    assert_valid({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec})
    return pod_spec


def main(pod_spec: dict[str, Any], name: str = "app") -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in pod_spec["containers"] if c["name"] == name)
    return found


def init(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in pod_spec["initContainers"] if c["name"] == name)
    return found


def quantity(text: str) -> Decimal:
    units = {"m": Decimal("0.001"), "Mi": Decimal(2**20), "Gi": Decimal(2**30)}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * factor
    return Decimal(text)


def assert_valid(manifest: dict[str, Any]) -> None:
    """What the API server would check first: the official models keep every field, and the
    names, references and resource amounts obey Kubernetes' rules."""
    model = API._ApiClient__deserialize(manifest, "V1Pod")  # type: ignore[attr-defined]
    assert API.sanitize_for_serialization(model) == manifest
    pod_spec = manifest["spec"]
    every = pod_spec["containers"] + pod_spec.get("initContainers", [])
    container_names = [c["name"] for c in every]
    assert len(set(container_names)) == len(container_names)
    volume_names = [v["name"] for v in pod_spec.get("volumes", [])]
    assert len(set(volume_names)) == len(volume_names)
    for name in container_names + volume_names:
        assert len(name) <= 63 and DNS_LABEL.fullmatch(name), name
    for c in every:
        mount_paths = [m["mountPath"] for m in c.get("volumeMounts", [])]
        assert len(set(mount_paths)) == len(mount_paths)
        assert {m["name"] for m in c.get("volumeMounts", [])} <= set(volume_names)
        requests, limits = (
            c.get("resources", {}).get("requests", {}),
            c.get("resources", {}).get("limits", {}),
        )
        for resource, amount in requests.items():
            assert resource not in limits or quantity(amount) <= quantity(limits[resource])
    for value in manifest["metadata"].get("labels", {}).values():
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), value
    pod_level = pod_spec.get("resources")
    if pod_level:
        for resource, amount in pod_level["requests"].items():
            assert quantity(amount) <= quantity(pod_level["limits"][resource])
            requested = sum(quantity(c.get("resources", {}).get("requests", {}).get(resource, "0")) for c in every)
            assert requested <= quantity(amount)
            for c in every:
                limit = c.get("resources", {}).get("limits", {}).get(resource)
                assert limit is None or quantity(limit) <= quantity(pod_level["limits"][resource])


# Metadata


def test_pod_is_named_after_the_task_and_never_restarts() -> None:
    manifest = pod()
    assert manifest["metadata"]["name"] == f"task-{TASK_ID}"
    assert manifest["metadata"]["namespace"] == "ecs-default"
    assert manifest["spec"]["restartPolicy"] == "Never"


def test_labels_select_the_task_by_cluster_family_revision_group_and_starter() -> None:
    labels = pod(started_by="ci-job", client_token="token-1")["metadata"]["labels"]
    assert labels == {
        names.LABEL_MANAGED: "true",
        names.LABEL_CLUSTER: "default",
        names.LABEL_FAMILY: "web",
        names.LABEL_REVISION: "7",
        names.LABEL_GROUP: names.label_value("family:web"),
        names.LABEL_STARTED_BY: "ci-job",
        names.LABEL_TASK_ID: TASK_ID,
        names.LABEL_CLIENT_TOKEN: "token-1",
    }


def test_annotations_keep_the_exact_ecs_values_labels_cannot_hold() -> None:
    tags = [{"key": "team", "value": "payments"}]
    overrides = {"containerOverrides": [{"name": "app", "command": ["run"]}]}
    metadata = pod(
        group="service:web/blue green",
        started_by="ecs-svc/1234567890123456789",
        launch_type="FARGATE",
        tags=tags,
        overrides=overrides,
        reference_id="ref 1",
        client_token="x" * 64,
    )["metadata"]
    annotations = metadata["annotations"]
    assert annotations[names.ANNOTATION_GROUP] == "service:web/blue green"
    assert annotations[names.ANNOTATION_STARTED_BY] == "ecs-svc/1234567890123456789"
    assert annotations[names.ANNOTATION_LAUNCH_TYPE] == "FARGATE"
    assert annotations[names.ANNOTATION_CLUSTER_NAME] == "default"
    assert annotations[names.ANNOTATION_FAMILY] == "web"
    assert annotations[names.ANNOTATION_TASK_DEFINITION_ARN] == definition()["taskDefinitionArn"]
    assert json.loads(annotations[names.ANNOTATION_TAGS]) == tags
    assert json.loads(annotations[names.ANNOTATION_OVERRIDES]) == overrides
    assert annotations[names.ANNOTATION_REFERENCE_ID] == "ref 1"
    assert annotations[names.ANNOTATION_CLIENT_TOKEN] == "x" * 64
    assert metadata["labels"][names.LABEL_GROUP] == names.label_value("service:web/blue green")
    assert metadata["labels"][names.LABEL_CLIENT_TOKEN] == names.label_value("x" * 64)


def test_absent_run_details_leave_no_empty_labels_or_annotations() -> None:
    metadata = pod()["metadata"]
    assert names.LABEL_STARTED_BY not in metadata["labels"]
    for key in (names.ANNOTATION_STARTED_BY, names.ANNOTATION_TAGS, names.ANNOTATION_OVERRIDES):
        assert key not in metadata["annotations"]


def test_essential_containers_are_listed_for_the_status_layer() -> None:
    annotations = pod(definition(container("app"), container("log", essential=False)))["metadata"]["annotations"]
    assert json.loads(annotations[names.ANNOTATION_ESSENTIAL_CONTAINERS]) == ["app"]


def test_ecs_container_names_kubernetes_rejects_get_stable_dns_names_mapped_back() -> None:
    manifest = pod(definition(container("Web_Server"), container("app")))
    kube_names = [c["name"] for c in manifest["spec"]["containers"]]
    assert kube_names[1] == "app"
    assert kube_names[0] == kube_name("Web_Server") != kube_name("web_server")
    mapping = json.loads(manifest["metadata"]["annotations"][names.ANNOTATION_CONTAINER_NAMES])
    assert mapping == {kube_names[0]: "Web_Server", "app": "app"}


def test_docker_labels_become_pod_annotations_under_their_own_prefix() -> None:
    labels = {"com.example.team": "payments", "bad key!": "kept"}
    annotations = pod(definition(container(dockerLabels=labels)))["metadata"]["annotations"]
    prefix = names.ANNOTATION_DOCKER_LABEL_PREFIX
    assert annotations[prefix + "com.example.team"] == "payments"
    assert annotations[prefix + names.label_value("bad key!")] == "kept"


def test_role_arns_are_recorded_and_overrides_win() -> None:
    task_definition = definition(taskRoleArn="arn:aws:iam::1:role/task", executionRoleArn="arn:aws:iam::1:role/exec")
    annotations = pod(task_definition, overrides={"taskRoleArn": "arn:aws:iam::1:role/other"})["metadata"][
        "annotations"
    ]
    assert annotations[names.ANNOTATION_TASK_ROLE_ARN] == "arn:aws:iam::1:role/other"
    assert annotations[names.ANNOTATION_EXECUTION_ROLE_ARN] == "arn:aws:iam::1:role/exec"


def test_pod_template_annotations_do_not_depend_on_a_run() -> None:
    annotations = task_definition_annotations(definition(cpu="256", memory="512"))
    assert annotations[names.ANNOTATION_TASK_CPU] == "256"
    assert annotations[names.ANNOTATION_TASK_MEMORY] == "512"
    assert names.ANNOTATION_GROUP not in annotations


def test_pod_spec_leaves_the_restart_policy_to_its_workload() -> None:
    assert "restartPolicy" not in spec(definition())


def test_containers_get_no_kubernetes_credentials_or_service_environment() -> None:
    pod_spec = spec(definition())
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["enableServiceLinks"] is False


# Commands and environment


def test_entry_point_and_command_become_command_and_args() -> None:
    c = main(spec(definition(container(entryPoint=["/bin/app"], command=["--port", "80"], workingDirectory="/srv"))))
    assert (c["command"], c["args"], c["workingDir"]) == (["/bin/app"], ["--port", "80"], "/srv")


def test_command_alone_keeps_the_image_entry_point() -> None:
    c = main(spec(definition(container(command=["serve"]))))
    assert c["args"] == ["serve"] and "command" not in c


def test_override_command_replaces_the_definition_command() -> None:
    manifest = pod(
        definition(container(command=["serve"])),
        overrides={"containerOverrides": [{"name": "app", "command": ["migrate", "--up"]}]},
    )
    assert main(manifest["spec"])["args"] == ["migrate", "--up"]


def test_environment_overrides_replace_by_name_and_add_new_variables_last() -> None:
    environment = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    overrides = {
        "containerOverrides": [
            {"name": "app", "environment": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}]}
        ]
    }
    manifest = pod(definition(container(environment=environment)), overrides=overrides)
    assert main(manifest["spec"])["env"] == [
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]


def test_environment_files_come_from_config_maps_named_after_the_s3_object() -> None:
    files = [{"type": "s3", "value": "arn:aws:s3:::config-bucket/app/prod.env"}]
    c = main(spec(definition(container(environmentFiles=files))))
    assert c["envFrom"] == [{"configMapRef": {"name": names.dns_label("config-bucket/app/prod.env")}}]
    assert environment_file_config_map("arn:aws:s3:::config-bucket/app/prod.env").startswith(
        "config-bucket-app-prod-env-"
    )


def test_override_environment_files_replace_the_definition_ones() -> None:
    files = [{"type": "s3", "value": "arn:aws:s3:::b/one.env"}]
    overrides = {
        "containerOverrides": [{"name": "app", "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::b/two.env"}]}]
    }
    manifest = pod(definition(container(environmentFiles=files)), overrides=overrides)
    assert main(manifest["spec"])["envFrom"] == [{"configMapRef": {"name": names.dns_label("b/two.env")}}]


def test_override_for_a_container_the_definition_lacks_is_refused() -> None:
    with pytest.raises(InvalidParameterException, match="ghost"):
        apply_overrides(definition(), {"containerOverrides": [{"name": "ghost", "command": ["x"]}]})


@pytest.mark.parametrize(
    ("value_from", "secret", "key"),
    [
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123", "prod/db", "value"),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123:password::",
            "prod/db",
            "password",
        ),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123:user:AWSCURRENT:",
            "prod/db",
            "user",
        ),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db", "prod/db", "value"),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/password", "prod/db/password", "value"),
        ("/prod/db/password", "prod/db/password", "value"),
        ("plain-parameter", "plain-parameter", "value"),
    ],
)
def test_secrets_read_a_secret_named_by_rule(value_from: str, secret: str, key: str) -> None:
    c = main(spec(definition(container(secrets=[{"name": "DB", "valueFrom": value_from}]))))
    assert c["env"] == [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": names.dns_label(secret), "key": key}}}]


def test_secret_json_keys_kubernetes_rejects_get_valid_stand_ins() -> None:
    reference = secret_key_ref("arn:aws:secretsmanager:r:1:secret:db-AbC123:pass word/1::")
    assert re.fullmatch(r"[-._a-zA-Z0-9]+", reference["key"]) and reference["key"].startswith("pass-word-1-")


def test_a_secret_named_like_an_environment_variable_wins() -> None:
    c = main(
        spec(
            definition(
                container(
                    environment=[{"name": "DB", "value": "plain"}],
                    secrets=[{"name": "DB", "valueFrom": "db"}],
                )
            )
        )
    )
    assert c["env"] == [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": names.dns_label("db"), "key": "value"}}}]


def test_repository_credentials_become_image_pull_secrets() -> None:
    credentials = {"credentialsParameter": "arn:aws:secretsmanager:r:1:secret:registry-AbC123"}
    pod_spec = spec(definition(container(repositoryCredentials=credentials)))
    assert pod_spec["imagePullSecrets"] == [{"name": names.dns_label("registry")}]


def test_interactive_and_pseudo_terminal_become_stdin_and_tty() -> None:
    c = main(spec(definition(container(interactive=True, pseudoTerminal=True))))
    assert c["stdin"] is True and c["tty"] is True


# Security


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("1000", {"runAsUser": 1000}),
        ("1000:2000", {"runAsUser": 1000, "runAsGroup": 2000}),
        ("nginx:2000", {"runAsGroup": 2000}),
        ("1000:staff", {"runAsUser": 1000}),
    ],
)
def test_numeric_user_and_group_run_the_container(user: str, expected: dict[str, int]) -> None:
    assert main(spec(definition(container(user=user))))["securityContext"] == expected


def test_user_names_cannot_be_resolved_without_the_image() -> None:
    assert "securityContext" not in main(spec(definition(container(user="nginx"))))


def test_privileged_read_only_root_and_capabilities() -> None:
    linux = {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}
    c = main(spec(definition(container(privileged=True, readonlyRootFilesystem=True, linuxParameters=linux))))
    assert c["securityContext"] == {
        "privileged": True,
        "readOnlyRootFilesystem": True,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
    }


def test_docker_security_options_for_privilege_apparmor_and_selinux() -> None:
    options = ["no-new-privileges", "apparmor:my-profile", "label:type:spc_t", "label:level:s0:c1,c2"]
    context = main(spec(definition(container(dockerSecurityOptions=options))))["securityContext"]
    assert context == {
        "allowPrivilegeEscalation": False,
        "appArmorProfile": {"type": "Localhost", "localhostProfile": "my-profile"},
        "seLinuxOptions": {"type": "spc_t", "level": "s0:c1,c2"},
    }


def test_no_new_privileges_is_dropped_where_kubernetes_forbids_it() -> None:
    c = main(spec(definition(container(privileged=True, dockerSecurityOptions=["no-new-privileges"]))))
    assert c["securityContext"] == {"privileged": True}


def test_init_process_shares_the_pid_namespace() -> None:
    pod_spec = spec(definition(container(linuxParameters={"initProcessEnabled": True})))
    assert pod_spec["shareProcessNamespace"] is True


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        ({"pidMode": "host"}, {"hostPID": True}),
        ({"pidMode": "task"}, {"shareProcessNamespace": True}),
        ({"ipcMode": "host"}, {"hostIPC": True}),
        ({"ipcMode": "task"}, {}),
    ],
)
def test_pid_and_ipc_modes(modes: dict[str, str], expected: dict[str, bool]) -> None:
    pod_spec = spec(definition(container(), **modes))
    namespace_fields = {k: v for k, v in pod_spec.items() if k in ("hostPID", "hostIPC", "shareProcessNamespace")}
    assert namespace_fields == expected


def test_host_pid_mode_already_has_an_init_process() -> None:
    pod_spec = spec(definition(container(linuxParameters={"initProcessEnabled": True}), pidMode="host"))
    assert pod_spec["hostPID"] is True and "shareProcessNamespace" not in pod_spec


def test_system_controls_become_pod_sysctls_except_net_ones_on_the_host_network() -> None:
    controls = [
        {"namespace": "net.core.somaxconn", "value": "1024"},
        {"namespace": "kernel.shmmax", "value": "65536"},
    ]
    bridged = spec(definition(container(systemControls=controls)))
    assert bridged["securityContext"]["sysctls"] == [
        {"name": "net.core.somaxconn", "value": "1024"},
        {"name": "kernel.shmmax", "value": "65536"},
    ]
    host = spec(definition(container(systemControls=controls), networkMode="host"))
    assert host["securityContext"]["sysctls"] == [{"name": "kernel.shmmax", "value": "65536"}]


def test_ulimits_have_no_kubernetes_field() -> None:
    ulimits = [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]
    assert spec(definition(container(ulimits=ulimits))) == spec(definition(container()))


# Networking


def test_awsvpc_ports_are_pod_ports() -> None:
    mappings = [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "http"},
        {"containerPort": 53, "protocol": "udp"},
    ]
    pod_spec = spec(definition(container(portMappings=mappings), networkMode="awsvpc"))
    assert main(pod_spec)["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    assert "hostNetwork" not in pod_spec


def test_host_network_mode_uses_the_node_network_and_its_ports() -> None:
    pod_spec = spec(definition(container(portMappings=[{"containerPort": 8080}], hostname="web"), networkMode="host"))
    assert pod_spec["hostNetwork"] is True
    assert main(pod_spec)["ports"] == [{"containerPort": 8080, "protocol": "TCP", "hostPort": 8080}]
    assert "hostname" not in pod_spec


def test_bridge_host_ports_are_kept_and_dynamic_ones_left_to_the_pod_ip() -> None:
    mappings = [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 443, "hostPort": 0}]
    c = main(spec(definition(container(portMappings=mappings), networkMode="bridge")))
    assert c["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "hostPort": 8080},
        {"containerPort": 443, "protocol": "TCP"},
    ]


def test_port_ranges_list_every_port_and_names_kubernetes_rejects_are_left_out() -> None:
    mappings = [
        {"containerPortRange": "9000-9002", "protocol": "udp"},
        {"containerPort": 80, "name": "web_http_port_name"},
    ]
    c = main(spec(definition(container(portMappings=mappings), networkMode="awsvpc")))
    assert c["ports"] == [
        {"containerPort": 9000, "protocol": "UDP"},
        {"containerPort": 9001, "protocol": "UDP"},
        {"containerPort": 9002, "protocol": "UDP"},
        {"containerPort": 80, "protocol": "TCP"},
    ]


def test_hostname_becomes_the_pod_hostname_or_its_override_for_fqdns() -> None:
    assert spec(definition(container(hostname="Web-1")))["hostname"] == "web-1"
    pod_spec = spec(definition(container(hostname="web.internal.example")))
    assert pod_spec["hostnameOverride"] == "web.internal.example" and "hostname" not in pod_spec


def test_extra_hosts_and_links_become_host_aliases() -> None:
    extra = [
        {"hostname": "db.local", "ipAddress": "10.0.0.5"},
        {"hostname": "cache.local", "ipAddress": "10.0.0.5"},
        {"hostname": "bad_host!", "ipAddress": "10.0.0.6"},
        {"hostname": "nowhere", "ipAddress": "not-an-ip"},
    ]
    pod_spec = spec(definition(container(extraHosts=extra, links=["db:database"]), container("db")))
    assert pod_spec["hostAliases"] == [
        {"ip": "10.0.0.5", "hostnames": ["db.local", "cache.local"]},
        {"ip": "127.0.0.1", "hostnames": ["db", "database"]},
    ]


def test_dns_servers_replace_the_cluster_dns() -> None:
    servers = ["10.0.0.2", "dns.example", "10.0.0.3", "10.0.0.4", "10.0.0.5"]
    domains = ["corp.example", "Bad Domain"]
    pod_spec = spec(definition(container(dnsServers=servers, dnsSearchDomains=domains)))
    assert pod_spec["dnsPolicy"] == "None"
    assert pod_spec["dnsConfig"] == {"nameservers": ["10.0.0.2", "10.0.0.3", "10.0.0.4"], "searches": ["corp.example"]}


def test_dns_search_domains_alone_extend_the_cluster_dns() -> None:
    pod_spec = spec(definition(container(dnsSearchDomains=["corp.example"])))
    assert pod_spec["dnsConfig"] == {"searches": ["corp.example"]} and "dnsPolicy" not in pod_spec


# Health checks and lifecycle


def test_health_check_becomes_a_readiness_probe_with_ecs_timing() -> None:
    check = {
        "command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        "interval": 10,
        "timeout": 2,
        "retries": 5,
    }
    c = main(spec(definition(container(healthCheck=check))))
    assert c["readinessProbe"] == {
        "exec": {"command": ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]},
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 5,
    }
    assert "livenessProbe" not in c


def test_exec_form_health_check_uses_ecs_defaults() -> None:
    c = main(spec(definition(container(healthCheck={"command": ["CMD", "/healthz", "--quick"]}))))
    assert c["readinessProbe"] == {
        "exec": {"command": ["/healthz", "--quick"]},
        "periodSeconds": 30,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def test_a_health_check_start_period_delays_no_probe_and_is_kept_for_the_task_view() -> None:
    """A check that passes during its start period makes the container HEALTHY on ECS, so the
    readiness probe starts at once; the view needs the period to tell when a check that never
    passes turns the container UNHEALTHY."""
    check = {"command": ["CMD", "/healthz"], "startPeriod": 60}
    task_definition = definition(container(healthCheck=check), container(name="sidecar"))
    c = main(spec(task_definition))
    assert "initialDelaySeconds" not in c["readinessProbe"]
    assert "livenessProbe" not in c
    annotations = task_definition_annotations(task_definition)
    assert json.loads(annotations[names.ANNOTATION_HEALTH_START_PERIODS]) == {"app": 60}


def test_windows_shell_health_checks_run_in_cmd() -> None:
    check = {"command": ["CMD-SHELL", "exit 0"]}
    task_definition = definition(
        container(healthCheck=check), runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}
    )
    assert main(spec(task_definition))["readinessProbe"]["exec"]["command"] == ["cmd", "/S", "/C", "exit 0"]


def test_stop_timeout_is_the_longest_of_the_containers_with_ecs_default() -> None:
    assert spec(definition())["terminationGracePeriodSeconds"] == 30
    pod_spec = spec(definition(container("app", stopTimeout=10), container("slow", stopTimeout=90)))
    assert pod_spec["terminationGracePeriodSeconds"] == 90


def test_container_restart_policy_becomes_container_restart_rules() -> None:
    policy = {"enabled": True, "ignoredExitCodes": [0, 143], "restartAttemptPeriod": 60}
    c = main(spec(definition(container(restartPolicy=policy))))
    assert c["restartPolicy"] == "Never"
    assert c["restartPolicyRules"] == [{"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0, 143]}}]
    always = main(spec(definition(container(restartPolicy={"enabled": True}))))
    assert always["restartPolicy"] == "Always" and "restartPolicyRules" not in always
    assert "restartPolicy" not in main(spec(definition(container(restartPolicy={"enabled": False}))))


def test_containers_with_a_restart_policy_are_listed_for_the_status_layer() -> None:
    task_definition = definition(
        container("app", restartPolicy={"enabled": True}),
        container("log", restartPolicy={"enabled": False}),
        container("envoy"),
    )
    annotations = pod(task_definition)["metadata"]["annotations"]
    assert json.loads(annotations[names.ANNOTATION_RESTART_POLICY_CONTAINERS]) == ["app"]
    assert names.ANNOTATION_RESTART_POLICY_CONTAINERS not in pod()["metadata"]["annotations"]


# Container dependencies


def test_containers_awaited_to_exit_run_first_as_init_containers() -> None:
    task_definition = definition(
        container("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
        container("migrate", essential=False, healthCheck={"command": ["CMD", "true"]}),
    )
    pod_spec = spec(task_definition)
    assert [c["name"] for c in pod_spec["containers"]] == ["app"]
    migrate = init(pod_spec, "migrate")
    assert "restartPolicy" not in migrate and "readinessProbe" not in migrate


def test_containers_awaited_to_start_are_native_sidecars() -> None:
    task_definition = definition(
        container("app", dependsOn=[{"containerName": "proxy", "condition": "START"}]),
        container("proxy", essential=False),
    )
    proxy = init(spec(task_definition), "proxy")
    assert proxy["restartPolicy"] == "Always" and "startupProbe" not in proxy


def test_essential_container_awaited_to_start_is_a_regular_container_started_first() -> None:
    task_definition = definition(
        container("sidecar", essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
        container("app", restartPolicy={"enabled": True, "ignoredExitCodes": [0]}),
    )
    pod_spec = spec(task_definition)
    assert "initContainers" not in pod_spec
    assert [c["name"] for c in pod_spec["containers"]] == ["app", "sidecar"]
    assert main(pod_spec)["restartPolicy"] == "Never"
    assert main(pod_spec)["restartPolicyRules"] == [
        {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0]}}
    ]


def test_essential_container_awaited_by_a_sidecar_or_awaited_healthy_stays_a_sidecar() -> None:
    task_definition = definition(
        container("app", dependsOn=[{"containerName": "log", "condition": "START"}]),
        container("log", essential=False, dependsOn=[{"containerName": "proxy", "condition": "START"}]),
        container("proxy"),
        container("db", dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
        container("envoy", healthCheck={"command": ["CMD", "/ready"]}),
    )
    pod_spec = spec(task_definition)
    assert [(c["name"], c["restartPolicy"]) for c in pod_spec["initContainers"]] == [
        ("proxy", "Always"),
        ("log", "Always"),
        ("envoy", "Always"),
    ]
    assert [c["name"] for c in pod_spec["containers"]] == ["app", "db"]


def test_chains_of_essential_containers_awaited_to_start_run_in_dependency_order() -> None:
    task_definition = definition(
        container("web", dependsOn=[{"containerName": "api", "condition": "START"}]),
        container("api", dependsOn=[{"containerName": "cache", "condition": "START"}]),
        container("cache"),
    )
    pod_spec = spec(task_definition)
    assert "initContainers" not in pod_spec
    assert [c["name"] for c in pod_spec["containers"]] == ["cache", "api", "web"]


def test_containers_awaited_healthy_are_sidecars_gated_by_a_startup_probe() -> None:
    check = {"command": ["CMD", "/ready"], "interval": 10, "retries": 3, "startPeriod": 25}
    task_definition = definition(
        container("app", dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
        container("envoy", healthCheck=check),
    )
    envoy = init(spec(task_definition), "envoy")
    assert envoy["restartPolicy"] == "Always"
    assert envoy["startupProbe"] == {
        "exec": {"command": ["/ready"]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    }
    assert envoy["readinessProbe"]["failureThreshold"] == 3


def test_init_containers_are_ordered_by_their_own_dependencies() -> None:
    task_definition = definition(
        container("app", dependsOn=[{"containerName": "migrate", "condition": "COMPLETE"}]),
        container("migrate", essential=False, dependsOn=[{"containerName": "secrets", "condition": "SUCCESS"}]),
        container("secrets", essential=False, dependsOn=[{"containerName": "proxy", "condition": "START"}]),
        container("proxy"),
    )
    assert [c["name"] for c in spec(task_definition)["initContainers"]] == ["proxy", "secrets", "migrate"]


def test_dependency_cycles_and_unknown_containers_are_refused() -> None:
    cycle = definition(
        container("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
        container("b", dependsOn=[{"containerName": "c", "condition": "START"}]),
        container("c", dependsOn=[{"containerName": "b", "condition": "START"}]),
    )
    with pytest.raises(ClientException, match="cycle"):
        task_definition_to_pod_spec(cycle)
    with pytest.raises(ClientException, match="ghost"):
        task_definition_to_pod_spec(definition(container(dependsOn=[{"containerName": "ghost", "condition": "START"}])))


# Volumes


def test_bind_mounts_and_docker_volumes() -> None:
    volumes = [
        {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
        {"name": "scratch", "host": {}},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
    ]
    mount_points = [
        {"sourceVolume": "logs", "containerPath": "/logs", "readOnly": True},
        {"sourceVolume": "scratch", "containerPath": "/tmp/scratch"},
        {"sourceVolume": "cache", "containerPath": "/cache"},
    ]
    pod_spec = spec(definition(container(mountPoints=mount_points), volumes=volumes))
    assert pod_spec["volumes"] == [
        {"name": "logs", "hostPath": {"path": "/var/log/app"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
    ]
    assert main(pod_spec)["volumeMounts"] == [
        {"name": "logs", "mountPath": "/logs", "readOnly": True},
        {"name": "scratch", "mountPath": "/tmp/scratch"},
        {"name": "cache", "mountPath": "/cache"},
    ]


def test_efs_volumes_are_claims_named_after_file_system_and_access_point() -> None:
    volumes = [
        {
            "name": "shared",
            "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0", "rootDirectory": "/data/app"},
        },
        {
            "name": "home",
            "efsVolumeConfiguration": {
                "fileSystemId": "fs-0123456789abcdef0",
                "authorizationConfig": {"accessPointId": "fsap-0fedcba9876543210"},
            },
        },
    ]
    mount_points = [
        {"sourceVolume": "shared", "containerPath": "/shared"},
        {"sourceVolume": "home", "containerPath": "/home"},
    ]
    pod_spec = spec(definition(container(mountPoints=mount_points), volumes=volumes))
    assert pod_spec["volumes"] == [
        {"name": "shared", "persistentVolumeClaim": {"claimName": "fs-0123456789abcdef0"}},
        {
            "name": "home",
            "persistentVolumeClaim": {"claimName": "fs-0123456789abcdef0-fsap-0fedcba9876543210"},
        },
    ]
    assert main(pod_spec)["volumeMounts"] == [
        {"name": "shared", "mountPath": "/shared", "subPath": "data/app"},
        {"name": "home", "mountPath": "/home"},
    ]


def test_volumes_from_mounts_another_containers_volumes() -> None:
    task_definition = definition(
        container("app", volumesFrom=[{"sourceContainer": "data", "readOnly": True}]),
        container("data", mountPoints=[{"sourceVolume": "v", "containerPath": "/data"}]),
        volumes=[{"name": "v"}],
    )
    assert main(spec(task_definition))["volumeMounts"] == [{"name": "v", "mountPath": "/data", "readOnly": True}]


def test_unknown_volume_is_refused() -> None:
    with pytest.raises(ClientException, match="Unknown volume 'nope'"):
        task_definition_to_pod_spec(
            definition(container(mountPoints=[{"sourceVolume": "nope", "containerPath": "/x"}]))
        )


def test_shared_memory_and_tmpfs_are_memory_backed_empty_dirs() -> None:
    linux = {
        "sharedMemorySize": 128,
        "tmpfs": [{"containerPath": "/run", "size": 64, "mountOptions": ["noexec"]}],
    }
    pod_spec = spec(definition(container(linuxParameters=linux)))
    shm, run = main(pod_spec)["volumeMounts"]
    assert shm["mountPath"] == "/dev/shm" and run["mountPath"] == "/run"
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes[shm["name"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Mi"}
    assert volumes[run["name"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}


def test_odd_volume_names_become_dns_labels_in_both_places() -> None:
    task_definition = definition(
        container(mountPoints=[{"sourceVolume": "My_Data", "containerPath": "/d"}]),
        volumes=[{"name": "My_Data"}],
    )
    pod_spec = spec(task_definition)
    assert pod_spec["volumes"][0]["name"] == main(pod_spec)["volumeMounts"][0]["name"] == kube_name("My_Data")


# Platform and resources


def test_runtime_platform_selects_os_architecture_and_windows_build() -> None:
    linux = spec(definition(runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}))
    assert linux["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
    assert linux["os"] == {"name": "linux"}
    windows = spec(
        definition(runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE", "cpuArchitecture": "X86_64"})
    )
    assert windows["nodeSelector"] == {
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/windows-build": "10.0.17763",
        "kubernetes.io/arch": "amd64",
    }
    assert windows["os"] == {"name": "windows"}


def test_windows_containers_get_only_windows_security_settings() -> None:
    task_definition = definition(
        container(user="ContainerAdministrator", privileged=True, linuxParameters={"initProcessEnabled": True}),
        runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_FULL"},
        pidMode="task",
    )
    pod_spec = spec(task_definition)
    assert main(pod_spec)["securityContext"] == {"windowsOptions": {"runAsUserName": "ContainerAdministrator"}}
    assert "shareProcessNamespace" not in pod_spec


def test_container_cpu_is_a_request_in_millicores_rounded_up() -> None:
    c = main(spec(definition(container(cpu=100))))
    assert c["resources"]["requests"]["cpu"] == "98m"
    assert "cpu" not in c["resources"].get("limits", {})
    assert "cpu" not in main(spec(definition(container(cpu=0))))["resources"].get("requests", {})


def test_memory_is_the_limit_and_reservation_the_request() -> None:
    assert main(spec(definition(container(memory=512, memoryReservation=128))))["resources"] == {
        "requests": {"memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert main(spec(definition(container(memory=512))))["resources"] == {
        "requests": {"memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert main(spec(definition(container(memory=None, memoryReservation=128))))["resources"] == {
        "requests": {"memory": "128Mi"}
    }


def test_reservation_above_the_limit_is_refused() -> None:
    with pytest.raises(ClientException, match="memoryReservation"):
        task_definition_to_pod_spec(definition(container(memory=128, memoryReservation=256)))


def test_windows_container_cpu_is_also_a_limit_and_task_size_is_ignored() -> None:
    task_definition = definition(
        container(cpu=1024),
        cpu="2048",
        memory="4096",
        runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"},
    )
    pod_spec = spec(task_definition)
    assert main(pod_spec)["resources"]["limits"]["cpu"] == "1000m"
    assert "resources" not in pod_spec


def test_task_size_is_the_pod_level_reservation_and_cap() -> None:
    pod_spec = spec(definition(container(memory=None, memoryReservation=256, cpu=256), cpu="1024", memory="2 GB"))
    assert pod_spec["resources"] == {
        "requests": {"cpu": "1000m", "memory": "2048Mi"},
        "limits": {"cpu": "1000m", "memory": "2048Mi"},
    }


def test_rounded_container_cpu_never_exceeds_the_pod_level_cpu() -> None:
    containers = [container(f"c{i}", cpu=341, memory=None) for i in range(3)]
    pod_spec = spec(definition(*containers, cpu="1024", memory="1024"))
    assert pod_spec["resources"]["requests"]["cpu"] == "1002m"


def test_container_amounts_beyond_the_task_size_are_refused() -> None:
    with pytest.raises(ClientException, match="'cpu'"):
        task_definition_to_pod_spec(definition(container(cpu=2048), cpu="1024"))
    with pytest.raises(ClientException, match="greater than for the task"):
        task_definition_to_pod_spec(definition(container(memory=4096), memory="2048"))
    with pytest.raises(ClientException, match="sum of all container 'memoryReservation'"):
        task_definition_to_pod_spec(definition(container("a", memory=1024), container("b", memory=1024), memory="1536"))


def test_overrides_change_task_and_container_sizes() -> None:
    overrides = {
        "cpu": "2048",
        "memory": "4096",
        "containerOverrides": [{"name": "app", "cpu": 1024, "memory": 2048, "memoryReservation": 1024}],
    }
    manifest = pod(definition(container(cpu=256), cpu="512", memory="1024"), overrides=overrides)
    assert manifest["spec"]["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}
    assert main(manifest["spec"])["resources"] == {
        "requests": {"cpu": "1000m", "memory": "1024Mi"},
        "limits": {"memory": "2048Mi"},
    }
    assert manifest["metadata"]["annotations"][names.ANNOTATION_TASK_MEMORY] == "4096"


def test_override_that_breaks_the_task_size_is_refused() -> None:
    with pytest.raises(ClientException):
        pod(definition(container(memory=512), memory="1024"), overrides={"memory": "256"})


def test_ephemeral_storage_limits_the_first_essential_container() -> None:
    task_definition = definition(
        container("sidecar", essential=False), container("app"), ephemeralStorage={"sizeInGiB": 30}
    )
    pod_spec = spec(task_definition)
    assert main(pod_spec)["resources"]["limits"]["ephemeral-storage"] == "30Gi"
    assert "ephemeral-storage" not in main(pod_spec, "sidecar")["resources"].get("limits", {})
    overridden = pod(task_definition, overrides={"ephemeralStorage": {"sizeInGiB": 50}})
    assert main(overridden["spec"])["resources"]["limits"]["ephemeral-storage"] == "50Gi"


def test_gpus_are_nvidia_extended_resources() -> None:
    c = main(spec(definition(container(resourceRequirements=[{"type": "GPU", "value": "2"}]))))
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2"


# Any definition ECS accepts


_ecs_names = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)


@st.composite
def task_definitions(draw: st.DrawFn) -> dict[str, Any]:
    names_ = draw(st.lists(_ecs_names, min_size=1, max_size=5, unique=True))
    task_memory = draw(st.sampled_from([None, 512, 2048, 8192]))
    task_cpu = draw(st.sampled_from([None, 256, 1024, 4096]))
    containers = []
    for index, name in enumerate(names_):
        cpu = draw(st.integers(0, (task_cpu or 4096) // len(names_)))
        memory = draw(st.one_of(st.none(), st.integers(6, (task_memory or 4096) // len(names_))))
        reservation = draw(st.one_of(st.none(), st.integers(4, memory or (task_memory or 4096) // len(names_))))
        earlier = names_[:index]
        depends = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        conditions = st.sampled_from(["START", "COMPLETE", "SUCCESS", "HEALTHY"])
        containers.append(
            {
                "name": name,
                "image": "busybox",
                "cpu": cpu,
                "memory": memory,
                "memoryReservation": reservation,
                "essential": draw(st.booleans()),
                "dependsOn": [{"containerName": d, "condition": draw(conditions)} for d in depends],
                "healthCheck": {"command": ["CMD", "true"]},
                "portMappings": [{"containerPort": 1000 + index, "hostPort": 0}],
                "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}],
                "linuxParameters": {"sharedMemorySize": draw(st.integers(1, 512))},
            }
        )
    containers[-1]["essential"] = True
    task = definition(
        *containers,
        volumes=[{"name": "shared"}],
        networkMode=draw(st.sampled_from(["bridge", "awsvpc", "host"])),
    )
    if task_cpu:
        task["cpu"] = str(task_cpu)
    if task_memory:
        task["memory"] = str(task_memory)
    return task


@settings(max_examples=200, deadline=None)
@given(task_definitions())
def test_every_definition_ecs_accepts_becomes_a_pod_the_api_server_accepts(
    task_definition: dict[str, Any],
) -> None:
    manifest = pod(task_definition)
    every = manifest["spec"]["containers"] + manifest["spec"].get("initContainers", [])
    assert sorted(c["name"] for c in every) == sorted(
        kube_name(c["name"]) for c in task_definition["containerDefinitions"]
    )
