from datetime import UTC, datetime
from typing import Any

import kubernetes.client
import pytest

from shim.errors import InvalidParameterException
from shim.translate import names
from shim.translate.clusters import is_dedicated
from shim.translate.cql import InstanceFacts
from shim.translate.placement import (
    BINPACK_SCHEDULER_NAME,
    DISTINCT_INSTANCE_UNSATISFIED,
    MEMBER_OF_UNSATISFIED,
    CandidateNode,
    PlacementFailure,
    PodScheduling,
    cluster_scheduling,
    effective_placement,
    node_label_for_attribute,
    node_label_value_for_attribute,
    node_meets_required_affinity,
    on_no_node,
    on_nodes,
    pod_scheduling,
    required_node_affinity,
    validate_constraints,
    validate_strategies,
)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
GROUP = "family:web"
GROUP_LABELS = {names.LABEL_GROUP: names.label_value(GROUP)}


def node(name: str, zone: str, instance_type: str, groups: set[str], **custom: str) -> CandidateNode:
    attributes = {
        "ecs.availability-zone": zone,
        "ecs.instance-type": instance_type,
        "ecs.os-type": "linux",
        "ecs.cpu-architecture": "x86_64",
        **custom,
    }
    facts = InstanceFacts(
        attributes=attributes,
        ec2_instance_id=name,
        agent_connected=True,
        agent_version="1.80.0",
        registered_at=datetime(2024, 1, 1, tzinfo=UTC),
        running_tasks_count=len(groups),
        task_groups=frozenset(groups),
    )
    return CandidateNode(name, facts)


NODES = [
    node("i-a", "us-east-1a", "t2.small", set()),
    node("i-b", "us-east-1b", "m5.large", {GROUP}, stack="prod"),
    node("i-c", "us-east-1a", "t2.micro", {"databases"}),
]


def member_of(expression: str) -> dict[str, str]:
    return {"type": "memberOf", "expression": expression}


def schedule(
    constraints: list[dict[str, str]],
    strategies: list[dict[str, str]] | None = None,
    nodes: list[CandidateNode] = NODES,
    spread_selector: dict[str, str] | None = None,
) -> PodScheduling | PlacementFailure:
    return pod_scheduling(constraints, strategies or [], group=GROUP, nodes=nodes, spread_selector=spread_selector)


def scheduling(*args: Any, **kwargs: Any) -> PodScheduling:
    result = schedule(*args, **kwargs)
    assert isinstance(result, PodScheduling)
    return result


