"""The PDDL→SAS translations kept on disk: shared by workers and restarts, never trusted when damaged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from env_service.config import EnvConfig
from env_service.games.catalog import Catalog
from env_service.translations import TranslationCache
from launcher.processes import REPO_ROOT
from tests.conftest import run_json_module

CATALOG = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])


def test_a_translation_is_read_back_as_written(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "sas", "1.0")
    key = cache.key("(domain)", "(problem)", optimize=False)
    assert cache.get(key) is None
    cache.put(key, "begin_version\n3\nend_version\n")
    assert cache.get(key) == "begin_version\n3\nend_version\n"
    assert TranslationCache(tmp_path / "sas", "1.0").get(key) == "begin_version\n3\nend_version\n"


def test_the_key_covers_texts_flag_and_translator_version() -> None:
    cache = TranslationCache(Path("/unused"), "1.0")
    keys = {
        cache.key("d", "p", optimize=False),
        cache.key("d", "p", optimize=True),
        cache.key("d", "p2", optimize=False),
        cache.key("d2", "p", optimize=False),
        cache.key("d", "\0p", optimize=False),
        TranslationCache(Path("/unused"), "1.1").key("d", "p", optimize=False),
    }
    assert len(keys) == 6


def test_a_damaged_or_unreadable_file_is_not_used(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path, "1.0")
    key = cache.key("d", "p", optimize=False)
    cache.put(key, "the whole text\n")
    path = tmp_path / f"{key}.sas"
    path.write_text(path.read_text()[:-3])  # cut short
    assert cache.get(key) is None
    path.write_bytes(b"\xff\xfe not text")
    assert cache.get(key) is None
    cache.put(key, "the whole text\n")
    assert cache.get(key) == "the whole text\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file is left behind"


def test_a_directory_that_cannot_be_written_costs_only_the_translation(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    cache = TranslationCache(blocked / "sas", "1.0")
    key = cache.key("d", "p", optimize=False)
    cache.put(key, "text")  # reported, not raised
    cache.put(key, "text")
    assert cache.get(key) is None


def test_the_directory_is_configured_like_the_catalog_cache() -> None:
    assert EnvConfig.from_environ({"HOME": "/home/u"}).translation_cache == Path(
        "/home/u/.cache/alfagent/translations"
    )
    assert EnvConfig.from_environ({"ENV_TRANSLATION_CACHE": "/cache/sas"}).translation_cache == Path(
        "/cache/sas"
    )
    assert EnvConfig.from_environ({"ENV_TRANSLATION_CACHE": ""}).translation_cache is None


def probe(directory: Path, game: Path) -> dict[str, Any]:
    return run_json_module("tests.env.translation_probe", str(directory), str(game))


def test_a_new_worker_process_reads_what_an_earlier_one_translated(tmp_path: Path) -> None:
    game = CATALOG.select("generated_eval", "pick_heat_then_place_in_recep", 0).path
    first = probe(tmp_path, game)
    # Plain for playing, optimised for the expert's replanning.
    assert first["translated"] == 2
    assert len(list(tmp_path.glob("*.sas"))) == 2

    again = probe(tmp_path, game)
    assert again["translated"] == 0
    assert (again["text"], again["admissible"], again["plan"]) == (
        first["text"],
        first["admissible"],
        first["plan"],
    )

    damaged = sorted(tmp_path.glob("*.sas"))[0]
    damaged.write_text(damaged.read_text().replace("end_operator", "end_oper", 1))
    repaired = probe(tmp_path, game)
    assert repaired["translated"] == 1
    assert repaired["plan"] == first["plan"]
    assert probe(tmp_path, game)["translated"] == 0, "the damaged file was replaced"
