"""The agent's speed with an LLM that takes 300 ms per completion: concurrency and own overhead.

    python -m bench.bench_agent                  # in-process agent, in-memory env (~1.5 minutes)
    python -m bench.bench_agent --mode both      # also the three services on real games (+3 minutes)

The LLM is the fake OpenAI server of the tests (tests/agent/fake_openai.py): a real HTTP server,
run in a child process so that it takes no CPU time from the agent's process, which waits
`--delay` seconds per completion and plays each game's expert plan after one "think:" turn. The
agent uses its real `openai` client over HTTP.

- memory: `EpisodeRunner` + `LLMPolicies` in this process, with the agent tests' in-memory env and
  store (tests/agent/memory.py: 4-step games that cost nothing), so the figures are the agent's own.
- stack: env, store and agent as processes (`launcher.stack`), `RunEvaluation` on generated_eval
  games; the env's resets and steps (2 worker processes) are then part of the wall time.

Each mode plays the same episodes one at a time, then `--episodes` at once, and reports the ratio
of the two wall times. Few-shot examples are built before the clock starts. Overhead per step is
`latency_ms - llm_latency_ms - env_latency_ms` of every recorded step: prompt building, grounding
and bookkeeping, without the LLM calls and the env step.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc

from agent_service.episode import EpisodeOutcome, EpisodeRecord, EpisodeRequest, PolicyKind
from agent_service.llm.client import Timeouts
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.policy import LLMPolicies
from agent_service.llm.retries import RetrySettings
from agent_service.runner import EpisodeRunner
from agent_service.settings import EpisodeSettings
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.stack import start_stack
from tests.agent.fake_openai import FakeOpenAI
from tests.agent.memory import OPENING, PLAN, MemoryEnv, MemoryStore

THOUGHT = "think: I know this game; I will follow the plan."
Plans = dict[str, list[str]]


def plan_reply(plans: Plans) -> Callable[[dict[str, Any]], str]:
    """Plays each conversation's game (found by its opening message) after one thought."""

    def reply(body: dict[str, Any]) -> str:
        messages = body["messages"]
        opening = messages[1]["content"]
        plan = next((p for start, p in plans.items() if opening.startswith(start)), [])
        script = [THOUGHT, *plan]
        said = sum(message["role"] == "assistant" for message in messages[2:])
        return script[said] if said < len(script) else "look"

    return reply


def _serve(delay: float, plans: Plans, pipe: Connection) -> None:
    with FakeOpenAI(api_key="bench-key", delay_seconds=delay, responder=plan_reply(plans)) as server:
        pipe.send(server.base_url)
        pipe.recv()  # until told to stop


@contextmanager
def fake_llm(delay: float, plans: Plans) -> Iterator[str]:
    # Spawned, not forked: this process may already have used gRPC, which does not survive a fork.
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=_serve, args=(delay, plans, there))
    process.start()
    try:
        yield str(here.recv())
    finally:
        here.send("stop")
        process.join(timeout=10)


def overheads(steps: list[tuple[float, float, float]]) -> dict[str, float]:
    """Median and 95th percentile of latency - llm - env, in ms, over (latency, llm, env) steps."""
    values = sorted(latency - llm - env for latency, llm, env in steps)
    return {
        "steps": len(values),
        "median_ms": statistics.median(values),
        "p95_ms": values[int(0.95 * (len(values) - 1))],
    }


# -- memory mode: the agent alone -------------------------------------------------------------


async def memory_run(base_url: str, episodes: int, concurrency: int) -> tuple[float, list[EpisodeRecord]]:
    # The agent tests' in-memory env and store; resets cost nothing here.
    env, store = MemoryEnv(reset_seconds=0.0), MemoryStore()
    library = FewShotLibrary(env)
    await library.examples("pick_and_place_simple")
    make = LLMPolicies(
        library=library,
        default_base_url=base_url,
        api_key="bench-key",
        timeouts=Timeouts(read_seconds=30),
        retry=RetrySettings(),
    )
    runner = EpisodeRunner(env, store, make)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> EpisodeOutcome:
        game_id = f"generated_eval/pick_and_place_simple-Pencil-None-Shelf-{index}/trial_T0"
        settings = EpisodeSettings(model="bench", base_url=base_url, max_tokens=128, max_steps=20)
        request = EpisodeRequest(PolicyKind.LLM, settings=settings, game_id=game_id)
        async with semaphore:
            return await runner.run(request)

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(episodes)))
    wall = time.perf_counter() - started
    await make.close()
    assert all(o.won for o in outcomes), [o.end_reason for o in outcomes]
    return wall, list(store.stored.values())


def memory_mode(delay: float, episodes: int) -> dict[str, Any]:
    plans = {OPENING: list(PLAN)}
    with fake_llm(delay, plans) as base_url:
        serial, serial_records = asyncio.run(memory_run(base_url, episodes, 1))
        parallel, parallel_records = asyncio.run(memory_run(base_url, episodes, episodes))

    def steps(records: list[EpisodeRecord]) -> list[tuple[float, float, float]]:
        return [
            (s.latency_ms, s.decision.llm_latency_ms, s.env_latency_ms)
            for record in records
            for s in record.steps
        ]

    def call_overhead_ms(records: list[EpisodeRecord]) -> float:
        """What an LLM call costs beyond the server's delay: openai client, HTTP, JSON (mean)."""
        llm_ms = sum(s.decision.llm_latency_ms for r in records for s in r.steps)
        return llm_ms / (episodes * (len(PLAN) + 1)) - delay * 1000

    return {
        "mode": "memory",
        "call_overhead_serial_ms": call_overhead_ms(serial_records),
        "call_overhead_parallel_ms": call_overhead_ms(parallel_records),
        "episodes": episodes,
        "steps_per_episode": len(PLAN),
        "llm_calls_per_episode": len(PLAN) + 1,
        "serial_s": serial,
        "parallel_s": parallel,
        "speedup": serial / parallel,
        "overhead_serial": overheads(steps(serial_records)),
        "overhead_parallel": overheads(steps(parallel_records)),
    }