def node_affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    selector_terms = [{"matchExpressions": requirements} for requirements in terms]
    return {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": selector_terms}}}


def group_term(op: str, *groups: str) -> dict[str, Any]:
    selector: dict[str, Any] = {"key": names.LABEL_GROUP, "operator": op}
    if groups:
        selector["values"] = [names.label_value(group) for group in groups]
    return {"labelSelector": {"matchExpressions": [selector]}, "topologyKey": HOSTNAME}


def test_member_of_on_node_labels_becomes_required_node_affinity() -> None:
    result = scheduling([member_of("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]")])
    assert result == PodScheduling(
        affinity=node_affinity([{"key": ZONE, "operator": "In", "values": ["us-east-1a", "us-east-1b"]}]),
        topology_spread_constraints=[],
        scheduler_name=None,
    )


def test_member_of_maps_built_in_and_custom_attributes_to_their_labels() -> None:
    expression = (
        "attribute:ecs.instance-type != t2.micro and attribute:ecs.os-type == linux "
        "and attribute:ecs.cpu-architecture == x86_64 and attribute:stack == prod and ec2InstanceId in [i-a, i-b]"
    )
    assert scheduling([member_of(expression)]).affinity == node_affinity(
        [
            {"key": "node.kubernetes.io/instance-type", "operator": "Exists"},
            {"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["t2.micro"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            {"key": "attribute.ecs.shim.io/stack", "operator": "In", "values": ["prod"]},
            {"key": HOSTNAME, "operator": "In", "values": ["i-a", "i-b"]},
        ]
    )


def test_several_member_of_constraints_must_all_hold() -> None:
    constraints = [
        member_of("attribute:ecs.availability-zone == us-east-1a or attribute:stack == prod"),
        member_of("attribute:ecs.instance-type in [t2.small, m5.large]"),
    ]
    instance_types = {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["t2.small", "m5.large"]}
    assert scheduling(constraints).affinity == node_affinity(
        [{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}, instance_types],
        [{"key": "attribute.ecs.shim.io/stack", "operator": "In", "values": ["prod"]}, instance_types],
    )


def test_member_of_that_labels_cannot_say_pins_the_task_to_the_matching_nodes() -> None:
    result = scheduling([member_of("attribute:ecs.instance-type =~ t2.*")])
    assert result.affinity == node_affinity([{"key": HOSTNAME, "operator": "In", "values": ["i-a", "i-c"]}])


def test_member_of_mixing_task_groups_into_a_disjunction_is_evaluated_on_the_nodes() -> None:
    result = scheduling([member_of("task:group == databases or attribute:stack exists")])
    assert result.affinity == node_affinity([{"key": HOSTNAME, "operator": "In", "values": ["i-b", "i-c"]}])


@pytest.mark.parametrize(
    "expression",
    ["attribute:ecs.instance-type =~ c5.*", "attribute:stack == dev", "runningTasksCount > 5"],
)
def test_member_of_that_no_node_satisfies_is_a_placement_failure(expression: str) -> None:
    assert schedule([member_of(expression)]) == PlacementFailure(MEMBER_OF_UNSATISFIED)


def test_member_of_without_nodes_is_a_placement_failure() -> None:
    assert schedule([member_of("attribute:stack exists")], nodes=[]) == PlacementFailure(MEMBER_OF_UNSATISFIED)


def test_task_group_affinity_becomes_pod_affinity_on_the_group_label() -> None:
    result = scheduling([member_of("task:group == databases")])
    assert result.affinity == {"podAffinity": {REQUIRED: [group_term("In", "databases")]}}


def test_task_group_anti_affinity_becomes_pod_anti_affinity() -> None:
    result = scheduling([member_of("not(task:group == databases)")])
    assert result.affinity == {"podAntiAffinity": {REQUIRED: [group_term("In", "databases")]}}


def test_task_groups_and_node_labels_in_one_conjunction_combine() -> None:
    expression = (
        "attribute:ecs.availability-zone == us-east-1a and task:group in [databases, family:web] "
        "and !(task:group == batch) and task:group exists and not task:group !exists"
    )
    assert scheduling([member_of(expression)]).affinity == {
        **node_affinity([{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}]),
        "podAffinity": {REQUIRED: [group_term("In", "databases", "family:web"), group_term("Exists")]},
        "podAntiAffinity": {REQUIRED: [group_term("In", "batch")]},
    }


def test_distinct_instance_keeps_tasks_of_the_group_apart() -> None:
    result = scheduling([{"type": "distinctInstance"}])
    anti_affinity_term = {"labelSelector": {"matchLabels": GROUP_LABELS}, "topologyKey": HOSTNAME}
    assert result.affinity == {"podAntiAffinity": {REQUIRED: [anti_affinity_term]}}


def test_distinct_instance_adds_to_task_group_anti_affinity() -> None:
    result = scheduling([member_of("not task:group == databases"), {"type": "distinctInstance"}])
    distinct = {"labelSelector": {"matchLabels": GROUP_LABELS}, "topologyKey": HOSTNAME}
    assert result.affinity == {"podAntiAffinity": {REQUIRED: [group_term("In", "databases"), distinct]}}


def test_distinct_instance_fails_when_every_member_hosts_the_group() -> None:
    constraints = [member_of("attribute:stack == prod"), {"type": "distinctInstance"}]
    assert schedule(constraints) == PlacementFailure(DISTINCT_INSTANCE_UNSATISFIED)


def test_spread_and_binpack_strategies() -> None:
    strategies = [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
        {"type": "spread", "field": "host"},
        {"type": "binpack", "field": "memory"},
        {"type": "random"},
    ]
    result = scheduling([], strategies)

    def spread(key: str) -> dict[str, Any]:
        return {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": GROUP_LABELS},
        }

    assert result == PodScheduling(
        affinity={}, topology_spread_constraints=[spread(ZONE), spread(HOSTNAME)], scheduler_name="ecs-binpack"
    )


def test_a_service_spreads_relative_to_its_own_tasks() -> None:
    service_labels = {names.LABEL_SERVICE: "web"}
    result = scheduling([], [{"type": "spread", "field": "attribute:rack"}], spread_selector=service_labels)
    assert result.topology_spread_constraints == [
        {
            "maxSkew": 1,
            "topologyKey": "attribute.ecs.shim.io/rack",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": service_labels},
        }
    ]


@pytest.mark.parametrize("field", ["cpu", "memory", "MEMORY"])
def test_binpack_selects_the_most_allocated_scheduler_profile(field: str) -> None:
    assert scheduling([], [{"type": "binpack", "field": field}]).scheduler_name == BINPACK_SCHEDULER_NAME


def test_random_or_no_strategy_keeps_the_default_scheduler() -> None:
    assert scheduling([], [{"type": "random"}]) == PodScheduling()
    assert scheduling([]) == PodScheduling()


def test_attributes_whose_names_are_not_label_names_get_stand_in_labels() -> None:
    assert node_label_for_attribute("team/owner") == names.ATTRIBUTE_LABEL_PREFIX + names.label_value("team/owner")
    assert node_label_for_attribute("ecs.vpc-id") == "attribute.ecs.shim.io/ecs.vpc-id"
    assert node_label_value_for_attribute("ecs.cpu-architecture", "x86_64") == "amd64"
    assert node_label_value_for_attribute("ecs.cpu-architecture", "arm64") == "arm64"
    assert node_label_value_for_attribute("note", "a b") == names.label_value("a b")


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (
            [{"type": "distinctInstance"}] * 11,
            "Too many placement constraints: 11. The maximum is 10.",
        ),
        (
            [{"type": "distinctInstance", "expression": ""}],
            "distinctInstance expression should not be specified.",
        ),
        ([{"type": "memberOf"}], "memberOf expression must be specified."),
        ([{"type": "memberOf", "expression": ""}], "memberOf expression must be specified."),
        (
            [{"type": "sameInstance"}],
            "Invalid placement constraint type 'sameInstance'. Valid values are distinctInstance and memberOf.",
        ),
        (
            [member_of("attribute:stack prod")],
            "Invalid expression: unexpected token 'prod' at position 17; expected an operator",
        ),
        (
            [member_of("attribute:stack exists" + " " * 1979)],
            "Invalid expression: it is 2001 characters long; the maximum is 2000",
        ),
    ],
)
def test_invalid_constraints_are_rejected(constraints: list[dict[str, str]], message: str) -> None:
    with pytest.raises(InvalidParameterException) as raised:
        validate_constraints(constraints)
    assert raised.value.message == message
    with pytest.raises(InvalidParameterException):
        pod_scheduling(constraints, [], group=GROUP, nodes=NODES)


