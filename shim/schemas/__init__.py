"""botocore's ECS model as the specification: request schemas generated from it validate every
call, and its output shapes check responses in the tests.

Rule: depends on the model alone: imports no layer (protocol, operations, kube, translate), so
any of them can use it (import contracts in pyproject.toml)."""
