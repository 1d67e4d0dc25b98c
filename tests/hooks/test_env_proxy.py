"""The async transport finds its proxy through the standard library, as requests does for the sync hook."""

from __future__ import annotations

import pytest
from yarl import URL

from airflow_provider_smartlyq.hooks._transport import env_proxy

PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env_proxy.cache_clear()
    yield
    env_proxy.cache_clear()


def test_no_proxy_configured():
    assert env_proxy("https://api.smartlyq.com/v1") == (None, None)


def test_the_scheme_s_proxy_is_used_and_its_credentials_travel_as_proxy_auth(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s%40cret@proxy.internal:3128")
    proxy, auth = env_proxy("https://api.smartlyq.com/v1")
    assert proxy == URL("http://proxy.internal:3128")  # no credentials left in the URL
    assert auth is not None
    assert (auth.login, auth.password) == ("user", "s@cret")
    # An http base URL (the emulator) looks at HTTP_PROXY, which is not set.
    assert env_proxy("http://127.0.0.1:8765/v1") == (None, None)


def test_no_proxy_hosts_bypass_it(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.smartlyq.com")
    assert env_proxy("https://api.smartlyq.com/v1") == (None, None)
    assert env_proxy("https://api.example.com/v1")[0] == URL("http://proxy.internal:3128")


def test_a_proxy_without_scheme_means_http(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "proxy.internal:3128")
    assert env_proxy("https://api.smartlyq.com/v1") == (URL("http://proxy.internal:3128"), None)
