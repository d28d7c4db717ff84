import dataclasses
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import InvalidParameterException
from shim.translate import names
from shim.translate.cql import (
    HOSTNAME_LABEL,
    MAX_EXPRESSION_LENGTH,
    And,
    Comparison,
    Expression,
    Field,
    InstanceFacts,
    Not,
    Operator,
    Or,
    Subject,
    disjunctive_normal_form,
    evaluate,
    evaluate_term,
    parse,
    render,
    to_node_selector_terms,
)

BASE_FACTS = InstanceFacts(
    attributes={
        "ecs.instance-type": "t2.small",
        "ecs.availability-zone": "us-east-1a",
        "stack": "prod",
        "gpus": "4",
        "label": "not a number",
    },
    ec2_instance_id="i-abcd1234",
    agent_connected=True,
    agent_version="1.9.0",
    registered_at=datetime(2018, 2, 12, 23, 30, 5, tzinfo=UTC),
    running_tasks_count=1,
    task_groups=frozenset({"service:production", "family:web"}),
)


def facts(**changes: Any) -> InstanceFacts:
    return dataclasses.replace(BASE_FACTS, **changes)


def attribute(name: str) -> Subject:
    return Subject(Field.ATTRIBUTE, name)


def error_of(expression: str) -> str:
    with pytest.raises(InvalidParameterException) as raised:
        parse(expression)
    return raised.value.message


def label_for_attribute(name: str) -> str:
    return f"attribute.test/{names.label_value(name)}"


# Parsing


@pytest.mark.parametrize(
    ("expression", "tree"),
    [
        (
            "attribute:ecs.instance-type == t2.small",
            Comparison(attribute("ecs.instance-type"), Operator.EQUALS, ("t2.small",)),
        ),
        (
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
            Comparison(attribute("ecs.availability-zone"), Operator.IN, ("us-east-1a", "us-east-1b")),
        ),
        (
            "task:group == service:production",
            Comparison(Subject(Field.TASK_GROUP), Operator.EQUALS, ("service:production",)),
        ),
        (
            "not(task:group == database)",
            Not(Comparison(Subject(Field.TASK_GROUP), Operator.EQUALS, ("database",))),
        ),
        (
            "runningTasksCount == 1",
            Comparison(Subject(Field.RUNNING_TASKS_COUNT), Operator.EQUALS, ("1",)),
        ),
        (
            "agentVersion < 1.14.5",
            Comparison(Subject(Field.AGENT_VERSION), Operator.LESS_THAN, ("1.14.5",)),
        ),
        (
            "registeredAt < 2018-02-13",
            Comparison(Subject(Field.REGISTERED_AT), Operator.LESS_THAN, ("2018-02-13",)),
        ),
        (
            "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
            Comparison(Subject(Field.EC2_INSTANCE_ID), Operator.IN, ("i-abcd1234", "i-wxyx7890")),
        ),
        (
            "agentConnected == false",
            Comparison(Subject(Field.AGENT_CONNECTED), Operator.EQUALS, ("false",)),
        ),
        (
            "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
            And(
                Comparison(attribute("ecs.instance-type"), Operator.MATCHES, ("g2.*",)),
                Comparison(attribute("ecs.availability-zone"), Operator.NOT_EQUALS, ("us-east-1d",)),
            ),
        ),
    ],
)
def test_parses_the_examples_of_the_developer_guide(expression: str, tree: Expression) -> None:
    assert parse(expression) == tree


@pytest.mark.parametrize(
    ("word", "symbol"),
    [
        ("equals", "=="),
        ("not_equals", "!="),
        ("greater_than", ">"),
        ("greater_than_equal", ">="),
        ("less_than", "<"),
        ("less_than_equal", "<="),
        ("not_exists", "!exists"),
        ("not_in", "!in"),
        ("matches", "=~"),
        ("not_matches", "!~"),
        ("EQUALS", "=="),
    ],
)
def test_word_operators_mean_their_symbols(word: str, symbol: str) -> None:
    argument = {"!exists": "", "!in": "[1, 2]"}.get(symbol, "5")
    assert parse(f"attribute:x {word} {argument}") == parse(f"attribute:x {symbol} {argument}")


