"""Fixtures for the monitoring tests: the in-memory Google Cloud on 127.0.0.1, a copy of the
definitions that a test may edit, and the CLI run in-process through its real entry point."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import monitoring_v3

from monitoring.clients import Clients, build_clients
from tests.monitoring.fake import FakeGoogleCloud
from tests.monitoring.helpers import DEFINITIONS, STAGING_CHANNEL, STAGING_PROJECT


@pytest.fixture
def fake() -> Iterator[FakeGoogleCloud]:
    """An empty project, except for the notification channel the staging environment names."""
    cloud = FakeGoogleCloud(STAGING_PROJECT).start()
    clients = build_clients(cloud.endpoint)
    clients.notification_channels.create_notification_channel(
        name=f"projects/{STAGING_PROJECT}",
        notification_channel=monitoring_v3.NotificationChannel(
            display_name=STAGING_CHANNEL,
            type_="email",
            labels={"email_address": "oncall@example.com"},
        ),
    )
    clients.close()
    cloud.calls.clear()
    cloud.state.requests.clear()
    yield cloud
    cloud.stop()


@pytest.fixture
def clients(fake: FakeGoogleCloud) -> Iterator[Clients]:
    """The official clients pointed at the fake, for seeding objects made "by hand"."""
    built = build_clients(fake.endpoint)
    yield built
    built.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped definitions (YAML only) that the test may edit."""
    target = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target
