"""The ECS API, and the other AWS services beside it, over HTTP: AWS JSON 1.1 on `POST /`, and
Smithy RPC v2 CBOR on `POST /service/<targetPrefix>/operation/<Name>` (rpc_v2_cbor.py) for the
clients whose model of a service names that protocol first; one handler per operation of each
service, whichever protocol the call came in.

A request goes: request id, X-Amz-Target (or the CBOR path) -> service and operation, SigV4 check
(scoped to that service's signing name), body, validation against botocore's model of the
service, handler. Every failure becomes the error envelope boto3 reads (`{"__type": code,
"message": ...}`, in the request's protocol) with the error's HTTP status; anything that is not an
API error is logged with its traceback here and reaches the client only as a ServerException
naming the request id.
"""

import datetime
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shim import metrics
from shim.calls import Call, Caller, Handler, Params
from shim.config import Config
from shim.errors import (
    EcsError,
    InvalidInput,
    InvalidOperationException,
    SerializationException,
    ServerException,
    UnknownOperationException,
    UnsupportedFeatureException,
    ValidationException,
)
from shim.protocol import rpc_v2_cbor
from shim.protocol.exec import exec_session
from shim.protocol.sigv4 import AccessKey, load_credentials, scope_region, verify_signature
from shim.protocol.worker import CONTENT_TYPE, REQUEST_ID_HEADER, RequestReadTimeout
from shim.schemas.model import (
    APPLICATION_AUTOSCALING,
    CLOUD_MAP,
    CLOUDWATCH,
    ECR,
    ECS,
    LOGS,
    error_status,
    operation_names,
    query_error,
    service_of_target_prefix,
    signing_name,
    target_prefix,
)
from shim.schemas.requests import validate_request
from shim.sessions import SessionOpener

MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body read (a larger one is refused unread). Far above any valid ECS input
(a task definition is at most 64 KiB), so that a too large definition still gets ECS's own answer
naming that limit, and far below what would let a few clients exhaust a worker's memory."""

access_log = logging.getLogger("shim.access")
log = logging.getLogger(__name__)


class RequestEntityTooLargeException(EcsError):
    status = 413


class RequestTimeoutException(EcsError):
    status = 408


SERVICE_NAMES = {
    ECS: "Amazon ECS",
    LOGS: "Amazon CloudWatch Logs",
    ECR: "Amazon ECR",
    APPLICATION_AUTOSCALING: "Application Auto Scaling",
    CLOUD_MAP: "AWS Cloud Map",
    CLOUDWATCH: "Amazon CloudWatch",
}


def create_app(
    config: Config,
    handlers: Mapping[str, Handler],
    ready: Callable[[], str | None] = lambda: None,
    other_services: Mapping[str, Mapping[str, Handler]] | None = None,
    open_session: SessionOpener | None = None,
    exposition: Callable[[], bytes] | None = None,
) -> Flask:
    """The API app: ECS `handlers`, and `other_services`' handlers by service name (`logs`) on the
    same endpoint; `ready()` says why the server cannot serve now (None: it can), for /readyz;
    `open_session` runs the command of an ECS Exec session, whose WebSocket is `/exec/<id>`;
    `exposition()` is the Prometheus text served at /metrics."""
    services = {ECS: dict(handlers), **{name: dict(table) for name, table in (other_services or {}).items()}}
    for service, table in services.items():
        unknown = sorted(set(table) - operation_names(service))
        if unknown:
            raise ValueError(f"handlers for operations {service} does not have: {', '.join(unknown)}")
    credentials = load_credentials(config.credentials_file) if config.credentials_file else None
    api = _EcsApi(config, services, credentials)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(_assign_request_id)
    app.after_request(_add_request_id_header)
    app.add_url_rule("/", "ecs_api", api.serve, methods=["POST"])
    app.add_url_rule(rpc_v2_cbor.PATH, "rpc_v2_cbor_api", api.serve_cbor, methods=["POST"])
    app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", partial(_readyz, ready), methods=["GET"])
    if exposition is not None:
        app.add_url_rule("/metrics", "metrics", partial(_metrics, exposition), methods=["GET"])
    if open_session is not None:
        view = partial(exec_session, open_session)
        app.add_url_rule("/exec/<session_id>", "exec", view, methods=["GET"], websocket=True)
    app.register_error_handler(HTTPException, _http_error)
    return app


