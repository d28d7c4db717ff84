r"""The ECS cluster query language: parse, evaluate against a container instance, translate to Kubernetes.

Grammar (precedence not > and > or; the AWS guide gives none, this is the usual one):

    expression := conjunction (("or" | "||") conjunction)*
    conjunction := negation (("and" | "&&") negation)*
    negation   := ("not" | "!") negation | "(" expression ")" | comparison
    comparison := subject operator [argument]

Keywords and word operators are case-insensitive; subjects are not. An argument is a bare word
(no whitespace, no parentheses) or a string in single or double quotes (no escapes). `in` and
`not_in` take `[a, b, ...]`, whose bare items may contain inner spaces. The argument of `=~` and
`!~` is a Java regular expression (matched in linear time by way of `java_regex`): bare, it may hold `|`, `&&`
and parentheses that balance, so `attribute:x =~ (c5|m5)\.large` is one comparison. It ends at
whitespace or at a `)` that closes a group of the expression rather than of the regular
expression; parentheses that are escaped, in a character class or in a `\Q...\E` quotation are
literal characters and do not count.

Semantics where the guide is silent:
- A subject that is absent never satisfies a comparison: `attribute:x != v` needs `x` to be set
  (as ECS answers), while `not (attribute:x == v)` also matches instances without `x`.
- `task:group` holds every group with a task on the instance; a comparison holds when it holds for
  one of them, so `not (task:group == g)` means "hosts no task of g".
- `=~` matches the whole value, as Java's `Pattern.matches` does.
- Ordering operators on attributes compare integers, as Kubernetes' Gt and Lt do: the argument
  must be an integer, and an instance whose value is not an unsigned integer does not match.
- `agentVersion` compares dotted versions numerically; `registeredAt` compares calendar days
  (UTC) for a bare date and whole seconds for a timestamp (a timestamp without an offset is UTC).
"""

import itertools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from shim.errors import InvalidParameterException
from shim.translate import names
from shim.translate.java_regex import UnsupportedRegex, compile_java_regex

MAX_EXPRESSION_LENGTH = 2000
MAX_NESTING = 100
MAX_TERMS = 100
HOSTNAME_LABEL = "kubernetes.io/hostname"

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class Field(StrEnum):
    ATTRIBUTE = "attribute"
    TASK_GROUP = "task:group"
    EC2_INSTANCE_ID = "ec2InstanceId"
    AGENT_CONNECTED = "agentConnected"
    AGENT_VERSION = "agentVersion"
    REGISTERED_AT = "registeredAt"
    RUNNING_TASKS_COUNT = "runningTasksCount"


class Operator(StrEnum):
    EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = ">"
    GREATER_THAN_EQUAL = ">="
    LESS_THAN = "<"
    LESS_THAN_EQUAL = "<="
    EXISTS = "exists"
    NOT_EXISTS = "!exists"
    IN = "in"
    NOT_IN = "!in"
    MATCHES = "=~"
    NOT_MATCHES = "!~"


@dataclass(frozen=True)
class Subject:
    field: Field
    attribute: str = ""

    def __str__(self) -> str:
        return f"attribute:{self.attribute}" if self.field is Field.ATTRIBUTE else self.field.value


@dataclass(frozen=True)
class Comparison:
    """`values` holds the list of `in`/`!in`, nothing for `exists`/`!exists`, else one argument."""

    subject: Subject
    operator: Operator
    values: tuple[str, ...] = ()

    @property
    def argument(self) -> str:
        return self.values[0]


@dataclass(frozen=True)
class Not:
    operand: "Expression"


@dataclass(frozen=True)
class And:
    left: "Expression"
    right: "Expression"


@dataclass(frozen=True)
class Or:
    left: "Expression"
    right: "Expression"


Expression = Comparison | Not | And | Or


