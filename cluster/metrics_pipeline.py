"""The local cluster's metrics pipeline: metrics-server (built from Go modules) serves
metrics.k8s.io through the API server's aggregation layer, for HorizontalPodAutoscalers and the
server's CloudWatch metrics. It reads the real node's kubelet, and kwok for the simulated nodes:
kwok serves each fake node's kubelet resource metrics at the path the node's annotation names
(metrics.yaml: kwok's `metrics-resource` Metric), with each pod's usage taken from its annotations
`kwok.x-k8s.io/usage-cpu` and `kwok.x-k8s.io/usage-memory` (Kubernetes quantities per container,
1m and 1Mi without them), so a test sets a task's CPU use by annotating its pod.

metrics-server runs on loopback; the APIService reaches it through an ExternalName Service
(127.0.0.1), which the aggregator resolves without endpoints. ECS_SHIM_METRICS=0 leaves the
pipeline out (the benchmark does: scraping thousands of simulated pods costs CPU)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NAME = "metrics-server"
ENABLED = "ECS_SHIM_METRICS"
KWOK_CONFIG = HERE / "metrics.yaml"
PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
SERVICE = ("kube-system", "metrics-server")
RESOLUTION = "10s"
"""How often metrics-server scrapes (its minimum): a usage change shows within two scrapes."""
REQUEST_TIMEOUT = "5s"
"""How long a scrape may take (under RESOLUTION, as metrics-server requires)."""


def wanted() -> bool:
    return os.environ.get(ENABLED, "1") != "0"


def node_annotations(node_name: str) -> dict[str, str]:
    """Where metrics-server finds a fake node's resource metrics on kwok's server."""
    return {PATH_ANNOTATION: f"/metrics/nodes/{node_name}/metrics/resource"}


def serving_extensions() -> str:
    """The serving certificate's extensions: the aggregator checks the name `<service>.<namespace>.svc`."""
    namespace, name = SERVICE
    return f"subjectAltName=DNS:{name}.{namespace}.svc,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"


def api_server_flags(pki: Path) -> list[str]:
    """The aggregation layer: the API server proxies metrics.k8s.io as `front-proxy-client`,
    naming the caller in request headers the extension server trusts by that certificate."""
    return [
        f"--requestheader-client-ca-file={pki / 'ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
    ]


def command(binary: Path, port: int, pki: Path, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki / 'metrics-server.crt'}",
        f"--tls-private-key-file={pki / 'metrics-server.key'}",
        # kwok serves fake nodes with a certificate of its own; the real kubelet's is the cluster's.
        "--kubelet-insecure-tls",
        "--kubelet-use-node-status-port",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        f"--metric-resolution={RESOLUTION}",
        f"--kubelet-request-timeout={REQUEST_TIMEOUT}",
    ]


def manifests(port: int, ca: bytes) -> list[dict[str, Any]]:
    namespace, name = SERVICE
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
    }
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"name": name, "namespace": namespace, "port": port},
            "caBundle": base64.b64encode(ca).decode(),
        },
    }
    return [service, api_service]
