"""Writes a pyproject.toml that holds one dependency group of the project's, and the groups it includes.

Each image installs one dependency group (`pip install --group env`), which reads only that table.
The Dockerfile copies this reduced file into the group's dependency stage instead of the whole
pyproject.toml, so that editing a tool's settings there (ruff, mypy, pytest) or another group
does not rebuild the stage (the env's takes minutes: it compiles Fast Downward).
Usage: dependency_groups.py PYPROJECT GROUP OUT
"""

from __future__ import annotations

import json
import sys
import tomllib


def render(groups: dict[str, list[str | dict[str, str]]]) -> str:
    lines = ["[dependency-groups]"]
    for name, entries in groups.items():
        # A JSON string is a valid TOML basic string for these names and version specifiers.
        items = [
            json.dumps(entry)
            if isinstance(entry, str)
            else f"{{ include-group = {json.dumps(entry['include-group'])} }}"
            for entry in entries
        ]
        lines.append(f"{name} = [{', '.join(items)}]")
    return "\n".join(lines) + "\n"


def closure(
    groups: dict[str, list[str | dict[str, str]]], name: str
) -> dict[str, list[str | dict[str, str]]]:
    """`name` and every group it includes, directly or not, in the order pyproject.toml gives."""
    wanted = {name}
    pending = [name]
    while pending:
        for entry in groups[pending.pop()]:
            if isinstance(entry, dict) and entry["include-group"] not in wanted:
                wanted.add(entry["include-group"])
                pending.append(entry["include-group"])
    return {group: entries for group, entries in groups.items() if group in wanted}


def main() -> None:
    source, name, target = sys.argv[1:4]
    with open(source, "rb") as file:
        groups = closure(tomllib.load(file)["dependency-groups"], name)
    text = render(groups)
    assert tomllib.loads(text)["dependency-groups"] == groups, "the reduced file must say the same"
    with open(target, "w", encoding="utf-8") as file:
        file.write(text)


if __name__ == "__main__":
    main()
