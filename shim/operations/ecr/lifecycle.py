"""Lifecycle policies applied on a schedule, as ECR evaluates them (at least daily) whether or
not anyone reads the repository: every LIFECYCLE_SWEEP_SECONDS each server process applies the
policy of every repository that has one (idempotent, so any number may run). They are also
applied when stored and at every read of a repository's images (images.current_images)."""

import threading
import time
from functools import partial

from shim.kube.ecr import RepositoryStore
from shim.operations.ecr.images import current_images
from shim.operations.reconciler import carry_on
from shim.registry import Registry

LIFECYCLE_SWEEP_SECONDS = 3600.0


class LifecycleSweep:
    def __init__(self, store: RepositoryStore, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def start(self) -> None:
        threading.Thread(target=self.run, name="ecr-lifecycle", daemon=True).start()

    def run(self) -> None:
        while True:
            time.sleep(LIFECYCLE_SWEEP_SECONDS)
            carry_on(self.sweep, "could not apply ECR lifecycle policies")

    def sweep(self) -> None:
        """Apply every repository's lifecycle policy once (a failing one does not stop the rest)."""
        for record in self.store.list():
            if record.get("lifecyclePolicyText"):
                failure = f"could not apply the lifecycle policy of {record['repositoryName']}"
                carry_on(partial(current_images, self.store, self.registry, record), failure)