# -- stack mode: the three services -----------------------------------------------------------


def stack_environ(**extra: str) -> dict[str, str]:
    scrubbed = ("OPENAI_", "ALFAGENT_", "ALFWORLD_", "ENV_", "STORE_", "AGENT_", "PORT", "HOST")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}, **extra}


def evaluate(agent: str, run_id: str, limit: int, concurrency: int, max_steps: int) -> float:
    request = agent_pb2.RunEvaluationRequest(
        split="generated_eval",
        limit=limit,
        concurrency=concurrency,
        policy=trajectory_pb2.LLM,
        run_id=run_id,
        settings=trajectory_pb2.AgentSettings(max_steps=max_steps, grounding="exact"),
    )
    started = time.perf_counter()
    with grpc.insecure_channel(agent) as channel:
        events = list(agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=1800))
    wall = time.perf_counter() - started
    overall = events[-1].summary.overall
    print(f"  {run_id}: {overall.episodes} episodes, {overall.wins} won, {wall:.1f} s", flush=True)
    return wall


def stored_steps(store: str, run_id: str) -> list[tuple[float, float, float]]:
    steps = []
    token = ""
    with grpc.insecure_channel(store) as channel:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        while True:
            page = stub.ListTrajectories(
                store_pb2.ListTrajectoriesRequest(run_id=run_id, page_size=100, page_token=token)
            )
            steps += [
                (s.latency_ms, s.llm_latency_ms, s.env_latency_ms) for t in page.trajectories for s in t.steps
            ]
            token = page.next_page_token
            if not token:
                return steps


def game_plans(env: str, limit: int) -> Plans:
    """The opening and expert plan of the games an evaluation of `limit` episodes plays."""
    with grpc.insecure_channel(env) as channel:
        stub = env_pb2_grpc.EnvServiceStub(channel)
        games = list(stub.ListGames(env_pb2.ListGamesRequest(split="generated_eval", page_size=1000)).games)
        by_type: dict[str, list[str]] = {}
        for game in games:
            by_type.setdefault(game.task_type, []).append(game.game_id)
        chosen = [g for group in zip(*(by_type[t] for t in sorted(by_type)), strict=False) for g in group]
        plans: Plans = {}
        for game_id in chosen[:limit]:
            reset = stub.Reset(env_pb2.ResetRequest(game_id=game_id, with_expert_plan=True))
            stub.Close(env_pb2.CloseRequest(session_id=reset.session_id))
            plans[reset.observation] = list(reset.expert_plan)
    return plans


def stack_mode(delay: float, episodes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        probe = start_stack(run_dir=root / "probe", store_dir=root / "probe-store", environ=stack_environ())
        try:
            plans = game_plans(probe.env.address, episodes)
        finally:
            probe.stop()
        with fake_llm(delay, plans) as base_url:
            environ = stack_environ(ENV_WORKERS="2", OPENAI_BASE_URL=base_url, OPENAI_API_KEY="bench-key")
            stack = start_stack(
                run_dir=root / "logs",
                store_dir=root / "store",
                environ={**environ, "ALFAGENT_MODEL": "bench"},
            )
            try:
                # One episode of each type first, so that every few-shot example is built.
                evaluate(stack.agent.address, "warm-up", 6, 6, 1)
                serial = evaluate(stack.agent.address, "serial", episodes, 1, 30)
                parallel = evaluate(stack.agent.address, "parallel", episodes, episodes, 30)
                serial_steps = stored_steps(stack.store.address, "serial")
                parallel_steps = stored_steps(stack.store.address, "parallel")
            finally:
                stack.stop()
    return {
        "mode": "stack",
        "episodes": episodes,
        "steps": len(serial_steps),
        "serial_s": serial,
        "parallel_s": parallel,
        "speedup": serial / parallel,
        "overhead_serial": overheads(serial_steps),
        "overhead_parallel": overheads(parallel_steps),
    }


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['mode']}: {result['episodes']} episodes, LLM delay per completion as given")
    print(f"  one at a time: {result['serial_s']:.1f} s")
    print(f"  all at once:   {result['parallel_s']:.2f} s   -> {result['speedup']:.1f}x faster")
    for name in ("overhead_serial", "overhead_parallel"):
        o = result[name]
        when = name.removeprefix("overhead_")
        print(f"  agent overhead per step ({when}): median {o['median_ms']:.2f} ms, p95 {o['p95_ms']:.2f} ms")
    if "call_overhead_serial_ms" in result:
        serial, parallel = result["call_overhead_serial_ms"], result["call_overhead_parallel_ms"]
        print(
            f"  LLM call beyond the server's delay (client, HTTP, JSON; mean): {serial:.1f} ms one at a time,"
        )
        print(f"  {parallel:.1f} ms with all in flight (calls issued together queue on the event loop)")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("memory", "stack", "both"), default="memory")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds per completion")
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d')}  {os.cpu_count()} CPUs  LLM delay {args.delay * 1000:.0f} ms",
        flush=True,
    )
    if args.mode in ("memory", "both"):
        report(memory_mode(args.delay, args.episodes))
    if args.mode in ("stack", "both"):
        report(stack_mode(args.delay, args.episodes))


if __name__ == "__main__":
    main()
