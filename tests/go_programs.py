"""Building the Go programs some tests run (tests/clients/*): with the Go in PATH whatever go.mod
says (never a downloaded toolchain), and go.mod and go.sum as committed. Modules come from the
module cache, and from the module proxy only the first time."""

import os
import shutil
import subprocess
from pathlib import Path

BUILD_TIMEOUT = 600
"""A first build compiles the program's modules (about a minute on 2 cores for the AWS SDK); later
ones come from Go's caches."""


def go_environment() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -mod=readonly".strip()}


def build_go_program(module: Path, binary: Path) -> Path:
    """`binary`, built from the main package of `module`; a failed build fails the test."""
    go = shutil.which("go")
    assert go is not None, "`go` is not in PATH: make test needs Go 1.26 (it builds the local cluster too)"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=module,
        env=go_environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert build.returncode == 0, f"go build in {module} failed:\n{build.stdout}{build.stderr}"
    return binary
