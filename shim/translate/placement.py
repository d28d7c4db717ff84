"""ECS placement constraints and strategies -> the scheduling part of a Pod spec.

ECS filters instances by the constraints (binding), then ranks them by the strategies (best
effort). Here:
- memberOf becomes required node affinity on node labels when the expression can be said with
  labels; a conjunction of `task:group` comparisons (`==`, `in`, `exists`, `!exists` and their
  negations) becomes required pod (anti-)affinity on the group label, which Kubernetes keeps true
  as tasks come and go; anything else is evaluated against the current nodes and pins the pod to
  the matching ones by `kubernetes.io/hostname` (a snapshot, as ECS's own placement decision is).
- distinctInstance becomes required pod anti-affinity against the pods of the same task group.
- spread becomes a ScheduleAnyway topology spread constraint; binpack selects the `ecs-binpack`
  scheduler profile (NodeResourcesFit scoring MostAllocated over CPU and memory alike); random
  keeps the default scheduler.
"""

import copy
import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.errors import InvalidParameterException
from shim.translate import clusters, cql, names

HOSTNAME_LABEL = cql.HOSTNAME_LABEL
BINPACK_SCHEDULER_NAME = "ecs-binpack"
MAX_CONSTRAINTS = 10
MAX_STRATEGIES = 5
MEMBER_OF_UNSATISFIED = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE_UNSATISFIED = "DistinctInstance placement constraint unsatisfied."

_BUILTIN_ATTRIBUTE_LABELS = {
    "ecs.availability-zone": "topology.kubernetes.io/zone",
    "ecs.instance-type": "node.kubernetes.io/instance-type",
    "ecs.os-type": "kubernetes.io/os",
    "ecs.cpu-architecture": "kubernetes.io/arch",
}
_ARCHITECTURE_LABEL_VALUES = {"x86_64": "amd64"}
_CONSTRAINT_TYPES = ("distinctInstance", "memberOf")
_STRATEGY_TYPES = ("random", "spread", "binpack")
_BINPACK_FIELDS = ("cpu", "memory")
_HOST_FIELDS = ("instanceid", "host")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
LABEL_NO_NODE = f"{names.PREFIX}/no-node"


def node_label_for_attribute(name: str) -> str:
    """The node label that carries the ECS attribute `name`."""
    return _BUILTIN_ATTRIBUTE_LABELS.get(name) or names.ATTRIBUTE_LABEL_PREFIX + names.label_value(name)


def node_label_value_for_attribute(name: str, value: str) -> str:
    """The node label value that carries `value` of the ECS attribute `name`."""
    if name == "ecs.cpu-architecture":
        value = _ARCHITECTURE_LABEL_VALUES.get(value, value)
    return names.label_value(value)


@dataclass(frozen=True)
class CandidateNode:
    name: str
    facts: cql.InstanceFacts


@dataclass(frozen=True)
class PlacementFailure:
    """No instance can take the task now; `reason` goes into a RunTask `failures` entry."""

    reason: str


@dataclass(frozen=True)
class PodScheduling:
    affinity: dict[str, Any] = field(default_factory=dict)
    topology_spread_constraints: list[dict[str, Any]] = field(default_factory=list)
    scheduler_name: str | None = None
    tolerations: list[dict[str, Any]] = field(default_factory=list)

    def merged_into(self, pod_spec: Mapping[str, Any]) -> dict[str, Any]:
        """`pod_spec` that also obeys this scheduling (required terms are ANDed): a new dict, with
        new affinity, spread constraints and tolerations, sharing its other members with `pod_spec`."""
        spec = dict(pod_spec)
        if self.affinity:
            spec["affinity"] = _merge_affinity(spec.get("affinity", {}), self.affinity)
        if self.topology_spread_constraints:
            existing = spec.get("topologySpreadConstraints", [])
            spec["topologySpreadConstraints"] = [*existing, *copy.deepcopy(self.topology_spread_constraints)]
        if self.scheduler_name is not None:
            spec["schedulerName"] = self.scheduler_name
        if self.tolerations:
            spec["tolerations"] = [*spec.get("tolerations", []), *copy.deepcopy(self.tolerations)]
        return spec

    def and_then(self, other: "PodScheduling") -> "PodScheduling":
        """Both schedulings at once (`other`'s scheduler wins)."""
        merged = other.merged_into(self.merged_into({}))
        return PodScheduling(
            affinity=merged.get("affinity", {}),
            topology_spread_constraints=merged.get("topologySpreadConstraints", []),
            scheduler_name=merged.get("schedulerName"),
            tolerations=merged.get("tolerations", []),
        )


