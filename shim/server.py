"""The whole server: Kubernetes state behind the ECS operations behind the protocol."""

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from functools import partial

from flask import Flask

from shim import metrics
from shim.config import Config
from shim.kube.client import api_server_problem, connect
from shim.kube.cloud_map import CloudMapStore
from shim.kube.ecr import RepositoryStore
from shim.kube.errors import Conflict, Forbidden, NotFound
from shim.kube.logs import LogStore
from shim.kube.metric_samples import MetricSampleStore
from shim.kube.store import Store
from shim.operations import build_handlers
from shim.operations.autoscaling import build_autoscaling_handlers
from shim.operations.cloud_map import build_cloud_map_handlers
from shim.operations.cloudwatch import build_cloudwatch_handlers
from shim.operations.cloudwatch.sampler import MetricSampler
from shim.operations.clusters import new_cluster_spec
from shim.operations.ecr import build_ecr_handlers
from shim.operations.ecr.lifecycle import LifecycleSweep
from shim.operations.ecr.pushes import RepositoryPushRules
from shim.operations.execute_command import open_session
from shim.operations.logs import build_log_handlers
from shim.operations.logs.collector import LogCollector
from shim.operations.reconciler import Reconciler
from shim.protocol.app import create_app
from shim.protocol.registry_gate import create_gate_app
from shim.registry import Registry
from shim.schemas.model import APPLICATION_AUTOSCALING, CLOUD_MAP, CLOUDWATCH, ECR, LOGS
from shim.translate import names
from shim.translate.clusters import DEFAULT_CLUSTER
from shim.translate.task_from_pod import last_status

log = logging.getLogger(__name__)


def prepare_cluster(config: Config) -> None:
    """Once per start, before any worker serves: the CRDs (where this server may install them)
    and the implicit `default` ECS cluster."""
    store = Store(connect(config.kubeconfig))
    try:
        store.install_crds()
    except Forbidden:
        log.warning("not allowed to install CRDs; expecting them installed from manifests/crds/")
    store.wait_for_crds()
    try:
        store.install_admission_policies()
    except (Forbidden, NotFound):  # NotFound: a Kubernetes older than 1.30 has no such policies
        log.warning(
            "not allowed to install admission policies; expecting them applied from manifests/deploy/ "
            "(without them, rolling deployments replace tasks protected from scale-in)"
        )
    if store.get_cluster(DEFAULT_CLUSTER, cached=False) is None:
        with contextlib.suppress(Conflict):
            store.save_cluster(new_cluster_spec(DEFAULT_CLUSTER, {}), None)


def create_server_app(config: Config) -> Flask:
    store = Store(connect(config.kubeconfig)).start()
    log_store = LogStore(store.kube)
    Reconciler(store, config.region, config.account).start()
    LogCollector(store, log_store).start()
    samples = MetricSampleStore(store.kube)
    MetricSampler(store, samples).start()
    other_services = {
        LOGS: build_log_handlers(log_store),
        APPLICATION_AUTOSCALING: build_autoscaling_handlers(store),
        CLOUD_MAP: build_cloud_map_handlers(store, CloudMapStore(store.kube)),
        CLOUDWATCH: build_cloudwatch_handlers(samples),
    }
    if config.registry_file:
        registry = Registry.from_file(config.registry_file)
        repositories = RepositoryStore(store.kube)
        other_services[ECR] = build_ecr_handlers(repositories, registry)
        LifecycleSweep(repositories, registry).start()
    return create_app(
        config,
        build_handlers(store),
        ready=partial(readiness_problem, store),
        other_services=other_services,
        open_session=partial(open_session, store),
        exposition=partial(metrics.exposition, [partial(state_metrics, store)]),
    )


def state_metrics(store: Store) -> Iterator[metrics.Family]:
    """What this worker's caches hold, at scrape time: tasks by ECS cluster and last status,
    services by cluster and status, and the size of each watch-backed cache."""
    tasks = Counter(
        ((pod["metadata"].get("annotations") or {}).get(names.ANNOTATION_CLUSTER_NAME, ""), last_status(pod))
        for pod in store.all_pods()
    )
    services = Counter((found.record["clusterName"], found.record["status"]) for found in store.all_service_records())
    yield metrics.gauge(
        "ecs_shim_tasks",
        "ECS tasks that have pods, by cluster and last status",
        ["cluster", "status"],
        ((list(key), count) for key, count in tasks.items()),
    )
    yield metrics.gauge(
        "ecs_shim_services",
        "ECS services, by cluster and status",
        ["cluster", "status"],
        ((list(key), count) for key, count in services.items()),
    )
    yield metrics.gauge(
        "ecs_shim_watch_cache_objects", "Objects in this worker's watch-backed caches", ["resource"],
        (([informer.name], len(informer.items())) for informer in store.informers()),
    )  # fmt: skip


def create_registry_gate_app(config: Config) -> Flask:
    """The registry gate (`ecs-shim registry-gate`) in front of the registry that
    `config.registry_file` names, applying the rules of the repositories kept in Kubernetes."""
    if not config.registry_file:
        raise ValueError("the registry gate needs the registry it stands in front of")
    registry = Registry.from_file(config.registry_file)
    rules = RepositoryPushRules(RepositoryStore(connect(config.kubeconfig)), registry, config.account)
    return create_gate_app(registry.endpoint, rules, registry.ca)


def readiness_problem(store: Store) -> str | None:
    """Why this worker cannot serve now: the API server does not answer or a cache is not current."""
    problems = [api_server_problem(store.kube), *(informer.problem() for informer in store.informers())]
    found = [problem for problem in problems if problem is not None]
    return "; ".join(found) if found else None
