"""ECS Exec's WebSocket: the Session Manager data channel the session-manager-plugin speaks
(github.com/aws/session-manager-plugin, src/message and src/datachannel), served for one session.

The plugin opens the WebSocket and sends, as text, an OpenDataChannel request carrying the
session's token. Everything after is binary: each message is a 116-byte header (header length,
message type padded to 32 bytes, schema version, created date in epoch milliseconds, sequence
number, flags, message id as a UUID with its low half first, SHA-256 of the payload, payload
type), the payload's length and the payload, integers big-endian.

This side plays ECS's agent: a handshake naming the session type (InteractiveCommands, which
the plugin shows as a shell), then `output_stream_data` with what the command prints, each
acknowledged by the plugin and sent again until it is (the plugin drops output that arrives
before its shell is ready, unacknowledged); `input_stream_data` from the plugin (keystrokes,
terminal size, a terminate flag) acknowledged and passed to the command; at the end
`channel_closed`, whose output the plugin prints (the exit code, when not 0), and the close.
"""

import hashlib
import json
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shim.sessions import CommandStream, SessionOpener, SessionRefused

INPUT_STREAM = "input_stream_data"
OUTPUT_STREAM = "output_stream_data"
ACKNOWLEDGE = "acknowledge"
CHANNEL_CLOSED = "channel_closed"

OUTPUT, SIZE, HANDSHAKE_REQUEST, HANDSHAKE_RESPONSE, HANDSHAKE_COMPLETE, FLAG = 1, 3, 5, 6, 7, 10
"""Payload types (src/message/clientmessage.go)."""
TERMINATE_SESSION = 2
"""The flag the plugin sends to end the session."""

HEADER_LENGTH = 116
"""Everything before the payload length: the plugin's `ClientMessage_PayloadLengthOffset`."""
_MESSAGE_TYPE_LENGTH = 32
SCHEMA_VERSION = 1
AGENT_VERSION = "3.3.0.0-ecs-shim"
SESSION_TYPE = "InteractiveCommands"

OPEN_SECONDS = 10.0
"""How long the plugin has to send its OpenDataChannel request once connected."""
RESEND_SECONDS = 0.5
"""How long an output message waits for its acknowledgement before it is sent again."""
HANDSHAKE_SECONDS = 10.0
DRAIN_SECONDS = 5.0
"""How long, once the command exited, its last output may take to be acknowledged."""
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ClientMessage:
    message_type: str
    sequence_number: int
    payload_type: int
    payload: bytes
    flags: int = 0
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_ms: int = 0
    payload_digest: bytes = b""


def encode(message: ClientMessage) -> bytes:
    """The message in the plugin's binary framing."""
    created = message.created_ms or int(time.time() * 1000)
    identifier = message.message_id.bytes
    return b"".join(
        (
            struct.pack(">I", HEADER_LENGTH),
            message.message_type.encode().ljust(_MESSAGE_TYPE_LENGTH, b" "),
            struct.pack(">IQqQ", SCHEMA_VERSION, created, message.sequence_number, message.flags),
            identifier[8:] + identifier[:8],
            hashlib.sha256(message.payload).digest(),
            struct.pack(">II", message.payload_type, len(message.payload)),
            message.payload,
        )
    )


def decode(data: bytes) -> ClientMessage:
    """A message in the plugin's binary framing (ValueError: it is not one)."""
    if len(data) < HEADER_LENGTH + 4:
        raise ValueError(f"a message of {len(data)} bytes is shorter than its header")
    (header_length,) = struct.unpack_from(">I", data, 0)
    message_type = data[4 : 4 + _MESSAGE_TYPE_LENGTH].strip(b"\x00 ").decode()
    _, created, sequence, flags = struct.unpack_from(">IQqQ", data, 36)
    identifier = uuid.UUID(bytes=data[72:80] + data[64:72])
    digest = data[80:112]
    payload_type, length = struct.unpack_from(">II", data, 112)
    payload = data[header_length + 4 : header_length + 4 + length]
    if length and hashlib.sha256(payload).digest() != digest:
        raise ValueError("the payload does not match its digest")
    return ClientMessage(message_type, sequence, payload_type, payload, flags, identifier, created, digest)


def acknowledgement(message: ClientMessage) -> ClientMessage:
    """The acknowledgement of a stream message, as the plugin writes its own."""
    content = {
        "AcknowledgedMessageType": message.message_type,
        "AcknowledgedMessageId": str(message.message_id),
        "AcknowledgedMessageSequenceNumber": message.sequence_number,
        "IsSequentialMessage": True,
    }
    return ClientMessage(ACKNOWLEDGE, 0, 0, _json(content), flags=3)


class WebSocket(Protocol):
    """The server side of one WebSocket (simple_websocket.Server)."""

    def send(self, data: str | bytes) -> None: ...

    def receive(self, timeout: float | None = None) -> str | bytes | None: ...

    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


