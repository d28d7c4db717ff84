"""The only code that talks to the API server: clients, watch-backed caches, the store with
optimistic concurrency, the CRDs and their layout (records.py), the store's own errors (errors.py).

Rule: may use translate's pure functions (names, views), never operations, protocol or anything
above them; nothing above reaches the API server except through it, and nothing above sees the
Kubernetes client or a custom resource's layout: the store hands out ECS records and raises
`NotFound`, `Conflict`, `Forbidden` (import contracts in pyproject.toml)."""