def encode_json(document: Any) -> bytes:
    """JSON as ECS sends it: datetimes become epoch seconds (naive ones are taken as UTC)."""
    return orjson.dumps(document, default=_epoch_seconds, option=orjson.OPT_PASSTHROUGH_DATETIME)


@dataclass(frozen=True)
class _Wire:
    """How a protocol carries a response: its encoding, content type and the headers it adds."""

    encode: Callable[[Any], bytes]
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    def response(self, status: int, document: Any) -> Response:
        response = Response(self.encode(document), status=status, content_type=self.content_type)
        for name, value in self.headers:
            response.headers[name] = value
        return response

    def error(self, error: EcsError, service: str = ECS) -> Response:
        """`error` as `service` answers it: with the HTTP status its model gives the error (else
        the error's own), and for a query-compatible service the code the query protocol has."""
        status = error_status(service, error.code) or error.status
        response = self.response(status, {"__type": error.code, "message": error.message})
        query_code = query_error(service, error.code)
        if query_code is not None:
            response.headers["x-amzn-query-error"] = query_code
        return response


JSON_WIRE = _Wire(encode_json, CONTENT_TYPE)
CBOR_WIRE = _Wire(rpc_v2_cbor.encode, rpc_v2_cbor.CONTENT_TYPE, (rpc_v2_cbor.PROTOCOL_HEADER,))


@dataclass
class _AccessEntry:
    operation: str | None = None
    cluster: str | None = None
    service: str = ECS

    @property
    def logged_operation(self) -> str | None:
        """The operation as the access log names it: ECS's bare, another service's as `logs:Name`."""
        if self.operation is None or self.service == ECS:
            return self.operation
        return f"{self.service}:{self.operation}"


@dataclass(frozen=True)
class _EcsApi:
    config: Config
    services: dict[str, dict[str, Handler]]
    """Each service's handlers by operation, by service name."""
    credentials: dict[str, AccessKey] | None

    def serve(self) -> Response:
        """AWS JSON 1.1: the operation is the X-Amz-Target header's."""
        return self._answer(JSON_WIRE, request.headers.get("X-Amz-Target"), _json_body)

    def serve_cbor(self, target_prefix: str, operation: str) -> Response:
        """Smithy RPC v2 CBOR: the operation is the path's."""
        return self._answer(CBOR_WIRE, f"{target_prefix}.{operation}", _cbor_body)

    def _answer(self, wire: _Wire, target: str | None, read_body: Callable[[bytes], dict[str, Any]]) -> Response:
        started = time.monotonic()
        entry = _AccessEntry()
        try:
            response = wire.response(200, self._respond(entry, target, read_body))
        except RequestReadTimeout as timeout:
            response = _closing(wire.error(RequestTimeoutException(str(timeout))))
        except RequestEntityTooLarge:
            response = _closing(wire.error(_too_large()))
        except EcsError as error:
            response = wire.error(error, entry.service)
        except Exception:
            log.exception("request %s (%s) failed", g.request_id, entry.logged_operation)
            response = wire.error(ServerException(f"An internal error occurred (request id {g.request_id})."))
        _log_access(entry, response.status_code, started)
        return response

    def _respond(self, entry: _AccessEntry, target: str | None, read_body: Callable[[bytes], dict[str, Any]]) -> Any:
        entry.service = _service(target)
        caller: Caller | None = None
        if self.credentials is not None:
            now = datetime.datetime.now(datetime.UTC)
            caller = verify_signature(request, self.credentials, now, signing_name(entry.service)).caller
        entry.operation = _operation(target, entry.service)
        if entry.service not in self.services:
            raise InvalidOperationException(
                f"This server does not serve {SERVICE_NAMES[entry.service]}"
                + (" (ecs-shim serve --registry FILE serves it)." if entry.service == ECR else ".")
            )
        handler = self.services[entry.service].get(entry.operation)
        if handler is None:
            raise _unserved(entry.service, entry.operation)
        body = read_body(request.get_data())
        cluster = body.get("cluster")
        entry.cluster = cluster if isinstance(cluster, str) and entry.service == ECS else None
        params: Params = validate_request(entry.operation, body, entry.service)
        call = Call(
            operation=entry.operation,
            params=params,
            region=scope_region(request) or self.config.region,
            account=self.config.account,
            request_id=g.request_id,
            caller=caller,
            service=entry.service,
            stream_base=_stream_base(),
        )
        return handler(call)