def test_exists_takes_no_argument() -> None:
    assert parse("attribute:x exists") == Comparison(attribute("x"), Operator.EXISTS)
    assert parse("attribute:x !exists") == Comparison(attribute("x"), Operator.NOT_EXISTS)


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    a, b, c = (Comparison(attribute(name), Operator.EXISTS) for name in "abc")
    assert parse("attribute:a exists or attribute:b exists and attribute:c exists") == Or(a, And(b, c))
    assert parse("attribute:a exists and attribute:b exists or attribute:c exists") == Or(And(a, b), c)
    assert parse("not attribute:a exists and attribute:b exists") == And(Not(a), b)
    assert parse("!attribute:a exists || attribute:b exists") == Or(Not(a), b)


def test_parentheses_override_precedence() -> None:
    a, b, c = (Comparison(attribute(name), Operator.EXISTS) for name in "abc")
    assert parse("(attribute:a exists or attribute:b exists) and attribute:c exists") == And(Or(a, b), c)
    assert parse("not (attribute:a exists or attribute:b exists)") == Not(Or(a, b))
    assert parse("((attribute:a exists))") == a


def test_binary_connectives_group_from_the_left() -> None:
    a, b, c = (Comparison(attribute(name), Operator.EXISTS) for name in "abc")
    assert parse("attribute:a exists and attribute:b exists and attribute:c exists") == And(And(a, b), c)
    assert parse("attribute:a exists || attribute:b exists || attribute:c exists") == Or(Or(a, b), c)


def test_connectives_are_symbols_or_case_insensitive_words() -> None:
    expected = parse("attribute:a exists and not attribute:b exists or attribute:c exists")
    assert parse("attribute:a exists&&!attribute:b exists||attribute:c exists") == expected
    assert parse("attribute:a exists AND NOT attribute:b exists Or attribute:c exists") == expected


def test_arguments_may_be_quoted_to_hold_spaces_and_parentheses() -> None:
    assert parse("attribute:x == 'a b (c)'").values == ("a b (c)",)  # type: ignore[union-attr]
    assert parse('attribute:x == "it\'s"').values == ("it's",)  # type: ignore[union-attr]
    assert parse("attribute:x == ''").values == ("",)  # type: ignore[union-attr]
    assert parse("attribute:x in [\"a, b\", c d , 'e']").values == ("a, b", "c d", "e")  # type: ignore[union-attr]


def test_a_bare_argument_ends_at_whitespace_a_parenthesis_or_a_connective() -> None:
    expected = And(Comparison(attribute("x"), Operator.EQUALS, ("a",)), Comparison(attribute("y"), Operator.EXISTS))
    assert parse("attribute:x==a&&attribute:y exists") == expected
    assert parse("(attribute:x == a)and(attribute:y exists)") == expected


def test_a_pattern_argument_keeps_its_alternations() -> None:
    assert parse("attribute:x =~ a|b||c").values == ("a|b||c",)  # type: ignore[union-attr]


def test_a_pattern_argument_keeps_its_groups_and_alternations() -> None:
    expression = parse(r"attribute:ecs.instance-type =~ (c5|m5)\.(large|xlarge)")
    assert expression == Comparison(attribute("ecs.instance-type"), Operator.MATCHES, (r"(c5|m5)\.(large|xlarge)",))
    for instance_type, selected in (
        ("c5.large", True),
        ("m5.xlarge", True),
        ("t2.large", False),
        ("c5.2xlarge", False),
    ):
        assert evaluate(expression, facts(attributes={"ecs.instance-type": instance_type})) is selected


@pytest.mark.parametrize(
    ("expression", "pattern"),
    [
        (r"(attribute:x =~ (c5|m5)\.large) and attribute:y exists", r"(c5|m5)\.large"),
        (r"(attribute:x =~ ((a)|(b))+) and attribute:y exists", "((a)|(b))+"),
        (r"(attribute:x =~ t2.*)and(attribute:y exists)", "t2.*"),
        (r"(attribute:x =~ a\)+) and attribute:y exists", r"a\)+"),
        (r"(attribute:x =~ [)(]+) and attribute:y exists", "[)(]+"),
        (r"(attribute:x =~ [^])]+) and attribute:y exists", "[^])]+"),
        (r"(attribute:x =~ \Q)(\E) and attribute:y exists", r"\Q)(\E"),
        (r"(attribute:x =~ (a|b)&&c) and attribute:y exists", "(a|b)&&c"),
    ],
)
def test_a_pattern_in_parentheses_ends_at_the_parenthesis_its_own_groups_do_not_close(
    expression: str, pattern: str
) -> None:
    assert parse(expression) == And(
        Comparison(attribute("x"), Operator.MATCHES, (pattern,)), Comparison(attribute("y"), Operator.EXISTS)
    )