def test_ten_constraints_are_allowed() -> None:
    validate_constraints([member_of("attribute:stack exists")] * 9 + [{"type": "distinctInstance"}])


@pytest.mark.parametrize(
    ("strategies", "message"),
    [
        ([{"type": "random"}] * 6, "Too many placement strategies: 6. The maximum is 5."),
        (
            [{"type": "pack"}],
            "Invalid placement strategy type 'pack'. Valid values are random, spread and binpack.",
        ),
        (
            [{"type": "binpack", "field": "disk"}],
            "Invalid field 'disk' for binpack placement strategy. Valid values are cpu and memory.",
        ),
        (
            [{"type": "binpack"}],
            "Invalid field '' for binpack placement strategy. Valid values are cpu and memory.",
        ),
        (
            [{"type": "spread", "field": "zone"}],
            "Invalid field 'zone' for spread placement strategy. "
            "Valid values are instanceId, host and attribute:<name>.",
        ),
        (
            [{"type": "spread", "field": "attribute:"}],
            "Invalid field 'attribute:' for spread placement strategy. "
            "Valid values are instanceId, host and attribute:<name>.",
        ),
    ],
)
def test_invalid_strategies_are_rejected(strategies: list[dict[str, str]], message: str) -> None:
    with pytest.raises(InvalidParameterException) as raised:
        validate_strategies(strategies)
    assert raised.value.message == message


