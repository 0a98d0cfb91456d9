"""`python -m launcher up|down|demo` — what `make up`, `make down` and `make demo` run."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

from launcher.demo import run_demo
from launcher.processes import REPO_ROOT, ServiceFailed, stop_process_group
from launcher.stack import start_stack

RUN_DIR = REPO_ROOT / ".run"
PIDS_FILE = RUN_DIR / "pids.json"
DEFAULT_PORTS = (50051, 50052, 50053)


def up() -> int:
    if PIDS_FILE.exists():
        print(f"services already running (see {PIDS_FILE}); `make down` first", file=sys.stderr)
        return 1
    store_dir = Path(os.environ.get("STORE_DIR") or REPO_ROOT / "var" / "store")
    try:
        stack = start_stack(run_dir=RUN_DIR, store_dir=store_dir, ports=DEFAULT_PORTS)
    except ServiceFailed as error:
        print(error, file=sys.stderr)
        return 1
    PIDS_FILE.write_text(json.dumps({s.name: s.process.pid for s in stack.services}, indent=2))
    for service in stack.services:
        print(f"{service.name:14} serving on {service.address}  (log: {service.log_path})")
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
    print("starting env_service, store_service and agent_service ...", flush=True)
    try:
        stack = start_stack(run_dir=demo_dir, store_dir=store_dir)
    except ServiceFailed as error:
        print(error, file=sys.stderr)
        return 1
    try:
        return asyncio.run(run_demo(stack.agent.address, stack.store.address, store_dir))
    finally:
        print("stopping the services ...", flush=True)
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "demo"])
    command = parser.parse_args().command
    return {"up": up, "down": down, "demo": demo}[command]()


if __name__ == "__main__":
    sys.exit(main())