def cluster_scheduling(cluster_name: str, *, dedicated: bool, daemon: bool) -> PodScheduling:
    """Where the tasks of a cluster may run whatever their placement. A node pinned to a cluster
    (label ecs.shim.io/cluster) may be tainted with the pin (NoSchedule) to keep other clusters'
    pods off it, DaemonSets included; every task tolerates its own cluster's pin. A cluster with
    such a node of its own is `dedicated`: its tasks run on its pinned nodes only. A DAEMON
    service's tasks run on every node that serves its cluster: the unpinned ones and its own."""
    pin = clusters.cluster_pin(cluster_name)
    toleration = {"key": names.LABEL_CLUSTER, "operator": "Equal", "value": pin, "effect": "NoSchedule"}
    pinned_here = _selector(names.LABEL_CLUSTER, "In", [pin])
    if dedicated:
        affinity = required_node_affinity([{"matchExpressions": [pinned_here]}])
    elif daemon:
        unpinned = _selector(names.LABEL_CLUSTER, "DoesNotExist")
        affinity = required_node_affinity([{"matchExpressions": [unpinned]}, {"matchExpressions": [pinned_here]}])
    else:
        affinity = {}
    return PodScheduling(affinity=affinity, tolerations=[toleration])


def validate_constraints(constraints: Sequence[Mapping[str, Any]]) -> None:
    """ECS's checks of placement constraints (the task definition's and the request's together)."""
    if len(constraints) > MAX_CONSTRAINTS:
        raise InvalidParameterException(
            f"Too many placement constraints: {len(constraints)}. The maximum is {MAX_CONSTRAINTS}."
        )
    for constraint in constraints:
        _validate_constraint(constraint)


def _validate_constraint(constraint: Mapping[str, Any]) -> None:
    constraint_type = constraint.get("type")
    expression = constraint.get("expression")
    if constraint_type not in _CONSTRAINT_TYPES:
        raise InvalidParameterException(
            f"Invalid placement constraint type '{constraint_type}'. Valid values are distinctInstance and memberOf."
        )
    if constraint_type == "distinctInstance" and expression is not None:
        raise InvalidParameterException("distinctInstance expression should not be specified.")
    if constraint_type == "memberOf":
        if not expression:
            raise InvalidParameterException("memberOf expression must be specified.")
        cql.parse(expression)


def validate_strategies(strategies: Sequence[Mapping[str, Any]]) -> None:
    if len(strategies) > MAX_STRATEGIES:
        raise InvalidParameterException(
            f"Too many placement strategies: {len(strategies)}. The maximum is {MAX_STRATEGIES}."
        )
    for strategy in strategies:
        _validate_strategy(strategy)


def _validate_strategy(strategy: Mapping[str, Any]) -> None:
    strategy_type = strategy.get("type")
    strategy_field = strategy.get("field") or ""
    if strategy_type not in _STRATEGY_TYPES:
        raise InvalidParameterException(
            f"Invalid placement strategy type '{strategy_type}'. Valid values are random, spread and binpack."
        )
    if strategy_type == "binpack" and strategy_field.lower() not in _BINPACK_FIELDS:
        raise InvalidParameterException(
            f"Invalid field '{strategy_field}' for binpack placement strategy. Valid values are cpu and memory."
        )
    if strategy_type == "spread" and _spread_topology_key(strategy_field) is None:
        raise InvalidParameterException(
            f"Invalid field '{strategy_field}' for spread placement strategy. "
            "Valid values are instanceId, host and attribute:<name>."
        )


def _spread_topology_key(strategy_field: str) -> str | None:
    if strategy_field.lower() in _HOST_FIELDS:
        return HOSTNAME_LABEL
    name = strategy_field.removeprefix("attribute:")
    if name != strategy_field and cql.ATTRIBUTE_NAME.fullmatch(name):
        return node_label_for_attribute(name)
    return None


