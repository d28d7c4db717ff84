"""The AWS SDK for Go v2, a client in a second language, runs the conformance scenario of
tests/clients/go against the shim: clusters, task definitions, tasks with waiters and an exiting
essential container, a service rolled forward and deleted, typed errors, paginators and container
instances. It guards the wire format (timestamps, enums, error `__type`, absent vs empty members)
as the Go SDK decodes it, not as botocore does."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ShimServer

GO_CLIENT = Path(__file__).parents[1] / "clients" / "go"
BUILD_TIMEOUT = 240
"""A first build compiles the SDK (about a minute on 2 cores); later ones come from Go's caches."""
SCENARIO_TIMEOUT = 180


def go_environment() -> dict[str, str]:
    """The environment for `go`: the Go in PATH whatever go.mod says (never a downloaded
    toolchain), and go.mod and go.sum as committed. Modules come from the module cache, and
    from the module proxy only the first time."""
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -mod=readonly".strip()}


@pytest.fixture(scope="module")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's program, built into a temporary directory."""
    go = shutil.which("go")
    assert go is not None, "`go` is not in PATH: make test needs Go 1.26 (it builds the local cluster too)"
    binary = tmp_path_factory.mktemp("go-sdk") / "conformance"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_CLIENT,
        env=go_environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert build.returncode == 0, f"go build in {GO_CLIENT} failed:\n{build.stdout}{build.stderr}"
    return binary


def test_go_sdk_scenario_passes(conformance: Path, shim: ShimServer) -> None:
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    environment.pop("AWS_PROFILE", None)
    environment.pop("AWS_SESSION_TOKEN", None)

    result = subprocess.run(
        [str(conformance), "-endpoint", shim.url, "-timeout", f"{SCENARIO_TIMEOUT - 10}s"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
    )

    assert result.returncode == 0, f"the Go SDK scenario diverged:\n{result.stdout}\n{result.stderr}"
