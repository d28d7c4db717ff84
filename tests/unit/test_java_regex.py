"""Java regular expressions (the cluster query language's `=~` and `!~`) matched by RE2."""

import time

import pytest

from shim.translate.java_regex import UnsupportedRegex, compile_java_regex


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (r"\p{Upper}+\d", "AB1", True),
        (r"\p{Upper}+\d", "Ab1", False),
        (r"[\p{Digit}x]+", "1x2", True),
        (r"\P{Alpha}+", "12-", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"a\hb", "a\tb", True),
        (r"\x{41}\0102\u0043", "ABC", True),
        (r"\cA", "\x01", True),
        (r"(?i)T2\.SMALL", "t2.small", True),
        (r"\d+", "١٢", False),
        (r"end\z", "end", True),
        (r"[]x]+", "]x]", True),
        (r"(?<twin>ab)x", "abx", True),
        (r"\u0041\Z", "A", True),
        (r"\Qa b(\E", "a b(", True),
        (r"a\Rb", "a\u2028b", True),
    ],
)
def test_java_regular_expressions_are_translated(pattern: str, value: str, matches: bool) -> None:
    assert (compile_java_regex(pattern).fullmatch(value) is not None) is matches


def test_a_pattern_that_makes_a_backtracking_engine_explode_is_matched_in_linear_time() -> None:
    started = time.monotonic()
    assert compile_java_regex("(.?.?)*x").fullmatch("a" * 5000) is None
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<twin>ab)\k<twin>", "backreferences are not supported"),
        (r"(ab)\1", "backreferences are not supported"),
        (r"a*+a", "possessive quantifiers are not supported"),
        (r"a{2}+", "possessive quantifiers are not supported"),
        (r"(?>ab|a)b", "atomic groups ((?>...) is not supported"),
        (r"a(?=b)", "lookahead ((?=...) is not supported"),
        (r"(?<!a)b", "negative lookbehind ((?<!...) is not supported"),
        (r"(c5|m5", "missing ), unterminated subpattern"),
        (r"a{1001}", "invalid repetition size: {1001}"),
    ],
)
def test_what_only_a_backtracking_engine_can_run_is_refused(pattern: str, reason: str) -> None:
    with pytest.raises(UnsupportedRegex) as refusal:
        compile_java_regex(pattern)
    assert str(refusal.value).startswith(reason)