def pod_scheduling(
    constraints: Sequence[Mapping[str, Any]],
    strategies: Sequence[Mapping[str, Any]],
    *,
    group: str,
    nodes: Sequence[CandidateNode],
    spread_selector: Mapping[str, str] | None = None,
) -> PodScheduling | PlacementFailure:
    """How a task of `group` must be scheduled, or why no instance in `nodes` can take it now.

    `nodes` are the cluster's candidate instances (already fit for the task's resources);
    `spread_selector` labels the tasks to spread against: a service passes its service label,
    standalone tasks default to their group label.
    """
    validate_constraints(constraints)
    validate_strategies(strategies)
    expressions = [cql.parse(c["expression"]) for c in constraints if c["type"] == "memberOf"]
    distinct = any(c["type"] == "distinctInstance" for c in constraints)
    members = [node for node in nodes if all(cql.evaluate(e, node.facts) for e in expressions)]
    if expressions and not members:
        return PlacementFailure(MEMBER_OF_UNSATISFIED)
    if distinct and members and all(group in node.facts.task_groups for node in members):
        return PlacementFailure(DISTINCT_INSTANCE_UNSATISFIED)
    affinity = _member_of_affinity(expressions, members) if expressions else {}
    if distinct:
        _add_pod_term(affinity, "podAntiAffinity", _group_term({names.LABEL_GROUP: names.label_value(group)}))
    selector = dict(spread_selector or {names.LABEL_GROUP: names.label_value(group)})
    return PodScheduling(
        affinity=affinity,
        topology_spread_constraints=_spread_constraints(strategies, selector),
        scheduler_name=_scheduler_name(strategies),
    )


def _member_of_affinity(expressions: list[cql.Expression], members: list[CandidateNode]) -> dict[str, Any]:
    terms = cql.disjunctive_normal_form(functools.reduce(cql.And, expressions))
    affinity = _label_affinity(terms) if terms is not None else None
    if affinity is not None:
        return affinity
    return on_nodes(sorted(node.name for node in members))


def _label_affinity(terms: list[cql.Term]) -> dict[str, Any] | None:
    """Affinity saying exactly what `terms` say by node and pod labels, or None if it cannot."""
    uses_groups = any(_is_task_group(literal) for term in terms for literal in term)
    if not uses_groups:
        node_terms = _node_terms(terms)
        return None if node_terms is None else required_node_affinity(node_terms)
    if len(terms) != 1:
        return None
    node_literals = tuple(literal for literal in terms[0] if not _is_task_group(literal))
    pod_terms = [_pod_term(literal) for literal in terms[0] if _is_task_group(literal)]
    node_terms = _node_terms([node_literals]) if node_literals else []
    if node_terms is None or any(term is None for term in pod_terms):
        return None
    affinity = required_node_affinity(node_terms) if node_terms else {}
    for kind, term in filter(None, pod_terms):
        _add_pod_term(affinity, kind, term)
    return affinity


def _node_terms(terms: Sequence[cql.Term]) -> list[dict[str, Any]] | None:
    return cql.node_selector_terms(terms, node_label_for_attribute, node_label_value_for_attribute)


def _is_task_group(literal: cql.Literal) -> bool:
    return literal.comparison.subject.field is cql.Field.TASK_GROUP


def _pod_term(literal: cql.Literal) -> tuple[str, dict[str, Any]] | None:
    """A `task:group` literal as (podAffinity or podAntiAffinity, its term), or None."""
    comparison = literal.comparison
    op = comparison.operator
    if op in (cql.Operator.EQUALS, cql.Operator.IN):
        hosts = not literal.negated
        values = [names.label_value(value) for value in comparison.values]
        selector = _selector(names.LABEL_GROUP, "In", list(dict.fromkeys(values)))
    elif op in (cql.Operator.EXISTS, cql.Operator.NOT_EXISTS):
        hosts = (op is cql.Operator.EXISTS) != literal.negated
        selector = _selector(names.LABEL_GROUP, "Exists")
    else:
        return None
    term = {"labelSelector": {"matchExpressions": [selector]}, "topologyKey": HOSTNAME_LABEL}
    return ("podAffinity" if hosts else "podAntiAffinity", term)


def _selector(key: str, op: str, values: Sequence[str] = ()) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)} if values else {"key": key, "operator": op}


def _group_term(labels: Mapping[str, str]) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": HOSTNAME_LABEL}


def required_node_affinity(node_terms: list[dict[str, Any]]) -> dict[str, Any]:
    """Affinity that lets a pod only onto nodes matching one of `node_terms` (node selector terms)."""
    return {"nodeAffinity": {_REQUIRED: {"nodeSelectorTerms": node_terms}}}


