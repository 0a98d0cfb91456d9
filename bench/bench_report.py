"""The HTML report of a 1,000-episode run: seconds to write it, its size, seconds to open it.

    python -m bench.bench_report                   # 1,000 episodes, 3 repeats (~3 minutes)
    python -m bench.bench_report --episodes 2000

The episodes are real ones, copied: the services (`launcher.stack`) play `--played` generated_eval
games with RANDOM (50 steps, the step cap of an evaluation that fails) and with EXPERT, then the
benchmark stores `--episodes` copies of them in one run through AppendTrajectory, each under its own
trajectory and game id, and dressed as LLM episodes (the command also as the raw model output, a
thought every third step, token counts), so that every text the viewer carries is as long as in an
LLM run. Then:
- write: `python -m agent_service report --run-id … --out …` as a process, wall time (Python's
  start-up, reading the run through StoreService, building and writing the file);
- open: a fresh headless Chromium profile (Debian's chromium, driven by playwright) loads the file
  from disk; the time until the page says every chart is drawn and the viewer is ready
  (`body[data-ready]`), measured from `goto` in this process and as the page's own
  `performance.now()`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.stack import start_stack
from tests.conftest import scrubbed_environ
from tests.report.browser_page import open_report
from tests.report.conftest import CHROMIUM_FLAGS, chromium_path
from tests.report.runs import stored

REPO = Path(__file__).resolve().parent.parent


def play(agent_addr: str, run_id: str, policy: str, games: int) -> None:
    request = agent_pb2.RunEvaluationRequest(
        split="generated_eval",
        limit=games,
        concurrency=4,
        policy=trajectory_pb2.Policy.Value(policy),
        run_id=run_id,
        settings=trajectory_pb2.AgentSettings(max_steps=50),
    )
    with grpc.insecure_channel(agent_addr) as channel:
        for _ in agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=1800):
            pass


def as_llm_copy(original: trajectory_pb2.Trajectory, run_id: str, number: int) -> trajectory_pb2.Trajectory:
    copy = trajectory_pb2.Trajectory()
    copy.CopyFrom(original)
    copy.run_id = run_id
    copy.trajectory_id = f"t-bench-report-{run_id}-{number:06d}"
    copy.game.game_id = f"{original.game.game_id}#copy{number}"
    copy.policy = trajectory_pb2.LLM
    copy.model = "bench-model"
    copy.settings.prompt_mode = "react"
    copy.settings.grounding = "exact"
    prompt = completion = 0
    for step in copy.steps:
        step.raw_output = step.action
        step.grounding = "exact" if step.admissible else "none"
        if step.index % 3 == 1:
            step.thought = (
                f"think: To solve the task, I need to {step.action}, then look around for what is next."
            )
        step.usage.prompt_tokens = 2500 + 60 * step.index
        step.usage.completion_tokens = 12
        prompt += step.usage.prompt_tokens
        completion += step.usage.completion_tokens
    copy.usage.prompt_tokens = prompt
    copy.usage.completion_tokens = completion
    return copy


def store_copies(
    store_addr: str, originals: list[trajectory_pb2.Trajectory], run_id: str, episodes: int
) -> int:
    """Appends the copies; returns the bytes of their proto encoding (the store's JSON is larger)."""
    size = 0
    with grpc.insecure_channel(store_addr) as channel:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        for number in range(episodes):
            copy = as_llm_copy(originals[number % len(originals)], run_id, number)
            size += copy.ByteSize()
            stub.AppendTrajectory(store_pb2.AppendTrajectoryRequest(trajectory=copy), timeout=60)
    return size


def write_seconds(store_addr: str, run_id: str, out: Path) -> float:
    command = [sys.executable, "-m", "agent_service", "report", "--store", store_addr, "--run-id", run_id]
    start = time.perf_counter()
    subprocess.run([*command, "--out", str(out)], cwd=REPO, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def open_seconds(report: Path) -> tuple[float, dict[str, float]]:
    """Seconds from goto to ready in this process, and the page's own marks of each phase."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    assert executable is not None
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            start = time.perf_counter()
            opened = open_report(browser, report, timeout_ms=120_000)
            elapsed = time.perf_counter() - start
            if opened.errors:
                raise AssertionError(f"the report logged errors: {opened.errors}")
            marks = opened.page.evaluate(
                "performance.getEntriesByType('mark').map((mark) => [mark.name, mark.startTime])"
            )
            in_page = {str(name).removeprefix("report:"): float(ms) / 1000 for name, ms in marks}
        finally:
            browser.close()
    return elapsed, in_page


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--played", type=int, default=24, help="real games played, then copied")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    stack = start_stack(
        run_dir=root / "logs",
        store_dir=root / "store",
        environ=scrubbed_environ(ENV_WORKERS="2", ENV_CATALOG_CACHE=str(root / "catalog.json")),
    )
    try:
        for policy in ("RANDOM", "EXPERT"):
            play(stack.agent.address, f"played-{policy.lower()}", policy, args.played)
        originals = [
            *stored(stack.store.address, "played-random"),
            *stored(stack.store.address, "played-expert"),
        ]
        run_id = "bench-report"
        proto_bytes = store_copies(stack.store.address, originals, run_id, args.episodes)
        steps = sum(len(originals[n % len(originals)].steps) for n in range(args.episodes))
        print(
            f"{args.episodes} episodes stored ({steps} steps, {proto_bytes / 1e6:.1f} MB as protobuf), "
            f"copied from {len(originals)} played ({args.played} RANDOM at 50 steps, {args.played} EXPERT)"
        )
        out = root / "report.html"
        writes = [write_seconds(stack.store.address, run_id, out) for _ in range(args.repeats)]
        print(
            f"write: median {statistics.median(writes):.2f} s (runs {', '.join(f'{w:.2f}' for w in writes)})"
        )
        print(f"size: {out.stat().st_size / 1e6:.2f} MB")
        if chromium_path() is None:
            print("open: skipped, no chromium (apt-get install -y chromium)")
            return
        opens = [open_seconds(out) for _ in range(args.repeats)]
        print(
            f"open (fresh profile, goto to ready): median {statistics.median(o[0] for o in opens):.2f} s "
            f"(runs {', '.join(f'{o[0]:.2f}' for o in opens)})"
        )
        for _, marks in opens:
            # script: plotly.js and the data parsed; charts: all drawn; viewer: the first episode shown
            print("  in the page, s since navigation: " + ", ".join(f"{k} {v:.2f}" for k, v in marks.items()))
    finally:
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
