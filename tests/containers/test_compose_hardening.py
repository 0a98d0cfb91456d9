"""The hardening of docker-compose.yml as the container engine really applies it: read from inside
each running container (the kernel's view of its main process) and from the engine's record.

Runs only against the container stack (ALFAGENT_TEST_STACK=containers, see tests/conftest.py);
the file itself is checked statically in tests/scale/test_compose_hardening.py.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.containers.engine import ComposeStack

SERVICES = ("env", "store", "agent", "llm")


def status(stack: ComposeStack, service: str) -> dict[str, str]:
    """/proc/1/status of the service's container: its main process as the kernel sees it."""
    container = stack.engine.container(service)
    text = stack.engine.run("exec", container, "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@pytest.mark.parametrize("service", SERVICES)
def test_the_main_process_has_no_capability_no_new_privileges_and_a_seccomp_filter(
    container_stack: ComposeStack, service: str
) -> None:
    found = status(container_stack, service)
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(found[capabilities].strip(), 16) == 0, f"{service}: {capabilities} {found[capabilities]}"
    assert found["NoNewPrivs"].strip() == "1"
    assert found["Seccomp"].strip() == "2", "a seccomp filter (the engine's default profile)"
    assert found["Uid"].split()[0] == "10001"


@pytest.mark.parametrize("service", SERVICES)
def test_memory_and_process_limits_are_set_and_far_above_what_the_service_uses(
    container_stack: ComposeStack, service: str
) -> None:
    engine = container_stack.engine
    container = engine.container(service)
    host = engine.inspect(container)["HostConfig"]
    assert isinstance(host, dict)
    assert host["Memory"] >= 1024**3, host["Memory"]
    assert host["PidsLimit"] >= 1024, host["PidsLimit"]
    # Every thread of every process counts against pids_limit: what the serving stack uses now.
    threads = engine.run("exec", container, "sh", "-c", "ls -d /proc/[0-9]*/task/* | wc -l").stdout
    assert int(threads) * 4 <= host["PidsLimit"], f"{service} runs {threads.strip()} threads"


@pytest.mark.parametrize("service", SERVICES)
def test_published_ports_are_on_loopback_only(container_stack: ComposeStack, service: str) -> None:
    engine = container_stack.engine
    answer = engine.run("port", engine.container(service)).stdout
    bindings = re.findall(r"-> (\S+):(\d+)", answer)
    assert bindings, answer
    assert {address for address, _ in bindings} == {"127.0.0.1"}, answer


def llm_status(stack: ComposeStack, path: str, key: str | None, body: object = None) -> int:
    """The HTTP status the published llm answers (a POST with a JSON body when one is given)."""
    request = urllib.request.Request(
        f"http://{stack.address('llm')}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


COMPLETION = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}


def test_the_model_refuses_a_caller_without_its_api_key(container_stack: ComposeStack) -> None:
    assert llm_status(container_stack, "/v1/chat/completions", None, COMPLETION) == 401
    assert llm_status(container_stack, "/v1/chat/completions", "wrong", COMPLETION) == 401
    assert llm_status(container_stack, "/v1/chat/completions", container_stack.llm_api_key, COMPLETION) == 200


def test_the_model_keeps_its_own_metrics_off(container_stack: ComposeStack) -> None:
    # llama-server answers 501 for an endpoint it was not started with (--metrics: LLM_METRICS=1).
    assert llm_status(container_stack, "/metrics", container_stack.llm_api_key) == 501
