"""Pure functions, no I/O: ECS resources to Kubernetes objects and back, names and ARNs, the
cluster query language, placement decisions; each one testable without a cluster.

Rule: imports neither operations nor kube, and not the Kubernetes client: only `quantities` uses
the client library, for its pure quantity parser (import contracts in pyproject.toml)."""
