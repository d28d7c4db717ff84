"""The gunicorn worker that serves the ECS API: gunicorn's threaded worker with a deadline on
reading each request and its own errors (bad framing, too long a request line or header) in the
AWS JSON error envelope instead of gunicorn's HTML.

gunicorn bounds the wait for a request's first byte, not the reading of the rest: a client
sending a header line a second, or announcing a longer body than it sends, would hold a thread
for as long as it likes. Here every request must arrive whole within REQUEST_READ_SECONDS of its
connection (or, on a kept-alive connection, of its first byte).
"""

import socket
import time
import uuid
from http import HTTPStatus
from typing import Any

import orjson
from gunicorn.http import errors as http_errors
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import TConn, ThreadWorker

REQUEST_READ_SECONDS = 10.0
REQUEST_ID_HEADER = "x-amzn-RequestId"
CONTENT_TYPE = "application/x-amz-json-1.1"
INTERNAL_ERROR = "An internal error occurred."


class RequestReadTimeout(Exception):
    """The client did not send its whole request within REQUEST_READ_SECONDS."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The request was not received within {seconds:g} seconds.")


class DeadlineSocket:
    """A client socket whose reads end at one deadline, set by `restart`; everything else is the
    socket's own. Data already received is read whatever the time."""

    def __init__(self, sock: socket.socket, seconds: float = REQUEST_READ_SECONDS) -> None:
        self._sock = sock
        self._seconds = seconds
        self._deadline = time.monotonic() + seconds

    def restart(self) -> None:
        self._deadline = time.monotonic() + self._seconds

    def recv(self, size: int, *flags: int) -> bytes:
        timeout = self._sock.gettimeout()
        self._sock.settimeout(max(self._deadline - time.monotonic(), 0.0))
        try:
            return self._sock.recv(size, *flags)
        except (TimeoutError, BlockingIOError):
            raise RequestReadTimeout(self._seconds) from None
        finally:
            self._sock.settimeout(timeout)

    def unbounded(self) -> socket.socket:
        """The socket itself, its reads without a deadline: for a connection that outlives its
        request (an ECS Exec session's WebSocket)."""
        self._sock.settimeout(None)
        return self._sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class EcsThreadWorker(ThreadWorker):
    def enqueue_req(self, conn: TConn) -> None:
        """Start the request's read deadline when its connection is accepted or, kept alive,
        becomes readable: the time it waits for a thread counts, so that clients queued behind
        slow ones are not held as long again."""
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.restart()
        else:
            conn.sock = DeadlineSocket(conn.sock)
        super().enqueue_req(conn)

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        """Whether the connection serves another request: not when the rest of a body the app
        did not read (it answered before reading it) does not arrive within the deadline."""
        try:
            return bool(super()._keepalive_after(conn, keepalive))
        except RequestReadTimeout:
            return False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Answer what gunicorn refuses before the application sees it as ECS answers errors."""
        status, code, message = error_answer(exc)
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from %s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, error_response(status, code, message))
        except Exception:
            self.log.debug("Failed to send error message.")


_REFUSALS: tuple[tuple[type[BaseException], int, str], ...] = (
    (http_errors.InvalidResponseHeader, 500, "ServerException"),
    (http_errors.InvalidResponseHeaderName, 500, "ServerException"),
    (http_errors.ConfigurationProblem, 500, "ServerException"),
    (http_errors.ExpectationFailed, 417, "ExpectationFailedException"),
    (RequestReadTimeout, 408, "RequestTimeoutException"),
    (http_errors.LimitRequestLine, 414, "RequestUriTooLongException"),
    (http_errors.LimitRequestHeaders, 431, "RequestHeaderFieldsTooLargeException"),
    (http_errors.UnsupportedTransferCoding, 501, "NotImplementedException"),
    (http_errors.ParseException, 400, "SerializationException"),
)


def error_answer(exc: BaseException) -> tuple[int, str, str]:
    """The HTTP status, error code and message a failure to read or answer a request gets."""
    for kind, status, code in _REFUSALS:
        if isinstance(exc, kind):
            return status, code, (str(exc) or type(exc).__name__) if status < 500 else INTERNAL_ERROR
    return 500, "ServerException", INTERNAL_ERROR


def error_response(status: int, code: str, message: str) -> bytes:
    """A whole HTTP response carrying the AWS JSON error envelope, closing the connection."""
    body = orjson.dumps({"__type": code, "message": message})
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\n"
        f"{REQUEST_ID_HEADER}: {uuid.uuid4()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