@dataclass(frozen=True)
class InstanceFacts:
    """What the query language can ask of one container instance.

    `attributes` holds built-in and custom attributes by name (no `attribute:` prefix);
    `task_groups` the groups of the tasks on the instance.
    """

    attributes: Mapping[str, str]
    ec2_instance_id: str
    agent_connected: bool
    agent_version: str
    registered_at: datetime
    running_tasks_count: int
    task_groups: frozenset[str]


@dataclass(frozen=True)
class Literal:
    """A comparison or its negation: the atoms of a disjunctive normal form."""

    comparison: Comparison
    negated: bool = False


Term = tuple[Literal, ...]
Requirement = dict[str, Any]

_OPERATOR_ALIASES: dict[str, Operator] = {
    "equals": Operator.EQUALS,
    "not_equals": Operator.NOT_EQUALS,
    "greater_than": Operator.GREATER_THAN,
    "greater_than_equal": Operator.GREATER_THAN_EQUAL,
    "less_than": Operator.LESS_THAN,
    "less_than_equal": Operator.LESS_THAN_EQUAL,
    "exists": Operator.EXISTS,
    "not_exists": Operator.NOT_EXISTS,
    "in": Operator.IN,
    "not_in": Operator.NOT_IN,
    "matches": Operator.MATCHES,
    "not_matches": Operator.NOT_MATCHES,
}

_EQUALITY = (Operator.EQUALS, Operator.NOT_EQUALS)
_ORDERING = (
    Operator.GREATER_THAN,
    Operator.GREATER_THAN_EQUAL,
    Operator.LESS_THAN,
    Operator.LESS_THAN_EQUAL,
)
_LISTS = (Operator.IN, Operator.NOT_IN)
_PATTERNS = (Operator.MATCHES, Operator.NOT_MATCHES)
_PRESENCE = (Operator.EXISTS, Operator.NOT_EXISTS)

_VALID_OPERATORS: dict[Field, tuple[Operator, ...]] = {
    Field.ATTRIBUTE: tuple(Operator),
    Field.TASK_GROUP: (*_EQUALITY, *_LISTS, *_PATTERNS, *_PRESENCE),
    Field.EC2_INSTANCE_ID: (*_EQUALITY, *_LISTS, *_PATTERNS),
    Field.AGENT_CONNECTED: (*_EQUALITY, *_LISTS, *_PATTERNS),
    Field.AGENT_VERSION: (*_EQUALITY, *_ORDERING),
    Field.REGISTERED_AT: (*_EQUALITY, *_ORDERING),
    Field.RUNNING_TASKS_COUNT: (*_EQUALITY, *_ORDERING),
}

_COMPARE: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.EQUALS: operator.eq,
    Operator.NOT_EQUALS: operator.ne,
    Operator.GREATER_THAN: operator.gt,
    Operator.GREATER_THAN_EQUAL: operator.ge,
    Operator.LESS_THAN: operator.lt,
    Operator.LESS_THAN_EQUAL: operator.le,
}