def test_a_pattern_with_an_unclosed_group_is_refused_as_a_regular_expression() -> None:
    assert error_of("attribute:x =~ (c5|m5") == (
        "Invalid expression: invalid argument '(c5|m5' at position 16 for attribute:x =~; "
        "not a usable regular expression: missing ), unterminated subpattern"
    )
    assert error_of("(attribute:x =~ (c5|m5) and attribute:y exists") == (
        "Invalid expression: unexpected end of expression at position 47; expected 'and', 'or' or ')'"
    )


def test_the_expression_may_be_2000_characters_long() -> None:
    padding = " " * (MAX_EXPRESSION_LENGTH - len("attribute:x exists"))
    assert parse("attribute:x exists" + padding) == Comparison(attribute("x"), Operator.EXISTS)
    assert error_of("attribute:x exists " + padding) == (
        "Invalid expression: it is 2001 characters long; the maximum is 2000"
    )


def test_nesting_is_limited_to_100_levels() -> None:
    assert parse("(" * 50 + "not " * 50 + "attribute:x exists" + ")" * 50) is not None
    assert error_of("!" * 50 + "(" * 51 + "attribute:x exists" + ")" * 51) == (
        "Invalid expression: nested more than 100 levels deep at position 101"
    )
    assert error_of("not " * 101 + "attribute:x exists") == (
        "Invalid expression: nested more than 100 levels deep at position 401"
    )


SUBJECTS = (
    "a subject (attribute:<name>, task:group, ec2InstanceId, agentConnected, agentVersion, "
    "registeredAt or runningTasksCount)"
)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "attribute:x == y xyz",
            "unexpected token 'xyz' at position 18; expected 'and', 'or' or the end of the expression",
        ),
        ("attribute:stack xyz prod", "unexpected token 'xyz' at position 17; expected an operator"),
        ("attribute:x", "unexpected end of expression at position 12; expected an operator"),
        ("attribute:x ==", "unexpected end of expression at position 15; expected an argument"),
        ("attribute:x == &&", "unexpected token '&&' at position 16; expected an argument"),
        ("", f"unexpected end of expression at position 1; expected {SUBJECTS}"),
        ("instance == x", f"unexpected token 'instance' at position 1; expected {SUBJECTS}"),
        ("attribute:x exists and", f"unexpected end of expression at position 23; expected {SUBJECTS}"),
        ("(attribute:x exists", "unexpected end of expression at position 20; expected 'and', 'or' or ')'"),
        (
            "attribute:x exists)",
            "unexpected token ')' at position 19; expected 'and', 'or' or the end of the expression",
        ),
        ("attribute:x in a", "unexpected token 'a' at position 16; expected '[' to open a list of arguments"),
        ("attribute:x in [a b", "unexpected end of expression at position 20; expected ',' or ']'"),
        ("attribute:x in [a,]", "unexpected token ']' at position 19; expected an argument"),
        ("attribute:x in []", "unexpected token ']' at position 17; expected an argument"),
        ("attribute:x == 'abc", "unterminated quoted string at position 16"),
        (
            "attribute:x@y exists",
            "invalid attribute name 'x@y' at position 11; expected 1 to 128 letters, digits, hyphens, "
            "underscores, periods or slashes",
        ),
        (
            "agentConnected > true",
            "operator '>' at position 16 does not apply to agentConnected; expected one of ==, !=, in, !in, =~, !~",
        ),
        (
            "ec2InstanceId exists",
            "operator 'exists' at position 15 does not apply to ec2InstanceId; expected one of ==, !=, in, !in, =~, !~",
        ),
        (
            "task:group >= a",
            "operator '>=' at position 12 does not apply to task:group; "
            "expected one of ==, !=, in, !in, =~, !~, exists, !exists",
        ),
        (
            "runningTasksCount > many",
            "invalid argument 'many' at position 21 for runningTasksCount >; expected an integer",
        ),
        (
            "attribute:gpus >= 1.5",
            "invalid argument '1.5' at position 19 for attribute:gpus >=; expected an integer",
        ),
        (
            "agentVersion < latest",
            "invalid argument 'latest' at position 16 for agentVersion <; expected a version like 1.14.5",
        ),
        (
            "registeredAt > 2018-13-01",
            "invalid argument '2018-13-01' at position 16 for registeredAt >; "
            "expected a date like 2018-06-18 or 2018-06-18T22:28:28Z",
        ),
        (
            "registeredAt > yesterday",
            "invalid argument 'yesterday' at position 16 for registeredAt >; "
            "expected a date like 2018-06-18 or 2018-06-18T22:28:28Z",
        ),
        (
            "agentConnected in [true, maybe]",
            "invalid argument 'maybe' at position 26 for agentConnected in; expected true or false",
        ),
        (
            "attribute:x =~ 't2.('",
            "invalid argument 't2.(' at position 16 for attribute:x =~; "
            "not a usable regular expression: missing ), unterminated subpattern",
        ),
        (
            "attribute:x =~ [a-z&&[^aeiou]]",
            "invalid argument '[a-z&&[^aeiou]]' at position 16 for attribute:x =~; "
            "not a usable regular expression: character class intersections are not supported",
        ),
        (
            "attribute:x =~ [a-c[x-z]]",
            "invalid argument '[a-c[x-z]]' at position 16 for attribute:x =~; "
            "not a usable regular expression: character class unions are not supported",
        ),
        (
            r"attribute:x =~ \p{Lu}",
            r"invalid argument '\p{Lu}' at position 16 for attribute:x =~; "
            "not a usable regular expression: character property 'Lu' is not supported",
        ),
    ],
)
def test_invalid_expressions_are_rejected_with_where_and_what_was_expected(expression: str, message: str) -> None:
    assert error_of(expression) == f"Invalid expression: {message}"


