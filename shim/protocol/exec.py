"""The WebSocket of an ECS Exec session (`GET /exec/<session id>`), on the API's own port.

simple_websocket takes the connection over from gunicorn's threaded worker: the session holds
one of the worker's threads while it lasts (a thread per open session, as any request), reads
the socket without the worker's request deadline (DeadlineSocket.unbounded), and when it ends
the response object tells gunicorn to close the connection without writing anything more."""

from typing import Any

from flask import Response, request
from simple_websocket import ConnectionClosed, Server

from shim.protocol.session_manager import DataChannel
from shim.protocol.worker import DeadlineSocket
from shim.sessions import SessionOpener


def exec_session(open_session: SessionOpener, session_id: str) -> Response:
    """Serve the session's data channel (the route matches WebSocket requests only)."""
    environ = dict(request.environ)
    worker_socket = environ.get("gunicorn.socket")
    if isinstance(worker_socket, DeadlineSocket):
        environ["gunicorn.socket"] = worker_socket.unbounded()
    socket = Server(environ)
    try:
        DataChannel(socket, session_id).serve(open_session)
    except ConnectionClosed:
        pass  # the plugin went away: the command ends with the session
    finally:
        if socket.connected:
            socket.close()
    return _Taken(socket.mode)


class _Taken(Response):
    """The response to a request whose connection the WebSocket took: nothing is written."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "gunicorn":
            raise StopIteration  # gunicorn's threaded worker then closes the connection
        return super().__call__(*args, **kwargs)