def on_nodes(node_names: Sequence[str]) -> dict[str, Any]:
    """Required node affinity for the named nodes: the instances a placement chose for a task."""
    return required_node_affinity([{"matchExpressions": [_selector(HOSTNAME_LABEL, "In", node_names)]}])


def on_no_node() -> dict[str, Any]:
    """Required node affinity no node satisfies: keeps a task pending where it cannot be placed,
    and makes Kubernetes remove a DaemonSet's pods."""
    return required_node_affinity([{"matchExpressions": [_selector(LABEL_NO_NODE, "Exists")]}])


def _add_pod_term(affinity: dict[str, Any], kind: str, term: dict[str, Any]) -> None:
    terms = affinity.setdefault(kind, {}).setdefault(_REQUIRED, [])
    if term not in terms:
        terms.append(term)


def _spread_constraints(strategies: Sequence[Mapping[str, Any]], selector: dict[str, str]) -> list[dict[str, Any]]:
    keys = [_spread_topology_key(s.get("field") or "") for s in strategies if s["type"] == "spread"]
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        for key in dict.fromkeys(filter(None, keys))
    ]


def _scheduler_name(strategies: Sequence[Mapping[str, Any]]) -> str | None:
    binpacks = any(strategy["type"] == "binpack" for strategy in strategies)
    return BINPACK_SCHEDULER_NAME if binpacks else None


def _merge_affinity(existing: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(existing))
    for kind, rules in added.items():
        target = merged.setdefault(kind, {})
        for key, value in rules.items():
            if key not in target:
                target[key] = copy.deepcopy(value)
            elif kind == "nodeAffinity":
                target[key] = _and_node_selectors(target[key], value)
            else:
                target[key] = [*target[key], *copy.deepcopy(value)]
    return merged


def _and_node_selectors(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """Both node selectors at once: every pair of terms ANDed (a node selector ORs its terms)."""
    terms = [
        {
            key: [*a.get(key, []), *b.get(key, [])]
            for key in ("matchExpressions", "matchFields")
            if a.get(key) or b.get(key)
        }
        for a, b in itertools.product(first["nodeSelectorTerms"], second["nodeSelectorTerms"])
    ]
    return {"nodeSelectorTerms": copy.deepcopy(terms)}


FARGATE_STRATEGY = ({"type": "spread", "field": "attribute:ecs.availability-zone"},)


def effective_placement(
    launch_type: str | None,
    task_definition: Mapping[str, Any],
    constraints: Sequence[Mapping[str, Any]],
    strategies: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The constraints (the task definition's and the call's) and strategies a task is placed
    by, checked as ECS checks them; Fargate ignores both and spreads tasks across zones."""
    if launch_type == "FARGATE":
        return [], [dict(strategy) for strategy in FARGATE_STRATEGY]
    combined = [*task_definition.get("placementConstraints", []), *constraints]
    validate_constraints(combined)
    validate_strategies(strategies)
    return [dict(c) for c in combined], [dict(strategy) for strategy in strategies]


def node_meets_required_affinity(pod_spec: Mapping[str, Any], node_name: str, labels: Mapping[str, str]) -> bool:
    """Whether a node with `labels` satisfies the required node affinity and node selector of
    `pod_spec`, as the scheduler's NodeAffinity filter decides it (pod affinity aside)."""
    if any(labels.get(key) != value for key, value in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(_REQUIRED)
    if not required:
        return True
    fields = {"metadata.name": node_name}
    return any(
        all(_requirement_met(r, labels) for r in term.get("matchExpressions", []))
        and all(_requirement_met(r, fields) for r in term.get("matchFields", []))
        for term in required["nodeSelectorTerms"]
    )


def _requirement_met(requirement: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """One node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) against `values`."""
    operator, value = requirement["operator"], values.get(requirement["key"])
    wanted = requirement.get("values") or []
    if operator in ("Exists", "DoesNotExist"):
        return (value is not None) == (operator == "Exists")
    if operator in ("In", "NotIn"):
        return (value in wanted) == (operator == "In")
    if value is None or not value.lstrip("-").isdigit():
        return False
    return int(value) > int(wanted[0]) if operator == "Gt" else int(value) < int(wanted[0])
