"""What the project's style promises and neither ruff nor mypy checks.

Every `type: ignore` says why, in a comment on the same line after it (STYLE.md: "every ignore
explained"), so the next reader can tell whether it still holds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Spelt in two pieces so that this file does not match itself.
IGNORE = re.compile(r"#\s*type:\s*" + r"ignore(\[[^\]]*\])?(?P<after>.*)$")


def python_files() -> list[Path]:
    """The project's Python files: tracked or new, not ignored (so not .venv or the generated alfagent/)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return [REPO / name for name in listed if name and (REPO / name).is_file()]


def unexplained(line: str) -> bool:
    match = IGNORE.search(line)
    if match is None:
        return False
    reason = match.group("after").strip()
    return not (reason.startswith("#") and reason.lstrip("#").strip())


def test_the_check_tells_an_explained_ignore_from_a_bare_one() -> None:
    ignore = "# type" + ": ignore"
    assert unexplained(f"x = f()  {ignore}[arg-type]")
    assert unexplained(f"x = f()  {ignore}")
    assert unexplained(f"x = f()  {ignore}[arg-type]  #")
    assert not unexplained(f"x = f()  {ignore}[arg-type]  # the stubs are wrong here")
    assert not unexplained("x = f()  # nothing to ignore")


def test_every_type_ignore_says_why() -> None:
    bare = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in python_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if unexplained(line)
    ]
    assert bare == [], "say why after each of these, e.g. '  # the stubs lack X':\n" + "\n".join(bare)
