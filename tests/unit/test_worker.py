"""The serving worker's pure parts: read deadlines on a real socket pair, and gunicorn's own
refusals rendered as AWS JSON errors."""

import json
import socket
import time
from collections.abc import Iterator

import pytest
from gunicorn.http import errors as http_errors

from shim.protocol.worker import DeadlineSocket, RequestReadTimeout, error_answer, error_response


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def test_a_read_waits_no_longer_than_the_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    server, _ = pair
    sock = DeadlineSocket(server, seconds=0.2)
    started = time.monotonic()
    with pytest.raises(RequestReadTimeout, match=r"within 0\.2 seconds"):
        sock.recv(10)
    assert 0.15 < time.monotonic() - started < 2


def test_data_already_received_is_read_after_the_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    sock = DeadlineSocket(server, seconds=0.05)
    client.sendall(b"GET")
    time.sleep(0.1)
    assert sock.recv(10) == b"GET"
    with pytest.raises(RequestReadTimeout):
        sock.recv(10)
    assert server.gettimeout() is None, "the socket is left blocking, as gunicorn set it"


def test_restart_gives_a_kept_alive_connection_a_new_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    sock = DeadlineSocket(server, seconds=0.05)
    time.sleep(0.1)
    sock.restart()
    client.sendall(b"x")
    assert sock.recv(1) == b"x"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (http_errors.LimitRequestLine(5000, 4094), 414, "RequestUriTooLongException"),
        (http_errors.LimitRequestHeaders("too large"), 431, "RequestHeaderFieldsTooLargeException"),
        (http_errors.InvalidRequestLine("\x00"), 400, "SerializationException"),
        (http_errors.InvalidChunkSize(b"zz"), 400, "SerializationException"),
        (RequestReadTimeout(10), 408, "RequestTimeoutException"),
        (http_errors.InvalidResponseHeaderName("bad name"), 500, "ServerException"),
        (ValueError("internal detail"), 500, "ServerException"),
    ],
)
def test_gunicorn_refusals_get_an_ecs_error(error: BaseException, status: int, code: str) -> None:
    answered_status, answered_code, message = error_answer(error)
    assert (answered_status, answered_code) == (status, code)
    assert message and "internal detail" not in message and "bad name" not in message


def test_the_error_response_is_aws_json_with_a_request_id() -> None:
    head, _, body = error_response(431, "RequestHeaderFieldsTooLargeException", "too large").partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["Connection"] == "close"
    assert headers["x-amzn-RequestId"]
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"__type": "RequestHeaderFieldsTooLargeException", "message": "too large"}