def test_five_strategies_are_allowed() -> None:
    validate_strategies([{"type": "random", "field": "ignored"}] * 5)


def test_merging_into_a_pod_spec_ands_the_node_selectors_and_keeps_the_rest() -> None:
    existing_term = {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}
    existing_anti = {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": ZONE}
    spec: dict[str, Any] = {
        "containers": [{"name": "web", "image": "nginx"}],
        "affinity": {
            "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [existing_term]}},
            "podAntiAffinity": {REQUIRED: [existing_anti]},
        },
        "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}],
    }
    result = scheduling(
        [
            member_of("attribute:stack == prod or attribute:ecs.availability-zone == us-east-1a"),
            {"type": "distinctInstance"},
        ],
        [{"type": "spread", "field": "instanceId"}, {"type": "binpack", "field": "cpu"}],
    )
    merged = result.merged_into(spec)
    stack = {"key": "attribute.ecs.shim.io/stack", "operator": "In", "values": ["prod"]}
    zone = {"key": ZONE, "operator": "In", "values": ["us-east-1a"]}
    assert merged["affinity"] == {
        "nodeAffinity": {
            REQUIRED: {
                "nodeSelectorTerms": [
                    {"matchExpressions": [*existing_term["matchExpressions"], stack]},
                    {"matchExpressions": [*existing_term["matchExpressions"], zone]},
                ]
            }
        },
        "podAntiAffinity": {
            REQUIRED: [existing_anti, {"labelSelector": {"matchLabels": GROUP_LABELS}, "topologyKey": HOSTNAME}]
        },
    }
    assert merged["topologySpreadConstraints"] == [
        *spec["topologySpreadConstraints"],
        *result.topology_spread_constraints,
    ]
    assert merged["schedulerName"] == "ecs-binpack"
    assert merged["containers"] == spec["containers"]
    assert spec["affinity"]["nodeAffinity"][REQUIRED]["nodeSelectorTerms"] == [existing_term]
    kubernetes.client.V1PodSpec.model_validate(merged)


def test_merging_into_a_pod_spec_without_scheduling_rules_adds_them() -> None:
    spec = {"containers": [{"name": "web", "image": "nginx"}]}
    result = scheduling([member_of("task:group == databases")], [{"type": "spread", "field": "host"}])
    merged = result.merged_into(spec)
    assert merged == {
        "containers": spec["containers"],
        "affinity": result.affinity,
        "topologySpreadConstraints": result.topology_spread_constraints,
    }
    kubernetes.client.V1PodSpec.model_validate(merged)
    assert PodScheduling().merged_into(spec) == spec


def test_fargate_ignores_placement_and_spreads_across_zones() -> None:
    definition = {"placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]}
    asked = [{"type": "distinctInstance"}]
    binpack = [{"type": "binpack", "field": "memory"}]
    assert effective_placement("FARGATE", definition, asked, binpack) == (
        [],
        [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
    )
    assert effective_placement("EC2", definition, asked, binpack) == (
        [*definition["placementConstraints"], *asked],
        binpack,
    )


def required_nodes(*terms: dict[str, Any]) -> dict[str, Any]:
    required = {"nodeSelectorTerms": list(terms)}
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}}


def test_a_node_meets_required_affinity_as_the_schedulers_filter_decides() -> None:
    labels = {"zone": "a", "cores": "4"}
    zone_a = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
    not_b = {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}
    many_cores = {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}
    no_gpu = {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}
    named = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}
    assert node_meets_required_affinity({}, "n1", labels)
    assert node_meets_required_affinity(required_nodes(zone_a), "n1", labels)
    assert node_meets_required_affinity(required_nodes({**not_b, **no_gpu}), "n1", labels)
    assert not node_meets_required_affinity(required_nodes(many_cores), "n1", labels)
    assert node_meets_required_affinity(required_nodes(many_cores, zone_a), "n1", labels)
    assert not node_meets_required_affinity(required_nodes(named), "n1", labels)
    assert node_meets_required_affinity(required_nodes(named), "n2", labels)
    assert not node_meets_required_affinity({"nodeSelector": {"zone": "b"}}, "n1", labels)


