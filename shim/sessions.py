"""What an ECS Exec session is to the protocol layer, which serves its WebSocket, and to the
handlers, which run its command: the contract between them. It imports no layer, so both can."""

from collections.abc import Callable
from typing import Protocol


class CommandStream(Protocol):
    """A command running in a container with a terminal: what the user types goes in, what the
    terminal shows comes out, and at the end its exit code."""

    def read(self, timeout: float) -> bytes | None:
        """What the command wrote since the last read, waiting up to `timeout` seconds for
        something (b"" if nothing came); None once it has exited and everything was read."""
        ...

    def write(self, data: bytes) -> None:
        """Send `data` to the command's standard input."""
        ...

    def resize(self, columns: int, rows: int) -> None: ...

    def exit_code(self) -> int | None:
        """The command's exit code once it has exited (None before, or when it is not known)."""
        ...

    def close(self) -> None:
        """End the command's session (the command itself is ended with it)."""
        ...


class SessionRefused(Exception):
    """The session cannot be opened: an unknown, forged or expired token, or a task that no
    longer runs. The message is for the user."""


SessionOpener = Callable[[str, str], CommandStream]
"""Opens the session with this id, given the token ExecuteCommand handed out for it; raises
SessionRefused."""
