"""ECS Exec's pure parts: the session token, the command's words, the container chosen, and the
Session Manager message framing the session-manager-plugin reads."""

import dataclasses
import hashlib
import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.errors import InvalidParameterException
from shim.protocol import session_manager
from shim.translate.execute_command import (
    ExecSession,
    chosen_container,
    command_arguments,
    session_token,
    token_cluster,
    verified_session,
)

KEY = b"k" * 32
SESSION = ExecSession(
    session_id="ecs-execute-command-0123456789abcdef",
    cluster_name="team-a",
    task_id="4d2c6b1e8f0a4b7c9d3e5f1a2b3c4d5e",
    container="app",
    command=["sh", "-c", "echo hi"],
    expires=1_000.0,
)


def test_a_token_opens_its_own_session_until_it_expires() -> None:
    token = session_token(SESSION, KEY)

    assert verified_session(token, SESSION.session_id, KEY, now=999.0) == SESSION
    assert verified_session(token, SESSION.session_id, KEY, now=1_001.0) is None
    assert verified_session(token, "ecs-execute-command-other", KEY, now=999.0) is None
    assert verified_session(token, SESSION.session_id, b"another key", now=999.0) is None
    assert token_cluster(token) == "team-a"


def test_a_token_whose_claims_were_changed_is_refused() -> None:
    signature = session_token(SESSION, KEY).partition(".")[2]
    forged_claims = session_token(dataclasses.replace(SESSION, command=["rm", "-rf", "/"]), b"guess").partition(".")[0]

    assert verified_session(f"{forged_claims}.{signature}", SESSION.session_id, KEY, now=0.0) is None


@given(st.text(max_size=80))
def test_no_garbage_token_opens_a_session(token: str) -> None:
    assert verified_session(token, SESSION.session_id, KEY, now=0.0) is None
    token_cluster(token)  # unverified, but never raises


def test_the_command_is_split_into_words_as_a_shell_would() -> None:
    assert command_arguments("sh -c 'echo hi; exit 3'") == ["sh", "-c", "echo hi; exit 3"]
    assert command_arguments("/bin/sh") == ["/bin/sh"]
    with pytest.raises(InvalidParameterException, match="could not be parsed"):
        command_arguments("sh -c 'unclosed")
    with pytest.raises(InvalidParameterException, match="must not be empty"):
        command_arguments("   ")


def test_the_container_is_the_one_named_or_the_only_one() -> None:
    assert chosen_container(["app"], None) == "app"
    assert chosen_container(["web", "sidecar"], "sidecar") == "sidecar"
    with pytest.raises(InvalidParameterException, match="more than one container"):
        chosen_container(["web", "sidecar"], None)
    with pytest.raises(InvalidParameterException, match="db does not exist"):
        chosen_container(["web"], "db")


def test_a_message_is_framed_as_the_plugin_reads_it() -> None:
    message_id = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    message = session_manager.ClientMessage(
        session_manager.OUTPUT_STREAM, 7, session_manager.OUTPUT, b"hi\r\n", message_id=message_id, created_ms=42
    )

    data = session_manager.encode(message)

    assert struct.unpack_from(">I", data, 0)[0] == session_manager.HEADER_LENGTH
    assert data[4:36] == b"output_stream_data".ljust(32)
    assert struct.unpack_from(">IQqQ", data, 36) == (1, 42, 7, 0)
    assert data[64:80] == message_id.bytes[8:] + message_id.bytes[:8]  # low half first
    assert data[80:112] == hashlib.sha256(b"hi\r\n").digest()
    assert struct.unpack_from(">II", data, 112) == (session_manager.OUTPUT, 4)
    assert data[120:] == b"hi\r\n"
    decoded = session_manager.decode(data)
    assert dataclasses.replace(decoded, payload_digest=b"") == message


def test_a_message_that_is_cut_short_or_altered_is_not_taken() -> None:
    data = session_manager.encode(
        session_manager.ClientMessage(session_manager.INPUT_STREAM, 0, session_manager.OUTPUT, b"ls\n")
    )

    with pytest.raises(ValueError, match="shorter than its header"):
        session_manager.decode(data[:100])
    with pytest.raises(ValueError, match="does not match its digest"):
        session_manager.decode(data[:-1] + b"X")


def test_an_acknowledgement_names_the_message_it_acknowledges() -> None:
    message = session_manager.ClientMessage(session_manager.INPUT_STREAM, 5, session_manager.OUTPUT, b"x")

    ack = session_manager.decode(session_manager.encode(session_manager.acknowledgement(message)))

    assert ack.message_type == session_manager.ACKNOWLEDGE
    assert b'"AcknowledgedMessageSequenceNumber":5' in ack.payload
    assert str(message.message_id).encode() in ack.payload
