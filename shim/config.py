"""Server settings: where the ECS account lives and how to reach Kubernetes."""

from dataclasses import dataclass

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Config:
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    kubeconfig: str | None = None
    credentials_file: str | None = None
    registry_file: str | None = None
    """The image registry behind the ECR API (`--registry`: its endpoint, CA and credentials, as
    cluster/up writes them); None: ECR is not served."""
