"""
Log capture for assertions on what a user reads (the ``user_logs`` fixture lives in conftest.py).

Imported by a name unique in the tree (``from log_support import BOTH_LOG_LEVELS``).
"""

from __future__ import annotations

import pytest


class UserLogs:
    """
    What a user reads in a task or triggerer log, captured for assertions.

    Airflow renders its loggers (the hook's, operators', triggers') through structlog to stdout;
    stdlib loggers reach ``caplog``. :attr:`text` joins both and refuses to be empty, so an
    assertion that a secret is absent is never made over nothing.
    """

    def __init__(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, level: str):
        self.level = level
        self._capsys, self._caplog = capsys, caplog
        self._seen = ""

    @property
    def text(self) -> str:
        """Return everything logged so far in this test (stdout, stderr and stdlib records)."""
        out, err = self._capsys.readouterr()
        self._seen += out + err
        text = self._seen + self._caplog.text
        assert text.strip(), (
            f"no log output was captured at {self.level}: the capture looks in the wrong place"
        )
        return text

    def lines(self, containing: str) -> list[str]:
        """Return the captured lines that contain ``containing``."""
        return [line for line in self.text.splitlines() if containing in line]


#: Parametrize a test over both levels a user runs at: ``@BOTH_LOG_LEVELS``.
BOTH_LOG_LEVELS = pytest.mark.parametrize("user_logs", ["INFO", "DEBUG"], indirect=True)
