"""Java regular expressions (the cluster query language's `=~` and `!~`) matched by Python's re."""

import pytest

from shim.translate.java_regex import compile_java_regex


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (r"\p{Upper}+\d", "AB1", True),
        (r"\p{Upper}+\d", "Ab1", False),
        (r"[\p{Digit}x]+", "1x2", True),
        (r"\P{Alpha}+", "12-", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"(?<twin>ab)\k<twin>", "abab", True),
        (r"a\hb", "a\tb", True),
        (r"\x{41}\0102\u0043", "ABC", True),
        (r"\cA", "\x01", True),
        (r"a*+a", "aaa", False),
        (r"(?>ab|a)b", "ab", False),
        (r"(?i)T2\.SMALL", "t2.small", True),
        (r"\d+", "١٢", False),
        (r"end\z", "end", True),
        (r"[]x]+", "]x]", True),
    ],
)
def test_java_regular_expressions_are_translated(pattern: str, value: str, matches: bool) -> None:
    assert (compile_java_regex(pattern).fullmatch(value) is not None) is matches
