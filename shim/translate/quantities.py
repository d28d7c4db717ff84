"""Kubernetes resource quantities ("250m", "512Mi", "20Gi") as numbers.

The one module of translate that imports the Kubernetes client library, for its pure parser
(`kubernetes.utils`); the import contracts in pyproject.toml forbid `kubernetes` everywhere else
in translate, so that no other module can reach the client."""

from decimal import Decimal

from kubernetes.utils import parse_quantity as _parse_quantity


def parse_quantity(quantity: str | int | float | Decimal) -> Decimal:
    """The quantity's value in base units (cores, bytes); ValueError if it is not a quantity."""
    result: Decimal = _parse_quantity(quantity)
    return result
