"""Every service started with a configuration it cannot use says why in one line and exits with 2.

The line names the service and the variable with its value, and nothing else is printed: no
traceback, no log lines. The services are started as `make up` and the images start them.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import scrubbed_environ

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("env_service", "store_service", "agent_service")
Result = subprocess.CompletedProcess[str]

# (service, variable, value, the message after "<service>: ")
CASES = [
    *[(service, "PORT", "abc", "PORT='abc' is not a whole number") for service in SERVICES],
    *[
        (service, "LOG_LEVEL", "loud", "LOG_LEVEL='LOUD' is not one of DEBUG, INFO, WARNING, ERROR")
        for service in SERVICES
    ],
    *[
        (service, "EVENT_LOOP", "gevent", "EVENT_LOOP='gevent' is not one of uvloop, asyncio")
        for service in SERVICES
    ],
    ("env_service", "ENV_WORKERS", "-1", "ENV_WORKERS=-1 must be at least 0"),
    ("env_service", "ENV_SESSION_TTL_SECONDS", "soon", "ENV_SESSION_TTL_SECONDS='soon' is not a number"),
    ("store_service", "STORE_SEGMENT_BYTES", "ten", "STORE_SEGMENT_BYTES='ten' is not a whole number"),
    ("agent_service", "ALFAGENT_MAX_STEPS", "0", "ALFAGENT_MAX_STEPS=0 must be at least 1"),
]


def start(service: str, variable: str, value: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # PORT=0 and a temporary STORE_DIR, should a service start after all: nothing to collide with.
    environ = scrubbed_environ(**{"STORE_DIR": str(tmp_path / "store"), "PORT": "0", variable: value})
    return subprocess.run(
        [sys.executable, "-m", service],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Result]:
    # Started two at a time: each is a second or two of imports, and the cases are independent.
    tmp_path = tmp_path_factory.mktemp("startup")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda case: start(case[0], case[1], case[2], tmp_path), CASES)
        return {(case[0], case[1]): result for case, result in zip(CASES, done, strict=True)}


@pytest.mark.parametrize(("service", "variable", "value", "message"), CASES)
def test_a_bad_variable_is_one_line_and_exit_code_2(
    results: dict[tuple[str, str], Result],
    service: str,
    variable: str,
    value: str,
    message: str,
) -> None:
    result = results[(service, variable)]
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"{service}: {message}"]
    assert result.stdout == ""
