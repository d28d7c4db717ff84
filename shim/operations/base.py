"""What several handlers do with a call the same way: read the names a Describe call asks for
and whether it includes tags, and make the call as its caller."""

from shim.calls import Call, Handler, Response
from shim.errors import AccessDeniedException, InvalidParameterException
from shim.kube.errors import Forbidden
from shim.kube.store import Store


def requested(call: Call, member: str, limit: int, what: str, *, empty: str | None = None) -> list[str]:
    """The names or ARNs a Describe call asks for, at most `limit` of them, as ECS allows;
    `empty` is ECS's words when the list names nothing and ECS refuses that (botocore lets an
    empty list through)."""
    values: list[str] = call.params[member]
    if not values and empty is not None:
        raise InvalidParameterException(empty)
    if len(values) > limit:
        raise InvalidParameterException(f"Too many {what} requested: at most {limit}.")
    return values


def includes_tags(call: Call) -> bool:
    return "TAGS" in call.params.get("include", [])


def as_caller(handler: Handler, service: str, resource: str) -> Handler:
    """`handler` made as the call's caller, when it has one (an access key mapped to a Kubernetes
    identity), so that RBAC decides it; a refusal is AccessDeniedException in IAM's words, naming
    the action `service:<operation>` on `arn:aws:<service>:<region>:<account>:<resource>`."""

    def run_as_caller(call: Call) -> Response:
        if call.caller is None:
            return handler(call)
        try:
            with Store.acting_as(call.caller):
                return handler(call)
        except Forbidden:
            raise AccessDeniedException(
                f"User: arn:aws:iam::{call.account}:user/{call.caller.iam_user} is not authorized to perform: "
                f"{service}:{call.operation} on resource: arn:aws:{service}:{call.region}:{call.account}:{resource}"
            ) from None

    return run_as_caller
