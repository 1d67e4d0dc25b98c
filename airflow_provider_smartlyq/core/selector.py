"""
Select a set of accounts (a brand) the same way everywhere.

Every operator acting on several accounts, the health sensor and the health event trigger take
the same arguments: ``account_ids``, ``platforms``, ``account_name_pattern`` and, to act on
everything, an explicit ``all_accounts=True``. Criteria combine with AND. The profile comes from
the connection (``X-Profile-Id``), so it is not a selector argument.

Pure code over account dicts, no I/O, the standard library and the provider's light modules
only: DAG files build selectors at parse time and triggers rebuild them from their kwargs.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.validation import normalize_platforms, validate_account_ids
from airflow_provider_smartlyq.core.values import parse_list
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Longest name pattern accepted; a glob longer than any account name is a mistake.
MAX_PATTERN_LENGTH = 256


@dataclass(frozen=True)
class AccountSelector:
    """
    A validated account selection.

    :param account_ids: Account ids (an int, a list, or a rendered string such as ``"101,102"``).
    :param platforms: Platform names, aliases accepted (``x``, ``google_business``).
    :param account_name_pattern: Case-insensitive glob on the account name, e.g. ``"Acme *"``.
    :param all_accounts: Select every account; must be explicit so that an empty selector
        (a missing param, an empty XCom) never means "everything".
    """

    account_ids: tuple[int, ...] | None = None
    platforms: tuple[str, ...] | None = None
    account_name_pattern: str | None = None
    all_accounts: bool = False
    # Set views of the tuples for membership tests: matches() runs once per account on every
    # health evaluation, so a tuple scan made 5,000 ids cost O(ids x accounts) per poll.
    _id_set: frozenset[int] | None = field(default=None, init=False, repr=False, compare=False)
    _platform_set: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.account_ids is not None:
            object.__setattr__(self, "_id_set", frozenset(self.account_ids))
        if self.platforms is not None:
            object.__setattr__(self, "_platform_set", frozenset(self.platforms))

    @classmethod
    def build(
        cls,
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: Any = None,
        all_accounts: bool = False,
    ) -> AccountSelector:
        """
        Validate the arguments and return the selector.

        :raises SmartlyQValidationError: no criterion and not ``all_accounts``, or a bad value.
        """
        # A value that renders to nothing (" , ", "[]") counts as not given, like None: otherwise
        # the selector would differ from its own round trip through trigger kwargs.
        ids = None
        if account_ids not in (None, "", [], ()):
            ids = tuple(validate_account_ids(parse_list(account_ids))) or None
        names = None
        if platforms not in (None, "", [], ()):
            names = tuple(normalize_platforms(parse_list(platforms)) or ()) or None
        pattern = None
        if account_name_pattern not in (None, ""):
            if not isinstance(account_name_pattern, str):
                raise SmartlyQValidationError.local("account_name_pattern must be a string glob")
            if len(account_name_pattern) > MAX_PATTERN_LENGTH:
                raise SmartlyQValidationError.local(
                    f"account_name_pattern is {len(account_name_pattern)} characters long; "
                    f"at most {MAX_PATTERN_LENGTH} are accepted"
                )
            pattern = account_name_pattern
        if not isinstance(all_accounts, bool):
            raise SmartlyQValidationError.local("all_accounts must be True or False")
        if ids is None and names is None and pattern is None and not all_accounts:
            raise SmartlyQValidationError.local(
                "no accounts selected: pass account_ids, platforms or account_name_pattern, "
                "or all_accounts=True to act on every account"
            )
        return cls(ids, names, pattern, all_accounts)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountSelector:
        """Rebuild a selector from :meth:`to_dict` (trigger kwargs)."""
        return cls.build(
            data.get("account_ids"),
            data.get("platforms"),
            data.get("account_name_pattern"),
            # Passed as stored, so build() refuses a non-bool (bool("false") would select all).
            data.get("all_accounts", False),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the selector as JSON-plain data."""
        return {
            "account_ids": list(self.account_ids) if self.account_ids is not None else None,
            "platforms": list(self.platforms) if self.platforms is not None else None,
            "account_name_pattern": self.account_name_pattern,
            "all_accounts": self.all_accounts,
        }

    def describe(self) -> str:
        """Return a short human description, for logs and error messages."""
        parts = []
        if self.account_ids is not None:
            parts.append(f"ids {_listed(self.account_ids)}")
        if self.platforms is not None:
            parts.append(f"platforms {', '.join(self.platforms)}")
        if self.account_name_pattern is not None:
            parts.append(f"name like {self.account_name_pattern!r}")
        return " and ".join(parts) if parts else "all accounts"

    def matches(self, account: Mapping[str, Any]) -> bool:
        """Return whether one account (from the account list or the health list) is selected."""
        if self._id_set is not None and account_id_of(account) not in self._id_set:
            return False
        platforms = self._platform_set
        if platforms is not None and str(account.get("platform", "")).lower() not in platforms:
            return False
        if self.account_name_pattern is not None:
            name = str(account.get("name") or account.get("account_name") or "")
            if not fnmatch.fnmatchcase(name.casefold(), self.account_name_pattern.casefold()):
                return False
        return True

    def select(self, accounts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """
        Return the selected accounts, in the order given.

        :raises SmartlyQValidationError: a selected id does not exist (typo protection), or
            nothing matched.
        """
        accounts = list(accounts)
        if self.account_ids is not None:
            known = {account_id_of(account) for account in accounts}
            missing = [i for i in self.account_ids if i not in known]
            if missing:
                raise SmartlyQValidationError.local(
                    f"account ids not found: {_listed(missing)} (check the ids and the connection's profile)"
                )
        chosen = [dict(account) for account in accounts if self.matches(account)]
        if not chosen:
            raise SmartlyQValidationError.local(
                f"no account matches the selection ({self.describe()}) among {len(accounts)} accounts"
            )
        return chosen


def _listed(ids: Iterable[int], shown: int = 20) -> str:
    """Return ids for a message: the first ``shown``, then a count (20,000 ids must not flood a log)."""
    ids = list(ids)
    text = ", ".join(map(str, ids[:shown]))
    return text if len(ids) <= shown else f"{text} and {len(ids) - shown} more"


def account_id_of(account: Mapping[str, Any]) -> int | None:
    """
    Return the id of an account row as an int, or ``None`` when it has none.

    Account-list rows carry ``id``, some health and webhook rows ``account_id``: every module
    reading account rows (operators, transitions) uses this one reader.
    """
    value = account.get("id", account.get("account_id"))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
