"""What the catalog learnt from each game directory, kept between start-ups in one JSON file.

Reading every game's ``traj_data.json`` and ``game.tw-pddl`` takes ~1 ms a game even with orjson:
~3 s for an official-sized train split (3,553 games; bench/RESULTS.md). The catalog needs only a
few facts from them, so they are kept here, keyed by the game directory and valid while both
files keep their size and modification time. A warm start then costs two ``stat`` calls a game
(~0.16 s).

The cache is an optimisation only: a file that is missing, unreadable, from another version, or
not writable is logged and ignored, and the catalog reads the games as if there were none.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# (size, mtime_ns) of traj_data.json, then of game.tw-pddl (None when it is missing).
Stamp = tuple[int, int, int | None, int | None]


@dataclass(frozen=True)
class Facts:
    """What a game directory holds, as far as the catalog cares; `playable` False: skip it."""

    playable: bool
    task_type: str = ""
    task: str = ""
    source: str = ""


def stamp(traj_file: Path, game_file: Path) -> Stamp:
    traj = os.stat(traj_file)
    try:
        game = os.stat(game_file)
    except FileNotFoundError:
        return traj.st_size, traj.st_mtime_ns, None, None
    return traj.st_size, traj.st_mtime_ns, game.st_size, game.st_mtime_ns


class ScanCache:
    def __init__(self, path: Path | None, entries: dict[str, Any] | None = None) -> None:
        self.path = path
        self._entries: dict[str, Any] = entries or {}
        self._changed = False
        self._seen: set[str] = set()
        self.hits = 0
        self.misses = 0

    @classmethod
    def load(cls, path: Path | None) -> ScanCache:
        """The cache kept at `path` (None: a cache that keeps nothing)."""
        if path is None or not path.exists():
            return cls(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("version") != FORMAT_VERSION or not isinstance(document.get("games"), dict):
                raise ValueError(f"not a version {FORMAT_VERSION} catalog cache")
        except (OSError, ValueError) as error:
            log.warning("ignored the catalog cache", extra={"path": str(path), "error": str(error)})
            return cls(path)
        return cls(path, document["games"])

    def get(self, directory: str, current: Stamp) -> Facts | None:
        self._seen.add(directory)
        entry = self._entries.get(directory)
        if entry is None or tuple(entry["stamp"]) != current:
            self.misses += 1
            return None
        self.hits += 1
        return Facts(**entry["facts"])

    def put(self, directory: str, current: Stamp, facts: Facts) -> None:
        self._seen.add(directory)
        self._entries[directory] = {"stamp": list(current), "facts": facts.__dict__}
        self._changed = True

    def save(self) -> None:
        """Write what this scan saw, if that changed anything (atomically; failure is logged, not
        raised). Directories not seen this time (removed, or under a root no longer configured)
        are dropped, so the file never outgrows the data."""
        gone = self._entries.keys() - self._seen
        if self.path is None or not (self._changed or gone):
            return
        for directory in gone:
            del self._entries[directory]
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps({"version": FORMAT_VERSION, "games": self._entries}), "utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning(
                "could not write the catalog cache", extra={"path": str(self.path), "error": str(error)}
            )
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return
        self._changed = False
