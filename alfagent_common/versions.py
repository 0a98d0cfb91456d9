"""Versions stamped on every trajectory, so results can be traced to the code that made them.

alfagent's own version comes from the process that writes the trajectory (the agent); the game
engine's (alfworld, textworld) from the env service that played the game, which reports them in
every Reset: the agent's process need not have alfworld installed at all (its image does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from alfagent_common import __version__

UNKNOWN = "unknown"


@dataclass(frozen=True)
class GameVersions:
    """The game engine an environment plays with."""

    alfworld: str = UNKNOWN
    textworld: str = UNKNOWN


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def installed_game_versions() -> GameVersions:
    """The game engine installed where this runs: what env_service reports."""
    return GameVersions(alfworld=package_version("alfworld"), textworld=package_version("textworld"))


def alfagent_version() -> str:
    return __version__
