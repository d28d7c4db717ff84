"""The only code that talks to the API server: clients, watch-backed caches, the store with
optimistic concurrency, the CRDs.

Rule: may use translate's pure functions (names, views), never operations, protocol or anything
above them; nothing above reaches the API server except through it (import contracts in
pyproject.toml)."""