# Evaluation


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("attribute:ecs.instance-type == t2.small", True),
        ("attribute:ecs.instance-type == T2.small", False),
        ("attribute:ecs.instance-type != t2.small", False),
        ("attribute:ecs.instance-type != m5.large", True),
        ("attribute:retiring != true", False),
        ("not (attribute:retiring == true)", True),
        ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True),
        ("attribute:ecs.availability-zone in [us-east-1c]", False),
        ("attribute:ecs.availability-zone !in [us-east-1c]", True),
        ("attribute:retiring !in [true]", False),
        ("attribute:stack exists", True),
        ("attribute:retiring exists", False),
        ("attribute:retiring !exists", True),
        ("attribute:ecs.instance-type =~ t2.*", True),
        ("attribute:ecs.instance-type =~ t2", False),
        ("attribute:ecs.instance-type =~ small", False),
        ("attribute:ecs.instance-type !~ m5.*", True),
        ("attribute:retiring !~ m5.*", False),
        ("attribute:gpus > 3", True),
        ("attribute:gpus > 4", False),
        ("attribute:gpus >= 4", True),
        ("attribute:gpus < 10", True),
        ("attribute:gpus <= 3", False),
        ("attribute:gpus > -1", True),
        ("attribute:label > 0", False),
        ("attribute:label < 0", False),
        ("task:group == service:production", True),
        ("task:group == database", False),
        ("not(task:group == database)", True),
        ("not(task:group == family:web)", False),
        ("task:group != family:web", True),
        ("task:group in [database, family:web]", True),
        ("task:group !in [database]", True),
        ("task:group =~ service:.*", True),
        ("task:group !~ .*", False),
        ("task:group exists", True),
        ("task:group !exists", False),
        ("ec2InstanceId == i-abcd1234", True),
        ("ec2InstanceId != i-abcd1234", False),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", True),
        ("ec2InstanceId !in ['i-abcd1234']", False),
        ("ec2InstanceId =~ i-abcd.*", True),
        ("agentConnected == true", True),
        ("agentConnected == FALSE", False),
        ("agentConnected != false", True),
        ("agentConnected in [false]", False),
        ("agentConnected =~ t.*", True),
        ("agentVersion < 1.14.5", True),
        ("agentVersion > 1.10", False),
        ("agentVersion == 1.9.0", True),
        ("agentVersion >= 1.9.0", True),
        ("agentVersion != 1.9", True),
        ("registeredAt < 2018-02-13", True),
        ("registeredAt < 2018-02-12", False),
        ("registeredAt == 2018-02-12", True),
        ("registeredAt > 2018-02-11", True),
        ("registeredAt <= 2018-02-12", True),
        ("registeredAt == 2018-02-12T23:30:05Z", True),
        ("registeredAt == 2018-02-12T23:30:05", True),
        ("registeredAt == 2018-02-13T01:30:05+02:00", True),
        ("registeredAt > 2018-02-12T23:30:05+00:00", False),
        ("registeredAt < 2018-02-13T00:00:00+01:00", False),
        ("runningTasksCount == 1", True),
        ("runningTasksCount > 0", True),
        ("runningTasksCount <= 0", False),
        ("runningTasksCount != 2", True),
    ],
)
def test_evaluates_each_subject_and_operator(expression: str, selected: bool) -> None:
    assert evaluate(parse(expression), BASE_FACTS) is selected


