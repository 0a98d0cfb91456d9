"""The catalog's cache of what it read from the game files (env_service/games/scan_cache.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from env_service.config import EnvConfig, catalog_cache_path
from env_service.games.catalog import Catalog
from env_service.games.scan_cache import ScanCache

DATA_ROOT = Path(__file__).resolve().parents[2] / "env_service" / "data"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of some shipped games: 3 of one type, 2 of another."""
    split = DATA_ROOT / "json_2.1.1" / "generated_eval"
    chosen = [*sorted(split.glob("pick_and_place_simple-*"))[:3], *sorted(split.glob("look_at_obj*"))[:2]]
    for task_dir in chosen:
        shutil.copytree(task_dir, tmp_path / "json_2.1.1" / "eval" / task_dir.name)
    return tmp_path


def scan(root: Path, cache_file: Path | None) -> tuple[Catalog, ScanCache]:
    cache = ScanCache.load(cache_file)
    catalog = Catalog.from_roots([root], cache)
    cache.save()
    return catalog, cache


def test_a_warm_scan_reads_no_game_file_and_finds_the_same_games(root: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "catalog.json"
    uncached = Catalog.from_roots([root]).games()
    first, cold = scan(root, cache_file)
    second, warm = scan(root, cache_file)
    assert first.games() == second.games() == uncached and len(uncached) == 5
    assert (cold.hits, cold.misses) == (0, 5)
    assert (warm.hits, warm.misses) == (5, 0)


def test_a_changed_game_is_read_again(root: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "catalog.json"
    scan(root, cache_file)
    game_file = Catalog.from_roots([root]).games()[0].path
    game = json.loads(game_file.read_text())
    game["solvable"] = False
    game_file.write_text(json.dumps(game))
    os.utime(game_file, ns=(1, 1))  # a different mtime whatever the clock's resolution
    catalog, cache = scan(root, cache_file)
    assert (cache.hits, cache.misses) == (4, 1)
    assert len(catalog.games()) == 4 and game_file not in {g.path for g in catalog.games()}


def test_removed_games_leave_the_cache_file(root: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "catalog.json"
    scan(root, cache_file)
    removed = sorted((root / "json_2.1.1" / "eval").iterdir())[0]
    shutil.rmtree(removed)
    scan(root, cache_file)
    kept = json.loads(cache_file.read_text())["games"]
    assert len(kept) == 4 and not any(key.startswith(str(removed.resolve())) for key in kept)


@pytest.mark.parametrize("content", ["not json", '{"version": 99, "games": {}}', '{"games": []}'])
def test_a_bad_cache_file_is_ignored_and_replaced(
    root: Path, tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file = tmp_path / "catalog.json"
    cache_file.write_text(content)
    with caplog.at_level(logging.WARNING):
        catalog, cache = scan(root, cache_file)
    assert len(catalog.games()) == 5 and cache.misses == 5
    assert any(record.getMessage() == "ignored the catalog cache" for record in caplog.records)
    assert scan(root, cache_file)[1].hits == 5


def test_an_unwritable_cache_is_logged_not_fatal(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        catalog, _ = scan(root, blocker / "catalog.json")
    assert len(catalog.games()) == 5
    assert any(record.getMessage() == "could not write the catalog cache" for record in caplog.records)


def test_where_the_cache_lives() -> None:
    assert catalog_cache_path({"HOME": "/home/u"}) == Path("/home/u/.cache/alfagent/catalog.json")
    assert catalog_cache_path({"XDG_CACHE_HOME": "/c", "HOME": "/home/u"}) == Path("/c/alfagent/catalog.json")
    assert catalog_cache_path({"ENV_CATALOG_CACHE": "/data/cat.json"}) == Path("/data/cat.json")
    assert catalog_cache_path({"ENV_CATALOG_CACHE": ""}) is None
    assert EnvConfig.from_environ({"ENV_CATALOG_CACHE": ""}).catalog_cache is None
