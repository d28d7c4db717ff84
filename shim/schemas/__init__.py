"""botocore's models of the services served (ECS, CloudWatch Logs) as the specification: request
schemas generated from them validate every call, and their output shapes check responses in the
tests.

Rule: depends on the model alone: imports no layer (protocol, operations, kube, translate), so
any of them can use it (import contracts in pyproject.toml)."""
