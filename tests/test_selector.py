"""AccountSelector: every combination of criteria, typed errors, round trips."""

from __future__ import annotations

import itertools
import json

import pytest

from airflow_provider_smartlyq.core.selector import MAX_PATTERN_LENGTH, AccountSelector
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

# Shaped like GET /social/accounts items (``name``) ...
LISTED = [
    {"id": 101, "platform": "facebook", "name": "Acme Facebook"},
    {"id": 102, "platform": "instagram", "name": "Acme Instagram"},
    {"id": 103, "platform": "twitter", "name": "Acme X"},
    {"id": 104, "platform": "gmb", "name": "Acme Store Berlin"},
    {"id": 105, "platform": "tiktok", "name": "Globex TikTok"},
    {"id": 106, "platform": "twitter", "name": "Globex X"},
    {"id": 107, "platform": "facebook", "name": "Café Müller Ünïcødé"},
    {"id": 108, "platform": "instagram", "name": "東京 Brand"},
]
# ... and like GET /social/accounts/health items (``account_name``).
HEALTH = [{"id": a["id"], "platform": a["platform"], "account_name": a["name"]} for a in LISTED]

IDS = {"account_ids": [101, 103, 106, 107]}
PLATFORMS = {"platforms": ["X", "facebook"]}
PATTERN = {"account_name_pattern": "acme *"}


def ids_of(accounts) -> list[int]:
    return [a["id"] for a in accounts]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, None),  # no criterion: refused (below)
        (IDS, [101, 103, 106, 107]),
        (PLATFORMS, [101, 103, 106, 107]),
        (PATTERN, [101, 102, 103, 104]),
        ({**IDS, **PLATFORMS}, [101, 103, 106, 107]),
        ({**IDS, **PATTERN}, [101, 103]),
        ({**PLATFORMS, **PATTERN}, [101, 103]),
        ({**IDS, **PLATFORMS, **PATTERN}, [101, 103]),
        ({"all_accounts": True}, list(range(101, 109))),
        ({"all_accounts": True, "platforms": "twitter"}, [103, 106]),
    ],
)
@pytest.mark.parametrize("accounts", [LISTED, HEALTH], ids=["list", "health"])
def test_criteria_combine_with_and(criteria, expected, accounts):
    if expected is None:
        with pytest.raises(SmartlyQValidationError, match="no accounts selected"):
            AccountSelector.build(**criteria)
        return
    selector = AccountSelector.build(**criteria)

    assert ids_of(selector.select(accounts)) == expected
    assert [a["id"] for a in accounts if selector.matches(a)] == expected


def test_every_subset_of_criteria_is_consistent_with_matches():
    # Selecting is exactly "each criterion matches" for every non-empty subset of criteria.
    criteria = [IDS, PLATFORMS, PATTERN]
    for size in range(1, 4):
        for subset in itertools.combinations(criteria, size):
            merged = {k: v for part in subset for k, v in part.items()}
            expected = [
                a["id"]
                for a in LISTED
                if all(ids_of(AccountSelector.build(**part).select(LISTED)).count(a["id"]) for part in subset)
            ]
            assert ids_of(AccountSelector.build(**merged).select(LISTED)) == expected


@pytest.mark.parametrize(
    "empty",
    [
        {},
        {"account_ids": None, "platforms": None, "account_name_pattern": None},
        {"account_ids": [], "platforms": "", "account_name_pattern": ""},
        {"account_ids": (), "all_accounts": False},
    ],
)
def test_an_empty_selector_never_means_everything(empty):
    with pytest.raises(SmartlyQValidationError) as info:
        AccountSelector.build(**empty)

    assert info.value.status_code == 0
    assert "all_accounts=True" in str(info.value)


def test_unknown_ids_are_named():
    selector = AccountSelector.build(account_ids=[101, 999, 998])

    with pytest.raises(SmartlyQValidationError, match="account ids not found: 999, 998"):
        selector.select(LISTED)


def test_nothing_matching_is_an_error_naming_the_selection():
    selector = AccountSelector.build(platforms="reddit", account_name_pattern="Acme*")

    with pytest.raises(SmartlyQValidationError) as info:
        selector.select(LISTED)

    assert "platforms reddit" in str(info.value)
    assert "'Acme*'" in str(info.value)
    assert "among 8 accounts" in str(info.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["X"], ("twitter",)),
        ("Twitter", ("twitter",)),
        ("google_business, x", ("gmb", "twitter")),
        ('["fb", "ig"]', ("facebook", "instagram")),
        (["twitter", "X", "x.com"], ("twitter",)),
    ],
)
def test_platform_aliases(given, expected):
    assert AccountSelector.build(platforms=given).platforms == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (101, (101,)),
        ("101", (101,)),
        ("101,102 103", (101, 102, 103)),
        ("[101, 102]", (101, 102)),
        ([101, "102", 101], (101, 102)),
    ],
)
def test_rendered_ids(given, expected):
    assert AccountSelector.build(account_ids=given).account_ids == expected


@pytest.mark.parametrize("bad", [0, -1, "abc", True, [101, 0], "[101, ", "101,-2", ["²"]])
def test_bad_ids(bad):
    with pytest.raises(SmartlyQValidationError) as info:
        AccountSelector.build(account_ids=bad)
    assert info.value.status_code == 0


@pytest.mark.parametrize("bad", ["myspace", ["facebook", "orkut"], 5])
def test_bad_platforms(bad):
    with pytest.raises(SmartlyQValidationError):
        AccountSelector.build(platforms=bad)


def test_a_10_kb_pattern_is_refused_with_a_short_message():
    with pytest.raises(SmartlyQValidationError) as info:
        AccountSelector.build(account_name_pattern="*a" * 5120)

    assert f"at most {MAX_PATTERN_LENGTH}" in str(info.value)
    assert len(str(info.value)) < 300


