"""Kubernetes API clients, from a kubeconfig file or from inside a cluster."""

from dataclasses import dataclass

from kubernetes import client, config


@dataclass(frozen=True)
class KubeClients:
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    extensions: client.ApiextensionsV1Api


def connect(kubeconfig: str | None = None, pool_size: int = 32) -> KubeClients:
    """Clients for the cluster `kubeconfig` names; else $KUBECONFIG, ~/.kube/config or in-cluster."""
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_kube_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    api = client.ApiClient(configuration)
    return KubeClients(
        api=api,
        core=client.CoreV1Api(api),
        apps=client.AppsV1Api(api),
        custom=client.CustomObjectsApi(api),
        extensions=client.ApiextensionsV1Api(api),
    )
