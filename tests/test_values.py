"""One reader per kind of value (values.py): numbers, flags, rendered lists and dicts."""

from __future__ import annotations

import math

import pytest

from airflow_provider_smartlyq.core.values import parse_bool, parse_list, parse_mapping, parse_number
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        (True, None, True),
        (False, True, False),
        (1, None, True),
        (0, None, False),
        ("True", None, True),
        (" false ", None, False),
        ("YES", None, True),
        ("off", None, False),
        ("1", None, True),
        ("0", None, False),
        # Empty text and None mean "not given": the caller's default, whatever it is.
        ("", False, False),
        ("", True, True),
        ("  ", True, True),
        (None, False, False),
    ],
)
def test_parse_bool(value, default, expected):
    assert parse_bool(value, "flag", default=default) is expected


@pytest.mark.parametrize("value", ["", None, "maybe", 2, 1.0, [], "tru"])
def test_parse_bool_refuses_what_is_not_clearly_a_flag(value):
    with pytest.raises(SmartlyQValidationError, match="flag must be True or False"):
        parse_bool(value, "flag")  # no default: empty is refused too


@pytest.mark.parametrize(
    ("value", "split", "expected"),
    [
        ("['facebook', 'x']", True, ["facebook", "x"]),  # Jinja's text of a list param
        ('["facebook", "x"]', True, ["facebook", "x"]),
        ("(101, 102)", True, [101, 102]),
        ("101, 102  103", True, ["101", "102", "103"]),
        ("", True, []),
        ("https://a.example/x,y.png", False, "https://a.example/x,y.png"),  # URLs keep commas
        ("['https://a.example/1.png']", False, ["https://a.example/1.png"]),
        ([1, 2], True, [1, 2]),
        (None, True, None),
        ("[1,", True, "[1,"),  # unreadable: left to the caller's validator, which names it
        ("[", False, "["),
    ],
)
def test_parse_list(value, split, expected):
    assert parse_list(value, split=split) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{'instagram': {'content': 'hi'}}", {"instagram": {"content": "hi"}}),
        ('{"x": 1}', {"x": 1}),
        ({"x": 1}, {"x": 1}),
        ("{not a dict", "{not a dict"),
        ("plain", "plain"),
    ],
)
def test_parse_mapping(value, expected):
    assert parse_mapping(value) == expected


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (0, {"minimum": 0}, 0),
        (7.5, {"minimum": 0}, 7.5),
        (5, {"above": 0}, 5),
        ("30", {"above": 0, "text": True}, 30.0),
        (" 5 ", {"minimum": 0, "integer": True, "text": True}, 5),
        (3.0, {"integer": True}, 3),
    ],
)
def test_parse_number_accepts(value, options, expected):
    result = parse_number(value, "n", **options)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [
        (True, {"minimum": 0}, "n must be a number >= 0, got True"),
        (-1, {"minimum": 0}, "n must be a number >= 0, got -1"),
        (0, {"above": 0, "unit": "seconds"}, "n must be a number of seconds > 0, got 0"),
        (math.nan, {}, "n must be a number, got nan"),
        (math.inf, {"minimum": 0}, "n must be a number >= 0, got inf"),
        (10**400, {}, "n must be a number"),
        ("5", {"minimum": 0}, "n must be a number >= 0, got '5'"),  # text only when asked for
        ("five", {"text": True}, "n must be a number, got 'five'"),
        (2.5, {"integer": True}, "n must be an integer, got 2.5"),
        (11, {"maximum": 10}, "n must be a number <= 10, got 11"),
    ],
)
def test_parse_number_refuses(value, options, message):
    with pytest.raises(SmartlyQValidationError) as info:
        parse_number(value, "n", **options)
    assert message in str(info.value)
