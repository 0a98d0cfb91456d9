"""The skills core is plain Python: only the command line (`cli.py`) talks gRPC."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_imports import imported_packages

SKILLS = Path(__file__).resolve().parents[2] / "agent_service" / "skills"


@pytest.mark.parametrize("module", ["library", "grammar", "extract", "retrieve", "executor", "convert"])
def test_the_core_does_not_import_grpc(module: str) -> None:
    assert "grpc" not in imported_packages(SKILLS / f"{module}.py")
