"""Every dependency the project declares is pinned to one version in constraints.txt, the file
nox, CI and the Dockerfile install with; and the pin satisfies what pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def constraint_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((REPO_ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt:{number}: {line!r} is not NAME==VERSION"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


PINS = constraint_pins()
DECLARED = [
    (group, requirement)
    for group, requirements in {
        "dependencies": PYPROJECT["project"].get("dependencies", []),
        **{
            f"extra {name}": deps
            for name, deps in PYPROJECT["project"]["optional-dependencies"].items()
        },
    }.items()
    for requirement in requirements
]


@pytest.mark.parametrize(("group", "requirement"), DECLARED, ids=[r for _, r in DECLARED])
def test_each_declared_dependency_has_a_pin_that_satisfies_it(group: str, requirement: str) -> None:
    parsed = Requirement(requirement)
    name = canonicalize_name(parsed.name)
    assert name in PINS, f"{group}: {requirement} has no NAME==VERSION line in constraints.txt"
    assert parsed.specifier.contains(PINS[name], prereleases=True), (
        f"{group}: {requirement} does not admit the pinned {name}=={PINS[name]}"
    )


def test_packages_nox_installs_by_name_are_pinned_too() -> None:
    """session.install(*CONSTRAINTS, "ruff") and the like: constraints.txt must cover them."""
    noxfile = (REPO_ROOT / "noxfile.py").read_text(encoding="utf-8")
    installed = re.findall(r'session\.install\(\*CONSTRAINTS,\s*((?:"[^"]+",?\s*)+)\)', noxfile)
    names = [name for group in installed for name in re.findall(r'"([^"]+)"', group)]
    assert names, "no session.install(*CONSTRAINTS, ...) found: the check proves nothing"
    for name in names:
        assert canonicalize_name(Requirement(name).name) in PINS, (
            f"noxfile installs {name} unpinned"
        )
