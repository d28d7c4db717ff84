"""The benchmark: ecs-shim against the Kubernetes API server (the floor) and moto's
server (the peer), measured in one run on a local cluster of its own. Run with `make bench`."""
