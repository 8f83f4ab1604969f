"""Identity tokens for an authenticated Cloud Run service, refreshed before they expire.

Sources, tried in this order by `--auth auto`:
1. google-auth: `google.oauth2.id_token.fetch_id_token(Request(), audience)`, which works with a
   service-account key (GOOGLE_APPLICATION_CREDENTIALS) or the metadata server (GCE, Cloud Run,
   Cloud Build, GKE), not with a person's `gcloud auth application-default login`;
2. gcloud: `gcloud auth print-identity-token` (a person's login);
3. the LOADTEST_ID_TOKEN environment variable (a token obtained elsewhere; cannot be refreshed).
The caller needs roles/run.invoker on the service. Tokens are never logged or written to the
report: error messages name the source and the reason only.

Import note: in a Locust process, `locust` must be imported before this module's google-auth
imports (gevent monkey-patching after ssl is imported ends in RecursionError); google-auth is
therefore imported lazily, inside `GoogleAuthSource.fetch`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)

TOKEN_ENV = "LOADTEST_ID_TOKEN"  # noqa: S105 - the name of a variable, not a secret
# Google ID tokens live one hour; refresh with 5 minutes to spare.
REFRESH_MARGIN_S = 300.0
ASSUMED_LIFETIME_S = 3600.0
GCLOUD_TIMEOUT_S = 60.0
# After every source failed, do not ask again on every request.
RETRY_AFTER_FAILURE_S = 60.0
AUTH_MODES = ("auto", "google-auth", "gcloud", "env", "none")


class TokenUnavailable(RuntimeError):
    """No source could provide an identity token; the message says why for each source."""


class TokenSource(Protocol):
    name: str

    def fetch(self, audience: str) -> str: ...


class GoogleAuthSource:
    name = "google-auth"

    def fetch(self, audience: str) -> str:
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        try:
            request = google.auth.transport.requests.Request()
            return google.oauth2.id_token.fetch_id_token(request, audience)
        except google.auth.exceptions.GoogleAuthError as error:
            raise TokenUnavailable(f"google-auth: {_first_line(error)}") from None
        except Exception as error:
            reason = f"{type(error).__name__}: {_first_line(error)}"
            raise TokenUnavailable(f"google-auth: {reason}") from None


class GcloudSource:
    name = "gcloud"

    def __init__(self, executable: str = "gcloud") -> None:
        self.executable = executable

    def fetch(self, audience: str) -> str:
        path = shutil.which(self.executable)
        if path is None:
            raise TokenUnavailable(f"gcloud: {self.executable!r} is not on PATH")
        # A person's account cannot choose the audience (--audiences is for service accounts);
        # Cloud Run accepts their default identity token.
        try:
            completed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [path, "auth", "print-identity-token", "--quiet"],
                capture_output=True,
                text=True,
                timeout=GCLOUD_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TokenUnavailable(f"gcloud: {_first_line(error)}") from None
        token = completed.stdout.strip()
        if completed.returncode != 0 or not token:
            reason = _first_line(completed.stderr) or f"exit code {completed.returncode}"
            raise TokenUnavailable(f"gcloud: {reason}")
        return token


class EnvSource:
    name = "env"

    def __init__(self, variable: str = TOKEN_ENV) -> None:
        self.variable = variable

    def fetch(self, audience: str) -> str:
        token = os.environ.get(self.variable, "").strip()
        if not token:
            raise TokenUnavailable(f"env: {self.variable} is not set")
        return token


def sources_for(mode: str) -> tuple[TokenSource, ...]:
    """The sources `--auth MODE` tries, in order (none for "none")."""
    every: dict[str, TokenSource] = {
        "google-auth": GoogleAuthSource(),
        "gcloud": GcloudSource(),
        "env": EnvSource(),
    }
    if mode == "auto":
        return tuple(every.values())
    if mode == "none":
        return ()
    if mode not in every:
        raise ValueError(f"--auth must be one of {', '.join(AUTH_MODES)}, got {mode!r}")
    return (every[mode],)


class TokenProvider:
    """The current token for one audience; fetched on first use, refreshed before expiry."""

    def __init__(
        self,
        audience: str,
        sources: Sequence[TokenSource],
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        if not sources:
            raise ValueError("a TokenProvider needs at least one source")
        self.audience = audience
        self.sources = tuple(sources)
        self.source_name: str | None = None
        self.expires_at: float | None = None
        self._token: str | None = None
        self._failure: TokenUnavailable | None = None
        self._retry_at = 0.0
        self._clock = clock
        self._margin = refresh_margin_s
        self._lock = threading.Lock()  # a gevent lock once Locust has monkey-patched threading

    def __repr__(self) -> str:  # never show the token
        return f"TokenProvider(audience={self.audience!r}, source={self.source_name!r})"

    def token(self) -> str:
        """The current token; TokenUnavailable if no source has one (asked again after 60 s).

        A token is refreshed once it is within the margin of its expiry; if that refresh fails,
        the old token is used while it is still valid.
        """
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self.expires_at - self._margin:
                return self._token
            if now < self._retry_at:
                if self._token is not None and now < self.expires_at:
                    return self._token
                raise self._failure
            try:
                self._refresh()
            except TokenUnavailable as error:
                logger.warning("%s; asking again in %.0f s", error, RETRY_AFTER_FAILURE_S)
                self._failure, self._retry_at = error, now + RETRY_AFTER_FAILURE_S
                if self._token is not None and now < self.expires_at:
                    return self._token
                raise
            return self._token

    def authorization_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def _refresh(self) -> None:
        failures = []
        for source in self.sources:
            try:
                token = source.fetch(self.audience)
            except TokenUnavailable as error:
                failures.append(str(error))
                continue
            now = self._clock()
            expiry = token_expiry(token)
            self._token = token
            self.source_name = source.name
            self.expires_at = expiry if expiry is not None else now + ASSUMED_LIFETIME_S
            if self.expires_at - self._margin <= now:
                logger.warning("identity token from %s expires in under 5 minutes", source.name)
                # Do not fetch again on every request: use it until it actually expires.
                self.expires_at = max(self.expires_at, now + self._margin + 1)
            logger.info(
                "identity token from %s for %s, valid for %.0f s",
                source.name,
                self.audience,
                self.expires_at - now,
            )
            return
        raise TokenUnavailable("no identity token: " + "; ".join(failures))


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (seconds since the epoch), read without verifying it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    return float(expiry) if isinstance(expiry, int | float) else None


def audience_for(host: str) -> str:
    """Cloud Run's audience is the service URL: scheme and host, no path."""
    from urllib.parse import urlsplit

    parts = urlsplit(host)
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    from urllib.parse import urlsplit

    hostname = urlsplit(host).hostname or ""
    return hostname in ("localhost", "::1") or hostname.startswith("127.")


def _first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else ""
