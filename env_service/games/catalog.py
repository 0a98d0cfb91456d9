"""The games a data root serves, found and filtered exactly as ALFWorld finds them.

A root holds ``json_2.1.1/<split>/...`` (an ``ALFWORLD_DATA`` directory from ``alfworld-download``, or
this project's ``env_service/data``). For every split the catalog walks the tree like
``alfworld.agents.environment.alfred_tw_env.AlfredTWEnv.collect_game_files``: a game is a directory
with ``traj_data.json``, whose path contains neither ``movable`` nor ``Sliced``, whose task type is one
of the six, with a ``game.tw-pddl`` that says ``solvable: true``. Games are sorted by id, so
``(split, task_type, index)`` always names the same game. Official and generated games go through this
same code; they differ only in ``source``.

Public API::

    catalog = Catalog.from_roots([Path("env_service/data"), Path(os.environ["ALFWORLD_DATA"])])
    catalog.splits()                                  # ["generated_eval", "generated_train", ...]
    catalog.games(split=None, task_type=None)         # list[GameInfo], sorted by game_id
    catalog.get("generated_eval/pick_and_place_simple-.../trial_T...")   # GameInfo or UnknownGame
    catalog.select("generated_eval", "look_at_obj_in_light", 0)           # GameInfo or CatalogError

This module imports neither alfworld nor textworld, so listing games stays cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from env_service.games.names import (
    DATA_DIR_NAME,
    DEFAULT_SPLIT,
    GAME_FILE,
    GENERATED_MARKER,
    TASK_TYPES,
    TRAJ_FILE,
)
from env_service.games.scan_cache import Facts, ScanCache, stamp

__all__ = [
    "DEFAULT_SPLIT",
    "TASK_TYPES",
    "Catalog",
    "CatalogError",
    "GameInfo",
    "IndexOutOfRange",
    "UnknownGame",
    "UnknownSplit",
    "UnknownTaskType",
]

# The sentence ALFWorld shows after "Your task is to: " lives in the game's grammar (put there by
# add_task_to_grammar when the game file was made).
_TASK_RE: Final[re.Pattern[str]] = re.compile(r'"rhs":\s*"Your task is to: (.*?)\.?"')


class CatalogError(ValueError):
    """A game selection that names nothing: the message says what was wrong and what is valid."""


class UnknownSplit(CatalogError):
    pass


class UnknownTaskType(CatalogError):
    pass


class IndexOutOfRange(CatalogError):
    pass


class UnknownGame(CatalogError, KeyError):
    """No game has this id (a KeyError too, so ``catalog.get`` behaves like a mapping lookup)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else "unknown game"


@dataclass(frozen=True)
class GameInfo:
    """One playable game.

    ``game_id`` is ``<split>/<task dir>/<trial dir>``; ``source`` is "generated" for games this project
    made (traj_data.json has ``alfagent_generated``) and "official" otherwise; ``task`` is the sentence
    the player is given; ``path`` is the game.tw-pddl file to load.
    """

    game_id: str
    split: str
    task_type: str
    task: str
    source: str
    path: Path


def _data_dir(root: Path) -> Path | None:
    """``root/json_2.1.1`` (or ``root`` itself if it is that directory); None if it has none."""
    if (root / DATA_DIR_NAME).is_dir():
        return root / DATA_DIR_NAME
    if root.name == DATA_DIR_NAME and root.is_dir():
        return root
    return None


def _read_json(path: Path) -> Any:
    # orjson: an official traj_data.json is ~230 kB, and a first start-up on the train split reads
    # 3,553 of them; it parses them in less than half the time the standard library takes.
    return orjson.loads(path.read_bytes())


def _task_sentence(game: dict[str, Any], traj: dict[str, Any]) -> str:
    match = _TASK_RE.search(str(game.get("grammar", "")))
    if match:
        return match.group(1)
    template = traj.get("template")
    if isinstance(template, dict) and template.get("task_desc"):
        return str(template["task_desc"]).rstrip(".")
    return ""


def scan_split(split: str, split_dir: Path, cache: ScanCache | None = None) -> list[GameInfo]:
    """The games of one split directory, filtered like AlfredTWEnv.collect_game_files."""
    cache = cache or ScanCache(None)
    # Cache keys are absolute: resolved once here, not once per game.
    absolute_split_dir = split_dir.resolve()
    found: list[GameInfo] = []
    for root, _dirs, files in os.walk(split_dir, topdown=False):
        if TRAJ_FILE not in files:
            continue
        # Same test as alfworld: on the whole path string.
        if "movable" in root or "Sliced" in root:
            continue
        game_file = Path(root) / GAME_FILE
        current = stamp(Path(root) / TRAJ_FILE, game_file)
        rel = Path(root).relative_to(split_dir).as_posix()
        key = str(absolute_split_dir / rel)
        facts = cache.get(key, current)
        if facts is None:
            facts = _read_facts(Path(root), game_file)
            cache.put(key, current, facts)
        if not facts.playable:
            continue
        found.append(
            GameInfo(
                game_id=f"{split}/{rel}",
                split=split,
                task_type=facts.task_type,
                task=facts.task,
                source=facts.source,
                path=game_file,
            )
        )
    return sorted(found, key=lambda g: g.game_id)