def test_a_date_only_argument_compares_the_utc_registration_day() -> None:
    late_in_the_day = facts(registered_at=datetime(2018, 2, 13, 1, 0, tzinfo=timezone(timedelta(hours=3))))
    assert evaluate(parse("registeredAt == 2018-02-12"), late_in_the_day)
    naive = facts(registered_at=datetime(2018, 2, 13, 0, 0, 0, 999))
    assert evaluate(parse("registeredAt == 2018-02-13T00:00:00Z"), naive)


def test_an_instance_without_task_groups_hosts_none() -> None:
    empty = facts(task_groups=frozenset())
    assert evaluate(parse("task:group !exists"), empty)
    assert not evaluate(parse("task:group != anything"), empty)
    assert evaluate(parse("not task:group == anything"), empty)


def test_compound_expressions_combine_their_parts() -> None:
    expression = parse(
        "attribute:ecs.instance-type =~ t2.* and (attribute:ecs.availability-zone == us-east-1b "
        "or not task:group == database)"
    )
    assert evaluate(expression, BASE_FACTS)
    assert not evaluate(expression, facts(task_groups=frozenset({"database"})))
    assert evaluate(
        expression,
        facts(
            task_groups=frozenset({"database"}),
            attributes={"ecs.instance-type": "t2.micro", "ecs.availability-zone": "us-east-1b"},
        ),
    )


# Kubernetes terms


def terms_of(expression: str) -> list[dict[str, Any]] | None:
    return to_node_selector_terms(parse(expression), label_for_attribute)


def requirement(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)} if values else {"key": key, "operator": op}


def term(*requirements: dict[str, Any]) -> dict[str, Any]:
    return {"matchExpressions": list(requirements)}


STACK = "attribute.test/stack"
ZONE = "attribute.test/ecs.availability-zone"