def test_node_affinity_helpers_say_which_nodes_a_pod_may_go_to() -> None:
    labels = {HOSTNAME: "n1", ZONE: "us-east-1a"}
    in_zone = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}]}
    assert required_node_affinity([in_zone]) == node_affinity(in_zone["matchExpressions"])
    assert node_meets_required_affinity({"affinity": on_nodes(["n1", "n2"])}, "n1", labels)
    assert not node_meets_required_affinity({"affinity": on_nodes(["n2"])}, "n1", labels)
    assert not node_meets_required_affinity({"affinity": on_no_node()}, "n1", labels)
    assert not node_meets_required_affinity({"affinity": on_no_node()}, "n1", {**labels, ZONE: "us-east-1b"})


def test_a_pod_placed_nowhere_stays_off_every_node_whatever_else_it_allows() -> None:
    spec = PodScheduling(affinity=on_nodes(["n1"])).merged_into({"containers": []})
    nowhere = PodScheduling(affinity=on_no_node()).merged_into(spec)
    assert node_meets_required_affinity(spec, "n1", {HOSTNAME: "n1"})
    assert not node_meets_required_affinity(nowhere, "n1", {HOSTNAME: "n1"})


def test_every_task_tolerates_its_own_clusters_pin_and_no_other() -> None:
    scheduling = cluster_scheduling("prod", dedicated=False, daemon=False)
    assert scheduling.tolerations == [
        {"key": "ecs.shim.io/cluster", "operator": "Equal", "value": "prod", "effect": "NoSchedule"}
    ]
    assert scheduling.affinity == {}


def test_a_dedicated_cluster_runs_on_its_pinned_nodes_only() -> None:
    spec = cluster_scheduling("prod", dedicated=True, daemon=True).merged_into({})
    assert node_meets_required_affinity(spec, "n", {"ecs.shim.io/cluster": "prod"})
    assert not node_meets_required_affinity(spec, "n", {})
    assert not node_meets_required_affinity(spec, "n", {"ecs.shim.io/cluster": "dev"})


def test_a_daemon_runs_on_unpinned_nodes_and_its_own_never_on_another_clusters() -> None:
    spec = cluster_scheduling("prod", dedicated=False, daemon=True).merged_into({})
    assert node_meets_required_affinity(spec, "n", {})
    assert node_meets_required_affinity(spec, "n", {"ecs.shim.io/cluster": "prod"})
    assert not node_meets_required_affinity(spec, "n", {"ecs.shim.io/cluster": "dev"})


def test_scheduling_combined_keeps_both_sides() -> None:
    placement = PodScheduling(affinity=on_nodes(["a", "b"]), scheduler_name="binpack")
    spec = placement.and_then(cluster_scheduling("prod", dedicated=True, daemon=False)).merged_into({})
    assert spec["schedulerName"] == "binpack"
    assert node_meets_required_affinity(spec, "a", {"kubernetes.io/hostname": "a", "ecs.shim.io/cluster": "prod"})
    assert not node_meets_required_affinity(spec, "a", {"kubernetes.io/hostname": "a"})
    assert not node_meets_required_affinity(spec, "c", {"kubernetes.io/hostname": "c", "ecs.shim.io/cluster": "prod"})
    assert len(spec["tolerations"]) == 1


def test_only_a_node_tainted_with_its_own_pin_is_dedicated() -> None:
    def node(labels: dict[str, str], taints: list[dict[str, str]]) -> dict[str, Any]:
        return {"metadata": {"labels": labels}, "spec": {"taints": taints}}

    pin = {"ecs.shim.io/cluster": "real"}
    taint = {"key": "ecs.shim.io/cluster", "value": "real", "effect": "NoSchedule"}
    assert is_dedicated(node(pin, [taint]))
    assert not is_dedicated(node(pin, []))
    assert not is_dedicated(node({}, [taint]))
    assert not is_dedicated(node(pin, [{**taint, "value": "other"}]))