_SUBJECTS_EXPECTED = (
    "a subject (attribute:<name>, task:group, ec2InstanceId, agentConnected, agentVersion, "
    "registeredAt or runningTasksCount)"
)
_NAMED_FIELDS = {field.value: field for field in Field if field is not Field.ATTRIBUTE}
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_./\\-]{1,128}")
_SUBJECT_WORD = re.compile(r"[^\s()\[\],'\"=!<>~&|]+")
_KEYWORD = re.compile(r"[A-Za-z_]+")
_SYMBOL_OPERATORS = ("!exists", "!in", "==", "!=", ">=", "<=", "=~", "!~", ">", "<")
_BARE_ARGUMENT = re.compile(r"[^\s()]+")
_BARE_ITEM = re.compile(r"[^,\[\]()'\"]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_LABEL_INTEGER = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"[()\[\],]|[^\s()\[\],]+|\s")
_BOOLEANS = ("true", "false")


def _invalid(message: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid expression: {message}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def parse(self) -> Expression:
        expression = self.disjunction()
        self.skip_space()
        if not self.at_end():
            raise self.unexpected("'and', 'or' or the end of the expression")
        return expression

    def disjunction(self) -> Expression:
        expression = self.conjunction()
        while self.take_connective("or", "||"):
            expression = Or(expression, self.conjunction())
        return expression

    def conjunction(self) -> Expression:
        expression = self.negation()
        while self.take_connective("and", "&&"):
            expression = And(expression, self.negation())
        return expression

    def negation(self) -> Expression:
        self.skip_space()
        start = self.pos
        if self.take_connective("not", "!"):
            return Not(self.nested(start, self.negation))
        if self.text.startswith("(", self.pos):
            self.pos += 1
            expression = self.nested(start, self.disjunction)
            self.skip_space()
            if not self.text.startswith(")", self.pos):
                raise self.unexpected("'and', 'or' or ')'")
            self.pos += 1
            return expression
        return self.comparison()

    def nested(self, start: int, parse_inner: Callable[[], Expression]) -> Expression:
        """`parse_inner()` one level deeper; the limit keeps evaluation within Python's recursion limit."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _invalid(f"nested more than {MAX_NESTING} levels deep at position {start + 1}")
        expression = parse_inner()
        self.depth -= 1
        return expression

    def comparison(self) -> Comparison:
        subject = self.subject()
        self.skip_space()
        operator_at = self.pos
        op = self.operator()
        if op not in _VALID_OPERATORS[subject.field]:
            valid = ", ".join(_VALID_OPERATORS[subject.field])
            raise _invalid(
                f"operator '{op}' at position {operator_at + 1} does not apply to {subject}; expected one of {valid}"
            )
        return Comparison(subject, op, self.arguments(subject, op))

    def subject(self) -> Subject:
        self.skip_space()
        match = _SUBJECT_WORD.match(self.text, self.pos)
        if match is None:
            raise self.unexpected(_SUBJECTS_EXPECTED)
        word = match.group()
        if word.startswith("attribute:"):
            name = word.removeprefix("attribute:")
            if not ATTRIBUTE_NAME.fullmatch(name):
                raise _invalid(
                    f"invalid attribute name '{name}' at position {self.pos + 11}; expected 1 to 128 "
                    "letters, digits, hyphens, underscores, periods or slashes"
                )
            self.pos = match.end()
            return Subject(Field.ATTRIBUTE, name)
        if word not in _NAMED_FIELDS:
            raise self.unexpected(_SUBJECTS_EXPECTED)
        self.pos = match.end()
        return Subject(_NAMED_FIELDS[word])

    def operator(self) -> Operator:
        for symbol in _SYMBOL_OPERATORS:
            if self.text.startswith(symbol, self.pos):
                end = self.pos + len(symbol)
                if symbol[-1].isalpha() and end < len(self.text) and not self.ends_word(end):
                    break
                self.pos = end
                return Operator(symbol)
        match = _KEYWORD.match(self.text, self.pos)
        if match is not None and match.group().lower() in _OPERATOR_ALIASES and self.ends_word(match.end()):
            self.pos = match.end()
            return _OPERATOR_ALIASES[match.group().lower()]
        raise self.unexpected("an operator")

    def arguments(self, subject: Subject, op: Operator) -> tuple[str, ...]:
        if op in _PRESENCE:
            return ()
        if op in _LISTS:
            return self.argument_list(subject, op)
        self.skip_space()
        start = self.pos
        if self.text.startswith(("'", '"'), self.pos):
            word = self.quoted()
        elif op in _PATTERNS:
            word = self.bare_pattern()
        else:
            word = self.bare_argument()
        self.check(subject, op, word, start)
        return (word,)

    def bare_argument(self) -> str:
        match = _BARE_ARGUMENT.match(self.text, self.pos)
        word = re.split(r"&&|\|\|", match.group() if match else "", maxsplit=1)[0]
        if not word:
            raise self.unexpected("an argument")
        self.pos += len(word)
        return word

    def bare_pattern(self) -> str:
        end = _bare_pattern_end(self.text, self.pos)
        if end == self.pos:
            raise self.unexpected("an argument")
        word = self.text[self.pos : end]
        self.pos = end
        return word

    def argument_list(self, subject: Subject, op: Operator) -> tuple[str, ...]:
        self.skip_space()
        if not self.text.startswith("[", self.pos):
            raise self.unexpected("'[' to open a list of arguments")
        self.pos += 1
        items: list[str] = []
        while True:
            self.skip_space()
            start = self.pos
            items.append(self.list_item())
            self.check(subject, op, items[-1], start)
            self.skip_space()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return tuple(items)
            if not self.text.startswith(",", self.pos):
                raise self.unexpected("',' or ']'")
            self.pos += 1

    def list_item(self) -> str:
        if self.text.startswith(("'", '"'), self.pos):
            return self.quoted()
        match = _BARE_ITEM.match(self.text, self.pos)
        item = match.group().rstrip() if match else ""
        if not item:
            raise self.unexpected("an argument")
        self.pos += len(item)
        return item

    def quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise _invalid(f"unterminated quoted string at position {self.pos + 1}")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def check(self, subject: Subject, op: Operator, value: str, start: int) -> None:
        problem = _argument_problem(subject, op, value)
        if problem is not None:
            raise _invalid(f"invalid argument '{value}' at position {start + 1} for {subject} {op}; {problem}")

    def take_connective(self, word: str, symbol: str) -> bool:
        self.skip_space()
        if self.text.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        end = self.pos + len(word)
        if self.text[self.pos : end].lower() == word and self.ends_word(end):
            self.pos = end
            return True
        return False

    def ends_word(self, index: int) -> bool:
        return index >= len(self.text) or not (self.text[index].isalnum() or self.text[index] in "_:.-")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def unexpected(self, expected: str) -> InvalidParameterException:
        found = "end of expression" if self.at_end() else f"token '{self.token()}'"
        return _invalid(f"unexpected {found} at position {self.pos + 1}; expected {expected}")

    def token(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        return match.group() if match else ""


def _bare_pattern_end(text: str, start: int) -> int:
    """Where a bare regular expression starting at `start` ends: at whitespace (escaped or not),
    at the end of `text`, or at a `)` that no `(` of the regular expression opened (it closes a
    group of the expression around the comparison). Escaped parentheses, those in a character
    class (nested classes included) and those between \\Q and \\E are literals of the regular
    expression and do not count."""
    pos, groups, classes, quoting = start, 0, 0, False
    while pos < len(text) and not text[pos].isspace():
        char = text[pos]
        if quoting:
            quoting = not text.startswith("\\E", pos)
            pos += 1 if quoting else 2
            continue
        if char == "\\":
            quoting = text.startswith("Q", pos + 1)
            pos += 2 if pos + 1 < len(text) and not text[pos + 1].isspace() else 1
            continue
        if classes:
            classes += {"[": 1, "]": -1}.get(char, 0)
        elif char == "[":
            classes = 1
            pos = _class_body(text, pos + 1)
            continue
        elif char == "(":
            groups += 1
        elif char == ")":
            if groups == 0:
                break
            groups -= 1
        pos += 1
    return pos


def _class_body(text: str, pos: int) -> int:
    """Past a character class's `^` and a leading `]`, which Java reads as a literal."""
    pos += text.startswith("^", pos)
    return pos + text.startswith("]", pos)


def parse(expression: str) -> Expression:
    """The expression as a syntax tree, its arguments checked; InvalidParameterException if invalid."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _invalid(f"it is {len(expression)} characters long; the maximum is {MAX_EXPRESSION_LENGTH}")
    return _Parser(expression).parse()


def _argument_problem(subject: Subject, op: Operator, value: str) -> str | None:
    """What is wrong with `value` as an argument of `subject op`, or None."""
    if op in _PATTERNS:
        try:
            compile_java_regex(value)
        except UnsupportedRegex as error:
            return f"not a usable regular expression: {error}"
        return None
    field = subject.field
    if field is Field.AGENT_CONNECTED and value.lower() not in _BOOLEANS:
        return "expected true or false"
    if field is Field.AGENT_VERSION and not _VERSION.fullmatch(value):
        return "expected a version like 1.14.5"
    if field is Field.REGISTERED_AT and _as_date(value) is None:
        return "expected a date like 2018-06-18 or 2018-06-18T22:28:28Z"
    integer_needed = field is Field.RUNNING_TASKS_COUNT or (field is Field.ATTRIBUTE and op in _ORDERING)
    if integer_needed and _as_integer(value) is None:
        return "expected an integer"
    return None


def _as_integer(text: str) -> int | None:
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _as_label_integer(text: str) -> int | None:
    """An attribute value read as Kubernetes' Gt and Lt read a label (which cannot carry a sign)."""
    return _as_integer(text) if _LABEL_INTEGER.fullmatch(text) else None


def _as_version(text: str) -> tuple[int, ...] | None:
    return tuple(int(part) for part in text.split(".")) if _VERSION.fullmatch(text) else None


def _as_date(text: str) -> date | datetime | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        if "T" not in text:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def evaluate(expression: Expression, facts: InstanceFacts) -> bool:
    match expression:
        case Comparison():
            return _holds(expression, facts)
        case Not(operand):
            return not evaluate(operand, facts)
        case And(left, right):
            return evaluate(left, facts) and evaluate(right, facts)
        case Or(left, right):
            return evaluate(left, facts) or evaluate(right, facts)


def _holds(comparison: Comparison, facts: InstanceFacts) -> bool:
    field = comparison.subject.field
    if field is Field.AGENT_VERSION:
        return _compare(comparison.operator, _as_version(facts.agent_version), _as_version(comparison.argument))
    if field is Field.RUNNING_TASKS_COUNT:
        return _compare(comparison.operator, facts.running_tasks_count, _as_integer(comparison.argument))
    if field is Field.REGISTERED_AT:
        return _compare_registered_at(comparison, facts.registered_at)
    return _holds_for_some(comparison, _subject_values(comparison, facts))


def _compare(op: Operator, value: Any, argument: Any) -> bool:
    return value is not None and argument is not None and _COMPARE[op](value, argument)


def _compare_registered_at(comparison: Comparison, registered_at: datetime) -> bool:
    moment = registered_at.replace(tzinfo=UTC) if registered_at.tzinfo is None else registered_at
    moment = moment.astimezone(UTC).replace(microsecond=0)
    argument = _as_date(comparison.argument)
    value: date = moment if isinstance(argument, datetime) else moment.date()
    return _compare(comparison.operator, value, argument)


def _subject_values(comparison: Comparison, facts: InstanceFacts) -> list[str]:
    match comparison.subject.field:
        case Field.ATTRIBUTE:
            value = facts.attributes.get(comparison.subject.attribute)
            return [] if value is None else [value]
        case Field.TASK_GROUP:
            return sorted(facts.task_groups)
        case Field.EC2_INSTANCE_ID:
            return [facts.ec2_instance_id]
        case _:
            return ["true" if facts.agent_connected else "false"]


def _holds_for_some(comparison: Comparison, values: list[str]) -> bool:
    op = comparison.operator
    if op in _PRESENCE:
        return bool(values) == (op is Operator.EXISTS)
    arguments = comparison.values
    if comparison.subject.field is Field.AGENT_CONNECTED and op not in _PATTERNS:
        arguments = tuple(argument.lower() for argument in arguments)
    return any(_holds_for(op, value, arguments) for value in values)


def _holds_for(op: Operator, value: str, arguments: tuple[str, ...]) -> bool:
    if op in _LISTS:
        return (value in arguments) == (op is Operator.IN)
    if op in _PATTERNS:
        return (compile_java_regex(arguments[0]).fullmatch(value) is not None) == (op is Operator.MATCHES)
    if op in _EQUALITY:
        return _COMPARE[op](value, arguments[0])
    return _compare(op, _as_label_integer(value), _as_integer(arguments[0]))


def render(expression: Expression) -> str:
    """Text that parses back to `expression`."""
    match expression:
        case Comparison():
            return _render_comparison(expression)
        case Not(operand):
            inner = render(operand)
            return f"not {inner}" if isinstance(operand, Comparison | Not) else f"not ({inner})"
        case And(left, right):
            return f"{_grouped(left, Or)} and {_grouped(right, Or | And)}"
        case Or(left, right):
            return f"{render(left)} or {_grouped(right, Or)}"


def _grouped(expression: Expression, needs_parentheses: Any) -> str:
    text = render(expression)
    return f"({text})" if isinstance(expression, needs_parentheses) else text


def _render_comparison(comparison: Comparison) -> str:
    head = f"{comparison.subject} {comparison.operator}"
    if comparison.operator in _PRESENCE:
        return head
    if comparison.operator in _LISTS:
        items = ", ".join(_render_value(value, _BARE_ITEM, inner_space=True) for value in comparison.values)
        return f"{head} [{items}]"
    return f"{head} {_render_value(comparison.argument, _BARE_ARGUMENT, inner_space=False)}"


def _render_value(value: str, bare: re.Pattern[str], inner_space: bool) -> str:
    is_bare = (
        bare.fullmatch(value) is not None
        and value == value.strip()
        and (inner_space or not any(char.isspace() for char in value))
        and not value.startswith(("'", '"'))
        and "&&" not in value
        and "||" not in value
    )
    if is_bare:
        return value
    quote = "'" if "'" not in value else '"'
    if quote in value:
        raise ValueError(f"{value!r} cannot be written in the cluster query language")
    return f"{quote}{value}{quote}"


def disjunctive_normal_form(expression: Expression, max_terms: int = MAX_TERMS) -> list[Term] | None:
    """`expression` as an OR of ANDs of literals, negations pushed down; None beyond `max_terms`."""
    try:
        return _dnf(expression, False, max_terms)
    except _TooLarge:
        return None


class _TooLarge(Exception):
    pass


def _dnf(expression: Expression, negated: bool, max_terms: int) -> list[Term]:
    match expression:
        case Comparison():
            return [(Literal(expression, negated),)]
        case Not(operand):
            return _dnf(operand, not negated, max_terms)
        case And(left, right) | Or(left, right):
            lefts = _dnf(left, negated, max_terms)
            rights = _dnf(right, negated, max_terms)
            if isinstance(expression, And) != negated:
                return _bounded([a + b for a, b in itertools.product(lefts, rights)], max_terms)
            return _bounded(lefts + rights, max_terms)


def _bounded(terms: list[Term], max_terms: int) -> list[Term]:
    if len(terms) > max_terms:
        raise _TooLarge
    return terms


def evaluate_term(term: Iterable[Literal], facts: InstanceFacts) -> bool:
    return all(_holds(literal.comparison, facts) != literal.negated for literal in term)


LabelForAttribute = Callable[[str], str]
LabelValueForAttribute = Callable[[str, str], str]


def default_label_value(attribute: str, value: str) -> str:
    return names.label_value(value)


def to_node_selector_terms(
    expression: Expression,
    label_for_attribute: LabelForAttribute,
    label_value_for_attribute: LabelValueForAttribute = default_label_value,
) -> list[dict[str, Any]] | None:
    """`nodeSelectorTerms` selecting exactly the instances `expression` selects, or None.

    None when the expression needs something node labels cannot say (patterns, task groups,
    agent facts, registration time, task counts, negated integer comparisons) or more than
    MAX_TERMS terms. Attribute values go through `label_value_for_attribute(name, value)`;
    `ec2InstanceId` is the node's `kubernetes.io/hostname`.
    """
    terms = disjunctive_normal_form(expression)
    if terms is None:
        return None
    return node_selector_terms(terms, label_for_attribute, label_value_for_attribute)


def node_selector_terms(
    terms: Sequence[Term],
    label_for_attribute: LabelForAttribute,
    label_value_for_attribute: LabelValueForAttribute = default_label_value,
) -> list[dict[str, Any]] | None:
    """The `nodeSelectorTerms` of an OR of ANDs of literals; None as in `to_node_selector_terms`."""
    result: list[dict[str, Any]] = []
    for term in terms:
        alternatives = [
            _literal_requirements(literal, label_for_attribute, label_value_for_attribute) for literal in term
        ]
        if any(alternative is None for alternative in alternatives):
            return None
        for combination in itertools.product(*alternatives):  # type: ignore[arg-type]
            result.append({"matchExpressions": _unique(itertools.chain.from_iterable(combination))})
            if len(result) > MAX_TERMS:
                return None
    return result


def _unique(requirements: Iterable[Requirement]) -> list[Requirement]:
    unique: list[Requirement] = []
    for requirement in requirements:
        if requirement not in unique:
            unique.append(requirement)
    return unique


def _requirement(key: str, op: str, values: Iterable[str] = ()) -> Requirement:
    requirement: Requirement = {"key": key, "operator": op}
    listed = list(dict.fromkeys(values))
    if listed:
        requirement["values"] = listed
    return requirement


def _literal_requirements(
    literal: Literal,
    label_for_attribute: LabelForAttribute,
    label_value_for_attribute: LabelValueForAttribute,
) -> list[list[Requirement]] | None:
    """The literal as an OR (outer list) of ANDs (inner lists) of node selector requirements."""
    comparison = literal.comparison
    field = comparison.subject.field
    op = comparison.operator
    if field is Field.EC2_INSTANCE_ID and op not in _PATTERNS:
        selected = (op in (Operator.EQUALS, Operator.IN)) != literal.negated
        values = [names.label_value(value) for value in comparison.values]
        return [[_requirement(HOSTNAME_LABEL, "In" if selected else "NotIn", values)]]
    if field is not Field.ATTRIBUTE or op in _PATTERNS:
        return None
    name = comparison.subject.attribute
    key = label_for_attribute(name)
    if op in _ORDERING:
        return None if literal.negated else _integer_requirement(key, op, int(comparison.argument))
    if op in _PRESENCE:
        present = (op is Operator.EXISTS) != literal.negated
        return [[_requirement(key, "Exists" if present else "DoesNotExist")]]
    values = [label_value_for_attribute(name, value) for value in comparison.values]
    return _membership_requirements(key, op in (Operator.EQUALS, Operator.IN), values, literal.negated)


def _membership_requirements(key: str, positive: bool, values: list[str], negated: bool) -> list[list[Requirement]]:
    """`==`/`in` (positive) or `!=`/`!in`: a present label whose value is (not) among `values`."""
    if positive:
        return [[_requirement(key, "NotIn" if negated else "In", values)]]
    if negated:
        return [[_requirement(key, "DoesNotExist")], [_requirement(key, "In", values)]]
    return [[_requirement(key, "Exists"), _requirement(key, "NotIn", values)]]


def _integer_requirement(key: str, op: Operator, bound: int) -> list[list[Requirement]] | None:
    k8s_op, value = {
        Operator.GREATER_THAN: ("Gt", bound),
        Operator.GREATER_THAN_EQUAL: ("Gt", bound - 1),
        Operator.LESS_THAN: ("Lt", bound),
        Operator.LESS_THAN_EQUAL: ("Lt", bound + 1),
    }[op]
    if not _INT64_MIN <= value <= _INT64_MAX:
        return None
    return [[_requirement(key, k8s_op, [str(value)])]]
