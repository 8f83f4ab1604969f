"""Print the requirements of pyproject.toml's extras, one per line: the Dockerfile's pip input.

    python3 scripts/extra-requirements.py serve,vertex [PYPROJECT]

The standard library only (Python 3.11+), so that it runs in a bare base image.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def extra_requirements(extras: list[str], pyproject: Path) -> list[str]:
    """The requirement strings of `extras`, in order, each once; ValueError names an unknown one."""
    with pyproject.open("rb") as source:
        declared = tomllib.load(source)["project"]["optional-dependencies"]
    unknown = [name for name in extras if name not in declared]
    if unknown:
        raise ValueError(
            f"{pyproject}: no extra named {', '.join(unknown)}; has {', '.join(declared)}"
        )
    requirements = [requirement for name in extras for requirement in declared[name]]
    return list(dict.fromkeys(requirements))


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    extras = [name.strip() for name in argv[1].split(",") if name.strip()]
    pyproject = Path(argv[2]) if len(argv) == 3 else Path("pyproject.toml")
    try:
        print("\n".join(extra_requirements(extras, pyproject)))
    except (OSError, ValueError) as error:
        print(f"extra-requirements: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
