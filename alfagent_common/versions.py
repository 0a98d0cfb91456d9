"""Versions stamped on every trajectory, so results can be traced to the code that made them."""

from __future__ import annotations

from importlib import metadata

from alfagent_common import __version__


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def alfagent_version() -> str:
    return __version__