@pytest.mark.parametrize(
    ("expression", "terms"),
    [
        ("attribute:stack == prod", [term(requirement(STACK, "In", "prod"))]),
        (
            "attribute:stack != prod",
            [term(requirement(STACK, "Exists"), requirement(STACK, "NotIn", "prod"))],
        ),
        ("not attribute:stack == prod", [term(requirement(STACK, "NotIn", "prod"))]),
        (
            "not attribute:stack != prod",
            [term(requirement(STACK, "DoesNotExist")), term(requirement(STACK, "In", "prod"))],
        ),
        ("attribute:stack in [a, b, a]", [term(requirement(STACK, "In", "a", "b"))]),
        (
            "attribute:stack !in [a, b]",
            [term(requirement(STACK, "Exists"), requirement(STACK, "NotIn", "a", "b"))],
        ),
        ("attribute:stack exists", [term(requirement(STACK, "Exists"))]),
        ("attribute:stack !exists", [term(requirement(STACK, "DoesNotExist"))]),
        ("not attribute:stack !exists", [term(requirement(STACK, "Exists"))]),
        ("attribute:stack > 5", [term(requirement(STACK, "Gt", "5"))]),
        ("attribute:stack >= 5", [term(requirement(STACK, "Gt", "4"))]),
        ("attribute:stack < -5", [term(requirement(STACK, "Lt", "-5"))]),
        ("attribute:stack <= +5", [term(requirement(STACK, "Lt", "6"))]),
        ("ec2InstanceId == i-1", [term(requirement(HOSTNAME_LABEL, "In", "i-1"))]),
        ("ec2InstanceId != i-1", [term(requirement(HOSTNAME_LABEL, "NotIn", "i-1"))]),
        ("not ec2InstanceId !in [i-1, i-2]", [term(requirement(HOSTNAME_LABEL, "In", "i-1", "i-2"))]),
        (
            "attribute:stack == 'my stack'",
            [term(requirement(STACK, "In", names.label_value("my stack")))],
        ),
        (
            "attribute:stack == a and (attribute:ecs.availability-zone == z1 or ec2InstanceId == i-1)",
            [
                term(requirement(STACK, "In", "a"), requirement(ZONE, "In", "z1")),
                term(requirement(STACK, "In", "a"), requirement(HOSTNAME_LABEL, "In", "i-1")),
            ],
        ),
        (
            "not (attribute:stack == a or attribute:ecs.availability-zone exists)",
            [term(requirement(STACK, "NotIn", "a"), requirement(ZONE, "DoesNotExist"))],
        ),
        (
            "not (attribute:stack == a and attribute:stack exists)",
            [term(requirement(STACK, "NotIn", "a")), term(requirement(STACK, "DoesNotExist"))],
        ),
        ("attribute:stack exists and attribute:stack exists", [term(requirement(STACK, "Exists"))]),
    ],
)
def test_translates_to_node_selector_terms(expression: str, terms: list[dict[str, Any]]) -> None:
    assert terms_of(expression) == terms


@pytest.mark.parametrize(
    "expression",
    [
        "attribute:ecs.instance-type =~ t2.*",
        "attribute:stack !~ x",
        "ec2InstanceId =~ i-.*",
        "task:group == database",
        "not (task:group == database)",
        "runningTasksCount < 2",
        "registeredAt > 2018-01-01",
        "agentVersion >= 1.2",
        "agentConnected == true",
        "not attribute:gpus > 3",
        "attribute:gpus >= -9223372036854775808",
        "attribute:stack exists and (attribute:a exists or task:group exists)",
    ],
)
def test_what_node_labels_cannot_say_has_no_node_selector_terms(expression: str) -> None:
    assert terms_of(expression) is None


def test_attribute_values_go_through_the_given_label_value_mapping() -> None:
    terms = to_node_selector_terms(
        parse("attribute:arch == x86_64"), label_for_attribute, lambda name, value: f"{name}-{value}"
    )
    assert terms == [term(requirement("attribute.test/arch", "In", "arch-x86_64"))]


def test_expressions_too_large_in_normal_form_have_no_node_selector_terms() -> None:
    disjunction = " or ".join(f"attribute:a{i} exists" for i in range(4))
    product = " and ".join(f"({disjunction})" for _ in range(4))
    assert disjunctive_normal_form(parse(product)) is None
    assert terms_of(product) is None
    assert len(disjunctive_normal_form(parse(product), max_terms=256) or []) == 256


# Properties

ATTRIBUTE_NAMES = ("stack", "gpus", "ecs.instance-type")
ATTRIBUTE_VALUES = ("prod", "dev", "0", "4", "12", "my stack", "t2.small")
INTEGERS = ("-3", "0", "4", "+5", "12")
GROUPS = ("service:web", "family:db", "batch")
INSTANCE_IDS = ("i-1", "i-2")
VERSIONS = ("1.9.0", "1.14.5", "2")
DATES = (
    "2018-06-17",
    "2018-06-18",
    "2018-06-18T22:28:28Z",
    "2018-06-18T22:28:28+02:00",
    "2018-06-18T22:28:28",
)
PATTERNS = ("t2.*", "[0-9]+", "prod|dev", "service:.*", "i-1", "tr.*", ".*")

EQUALITY = (Operator.EQUALS, Operator.NOT_EQUALS)
ORDERING = (Operator.GREATER_THAN, Operator.GREATER_THAN_EQUAL, Operator.LESS_THAN, Operator.LESS_THAN_EQUAL)
LISTS = (Operator.IN, Operator.NOT_IN)
PATTERN_OPERATORS = (Operator.MATCHES, Operator.NOT_MATCHES)
PRESENCE = (Operator.EXISTS, Operator.NOT_EXISTS)

