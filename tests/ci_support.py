"""
One rule for tests whose input is missing: skip locally, fail under CI.

A test that cannot run (no OpenAPI document, no Chromium, no PostgreSQL or Redis, ...) says
why. On a developer's machine that is a skip; under CI (``CI`` set to anything but empty,
``0``, ``false`` or ``no``) it is a failure, so a green run never hides a check that never ran.

Imported by a name unique in the tree (``from ci_support import skip_or_fail``).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Return whether the ``CI`` environment variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test with ``reason`` locally; under CI fail it with the same reason."""
    if under_ci():
        pytest.fail(f"{reason} (CI is set: a missing input fails the run instead of skipping)")
    pytest.skip(reason)
