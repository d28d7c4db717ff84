"""The store's own errors: the API server's refusals as NotFound, Conflict, Forbidden or
StoreError, and the two rules built on them (404 means absent, 409 means retry)."""

import pytest
from kubernetes.client import ApiException

from shim.kube.errors import (
    MAX_CONFLICT_RETRIES,
    Conflict,
    Forbidden,
    NotFound,
    StoreError,
    absent_if_missing,
    requested,
    retrying_conflicts,
)


def refusing(status: int, body: str = "") -> ApiException:
    error = ApiException(status=status, reason=f"refused with {status}")
    error.body = body
    return error


def raise_(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(("status", "kind"), [(403, Forbidden), (404, NotFound), (409, Conflict), (422, StoreError)])
def test_a_refusal_is_raised_as_the_stores_error_of_its_status(status: int, kind: type[StoreError]) -> None:
    with pytest.raises(StoreError) as raised:
        requested(raise_, refusing(status, body="why"))
    assert type(raised.value) is kind
    assert (raised.value.status, raised.value.body) == (status, "why")


def test_an_answer_passes_through() -> None:
    assert requested(lambda a, b=0: a + b, 1, b=2) == 3


def test_absent_if_missing_is_none_for_a_404_and_raises_anything_else() -> None:
    assert absent_if_missing(raise_, refusing(404)) is None
    with pytest.raises(Forbidden):
        absent_if_missing(raise_, refusing(403))


def test_a_conflict_is_retried_until_an_attempt_meets_none() -> None:
    def attempt(number: int) -> int:
        if number < 3:
            raise_(Conflict(409, "Conflict"))
        return number

    assert retrying_conflicts(attempt, "write") == 3


def test_other_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def attempt(number: int) -> None:
        attempts.append(number)
        raise NotFound(404, "Not Found")

    with pytest.raises(NotFound):
        retrying_conflicts(attempt, "write")
    assert attempts == [0]


def test_endless_conflicts_give_up() -> None:
    def attempt(number: int) -> None:
        raise Conflict(409, "Conflict")

    with pytest.raises(RuntimeError, match=f"could not write after {MAX_CONFLICT_RETRIES} tries"):
        retrying_conflicts(attempt, "write")
