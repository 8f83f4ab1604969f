"""Facts about the project the image is built from: where it is, its version, its revision."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "reports" / "container"  # build logs and measured image sizes


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as pyproject:
        return tomllib.load(pyproject)["project"]["version"]


def git_revision() -> str:
    """The checked-out commit, or "unknown" outside a git work tree."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def dockerfile_default_base_image() -> str:
    declared = re.search(r"^ARG BASE_IMAGE=(\S+)", (REPO / "Dockerfile").read_text(), re.M)
    if declared is None:
        raise ValueError("the Dockerfile declares no default for ARG BASE_IMAGE")
    return declared.group(1)
