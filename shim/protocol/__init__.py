"""The AWS JSON 1.1 protocol over HTTP: SigV4, X-Amz-Target dispatch, request validation against
the ECS model, the error envelope. It turns each request into a `shim.calls.Call` for a handler.
Beside it, two other HTTP faces with contracts of their own: ECS Exec's WebSocket
(`shim.sessions`) and the registry gate OCI clients push through (`shim.image_pushes`).

Rule: knows nothing of Kubernetes or of how an operation is done: it imports schemas, calls, errors
and config, never operations, kube, translate or `kubernetes` (import contracts in pyproject.toml)."""