free_text = st.text(alphabet="ab &|()[],'\"!=x", max_size=6).filter(lambda text: not ("'" in text and '"' in text))


def arguments_for(op: Operator, values: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, ...]]:
    if op in PRESENCE:
        return st.just(())
    if op in LISTS:
        return st.lists(values, min_size=1, max_size=3).map(tuple)
    if op in PATTERN_OPERATORS:
        return st.sampled_from(PATTERNS).map(lambda pattern: (pattern,))
    return values.map(lambda value: (value,))


def comparison_of(
    subject: st.SearchStrategy[Subject], operators: tuple[Operator, ...], values: st.SearchStrategy[str]
) -> st.SearchStrategy[Comparison]:
    return st.sampled_from(operators).flatmap(
        lambda op: st.builds(Comparison, subject, st.just(op), arguments_for(op, values))
    )


attribute_subjects = st.sampled_from(ATTRIBUTE_NAMES).map(attribute)
comparisons = st.one_of(
    comparison_of(
        attribute_subjects,
        EQUALITY + LISTS + PATTERN_OPERATORS + PRESENCE,
        st.sampled_from(ATTRIBUTE_VALUES) | free_text,
    ),
    comparison_of(attribute_subjects, ORDERING, st.sampled_from(INTEGERS)),
    comparison_of(
        st.just(Subject(Field.TASK_GROUP)),
        EQUALITY + LISTS + PATTERN_OPERATORS + PRESENCE,
        st.sampled_from(GROUPS),
    ),
    comparison_of(
        st.just(Subject(Field.EC2_INSTANCE_ID)),
        EQUALITY + LISTS + PATTERN_OPERATORS,
        st.sampled_from(INSTANCE_IDS),
    ),
    comparison_of(
        st.just(Subject(Field.AGENT_CONNECTED)),
        EQUALITY + LISTS + PATTERN_OPERATORS,
        st.sampled_from(("true", "False")),
    ),
    comparison_of(st.just(Subject(Field.AGENT_VERSION)), EQUALITY + ORDERING, st.sampled_from(VERSIONS)),
    comparison_of(st.just(Subject(Field.REGISTERED_AT)), EQUALITY + ORDERING, st.sampled_from(DATES)),
    comparison_of(st.just(Subject(Field.RUNNING_TASKS_COUNT)), EQUALITY + ORDERING, st.sampled_from(("0", "1", "3"))),
)
label_comparisons = st.one_of(
    comparison_of(attribute_subjects, EQUALITY + LISTS + PRESENCE, st.sampled_from(ATTRIBUTE_VALUES)),
    comparison_of(attribute_subjects, ORDERING, st.sampled_from(INTEGERS)),
    comparison_of(st.just(Subject(Field.EC2_INSTANCE_ID)), EQUALITY + LISTS, st.sampled_from(INSTANCE_IDS)),
)


def compounds(leaves: st.SearchStrategy[Comparison]) -> st.SearchStrategy[Expression]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)),
        max_leaves=8,
    )


expressions = compounds(comparisons)
label_expressions = compounds(label_comparisons)
instance_facts = st.builds(
    InstanceFacts,
    attributes=st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), st.sampled_from((*ATTRIBUTE_VALUES, "-3", "+5"))),
    ec2_instance_id=st.sampled_from(INSTANCE_IDS),
    agent_connected=st.booleans(),
    agent_version=st.sampled_from(VERSIONS),
    registered_at=st.sampled_from(
        (
            datetime(2018, 6, 17, 23, 59, 59, tzinfo=UTC),
            datetime(2018, 6, 18, 20, 28, 28, tzinfo=UTC),
            datetime(2018, 6, 18, 22, 28, 28, 500, tzinfo=UTC),
            datetime(2018, 6, 19, 0, 28, 28, tzinfo=timezone(timedelta(hours=2))),
        )
    ),
    running_tasks_count=st.integers(0, 4),
    task_groups=st.frozensets(st.sampled_from(GROUPS)),
)


