"""`pensionx web` serves the auditors' API and pages; `pensionx tokens` manages who may use them.

A token is printed once, when it is created, and never stored or shown again (only its hash
is kept): hand it to its owner then, or revoke it and create another.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pensionx.settings import Settings

DEFAULT_PORT = 8080


def add_commands(sub: Any) -> None:
    """Add ``web`` and ``tokens create | revoke`` to the top-level subparsers."""
    p = sub.add_parser("web", help="serve the auditors' web page and API (Ctrl-C stops)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark the login cookie Secure: use when an HTTPS proxy is in front",
    )
    p.set_defaults(handler=cmd_web)

    tokens = sub.add_parser("tokens", help="create or revoke access tokens for the web API")
    actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create a token and print it (once)")
    p.add_argument("--role", required=True, choices=["auditor", "supervisor", "agency"])
    p.add_argument("--name", required=True, help="whose token it is (shown in every history entry)")
    p.add_argument(
        "--regions",
        default="",
        metavar="P,...",
        help="agency tokens only: region-code prefixes it may see (e.g. 6103,610402)",
    )
    p.set_defaults(handler=cmd_tokens_create)
    p = actions.add_parser("revoke", help="revoke every token of a name")
    p.add_argument("--name", required=True)
    p.set_defaults(handler=cmd_tokens_revoke)


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from pensionx.bootstrap import open_database
    from pensionx.web.api import make_app

    engine = open_database(settings)
    app = make_app(engine, secure_cookies=args.secure_cookies)
    print(f"auditors' desk on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    try:
        # uvicorn handles Ctrl-C and SIGTERM itself: it finishes the requests in flight.
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    finally:
        engine.dispose()
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.web.tokens import create_token, parse_regions

    engine = open_database(settings)
    try:
        token = create_token(engine, args.role, args.name, parse_regions(args.regions))
    finally:
        engine.dispose()
    print(token)
    print(
        f"(a {args.role} token for {args.name}: shown this once; store it now)",
        file=sys.stderr,
    )
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.web.tokens import revoke_tokens

    engine = open_database(settings)
    try:
        count = revoke_tokens(engine, args.name)
    finally:
        engine.dispose()
    print(f"revoked {count} token(s) of {args.name}")
    return 0 if count else 1
