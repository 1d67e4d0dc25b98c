"""Apache Airflow provider for SmartlyQ's social-account API."""

from __future__ import annotations

__version__ = "0.1.0"
