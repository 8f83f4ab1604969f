"""Checks before a run against --host: an identity token, and an answer from the service."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

from loadtest import auth

REACH_TIMEOUT_S = 30  # a Cloud Run cold start


def token_headers(args: argparse.Namespace) -> dict[str, str] | None:
    """Fetch a token once before the run, to fail early and say where it came from.

    Returns the headers to use for the reachability check, None when an explicit --auth
    source has no token. Locust's processes fetch (and refresh) their own tokens.
    """
    if args.auth == "none" or (args.auth == "auto" and auth.is_loopback(args.host)):
        return {}
    provider = token_provider(args)
    try:
        headers = provider.authorization_header()
    except auth.TokenUnavailable as error:
        if args.auth != "auto":
            print(f"error: {error}", file=sys.stderr)
            return None
        print(f"loadtest: warning: {error}; requests go without a token", file=sys.stderr)
        return {}
    print(f"loadtest: identity token from {provider.source_name} for {provider.audience}")
    return headers


def reachable(host: str, headers: dict[str, str]) -> bool:
    """One GET / before the run: a mistyped URL is not an outage and cannot be judged."""
    # S310: the host is the user's --host, already checked to be http(s) by the CLI.
    request = urllib.request.Request(f"{host.rstrip('/')}/", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=REACH_TIMEOUT_S):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # an answer, whatever it is: the run will show what it means
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"error: cannot reach {host}: {reason}", file=sys.stderr)
        return False


def token_provider(args: argparse.Namespace) -> auth.TokenProvider:
    audience = args.audience or auth.audience_for(args.host)
    return auth.TokenProvider(audience, auth.sources_for(args.auth))


def check_auth(args: argparse.Namespace) -> int:
    """--check-auth: fetch a token, say where from and for how long (never the token)."""
    try:
        provider = token_provider(args)
        provider.token()
    except (auth.TokenUnavailable, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    minutes = (provider.expires_at - datetime.now(UTC).timestamp()) / 60
    print(
        f"identity token from {provider.source_name} for {provider.audience}, "
        f"valid for {minutes:.0f} more minutes"
    )
    return 0
