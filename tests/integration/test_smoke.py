from typing import Any

from tests.integration.conftest import ShimServer, run_aws


def test_default_cluster_exists(ecs: Any) -> None:
    clusters = ecs.describe_clusters()["clusters"]
    assert [cluster["clusterName"] for cluster in clusters] == ["default"]


def test_aws_cli_lists_clusters(shim: ShimServer) -> None:
    result = run_aws(shim.url, "list-clusters")
    assert result.returncode == 0, result.stderr
    assert "cluster/default" in result.stdout
