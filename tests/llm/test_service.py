"""`python -m llm_service` checks the model file before anything runs; `llm_service.healthcheck`.

The model is a small fake catalog entry (LLM_CATALOG) and `LLAMA_SERVER` a script that writes the
arguments it was started with, so the tests see exactly what llama-server would be given.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llm_service import verify
from llm_service.models import ModelSpec
from tests.llm.fake_models import write_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTENT = b"GGUF" + bytes(range(256)) * 40


@pytest.fixture
def setup(tmp_path: Path) -> tuple[ModelSpec, Path, dict[str, str]]:
    """A fake model, its correct file in the models dir, and the environment to serve it."""
    model = ModelSpec(
        name="tiny-test-model",
        packages=("alfagent-test-tiny==1.0",),
        size_bytes=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
    )
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    model_file = models_dir / model.filename
    model_file.write_bytes(CONTENT)
    fake_server = tmp_path / "llama-server"
    # Records its arguments, and the API key it was handed in its environment.
    fake_server.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "argv.txt"}\n'
        f'printf "%s" "$LLAMA_API_KEY" > {tmp_path / "key.txt"}\n'
    )
    fake_server.chmod(fake_server.stat().st_mode | stat.S_IXUSR)
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "ALFAGENT_", "LLAMA_"))},
        "LLM_CATALOG": str(write_catalog(tmp_path / "catalog.json", model)),
        "LLM_MODEL": model.name,
        "LLM_MODEL_DIR": str(models_dir),
        "LLAMA_SERVER": str(fake_server),
    }
    return model, model_file, environ


def serve(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_service"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def the_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal writes; nothing may have been started."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_good_file_starts_llama_server_with_the_service_settings(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    model, model_file, environ = setup
    result = serve(
        {**environ, "LLM_PORT": "8181", "LLM_THREADS": "3", "LLM_PARALLEL": "2", "LLM_CTX": "1024"}
    )
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    assert options["--model"] == str(model_file)
    assert model.sha256 in options["--model"]
    assert options["--alias"] == model.name
    assert (options["--port"], options["--threads"], options["--parallel"]) == ("8181", "3", "2")
    assert options["--ctx-size"] == "2048"  # LLM_CTX is per slot; llama-server's -c is for all slots
    assert "--cache-prompt" in argv and "--metrics" not in argv, "metrics only when asked for"
    assert (tmp_path / "key.txt").read_text() == ""
    verified = json.loads(result.stderr.splitlines()[0])
    assert verified["msg"] == "model verified" and verified["sha256"] == model.sha256


def test_a_corrupt_file_is_refused_naming_it_and_the_expected_hash(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    model, model_file, environ = setup
    corrupt = bytearray(CONTENT)
    corrupt[100] ^= 0xFF
    model_file.write_bytes(bytes(corrupt))
    line = the_refusal(serve(environ))
    assert "corrupt" in line and str(model_file) in line and model.sha256 in line
    assert not (tmp_path / "argv.txt").exists()


def test_a_truncated_file_is_refused_naming_it_and_the_expected_hash(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    model, model_file, environ = setup
    model_file.write_bytes(CONTENT[:1000])
    line = the_refusal(serve(environ))
    assert "truncated" in line and str(model_file) in line and model.sha256 in line
    assert not (tmp_path / "argv.txt").exists()


def test_a_missing_file_is_refused_with_how_to_fetch_it(
    setup: tuple[ModelSpec, Path, dict[str, str]],
) -> None:
    model, model_file, environ = setup
    model_file.unlink()
    line = the_refusal(serve(environ))
    assert "missing" in line and model.sha256 in line and "llm_service.fetch" in line


def test_a_stamp_does_not_vouch_for_a_file_changed_after_it(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    model, model_file, environ = setup
    verify.write_stamp(model_file, model.sha256)
    model_file.write_bytes(CONTENT[:-1] + b"X")  # same size, new mtime
    line = the_refusal(serve({**environ, "LLM_VERIFY": "stamp"}))
    assert "corrupt" in line and model.sha256 in line


def test_an_unknown_model_and_a_missing_binary_are_refused(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    model, _, environ = setup
    unknown = the_refusal(serve({**environ, "LLM_MODEL": "no-such-model"}))
    assert "no-such-model" in unknown and model.name in unknown
    missing = the_refusal(serve({**environ, "LLAMA_SERVER": str(tmp_path / "nowhere")}))
    assert "llama-server not found" in missing and "llm_service.build" in missing


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def healthcheck(address: str) -> int:
    command = [sys.executable, "-m", "llm_service.healthcheck", address]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, timeout=30).returncode


def test_healthcheck_is_0_only_when_health_answers_200(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, handler = health_server
    address = f"127.0.0.1:{server.server_address[1]}"
    assert healthcheck(address) == 0
    handler.status = 503  # llama-server while it loads the model
    assert healthcheck(address) == 1
    server.shutdown()
    server.server_close()
    assert healthcheck(address) == 1


def test_the_api_key_goes_to_llama_server_in_its_environment_never_on_its_command_line(
    setup: tuple[ModelSpec, Path, dict[str, str]], tmp_path: Path
) -> None:
    _, _, environ = setup
    key = "sk-local-" + "k" * 24
    result = serve({**environ, "LLM_API_KEY": key, "LLM_METRICS": "1"})
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv.txt").read_text()
    assert key not in argv and key not in result.stderr and "--metrics" in argv.splitlines()
    assert (tmp_path / "key.txt").read_text() == key
    assert (
        the_refusal(serve({**environ, "LLM_METRICS": "yes"}))
        == "llm_service: LLM_METRICS='yes' must be 1 or 0"
    )
