"""
Receive SmartlyQ webhooks and record each verified event as an Airflow asset event.

Standard library plus the provider's ``webhooks`` helper (so Airflow's packages must be
installed where this runs). Configure with environment variables:

``SMARTLYQ_WEBHOOK_SECRET``  the secret SmartlyQ returned when the webhook was created
``AIRFLOW_API_URL``          e.g. ``https://airflow.example.com``
``AIRFLOW_API_TOKEN``        a token allowed to create asset events
``AIRFLOW_ASSET_ID``         the asset's id (``GET /api/v2/assets?name_pattern=...``)
"""

from __future__ import annotations

import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError
from airflow_provider_smartlyq.webhooks import MAX_BODY_BYTES, parse_event

FORWARDED_EVENTS = {"account.token_expired", "account.disconnected", "account.connected"}


def create_asset_event(api_url: str, token: str, asset_id: int, event: dict[str, Any]) -> None:
    """Record ``event`` as an asset event: ``POST /api/v2/assets/events``."""
    if not api_url.startswith(("https://", "http://")):
        raise ValueError("AIRFLOW_API_URL must be an http(s) URL")
    body = json.dumps({"asset_id": asset_id, "extra": {"smartlyq_event": event}}).encode()
    request = urllib.request.Request(  # noqa: S310 -- the scheme is checked above
        f"{api_url.rstrip('/')}/api/v2/assets/events",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- checked above
        response.read()


def make_handler(secret: str, api_url: str, token: str, asset_id: int) -> type[BaseHTTPRequestHandler]:
    """Return a request handler that verifies deliveries and forwards them to Airflow."""
    # SmartlyQ retries a delivery it did not see answered: record one asset event per event id
    # (in memory here; use a shared store when several receivers run).
    seen: set[str] = set()

    class SmartlyQWebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = self.headers.get("Content-Length") or "0"
            if not length.isascii() or not length.isdigit() or int(length) > MAX_BODY_BYTES:
                self._answer(413)  # refused before reading: a huge body never reaches memory
                return
            raw = self.rfile.read(int(length))
            try:
                # Verify over the raw bytes, before anything else reads them as JSON.
                event = parse_event(raw, dict(self.headers.items()), secret)
            except SmartlyQSignatureError:
                self._answer(401)
                return
            if event["event"] in FORWARDED_EVENTS and event["id"] not in seen:
                try:
                    create_asset_event(api_url, token, asset_id, event)
                except OSError:
                    self._answer(503)  # not recorded: let SmartlyQ deliver it again
                    return
                seen.add(event["id"])
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return SmartlyQWebhookHandler


def main() -> None:
    handler = make_handler(
        os.environ["SMARTLYQ_WEBHOOK_SECRET"],
        os.environ["AIRFLOW_API_URL"],
        os.environ["AIRFLOW_API_TOKEN"],
        int(os.environ["AIRFLOW_ASSET_ID"]),
    )
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), handler).serve_forever()  # noqa: S104


if __name__ == "__main__":
    main()