class DataChannel:
    """One session's data channel, from the OpenDataChannel request to channel_closed."""

    def __init__(self, socket: WebSocket, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.next_sequence = 0
        self.unacknowledged: dict[int, tuple[bytes, float]] = {}
        self.expected_input = 0
        self.early_input: dict[int, ClientMessage] = {}
        self.handshake_answered = False
        self.terminated = False

    def serve(self, open_session: SessionOpener) -> None:
        try:
            command = open_session(self.session_id, self._token())
        except SessionRefused as refusal:
            self._close(str(refusal))
            return
        try:
            self._run(command)
        finally:
            command.close()

    def _token(self) -> str:
        opening = self.socket.receive(timeout=OPEN_SECONDS)
        try:
            request = json.loads(opening) if opening is not None else None
        except ValueError:
            request = None
        token = request.get("TokenValue") if isinstance(request, dict) else None
        if not isinstance(token, str):
            raise SessionRefused("The data channel was not opened with the session's token.")
        return token

    def _run(self, command: CommandStream) -> None:
        self._send_stream(HANDSHAKE_REQUEST, _json(_handshake_request()))
        started = time.monotonic()
        while not self.handshake_answered and time.monotonic() - started < HANDSHAKE_SECONDS:
            self._take_input(command, POLL_SECONDS)
        took_ns = int((time.monotonic() - started) * 1e9)
        self._send_stream(HANDSHAKE_COMPLETE, _json({"HandshakeTimeToComplete": took_ns, "CustomerMessage": ""}))
        while not self.terminated:
            output = command.read(POLL_SECONDS)
            if output is None:
                break
            if output:
                self._send_stream(OUTPUT, output)
            self._take_input(command, 0)
            self._resend_due()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.unacknowledged and time.monotonic() < deadline:
            self._take_input(command, POLL_SECONDS)
            self._resend_due()
        code = command.exit_code()
        self._close("" if code in (0, None) else f"The command exited with code {code}.")

    def _send_stream(self, payload_type: int, payload: bytes) -> None:
        data = encode(ClientMessage(OUTPUT_STREAM, self.next_sequence, payload_type, payload))
        self.unacknowledged[self.next_sequence] = (data, time.monotonic())
        self.next_sequence += 1
        self.socket.send(data)

    def _resend_due(self) -> None:
        now = time.monotonic()
        for sequence, (data, sent) in sorted(self.unacknowledged.items()):
            if now - sent >= RESEND_SECONDS:
                self.unacknowledged[sequence] = (data, now)
                self.socket.send(data)

    def _take_input(self, command: CommandStream, timeout: float) -> None:
        """Handle what the plugin sent, waiting up to `timeout` seconds for its first message."""
        received = self.socket.receive(timeout=timeout)
        while received is not None:
            if isinstance(received, bytes):
                self._handle(command, received)
            received = self.socket.receive(timeout=0)

    def _handle(self, command: CommandStream, data: bytes) -> None:
        try:
            message = decode(data)
        except ValueError:
            return  # not a message of the protocol: ignored, as the agent does
        if message.message_type == ACKNOWLEDGE:
            sequence = _json_object(message.payload).get("AcknowledgedMessageSequenceNumber")
            if isinstance(sequence, int):
                self.unacknowledged.pop(sequence, None)
        elif message.message_type == INPUT_STREAM:
            self.socket.send(encode(acknowledgement(message)))
            if message.sequence_number >= self.expected_input:
                self.early_input[message.sequence_number] = message
            while self.expected_input in self.early_input:
                self._apply(command, self.early_input.pop(self.expected_input))
                self.expected_input += 1

    def _apply(self, command: CommandStream, message: ClientMessage) -> None:
        handlers: dict[int, Callable[[], None]] = {
            OUTPUT: lambda: command.write(message.payload),
            SIZE: lambda: _resize(command, message.payload),
            HANDSHAKE_RESPONSE: self._answered,
            FLAG: lambda: self._flag(command, message.payload),
        }
        handler = handlers.get(message.payload_type)
        if handler is not None:
            handler()

    def _answered(self) -> None:
        self.handshake_answered = True

    def _flag(self, command: CommandStream, payload: bytes) -> None:
        if len(payload) >= 4 and struct.unpack(">I", payload[:4])[0] == TERMINATE_SESSION:
            self.terminated = True
            command.close()

    def _close(self, output: str) -> None:
        closed = {
            "MessageId": str(uuid.uuid4()),
            "CreatedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "DestinationId": "",
            "SessionId": self.session_id,
            "MessageType": CHANNEL_CLOSED,
            "SchemaVersion": SCHEMA_VERSION,
            "Output": output,
        }
        self.socket.send(encode(ClientMessage(CHANNEL_CLOSED, self.next_sequence, 0, _json(closed))))
        self.socket.close()


def _handshake_request() -> dict[str, Any]:
    action = {"ActionType": "SessionType", "ActionParameters": {"SessionType": SESSION_TYPE, "Properties": {}}}
    return {"AgentVersion": AGENT_VERSION, "RequestedClientActions": [action]}


def _resize(command: CommandStream, payload: bytes) -> None:
    size = _json_object(payload)
    columns, rows = size.get("cols"), size.get("rows")
    if isinstance(columns, int) and isinstance(rows, int) and columns > 0 and rows > 0:
        command.resize(columns, rows)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
