"""Which package may import which: what keeps each service's image free of the others' code.

The agent reaches env and store only through `alfagent_clients`, the servers do not import each
other, and the env service does not import the offline game generator (`gamegen`), which its
image does not carry. Checked on the source (ast), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports (relative imports stay inside its own package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def offenders(package: str, forbidden: set[str]) -> dict[str, set[str]]:
    modules = sorted((REPO / package).rglob("*.py"))
    assert modules, f"no modules found under {package}/"
    found = {str(path.relative_to(REPO)): imported_packages(path) & forbidden for path in modules}
    return {module: names for module, names in found.items() if names}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("agent_service", {"env_service", "store_service", "gamegen"}),
        ("alfagent_clients", {"env_service", "store_service", "agent_service", "gamegen"}),
        ("alfagent_common", {"env_service", "store_service", "agent_service", "alfagent_clients", "gamegen"}),
        ("env_service", {"store_service", "agent_service", "gamegen"}),
        ("store_service", {"env_service", "agent_service", "gamegen"}),
        # The llm image carries llm_service alone.
        (
            "llm_service",
            {
                "agent_service",
                "env_service",
                "store_service",
                "alfagent_common",
                "alfagent_clients",
                "gamegen",
            },
        ),
        # The RL client is installed on its own (clients/python/setup.py): the protos and grpc only.
        (
            "clients/python/alfagent_client",
            {
                "agent_service",
                "env_service",
                "store_service",
                "alfagent_common",
                "alfagent_clients",
                "gamegen",
                "launcher",
            },
        ),
        ("gamegen", {"agent_service", "store_service", "launcher", "bench", "tests"}),
        ("launcher", {"gamegen", "bench", "tests"}),
        ("bench", {"gamegen"}),
    ],
)
def test_package_does_not_import(package: str, forbidden: set[str]) -> None:
    assert offenders(package, forbidden) == {}


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import env_service.games\n"
        "from store_service import log\n"
        "from . import sibling\n"
        "def later():\n"
        "    from gamegen.generate import generate\n"
    )
    assert imported_packages(module) == {"env_service", "store_service", "gamegen"}
