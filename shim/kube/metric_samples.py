"""CloudWatch's samples kept in Kubernetes: `metricsamples.ecs.shim.io` objects, cluster-scoped
(CloudWatch is account-wide), one per ECS cluster and ten minutes (BUCKET_SECONDS), named after
both and labelled with both, whose spec holds those minutes' samples (shim/translate/cloudwatch.py)
by minute. The first server process to sample a minute keeps its sample; objects older than
RETENTION_HOURS go by collection. And the pods' resource metrics, which metrics.k8s.io serves
(metrics-server)."""

from collections.abc import Sequence
from typing import Any, cast

from shim.kube.cache import KubeObject
from shim.kube.client import KubeClients
from shim.kube.errors import StoreError, absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names
from shim.translate.cloudwatch import BUCKET_SECONDS, RETENTION_HOURS

SAMPLES = "metricsamples"
LABEL_BUCKET = f"{names.PREFIX}/bucket"
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
KEPT_BUCKETS = RETENTION_HOURS * 3600 // BUCKET_SECONDS


def samples_object_name(cluster: str, bucket: int) -> str:
    return f"{names.dns_label(cluster, 50)}-{bucket}"


class MetricSampleStore:
    """Minute samples in and out of the API server (errors: the store's, errors.py)."""

    def __init__(self, kube: KubeClients) -> None:
        self.kube = kube

    def pod_metrics(self) -> list[KubeObject] | None:
        """The resource metrics of the ECS tasks' pods; None when the cluster serves no
        metrics.k8s.io (no metrics pipeline) or it cannot answer now."""
        try:
            listed = requested(
                self.kube.custom.list_cluster_custom_object,
                METRICS_GROUP,
                METRICS_VERSION,
                "pods",
                label_selector=f"{names.LABEL_MANAGED}=true",
            )
        except StoreError:
            return None
        return cast(list[KubeObject], cast(dict[str, Any], listed)["items"])

    def add(self, cluster: str, minute: int, sample: dict[str, Any]) -> None:
        """Keep `sample` as the cluster's for `minute`, unless another process was first."""
        bucket = minute // BUCKET_SECONDS
        name = samples_object_name(cluster, bucket)

        def add(_: int) -> None:
            current = self._read(name)
            if current is None:
                spec = {"clusterName": cluster, "bucket": bucket, "samples": {str(minute): sample}}
                labels = {names.LABEL_CLUSTER: names.label_value(cluster), LABEL_BUCKET: str(bucket)}
                obj = body("MetricSamples", name, None, {names.LABEL_MANAGED: "true", **labels}, spec)
                requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, SAMPLES, obj)
                self._forget_before(bucket)
                return
            samples = current["spec"].setdefault("samples", {})
            if str(minute) in samples:
                return
            samples[str(minute)] = sample
            requested(self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, SAMPLES, name, current)

        retrying_conflicts(add, f"add a sample to {SAMPLES}/{name}")

    def buckets(self, buckets: Sequence[int], cluster: str | None = None) -> list[Record]:
        """The specs of the samples objects of these buckets (of one cluster, or of all)."""
        if not buckets:
            return []
        selector = f"{LABEL_BUCKET} in ({','.join(str(bucket) for bucket in buckets)})"
        if cluster is not None:
            selector += f",{names.LABEL_CLUSTER}={names.label_value(cluster)}"
        listed = requested(
            self.kube.custom.list_cluster_custom_object, GROUP, VERSION, SAMPLES, label_selector=selector
        )
        items = cast(dict[str, Any], listed)["items"]
        return [
            cast(Record, item["spec"])
            for item in items
            if cluster is None or item["spec"].get("clusterName") == cluster
        ]

    def _forget_before(self, bucket: int) -> None:
        kept = ",".join(str(bucket - age) for age in range(KEPT_BUCKETS + 1))
        requested(
            self.kube.custom.delete_collection_cluster_custom_object,
            GROUP,
            VERSION,
            SAMPLES,
            label_selector=f"{LABEL_BUCKET},{LABEL_BUCKET} notin ({kept})",
        )

    def _read(self, name: str) -> dict[str, Any] | None:
        found = absent_if_missing(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, SAMPLES, name)
        return cast(dict[str, Any] | None, found)
