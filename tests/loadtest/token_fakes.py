"""Wire-level fakes for identity tokens: JWTs, a fake gcloud, a metadata/OAuth server."""

from __future__ import annotations

import base64
import json
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_jwt(claims: dict) -> str:
    """An unsigned-looking JWT (nobody verifies it here): header.payload.signature."""

    def encode(part: dict | bytes) -> str:
        raw = part if isinstance(part, bytes) else json.dumps(part).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join([encode({"alg": "RS256", "typ": "JWT"}), encode(claims), encode(b"sig")])


def fake_gcloud(directory: Path, token_file: Path, calls_file: Path, fail: str = "") -> Path:
    """A `gcloud` on PATH that prints the token in token_file, or fails with `fail`."""
    script = directory / "gcloud"
    if fail:
        body = f'echo "{fail}" >&2\nexit 1\n'
    else:
        body = f'echo "$@" >> "{calls_file}"\ncat "{token_file}"\n'
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


Route = Callable[[str, dict[str, list[str]], dict[str, str], bytes], tuple[int, dict, bytes]]


@contextmanager
def http_server(route: Route) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on 127.0.0.1 answering with `route`; yields (host:port, requests seen)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            query = urllib.parse.parse_qs(parsed.query)
            seen.append(
                {
                    "method": self.command,
                    "path": parsed.path,
                    "query": query,
                    "headers": headers,
                    "body": body,
                }
            )
            status, reply_headers, reply = route(parsed.path, query, headers, body)
            self.send_response(status)
            for key, value in reply_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = _answer

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
