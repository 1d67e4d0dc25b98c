"""Seed data sets of the SmartlyQ emulator."""

from __future__ import annotations

from typing import Any

#: First id handed out; seeded and connected accounts count up from here.
FIRST_ACCOUNT_ID = 101

# Two brands in the main account (profile None) plus a managed profile 42. The mix covers
# every health bucket: healthy, expiring (< 7 days), expired and paused.
_DEMO: tuple[dict[str, Any], ...] = (
    {"platform": "facebook", "name": "Acme Facebook", "username": "acme", "validity_days": 45},
    {"platform": "instagram", "name": "Acme Instagram", "username": "acme.ig", "validity_days": 3},
    {"platform": "twitter", "name": "Acme X", "username": "acme_x", "validity_days": 52},
    {"platform": "linkedin", "name": "Acme LinkedIn", "username": "acme-inc", "validity_days": -2},
    {
        "platform": "tiktok",
        "name": "Globex TikTok",
        "username": "globex",
        "validity_days": 38,
        "paused": True,
    },
    {"platform": "youtube", "name": "Globex YouTube", "username": "GlobexTV", "validity_days": 60},
    {"platform": "threads", "name": "Globex Threads", "username": "globex.threads", "validity_days": 30},
    {"platform": "pinterest", "name": "Globex Pinterest", "username": "globexpins", "validity_days": 41},
    {
        "platform": "facebook",
        "name": "Initech Facebook",
        "username": "initech",
        "validity_days": 50,
        "profile_id": 42,
    },
    {
        "platform": "instagram",
        "name": "Initech Instagram",
        "username": "initech.ig",
        "validity_days": 33,
        "profile_id": 42,
    },
)

SEEDS: dict[str, tuple[dict[str, Any], ...]] = {"demo": _DEMO, "empty": ()}


def seed_accounts(name: str) -> list[dict[str, Any]]:
    """
    Return the account specs of seed ``name`` (copies, safe to mutate).

    :param name: ``demo`` or ``empty``.
    :raises ValueError: For an unknown seed name.
    """
    try:
        return [dict(spec) for spec in SEEDS[name]]
    except KeyError:
        raise ValueError(f"unknown seed {name!r}; expected one of {sorted(SEEDS)}") from None
