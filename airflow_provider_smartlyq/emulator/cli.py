"""Command line entry point ``smartlyq-emulator`` and uvicorn server helpers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.config import (
    DEFAULT_API_KEY,
    PLATFORMS,
    EmulatorConfig,
    check_exposure,
    is_loopback,
    mask_key,
)

__all__ = ["bound_port", "build_server", "is_loopback", "main", "root_url", "serve"]

if TYPE_CHECKING:
    from collections.abc import Callable

    import uvicorn

IDLE_KEEP_ALIVE_SECONDS = 3600
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def build_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    certfile: str | None = None,
    keyfile: str | None = None,
    log_level: str = "warning",
    log_config: Any = None,
) -> uvicorn.Server:
    """
    Return a uvicorn server for ``app`` whose protocol lets faults drop connections.

    :param log_config: uvicorn logging config; ``None`` leaves the host process' logging alone.
    """
    import uvicorn

    from airflow_provider_smartlyq.emulator.faults import transport_protocol_class

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=transport_protocol_class(),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level=log_level,
        log_config=log_config,
        access_log=log_level in ("info", "debug", "trace"),
        lifespan="on",
        timeout_graceful_shutdown=1,
        # uvicorn closes idle keep-alive connections after 5 s. A pooled client (the tests'
        # control client, a hook's session) that reuses one at the moment it closes gets
        # "connection reset by peer" on a request that never reached the app. A local
        # emulator has few clients, so idle connections stay open for an hour instead.
        timeout_keep_alive=IDLE_KEEP_ALIVE_SECONDS,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """Return the TCP port a started server listens on (resolves ``port=0``)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("server is not listening")


def root_url(host: str, port: int, tls: bool) -> str:
    """Return ``http(s)://host:port`` (brackets for IPv6 literals)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


async def serve(server: uvicorn.Server, on_ready: Callable[[int], None]) -> None:
    """Run ``server``, calling ``on_ready(port)`` once it accepts connections."""
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        on_ready(bound_port(server))
    await task


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="smartlyq-emulator", description="Run the SmartlyQ API emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default 8765)")
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--auto-approve-after", type=float, metavar="SECONDS")
    parser.add_argument(
        "--api-key", help="read/write key (default: $SMARTLYQ_EMULATOR_API_KEY or the test key)"
    )
    parser.add_argument("--read-only-key", help="optional key with social:read only")
    parser.add_argument("--control-token", help="require X-Emulator-Token on /_emulator/ control routes")
    parser.add_argument(
        "--rate-limit", type=int, default=0, metavar="N", help="requests per window per key; 0 = no limit"
    )
    parser.add_argument(
        "--rate-window", type=float, default=60.0, metavar="SECONDS", help="rate-limit window (default 60)"
    )
    parser.add_argument(
        "--rate-limit-scope",
        choices=("key", "workspace"),
        default="key",
        help="one budget per API key (default) or one shared by all keys",
    )
    parser.add_argument("--connect-ttl", type=float, default=900.0, metavar="SECONDS")
    parser.add_argument(
        "--unconfigured-platform",
        action="append",
        choices=PLATFORMS,
        default=[],
        metavar="PLATFORM",
        help="answer 422 PROVIDER_NOT_CONFIGURED for this platform (repeatable)",
    )
    parser.add_argument(
        "--disable-headless-connect", action="store_true", help="connect answers 404 NOT_ENABLED"
    )
    parser.add_argument(
        "--public-url", help="root URL to put into connect links (default: from each request)"
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh self-signed certificate")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="warning")
    return parser.parse_args(argv)


def connection_export(url: str, api_key: str, cert: str | None = None) -> str:
    """
    Return the ``export AIRFLOW_CONN_SMARTLYQ_DEFAULT=...`` line for this emulator, ready to paste.

    The built-in demo key is public (it is in the docs and the source) and is printed whole; a
    key given with ``--api-key`` is not: the line then holds a placeholder to replace.
    """
    import json

    key = api_key if api_key == DEFAULT_API_KEY else "<the key given with --api-key>"
    conn: dict[str, Any] = {"conn_type": "smartlyq", "host": url, "password": key}
    if cert:
        conn["extra"] = {"ca_bundle": cert}  # the self-signed certificate it just made
    return f"export AIRFLOW_CONN_SMARTLYQ_DEFAULT='{json.dumps(conn)}'"


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted; return the exit code."""
    args = parse_args(argv)
    try:
        check_exposure(args.host, args.control_token)
    except ValueError as exc:
        print(f"smartlyq-emulator: {exc}; pass --control-token.", file=sys.stderr)
        return 2
    try:
        config = EmulatorConfig.from_env(
            api_key=args.api_key,
            read_only_key=args.read_only_key,
            control_token=args.control_token,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            rate_limit_scope=args.rate_limit_scope,
            connect_ttl=args.connect_ttl,
            auto_approve_after=args.auto_approve_after,
            seed=args.seed,
            unconfigured_platforms=frozenset(args.unconfigured_platform),
            headless_connect_enabled=not args.disable_headless_connect,
            public_url=args.public_url,
        )
    except ValueError as exc:
        print(f"smartlyq-emulator: {exc}", file=sys.stderr)
        return 2
    from uvicorn.config import LOGGING_CONFIG

    from airflow_provider_smartlyq.emulator.app import create_app
    from airflow_provider_smartlyq.emulator.tls import generate_self_signed

    with tempfile.TemporaryDirectory(prefix="smartlyq-emulator-") as tmp:
        cert = key = None
        if args.tls:
            cert_path, key_path = generate_self_signed(tmp)
            cert, key = str(cert_path), str(key_path)
        server = build_server(
            create_app(config),
            host=args.host,
            port=args.port,
            certfile=cert,
            keyfile=key,
            log_level=args.log_level,
            log_config=LOGGING_CONFIG,
        )

        def announce(port: int) -> None:
            line = f"SmartlyQ emulator listening on {root_url(args.host, port, args.tls)}"
            line += f" (api key: {mask_key(config.api_key)})"
            if cert:
                line += f" cert: {cert}"
            print(line, flush=True)
            print(connection_export(root_url(args.host, port, args.tls), config.api_key, cert), flush=True)

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(server, announce))
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
