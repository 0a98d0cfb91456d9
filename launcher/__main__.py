"""`python -m launcher up|down|demo` — what `make up`, `make down` and `make demo` run.

`up` and `demo` start the local model service `llm` too, unless WITH_LLM=0; `make up` and
`make demo` first run `make llm`, which builds llama-server and fetches the model once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import grpc

from launcher.demo import run_demo
from launcher.llm import DEFAULT_LLM_PORT, missing_parts
from launcher.processes import REPO_ROOT, ServiceFailed, stop_process_group
from launcher.stack import start_stack

RUN_DIR = REPO_ROOT / ".run"
PIDS_FILE = RUN_DIR / "pids.json"
DEFAULT_PORTS = (50051, 50052, 50053)


def llm_port() -> int | None:
    """The port `llm` gets (LLM_PORT, default 8080), or None when WITH_LLM=0 leaves it out."""
    if os.environ.get("WITH_LLM", "1").strip() == "0":
        return None
    return int(os.environ.get("LLM_PORT") or DEFAULT_LLM_PORT)


def llm_ready_to_start(port: int | None) -> bool:
    missing = missing_parts() if port is not None else []
    for part in missing:
        print(f"llm: missing {part}", file=sys.stderr)
    if missing:
        print("run `make llm` first (builds llama-server, fetches the model), or WITH_LLM=0", file=sys.stderr)
    return not missing


def up() -> int:
    if PIDS_FILE.exists():
        print(f"services already running (see {PIDS_FILE}); `make down` first", file=sys.stderr)
        return 1
    store_dir = Path(os.environ.get("STORE_DIR") or REPO_ROOT / "var" / "store")
    port = llm_port()
    if not llm_ready_to_start(port):
        return 1
    try:
        stack = start_stack(run_dir=RUN_DIR, store_dir=store_dir, ports=DEFAULT_PORTS, llm_port=port)
    except ServiceFailed as error:
        print(error, file=sys.stderr)
        return 1
    PIDS_FILE.write_text(json.dumps({s.name: s.process.pid for s in stack.services}, indent=2))
    for service in stack.services:
        metrics = f", metrics on :{service.metrics_port}" if service.metrics_port else ""
        print(f"{service.name:14} serving on {service.address}  (log: {service.log_path}{metrics})")
    print(f"store_service  writes to {store_dir}")
    print("try: grpcurl -plaintext localhost:50051 list      stop with: make down")
    return 0


def down() -> int:
    if not PIDS_FILE.exists():
        print("no services running")
        return 0
    for name, pid in json.loads(PIDS_FILE.read_text()).items():
        stop_process_group(pid)
        print(f"{name} stopped")
    PIDS_FILE.unlink()
    return 0


def demo() -> int:
    demo_dir = RUN_DIR / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    store_dir = REPO_ROOT / "var" / "demo-store"
    port = llm_port()
    if not llm_ready_to_start(port):
        return 1
    # A free port for the demo's own llm, so that a `make up` already running does not collide.
    demo_llm_port = None if port is None else 0
    names = "env_service, store_service, agent_service" + (" and llm" if port is not None else "")
    print(f"starting {names} (logs in {demo_dir}) ...", flush=True)
    started = time.monotonic()
    try:
        stack = start_stack(run_dir=demo_dir, store_dir=store_dir, llm_port=demo_llm_port)
    except ServiceFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(f"all serving after {time.monotonic() - started:.1f} s\n", flush=True)
    try:
        return asyncio.run(
            run_demo(stack.agent.address, stack.store.address, store_dir, with_llm=port is not None)
        )
    except grpc.RpcError as error:
        print(f"the demo failed: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    finally:
        print("stopping the services ...", flush=True)
        stack.stop()
        print(f"demo took {time.monotonic() - started:.0f} s (after make llm)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "demo"])
    command = parser.parse_args().command
    return {"up": up, "down": down, "demo": demo}[command]()


if __name__ == "__main__":
    sys.exit(main())