def kubernetes_selects(terms: list[dict[str, Any]], labels: Mapping[str, str]) -> bool:
    """How the API server matches nodeSelectorTerms: OR of terms, AND within a term."""
    return any(all(requirement_holds(r, labels) for r in t["matchExpressions"]) for t in terms)


def requirement_holds(requirement: dict[str, Any], labels: Mapping[str, str]) -> bool:
    value = labels.get(requirement["key"])
    values = requirement.get("values", [])
    match requirement["operator"]:
        case "In":
            return value in values
        case "NotIn":
            return value not in values
        case "Exists":
            return value is not None
        case "DoesNotExist":
            return value is None
        case "Gt" | "Lt" as op if value is not None and re.fullmatch(r"[+-]?[0-9]+", value):
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
    return False


def assert_valid_for_the_api_server(requirement: dict[str, Any]) -> None:
    values = requirement.get("values")
    if requirement["operator"] in ("In", "NotIn"):
        assert values
    elif requirement["operator"] in ("Exists", "DoesNotExist"):
        assert values is None
    else:
        assert values is not None and len(values) == 1 and -(2**63) <= int(values[0]) < 2**63


def node_labels(instance: InstanceFacts) -> dict[str, str]:
    labels = {label_for_attribute(name): names.label_value(value) for name, value in instance.attributes.items()}
    return {**labels, HOSTNAME_LABEL: instance.ec2_instance_id}


@settings(max_examples=200)
@given(expressions)
def test_rendered_text_parses_back_to_the_same_tree(expression: Expression) -> None:
    assert parse(render(expression)) == expression


@settings(max_examples=200)
@given(expressions, instance_facts)
def test_the_disjunctive_normal_form_selects_what_the_expression_selects(
    expression: Expression, instance: InstanceFacts
) -> None:
    terms = disjunctive_normal_form(expression)
    assert terms is not None
    assert any(evaluate_term(t, instance) for t in terms) == evaluate(expression, instance)


@settings(max_examples=200)
@given(expressions | label_expressions, instance_facts)
def test_node_selector_terms_select_what_the_expression_selects(
    expression: Expression, instance: InstanceFacts
) -> None:
    terms = to_node_selector_terms(expression, label_for_attribute)
    if terms is not None:
        assert all(t["matchExpressions"] for t in terms)
        for t in terms:
            for r in t["matchExpressions"]:
                assert_valid_for_the_api_server(r)
        assert kubernetes_selects(terms, node_labels(instance)) == evaluate(expression, instance)


@settings(max_examples=200)
@given(expressions, instance_facts)
def test_double_negation_changes_nothing(expression: Expression, instance: InstanceFacts) -> None:
    doubled = parse(f"not not ({render(expression)})")
    assert evaluate(doubled, instance) == evaluate(expression, instance)
    assert disjunctive_normal_form(doubled) == disjunctive_normal_form(expression)
    assert to_node_selector_terms(doubled, label_for_attribute) == to_node_selector_terms(
        expression, label_for_attribute
    )


@settings(max_examples=200)
@given(expressions | label_expressions, instance_facts)
def test_negation_selects_exactly_the_other_instances(expression: Expression, instance: InstanceFacts) -> None:
    negated = Not(expression)
    assert evaluate(negated, instance) != evaluate(expression, instance)
    terms = to_node_selector_terms(negated, label_for_attribute)
    if terms is not None:
        assert kubernetes_selects(terms, node_labels(instance)) != evaluate(expression, instance)


def test_a_pattern_a_backtracking_engine_never_finishes_is_evaluated_at_once() -> None:
    expression = parse("ec2InstanceId =~ '(.?.?)*x' or attribute:stack =~ (a|aa)*b")
    started = time.monotonic()
    assert not evaluate(expression, facts(ec2_instance_id="i-0123456789abcdef0123", attributes={"stack": "a" * 60}))
    assert time.monotonic() - started < 1


def test_a_pattern_only_a_backtracking_engine_can_run_is_refused() -> None:
    assert error_of(r"attribute:x =~ (a)\1") == (
        r"Invalid expression: invalid argument '(a)\1' at position 16 for attribute:x =~; "
        "not a usable regular expression: backreferences are not supported; "
        "only what runs in time linear in the value's length is supported"
    )
