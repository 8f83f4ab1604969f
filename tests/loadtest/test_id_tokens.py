"""Identity-token providers, with no network: env, a fake gcloud, and google-auth against a
service-account token endpoint and a metadata server on 127.0.0.1."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loadtest import auth
from tests.loadtest.token_fakes import fake_gcloud, http_server, make_jwt

REPO = Path(__file__).resolve().parents[2]
AUDIENCE = "https://prediction-service-abc123-ew.a.run.app"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def no_google_credentials(monkeypatch, tmp_path):
    """google-auth fails at once: a key file that does not exist (no metadata server probe)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.delenv(auth.TOKEN_ENV, raising=False)


def test_jwt_expiry_is_read_without_verification():
    assert auth.token_expiry(make_jwt({"exp": 1_900_000_000})) == 1_900_000_000
    assert auth.token_expiry("not-a-jwt") is None
    assert auth.token_expiry("a.%%%.c") is None


def test_audience_is_the_service_url_and_loopback_is_recognised():
    assert auth.audience_for(AUDIENCE + "/predict?x=1") == AUDIENCE
    assert auth.is_loopback("http://127.0.0.1:8080")
    assert auth.is_loopback("http://localhost:1")
    assert not auth.is_loopback(AUDIENCE)


def test_env_token(monkeypatch):
    token = make_jwt({"exp": time.time() + 3600})
    monkeypatch.setenv(auth.TOKEN_ENV, token)
    provider = auth.TokenProvider(AUDIENCE, auth.sources_for("env"))
    assert provider.authorization_header() == {"Authorization": f"Bearer {token}"}
    assert provider.source_name == "env"


def test_gcloud_token_is_refreshed_before_it_expires(tmp_path, monkeypatch, caplog):
    now = 1_800_000_000.0
    token_file, calls = tmp_path / "token", tmp_path / "calls"
    fake_gcloud(tmp_path, token_file, calls)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    first, second = make_jwt({"exp": now + 3600, "n": 1}), make_jwt({"exp": now + 7200, "n": 2})
    token_file.write_text(first + "\n")
    clock = Clock(now)
    provider = auth.TokenProvider(AUDIENCE, auth.sources_for("gcloud"), clock=clock)
    caplog.set_level(logging.DEBUG)

    assert provider.token() == first
    clock.now = now + 3000  # 10 minutes left: still good
    assert provider.token() == first
    assert calls.read_text().splitlines() == ["auth print-identity-token --quiet"]

    token_file.write_text(second + "\n")
    clock.now = now + 3400  # under 5 minutes left: refreshed
    assert provider.token() == second
    assert len(calls.read_text().splitlines()) == 2
    assert provider.expires_at == now + 7200
    # The tokens never reach a log line or the provider's repr.
    assert first not in caplog.text and second not in caplog.text
    assert first not in repr(provider) and second not in repr(provider)


def test_auto_falls_through_google_auth_and_gcloud_to_the_env(
    tmp_path, monkeypatch, no_google_credentials
):
    fake_gcloud(tmp_path, tmp_path / "t", tmp_path / "c", fail="ERROR: no active account")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(auth.TOKEN_ENV, "static-token")
    provider = auth.TokenProvider(AUDIENCE, auth.sources_for("auto"))
    assert provider.token() == "static-token"
    assert provider.source_name == "env"


def test_when_every_source_fails_the_reasons_are_given_and_not_retried_at_once(
    tmp_path, monkeypatch, no_google_credentials
):
    fake_gcloud(tmp_path, tmp_path / "t", tmp_path / "c", fail="ERROR: no active account")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    clock = Clock(1_800_000_000.0)
    provider = auth.TokenProvider(AUDIENCE, auth.sources_for("auto"), clock=clock)
    with pytest.raises(auth.TokenUnavailable) as caught:
        provider.token()
    message = str(caught.value)
    assert "google-auth:" in message
    assert "gcloud: ERROR: no active account" in message
    assert f"env: {auth.TOKEN_ENV} is not set" in message
    monkeypatch.setenv(auth.TOKEN_ENV, "late-token")
    with pytest.raises(auth.TokenUnavailable):  # within a minute: the same answer, no new try
        provider.token()
    clock.now += 61
    assert provider.token() == "late-token"


def test_google_auth_with_a_service_account_key(tmp_path, monkeypatch):
    id_token = make_jwt({"exp": time.time() + 3600, "aud": AUDIENCE})

    def token_endpoint(path, query, headers, body):
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"id_token": id_token}).encode(),
        )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with http_server(token_endpoint) as (address, seen):
        key_file = tmp_path / "sa.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "test-project",
                    "private_key_id": "1",
                    "private_key": pem,
                    "client_email": "loadtest@test-project.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"http://{address}/token",
                }
            )
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        provider = auth.TokenProvider(AUDIENCE, auth.sources_for("google-auth"))
        assert provider.token() == id_token
    assert provider.source_name == "google-auth"
    grant = seen[0]["body"].decode()
    assert seen[0]["path"] == "/token" and "grant_type=urn" in grant
    # The signed assertion asks for an ID token for the service URL.
    assertion = grant.split("assertion=")[1].split("&")[0]
    claims = json.loads(auth.base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    assert claims["target_audience"] == AUDIENCE


def test_check_auth_with_the_metadata_server(tmp_path):
    """Through the command line, as on Cloud Build or a GCE runner: the metadata server."""
    id_token = make_jwt({"exp": time.time() + 3600, "aud": AUDIENCE})

    def metadata(path, query, headers, body):
        if headers.get("metadata-flavor") != "Google":
            return 403, {}, b"missing Metadata-Flavor"
        text = {"Metadata-Flavor": "Google", "Content-Type": "text/html"}
        if path.endswith("/service-accounts/default/identity"):
            return 200, text, id_token.encode()
        if path.endswith("/service-accounts/default/"):
            account = {"email": "runner@test.iam.gserviceaccount.com", "aliases": ["default"]}
            json_type = {**text, "Content-Type": "application/json"}
            return 200, json_type, json.dumps(account).encode()
        return 200, text, b""

    with http_server(metadata) as (address, seen):
        env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
        env.update(GCE_METADATA_HOST=address, GCE_METADATA_IP=address, PYTHONPATH=str(REPO))
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "loadtest",
                "--check-auth",
                "--host",
                AUDIENCE + "/",
                "--auth",
                "google-auth",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
        )
    assert completed.returncode == 0, completed.stderr
    assert f"identity token from google-auth for {AUDIENCE}" in completed.stdout
    assert id_token not in completed.stdout + completed.stderr
    identity_calls = [r for r in seen if r["path"].endswith("/identity")]
    assert identity_calls[0]["query"]["audience"] == [AUDIENCE]


def test_check_auth_failure_names_each_source(tmp_path, no_google_credentials):
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    fake_gcloud(tmp_path, tmp_path / "t", tmp_path / "c", fail="ERROR: not logged in")
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest", "--check-auth", "--host", AUDIENCE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "gcloud: ERROR: not logged in" in completed.stderr
    assert f"env: {auth.TOKEN_ENV} is not set" in completed.stderr