def test_pattern_must_be_a_string():
    with pytest.raises(SmartlyQValidationError, match="string glob"):
        AccountSelector.build(account_name_pattern=["Acme*"])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("café*", [107]),
        ("CAFÉ MÜLLER *", [107]),
        ("*ünïcødé", [107]),
        ("東京*", [108]),
        ("*brand", [108]),
        ("acme ?", [103]),
        ("[ag]* x", [103, 106]),
    ],
)
def test_unicode_and_glob_patterns_are_case_insensitive(pattern, expected):
    assert ids_of(AccountSelector.build(account_name_pattern=pattern).select(LISTED)) == expected


def test_all_accounts_must_be_a_real_bool():
    with pytest.raises(SmartlyQValidationError, match="all_accounts"):
        AccountSelector.build(all_accounts="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "criteria",
    [IDS, PLATFORMS, PATTERN, {**IDS, **PLATFORMS, **PATTERN}, {"all_accounts": True}],
)
def test_to_dict_from_dict_round_trip_through_json(criteria):
    selector = AccountSelector.build(**criteria)
    data = json.loads(json.dumps(selector.to_dict()))

    assert AccountSelector.from_dict(data) == selector


def test_from_dict_refuses_a_stringly_all_accounts():
    # A hand-edited or templated "false" must not turn into "every account".
    with pytest.raises(SmartlyQValidationError, match="all_accounts"):
        AccountSelector.from_dict({"all_accounts": "false"})


def test_describe():
    assert AccountSelector.build(**IDS, **PLATFORMS, **PATTERN).describe() == (
        "ids 101, 103, 106, 107 and platforms twitter, facebook and name like 'acme *'"
    )
    assert AccountSelector.build(all_accounts=True).describe() == "all accounts"


def test_select_returns_copies():
    selected = AccountSelector.build(account_ids=101).select(LISTED)
    selected[0]["name"] = "changed"

    assert LISTED[0]["name"] == "Acme Facebook"


def test_selecting_from_the_emulator(hook, smartlyq_conn):
    accounts = hook.list_accounts()
    health = hook.get_accounts_health()["accounts"]
    selector = AccountSelector.build(platforms="X", account_name_pattern="acme*")

    assert ids_of(selector.select(accounts)) == [103]
    assert ids_of(selector.select(health)) == [103]
    # Profile 42's accounts are invisible on this connection: their ids are "not found".
    with pytest.raises(SmartlyQValidationError, match="not found: 109"):
        AccountSelector.build(account_ids=[101, 109]).select(accounts)


def test_building_a_bad_selector_sends_nothing(smartlyq_conn):
    for bad in ({}, {"account_ids": 0}, {"platforms": "orkut"}, {"account_name_pattern": "x" * 10_240}):
        with pytest.raises(SmartlyQValidationError):
            AccountSelector.build(**bad)

    assert smartlyq_conn.client.requests() == []


# -- security review, finding 6: selectors scale linearly -----------------------------------------


class CountingInt(int):
    """An id that counts how often it is compared; validation keeps int subclasses as given."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        type(self).comparisons += 1
        return int.__eq__(self, other)

    __hash__ = int.__hash__


def test_selector_build_and_match_compare_ids_a_linear_number_of_times():
    # Counts comparisons instead of timing them: a quadratic build (list `in` while
    # de-duplicating) made 20,000 ids take ~3.5 s on the triggerer's loop, and a tuple scan per
    # account made each health evaluation of 5,000 ids cost O(ids x accounts).
    # The speed itself is measured in benchmarks/bench_selector.py.
    n = 5000
    ids = [CountingInt(i) for i in range(1, n + 1)]
    CountingInt.comparisons = 0
    selector = AccountSelector.build(account_ids=ids)
    assert len(selector.account_ids) == n
    assert CountingInt.comparisons <= 2 * n  # quadratic: ~n*n/2 = 12.5 million

    rows = [{"id": i, "platform": "facebook", "account_name": f"a{i}"} for i in range(1, n + 1)]
    CountingInt.comparisons = 0
    assert len(selector.select(rows)) == n
    assert CountingInt.comparisons <= 4 * n  # quadratic: ~n*n/2


def test_duplicate_ids_keep_first_seen_order():
    assert AccountSelector.build(account_ids=[3, 1, 3, 2, 1]).account_ids == (3, 1, 2)
    assert AccountSelector.build(platforms=["x", "facebook", "twitter"]).platforms == ("twitter", "facebook")


def test_a_huge_selection_is_described_briefly():
    selector = AccountSelector.build(account_ids=list(range(1, 20_001)))
    assert selector.describe() == "ids " + ", ".join(map(str, range(1, 21))) + " and 19980 more"
    with pytest.raises(SmartlyQValidationError, match="and 19979 more") as raised:
        selector.select([{"id": 1, "platform": "facebook"}])
    assert len(str(raised.value)) < 500


@pytest.mark.parametrize("empty", [" , ", "[]", ",", " "])
def test_ids_or_platforms_that_render_to_nothing_count_as_not_given(empty):
    # Found by tests/test_properties.py: "[]" built a selector with ids=() that its own round
    # trip through trigger kwargs refused ("no accounts selected").
    with pytest.raises(SmartlyQValidationError, match="no accounts selected"):
        AccountSelector.build(account_ids=empty)
    selector = AccountSelector.build(account_ids=empty, platforms="facebook")
    assert selector.account_ids is None
    assert AccountSelector.from_dict(json.loads(json.dumps(selector.to_dict()))) == selector
    assert AccountSelector.build(platforms=empty, all_accounts=True).platforms is None
