"""CloudWatch's samples kept in Kubernetes: `metricsamples.ecs.shim.io` objects, cluster-scoped
(CloudWatch is account-wide), one per ECS cluster and hour, named after both and labelled with
both, whose spec holds that hour's minute samples (shim/translate/cloudwatch.py) by minute. The
first server process to sample a minute keeps its sample; objects older than RETENTION_HOURS go
by collection. And the pods' resource metrics, which metrics.k8s.io serves (metrics-server)."""

from collections.abc import Sequence
from typing import Any, cast

from shim.kube.cache import KubeObject
from shim.kube.client import KubeClients
from shim.kube.errors import StoreError, absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names
from shim.translate.cloudwatch import RETENTION_HOURS

SAMPLES = "metricsamples"
LABEL_HOUR = f"{names.PREFIX}/hour"
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


def samples_object_name(cluster: str, hour: int) -> str:
    return f"{names.dns_label(cluster, 50)}-{hour}"


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

    def has_minute(self, cluster: str, minute: int) -> bool:
        found = self._read(samples_object_name(cluster, minute // 3600))
        return found is not None and str(minute) in (found["spec"].get("samples") or {})

    def add(self, cluster: str, minute: int, sample: dict[str, Any]) -> None:
        """Keep `sample` as the cluster's for `minute`, unless another process was first."""
        hour = minute // 3600
        name = samples_object_name(cluster, hour)

        def add(_: int) -> None:
            current = self._read(name)
            if current is None:
                spec = {"clusterName": cluster, "hour": hour, "samples": {str(minute): sample}}
                labels = {names.LABEL_CLUSTER: names.label_value(cluster), LABEL_HOUR: str(hour)}
                obj = body("MetricSamples", name, None, {names.LABEL_MANAGED: "true", **labels}, spec)
                requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, SAMPLES, obj)
                self._forget_before(hour)
                return
            samples = current["spec"].setdefault("samples", {})
            if str(minute) in samples:
                return
            samples[str(minute)] = sample
            requested(self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, SAMPLES, name, current)

        retrying_conflicts(add, f"add a sample to {SAMPLES}/{name}")

    def hours(self, hours: Sequence[int], cluster: str | None = None) -> list[Record]:
        """The specs of the samples objects of these hours (of one cluster, or of all)."""
        selector = f"{LABEL_HOUR} in ({','.join(str(hour) for hour in hours)})"
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

    def _forget_before(self, hour: int) -> None:
        kept = ",".join(str(hour - age) for age in range(RETENTION_HOURS + 1))
        requested(
            self.kube.custom.delete_collection_cluster_custom_object,
            GROUP,
            VERSION,
            SAMPLES,
            label_selector=f"{LABEL_HOUR},{LABEL_HOUR} notin ({kept})",
        )

    def _read(self, name: str) -> dict[str, Any] | None:
        found = absent_if_missing(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, SAMPLES, name)
        return cast(dict[str, Any] | None, found)
