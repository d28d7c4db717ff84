"""Background loops in an outage: one traceback per kind of failure, not one per attempt."""

import logging

import pytest

from shim.operations.reconciler import carry_on


class ApiServerRefused(Exception):
    pass


def refuse() -> None:
    raise ApiServerRefused("connection refused")


def test_a_repeated_failure_is_logged_with_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="shim.operations.reconciler"):
        for service in range(50):
            carry_on(refuse, f"could not follow service s{service}")
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "could not follow service s0" in errors[0].getMessage()
    assert sum(record.levelno == logging.DEBUG for record in caplog.records) == 49


def test_each_kind_of_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Other(Exception):
        pass

    def other() -> None:
        raise Other("another")

    with caplog.at_level(logging.ERROR, logger="shim.operations.reconciler"):
        carry_on(other, "could not sweep stopped tasks")
    assert [record.getMessage().split(" (")[0] for record in caplog.records] == ["could not sweep stopped tasks"]
