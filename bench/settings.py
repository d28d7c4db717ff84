"""How big a run is: the full benchmark, or the quick smoke test for CI."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    mode: str
    nodes: int
    stages: tuple[int, ...]
    """Cluster sizes (tasks) at which the read path is measured; the last is the full size."""
    writes: int
    """RunTask(count=1) calls, and as many direct pod creations, in the write path."""
    write_rounds: int
    """The write path alternates shim and direct blocks this many times, so drift hits both."""
    write_clients: int
    end_to_end_tasks: int
    end_to_end_rounds: int
    task_definition_samples: int
    describe_samples: int
    list_runs: int
    container_instance_samples: int
    budget_seconds: float
    """Sampling of one figure stops after this long (with at least one sample)."""
    populate_clients: int
    workers: int
    threads: int

    @property
    def tasks(self) -> int:
        return self.stages[-1]


FULL = Settings(
    mode="full",
    nodes=1000,
    stages=(100, 1000, 10000),
    writes=400,
    write_rounds=8,
    write_clients=8,
    end_to_end_tasks=100,
    end_to_end_rounds=3,
    task_definition_samples=100,
    describe_samples=100,
    list_runs=5,
    container_instance_samples=10,
    budget_seconds=90.0,
    populate_clients=16,
    workers=2,
    threads=8,
)

QUICK = Settings(
    mode="quick",
    nodes=100,
    stages=(100, 500),
    writes=80,
    write_rounds=2,
    write_clients=8,
    end_to_end_tasks=100,
    end_to_end_rounds=1,
    task_definition_samples=30,
    describe_samples=30,
    list_runs=3,
    container_instance_samples=20,
    budget_seconds=15.0,
    populate_clients=16,
    workers=2,
    threads=8,
)