def _read_facts(directory: Path, game_file: Path) -> Facts:
    traj = _read_json(directory / TRAJ_FILE)
    task_type = traj.get("task_type")
    if task_type not in TASK_TYPES or not game_file.exists():
        return Facts(playable=False)
    game = _read_json(game_file)
    if not game.get("solvable", False):
        return Facts(playable=False)
    return Facts(
        playable=True,
        task_type=str(task_type),
        task=_task_sentence(game, traj),
        source="generated" if traj.get(GENERATED_MARKER) else "official",
    )


class Catalog:
    """Games by split, sorted by id. Build it with :meth:`from_roots`."""

    def __init__(self, games: Iterable[GameInfo]) -> None:
        by_split: dict[str, list[GameInfo]] = {}
        by_id: dict[str, GameInfo] = {}
        for game in games:
            if game.game_id in by_id:  # the first root listed wins
                continue
            by_id[game.game_id] = game
            by_split.setdefault(game.split, []).append(game)
        self._by_id = by_id
        self._by_split = {
            split: sorted(gs, key=lambda g: g.game_id) for split, gs in sorted(by_split.items())
        }

    @classmethod
    def from_roots(cls, roots: Sequence[Path | str], cache: ScanCache | None = None) -> Catalog:
        """Scan every ``<root>/json_2.1.1/<split>``; roots without such a directory are skipped.

        A split present in several roots is merged; if two roots hold the same game id the first one wins.
        `cache` (see scan_cache.py) spares reading the games that have not changed since it was saved.
        """
        games: list[GameInfo] = []
        for root in roots:
            data_dir = _data_dir(Path(root))
            if data_dir is None:
                continue
            for split_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                games.extend(scan_split(split_dir.name, split_dir, cache))
        return cls(games)

    def __len__(self) -> int:
        return len(self._by_id)

    def splits(self) -> list[str]:
        """Splits that hold at least one game, sorted."""
        return list(self._by_split)

    def games(self, split: str | None = None, task_type: str | None = None) -> list[GameInfo]:
        """Games of a split (all splits if None/""), optionally of one task type, sorted by game_id."""
        if task_type:
            self._check_task_type(task_type)
        if split:
            self._check_split(split)
            pool = self._by_split[split]
        else:
            pool = [g for gs in self._by_split.values() for g in gs]
        return [g for g in pool if not task_type or g.task_type == task_type]

    def get(self, game_id: str) -> GameInfo:
        try:
            return self._by_id[game_id]
        except KeyError:
            split = game_id.split("/", 1)[0]
            hint = (
                f"split {split!r} has {len(self._by_split[split])} games"
                if split in self._by_split
                else f"known splits: {', '.join(self.splits()) or 'none'}"
            )
            raise UnknownGame(f"no game with id {game_id!r} ({hint})") from None

    def select(
        self, split: str | None = None, task_type: str | None = None, index: int | None = None
    ) -> GameInfo:
        """The ``index``-th game (0-based, sorted by id) of a split and optional task type.

        Defaults follow DESIGN.md: no split means ``generated_eval``, no index means 0, no task type
        means any type. Empty strings count as missing (proto3 defaults).
        """
        split = split or DEFAULT_SPLIT
        index = 0 if index is None else index
        games = self.games(split, task_type or None)
        if not 0 <= index < len(games):
            what = f"{task_type} games" if task_type else "games"
            valid = f"valid: 0..{len(games) - 1}" if games else "there are none"
            raise IndexOutOfRange(
                f"index {index} is out of range: split {split!r} has {len(games)} {what} ({valid})"
            )
        return games[index]

    def _check_split(self, split: str) -> None:
        if split not in self._by_split:
            raise UnknownSplit(f"unknown split {split!r}; valid splits: {', '.join(self.splits()) or 'none'}")

    @staticmethod
    def _check_task_type(task_type: str) -> None:
        if task_type not in TASK_TYPES:
            raise UnknownTaskType(
                f"unknown task type {task_type!r}; valid task types: {', '.join(TASK_TYPES)}"
            )
