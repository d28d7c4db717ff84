"""The sampler: once a minute, what the ECS agent and CloudWatch do between them for `AWS/ECS`.
It reads the ECS tasks' resource metrics (metrics.k8s.io) and keeps each ECS cluster's minute
sample (shim/translate/cloudwatch.py) in Kubernetes. Every server process runs one; the first to
sample a minute keeps its sample. Without a metrics pipeline there is nothing to sample (one
failed LIST a minute), and CloudWatch answers with no datapoints."""

import threading
import time
from functools import partial

from shim.kube.cache import KubeObject
from shim.kube.errors import StoreError
from shim.kube.metric_samples import MetricSampleStore
from shim.kube.store import Store
from shim.operations.reconciler import carry_on
from shim.translate import names
from shim.translate.cloudwatch import MINUTE, cluster_minute, registered_resources

POLL_SECONDS = 10.0


class MetricSampler:
    def __init__(self, store: Store, samples: MetricSampleStore) -> None:
        self.store = store
        self.samples = samples
        self.sampled = 0
        """The last minute this process sampled."""

    def start(self) -> None:
        threading.Thread(target=self.run, name="cloudwatch-sampler", daemon=True).start()

    def run(self) -> None:
        while True:
            carry_on(self.sample, "sampling AWS/ECS metrics failed")
            time.sleep(POLL_SECONDS)

    def sample(self) -> None:
        """Sample this minute, once: every ACTIVE cluster's, each on its own (one that fails does
        not keep the others from theirs)."""
        minute = int(time.time()) // MINUTE * MINUTE
        if minute == self.sampled:
            return
        self.sampled = minute
        metrics = self.samples.pod_metrics()
        if metrics is None:
            return
        by_namespace: dict[str, dict[str, KubeObject]] = {}
        for found in metrics:
            by_namespace.setdefault(found["metadata"]["namespace"], {})[found["metadata"]["name"]] = found
        for cluster in self.store.list_clusters():
            if cluster.record.get("status") == "ACTIVE":
                name = cluster.record["clusterName"]
                carry_on(
                    partial(self.sample_cluster, name, minute, by_namespace),
                    f"sampling cluster {name}'s AWS/ECS metrics failed",
                    expected=(StoreError,),
                )

    def sample_cluster(self, cluster: str, minute: int, by_namespace: dict[str, dict[str, KubeObject]]) -> None:
        """One cluster's minute; `by_namespace` holds the pods' resource metrics by namespace and name."""
        namespace = names.cluster_namespace(cluster)
        service_names = {
            names.label_value(s.record["serviceName"]): s.record["serviceName"]
            for s in self.store.service_records_in(namespace)
        }
        pod_metrics = by_namespace.get(namespace, {})
        registered = registered_resources(self.store.nodes_serving(cluster))
        sample = cluster_minute(self.store.pods_in(namespace), pod_metrics, service_names, registered)
        if sample:
            self.samples.add(cluster, minute, sample)
