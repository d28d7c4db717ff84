r"""Java regular expressions -> RE2: the `=~` and `!~` operators of the cluster query language
(`cql`) take Java patterns, which are matched here with RE2, whose time is linear in the value's
length whatever the pattern (a backtracking engine can spend minutes on `(.?.?)*x`).

RE2's \d, \w and \s are ASCII-only, as Java's are by default. Translated: POSIX character
properties (\p{Alpha}, \p{IsDigit}, \P{...}), \h \v \H \V, \z \Z \G \R, \Q...\E quotations, \e,
\cX, octal \0nn, \x{h...}, \uhhhh and named groups (?<name>...). Java's \Z (end of input or before
a final line terminator) is read as \z: `=~` matches the whole value, where the two agree.
Refused (UnsupportedRegex): what only a backtracking engine can run (backreferences, lookahead,
lookbehind, atomic groups, possessive quantifiers), character class unions and intersections,
negated classes inside a class and other properties.
"""

import functools
import re
from typing import Protocol

import re2

_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e",
    "Graph": r"\x21-\x7e",
    "Print": r"\x20-\x7e",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1f\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0b\f\r",
}
_HORIZONTAL_SPACE = r" \t\xa0\x{1680}\x{180e}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}"
_VERTICAL_SPACE = r"\n\x0b\f\r\x85\x{2028}\x{2029}"
_ANCHOR_ESCAPES = {"z": r"\z", "Z": r"\z", "G": r"\A", "R": rf"(?:\r\n|[{_VERTICAL_SPACE}])"}
_BACKTRACKING_GROUPS = {
    "(?=": "lookahead",
    "(?!": "negative lookahead",
    "(?<=": "lookbehind",
    "(?<!": "negative lookbehind",
    "(?>": "atomic groups",
}
_POSSESSIVE = re.compile(r"(?:[*+?]|\{[0-9]+(?:,[0-9]*)?\})\+")
_LINEAR_TIME_ONLY = "only what runs in time linear in the value's length is supported"
# RE2's error texts ("missing ): t2.(") that say less than they could, as the reader needs them.
_RE2_ERRORS = {"missing )": "missing ), unterminated subpattern", "unexpected )": "unbalanced parenthesis"}
_CLASS_ESCAPES = {"h": _HORIZONTAL_SPACE, "v": _VERTICAL_SPACE}


class UnsupportedRegex(Exception):
    """A Java construct RE2 cannot express."""


class CompiledRegex(Protocol):
    """A compiled RE2 pattern (the `re2` module ships no type hints)."""

    def fullmatch(self, text: str) -> object | None: ...


