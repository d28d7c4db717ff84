"""The Application Auto Scaling API (X-Amz-Target `AnyScaleFrontendService.*`, SigV4 service
`application-autoscaling`, served on the same endpoint as ECS) for ECS services: scalable
targets, scaling policies, scheduled actions, scaling activities and the targets' tags
(scaling.py). What it registers lives in the ECS service's record; a target tracking policy
becomes the service's HorizontalPodAutoscaler (shim/translate/autoscaling.py).

A call with a caller (an access key mapped to a Kubernetes identity) is made as the caller, so
Kubernetes RBAC on `services` (ecs.shim.io) and `horizontalpodautoscalers` decides it; a refusal
is AccessDeniedException in IAM's words."""

from shim.calls import Handler
from shim.kube.store import Store
from shim.operations.autoscaling import scaling
from shim.operations.base import as_caller


def build_autoscaling_handlers(store: Store) -> dict[str, Handler]:
    return {
        operation: as_caller(handler, "application-autoscaling", "scalable-target/*")
        for operation, handler in scaling.handlers(store).items()
    }