def _stream_base() -> str:
    """The WebSocket URL base of the server as the client reached it."""
    scheme = "wss" if request.headers.get("X-Forwarded-Proto", request.scheme) == "https" else "ws"
    return f"{scheme}://{request.host}"


def _service(target: str | None) -> str:
    """The service `target` addresses; ECS when it names none the server speaks (the request
    then fails as an unknown ECS operation, after the signature check, as it always has)."""
    if target is None:
        return ECS
    return service_of_target_prefix(target.partition(".")[0]) or ECS


def _operation(target: str | None, service: str) -> str:
    if target is None:
        raise UnknownOperationException(f"Missing X-Amz-Target header: expected '{target_prefix()}.<Operation>'.")
    prefix, _, operation = target.partition(".")
    if prefix != target_prefix(service) or operation not in operation_names(service):
        raise UnknownOperationException(f"'{target}' is not an {SERVICE_NAMES[service]} operation.")
    return operation


def _unserved(service: str, operation: str) -> EcsError:
    """The answer to an operation of the model that has no handler, in the service's own terms."""
    message = f"The operation {operation} is not supported by ecs-shim yet."
    if service == APPLICATION_AUTOSCALING:
        return ValidationException(message)
    if service == CLOUD_MAP:
        return InvalidInput(message)
    return UnsupportedFeatureException(message) if service == ECS else InvalidOperationException(message)


def _too_large() -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def _closing(response: Response) -> Response:
    """`response`, after which the connection closes: the rest of the request is not read."""
    response.headers["Connection"] = "close"
    return response


def _json_body(data: bytes) -> dict[str, Any]:
    if not data.strip():
        return {}
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise SerializationException(f"The request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise SerializationException("The request body must be a JSON object.")
    return body


def _cbor_body(data: bytes) -> dict[str, Any]:
    try:
        return rpc_v2_cbor.decode_body(data)
    except rpc_v2_cbor.CborBodyError as error:
        raise SerializationException(str(error)) from None


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return aware.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _log_access(entry: _AccessEntry, status: int, started: float) -> None:
    seconds = time.monotonic() - started
    record = {
        "operation": entry.logged_operation,
        "cluster": entry.cluster,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "request_id": g.request_id,
    }
    access_log.info(json.dumps(record))
    metrics.request_answered(entry.service, entry.operation, status, seconds)


def _metrics(exposition: Callable[[], bytes]) -> Response:
    return Response(exposition(), status=200, content_type=metrics.CONTENT_TYPE)


def _http_error(error: HTTPException) -> Response:
    """Requests that are not ECS API calls (another path or method) get the same JSON envelope."""
    message = f"{request.method} {request.path} is not an ECS API call: send POST / with X-Amz-Target."
    return JSON_WIRE.response(error.code or 400, {"__type": "UnknownOperationException", "message": message})


def _assign_request_id() -> None:
    g.request_id = str(uuid.uuid4())


def _add_request_id_header(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _healthz() -> Response:
    """Liveness: the worker answers. Cheap, and true whatever the API server does."""
    return Response("ok", status=200, content_type="text/plain")


def _readyz(ready: Callable[[], str | None]) -> Response:
    """Readiness: the API server answers and the caches are current."""
    problem = ready()
    if problem is not None:
        return Response(problem, status=503, content_type="text/plain")
    return Response("ok", status=200, content_type="text/plain")
