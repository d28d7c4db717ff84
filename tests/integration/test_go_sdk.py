"""The AWS SDK for Go v2, a client in a second language, runs the conformance scenario of
tests/clients/go against the shim: clusters, task definitions, tasks with waiters and an exiting
essential container, a service rolled forward and deleted, typed errors, paginators and container
instances. It guards the wire format (timestamps, enums, error `__type`, absent vs empty members)
as the Go SDK decodes it, not as botocore does."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.go_programs import build_go_program
from tests.integration.conftest import ShimServer

GO_CLIENT = Path(__file__).parents[1] / "clients" / "go"
SCENARIO_TIMEOUT = 180


@pytest.fixture(scope="module")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's program, built into a temporary directory."""
    return build_go_program(GO_CLIENT, tmp_path_factory.mktemp("go-sdk") / "conformance")


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