class _JavaRegex:
    """One pass over a Java pattern, writing the RE2 pattern that matches the same strings."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.in_class = False
        self.out: list[str] = []

    def translate(self) -> str:
        while self.pos < len(self.pattern):
            char = self.pattern[self.pos]
            if char == "\\" and self.pos + 1 < len(self.pattern):
                self.escape(self.pattern[self.pos + 1])
            elif self.in_class:
                self.class_char(char)
            elif char == "[":
                self.open_class()
            elif self.at_named_group():
                self.emit("(?P<", 3)
            else:
                self.refuse_backtracking()
                self.emit(char, 1)
        return "".join(self.out)

    def at_named_group(self) -> bool:
        after = self.pattern[self.pos + 3 : self.pos + 4]
        return self.pattern.startswith("(?<", self.pos) and after != "" and after not in "=!"

    def refuse_backtracking(self) -> None:
        for opening, construct in _BACKTRACKING_GROUPS.items():
            if self.pattern.startswith(opening, self.pos):
                raise UnsupportedRegex(f"{construct} ({opening}...) is not supported; {_LINEAR_TIME_ONLY}")
        if _POSSESSIVE.match(self.pattern, self.pos):
            raise UnsupportedRegex(f"possessive quantifiers are not supported; {_LINEAR_TIME_ONLY}")

    def emit(self, text: str, consumed: int) -> None:
        self.out.append(text)
        self.pos += consumed

    def open_class(self) -> None:
        self.in_class = True
        start = self.pos + 1
        if self.pattern.startswith("^", start):
            start += 1
        if self.pattern.startswith("]", start):
            start += 1
        self.emit(self.pattern[self.pos : start], start - self.pos)

    def class_char(self, char: str) -> None:
        if char == "[":
            raise UnsupportedRegex("character class unions are not supported")
        if self.pattern.startswith("&&", self.pos):
            raise UnsupportedRegex("character class intersections are not supported")
        if char == "]":
            self.in_class = False
        self.emit(char, 1)

    def escape(self, letter: str) -> None:
        if letter == "Q":
            end = self.pattern.find(r"\E", self.pos + 2)
            end = len(self.pattern) if end < 0 else end
            literal = "".join(_literal(char) for char in self.pattern[self.pos + 2 : end])
            self.emit(literal, end + 2 - self.pos)
        elif letter in "pP":
            self.property_class(negated=letter == "P")
        elif letter in _CLASS_ESCAPES or letter in "HV":
            self.space_class(letter)
        elif letter in _ANCHOR_ESCAPES and not self.in_class:
            self.emit(_ANCHOR_ESCAPES[letter], 2)
        elif letter == "e":
            self.emit(r"\x1b", 2)
        elif letter == "c" and self.pos + 2 < len(self.pattern):
            self.emit(f"\\x{ord(self.pattern[self.pos + 2]) ^ 64:02x}", 3)
        elif letter == "0":
            self.octal()
        elif letter == "x" and self.pattern.startswith("{", self.pos + 2):
            self.braced_hex()
        elif letter == "u" and re.match(r"[0-9a-fA-F]{4}", self.pattern[self.pos + 2 :]):
            self.emit(f"\\x{{{self.pattern[self.pos + 2 : self.pos + 6]}}}", 6)
        elif (letter == "k" or letter in "123456789") and not self.in_class:
            raise UnsupportedRegex(f"backreferences are not supported; {_LINEAR_TIME_ONLY}")
        else:
            self.emit(self.pattern[self.pos : self.pos + 2], 2)

    def property_class(self, negated: bool) -> None:
        rest = self.pattern[self.pos + 2 :]
        if rest.startswith("{") and "}" in rest:
            name = rest[1 : rest.index("}")]
            consumed = len(name) + 4
        else:
            name = rest[:1]
            consumed = 3
        members = _POSIX_CLASSES.get(name.removeprefix("Is"))
        if members is None:
            raise UnsupportedRegex(f"character property '{name}' is not supported")
        self.class_members(members, negated, consumed)

    def space_class(self, letter: str) -> None:
        self.class_members(_CLASS_ESCAPES[letter.lower()], letter.isupper(), 2)

    def class_members(self, members: str, negated: bool, consumed: int) -> None:
        if self.in_class and negated:
            raise UnsupportedRegex("negated classes inside a character class are not supported")
        self.emit(members if self.in_class else f"[{'^' if negated else ''}{members}]", consumed)

    def octal(self) -> None:
        digits = re.match(r"[0-3]?[0-7]{1,2}", self.pattern[self.pos + 2 :])
        if digits is None:
            raise UnsupportedRegex(r"\0 must be followed by octal digits")
        self.emit(f"\\x{int(digits.group(), 8):02x}", 2 + digits.end())

    def braced_hex(self) -> None:
        end = self.pattern.find("}", self.pos + 3)
        digits = self.pattern[self.pos + 3 : end] if end > 0 else ""
        if not re.fullmatch(r"[0-9a-fA-F]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
            raise UnsupportedRegex(r"invalid \x{...} code point")
        self.emit(f"\\x{{{digits}}}", end + 1 - self.pos)


def _literal(char: str) -> str:
    """`char` as RE2 reads it literally: RE2 refuses escapes of anything but punctuation."""
    return f"\\{char}" if char.isascii() and not char.isalnum() and char.isprintable() and char != " " else char


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


_OPTIONS = _re2_options()


@functools.lru_cache(maxsize=512)
def compile_java_regex(pattern: str) -> CompiledRegex:
    """A Java regular expression compiled by RE2; UnsupportedRegex if RE2 cannot run it."""
    translated = _JavaRegex(pattern).translate()
    try:
        compiled: CompiledRegex = re2.compile(translated, _OPTIONS)
    except re2.error as error:
        raise UnsupportedRegex(_re2_error(error)) from None
    return compiled


def _re2_error(error: Exception) -> str:
    reason = error.args[0] if error.args else error
    text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    kind = text.split(":", 1)[0]
    return _RE2_ERRORS.get(kind, text)
