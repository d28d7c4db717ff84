"""ecs-shim: the AWS ECS API, served on Kubernetes."""
