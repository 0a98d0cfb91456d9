"""The local model as the agent: success, steps, tokens and speed on generated games, CPU only.

    python -m bench.bench_llm play --model qwen2.5-coder-1.5b-instruct-q4_k_m --prompt-mode react \
        --games 30 --run-id llm-1.5b-react
    python -m bench.bench_llm table llm-1.5b-react llm-1.5b-admissible ...
    python -m bench.bench_llm compare llm-1.5b-admissible llm-1.5b-admissible-nonote  # McNemar & co
    python -m bench.bench_llm cache --run-id llm-1.5b-react       # prompt cache: stable vs window
    python -m bench.bench_llm servers --llama-cpp-python /opt/llama-cpp-python/bin/python

`play` starts the four services as processes (`launcher.stack`, the `llm` service serving
`--model`) with the store in var/bench-llm/store, and runs one `RunEvaluation` of `--games`
games of generated_eval (taken round-robin over the six task types, so 30 games are 5 of each).
The evaluation is resumable: the same command with the same run id plays only the games not yet
stored, so a long run can be stopped and continued. Its figures are read back from the stored
trajectories, and appended with the run's wall time and the machine's load to
var/bench-llm/results.jsonl. `table` prints the RESULTS.md rows of stored runs.

Seconds per step is the agent's own `latency_ms` per step: the model's calls (thoughts included),
the wait for a free server slot, and the env step. Results on generated games are never
comparable to published ALFWorld numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from agent_service.gateways import RemoteEnv
from agent_service.llm.client import Message
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.prompts import (
    PastStep,
    build_prompt,
    dropped_note,
    shown_observation,
    system_message,
)
from agent_service.llm.tokens import TokenCounter
from agent_service.settings_proto import recorded_settings_of_dict
from agent_service.vocabulary import PromptMode
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.env import EnvClient
from alfagent_clients.store import StoreClient
from alfagent_common import run_stats
from alfagent_common.games import DEFAULT_SPLIT
from bench import run_comparison
from bench.bench_agent import stack_environ
from launcher.llm import free_port, start_llm
from launcher.processes import start_service, stop_process_group
from launcher.stack import start_stack
from llm_service import models, paths

ROOT = Path("var/bench-llm")
STORE_DIR = ROOT / "store"
RESULTS = ROOT / "results.jsonl"
# The benchmark runs' trajectories, kept in the repository: RESULTS.md's tables are made from them
# (`table`), and `restore` puts them in a store again, so a run stopped in one session is resumed
# in another with the same run id.
DATA_DIR = Path(__file__).resolve().parent / "data" / "llm"
# Identical commands in a row that the repeat analysis reports on.
STREAKS = (3, 5, 10)
# Lower repeated-action limits whose effect on a stored run the figures work out.
WHAT_IF_LIMITS = (3, 5)


# -- reading stored runs --------------------------------------------------------------------------


def stored(store_dir: Path, run_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The trajectories of each run: those in the store's segments (one JSON per line) and those
    exported to DATA_DIR, each trajectory once."""
    wanted = set(run_ids)
    runs: dict[str, dict[str, dict[str, Any]]] = {run_id: {} for run_id in wanted}
    sources: list[Path] = [
        *sorted(store_dir.glob("trajectories-*.jsonl")),
        *sorted(DATA_DIR.glob("*.jsonl.gz")),
    ]
    for source in sources:
        with gzip.open(source, "rt") if source.suffix == ".gz" else source.open() as lines:
            for line in lines:
                record = json.loads(line)
                if record.get("run_id") in wanted:
                    runs[record["run_id"]].setdefault(record["trajectory_id"], record)
    return {run_id: list(by_id.values()) for run_id, by_id in runs.items()}


def command_kind(action: str) -> str:
    """A command without what it names: "go to", "take", "help"."""
    words = action.split()
    if words[:2] == ["go", "to"]:
        return "go to"
    return words[0] if words else "(empty)"


@dataclass(frozen=True)
class RunFigures:
    run_id: str
    model: str
    model_sha256: str
    prompt_mode: str
    max_steps: int
    # The repeated-command note's threshold (negative: no note).
    repeat_note_after: int
    episodes: int
    wins: int
    success_ci: tuple[float, float]
    wins_by_type: dict[str, str]
    mean_steps: float
    mean_goal_progress: float
    steps: int
    llm_calls_per_step: float
    prompt_tokens_per_step: float
    completion_tokens_per_step: float
    # Prompt tokens the server took from its cache, over all prompt tokens of the run.
    cached_share: float
    # The same share per step, its median (what a typical step reused).
    cached_share_median_step: float
    seconds_per_step: float
    llm_seconds_per_step: float
    end_reasons: dict[str, int]
    # Episodes with a command sent N times in a row, and how many of those were won anyway.
    streaks: dict[int, tuple[int, int]]
    # Commands sent that the game did not accept as written (answered "Nothing happens.").
    not_admissible: int
    # REPEATED_ACTION episodes by the kind of command they repeated ("go to", "help", ...).
    repeated_kinds: dict[str, int]
    # Episodes the repeated-action limit ended, the steps they played, and the steps they would
    # have played more had they gone on to the step cap.
    limit_ended: int
    limit_ended_steps: int
    limit_saved_steps: int
    # A lower limit, worked out on the same episodes: {limit: (episodes it ends, steps it saves
    # beyond what the run played, wins it would have cut short)}.
    what_if: dict[int, tuple[int, int, int]]


def counted(trajectories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's episodes less those a resume played again (`run_stats`' attempt rule)."""
    replaced = run_stats.superseded(run_stats.episode_of_document(t) for t in trajectories)
    return [t for t in trajectories if t["trajectory_id"] not in replaced]


def figures(run_id: str, stored_episodes: list[dict[str, Any]]) -> RunFigures:
    """The run's figures: success, steps, streaks, calls and tokens by `run_stats` (as the report
    and GetStats count), the server's cache, timings and the repeated-action limit's effect here."""
    if not stored_episodes:
        raise SystemExit(f"no stored trajectories of run {run_id!r} in {STORE_DIR}")
    trajectories = counted(stored_episodes)
    episodes = [run_stats.episode_of_document(t) for t in trajectories]
    by_type, overall = run_stats.success_by_task_type(episodes)
    played = run_stats.behaviour(episodes)
    steps = [step for t in trajectories for step in t.get("steps", [])]
    usage = [step.get("usage", {}) for step in steps]
    prompt = sum(u.get("prompt_tokens", 0) for u in usage)
    shares = [u.get("cached_prompt_tokens", 0) / u["prompt_tokens"] for u in usage if u.get("prompt_tokens")]
    first = trajectories[0]
    # Where each episode first sent one command n times in a row (0: never).
    reached = {
        n: [(run_stats.streak_end(e.actions, n), e.won) for e in episodes]
        for n in (*STREAKS, *WHAT_IF_LIMITS)
    }
    streaks = {
        n: (sum(end > 0 for end, _ in reached[n]), sum(end > 0 and won for end, won in reached[n]))
        for n in STREAKS
    }
    ended = [t for t in trajectories if t.get("end_reason") == "REPEATED_ACTION"]
    settings = recorded_settings_of_dict(first)
    what_if: dict[int, tuple[int, int, int]] = {}
    for limit in WHAT_IF_LIMITS:
        # Episodes the lower limit would have ended before they did end.
        ends = [(end, e.steps, won) for (end, won), e in zip(reached[limit], episodes, strict=True)]
        cut = [(end, length, won) for end, length, won in ends if 0 < end < length]
        what_if[limit] = (len(cut), sum(length - end for end, length, _ in cut), sum(won for *_, won in cut))
    per_step = max(played.steps, 1)
    return RunFigures(
        run_id=run_id,
        model=first.get("model", ""),
        model_sha256=first.get("model_sha256", ""),
        prompt_mode=settings.prompt_mode.value,
        max_steps=settings.max_steps,
        repeat_note_after=settings.repeat_note_after,
        episodes=overall.episodes,
        wins=overall.wins,
        success_ci=(overall.success_ci_low, overall.success_ci_high),
        wins_by_type={row.task_type: f"{row.wins}/{row.episodes}" for row in by_type},
        mean_steps=overall.mean_steps,
        mean_goal_progress=overall.mean_goal_progress,
        steps=played.steps,
        # A step's calls: one per thought, one for the command (`run_stats.step_model_calls`).
        llm_calls_per_step=played.model_calls / per_step,
        prompt_tokens_per_step=played.prompt_tokens / per_step,
        completion_tokens_per_step=played.completion_tokens / per_step,
        cached_share=sum(u.get("cached_prompt_tokens", 0) for u in usage) / max(prompt, 1),
        cached_share_median_step=statistics.median(shares) if shares else 0.0,
        seconds_per_step=statistics.fmean(s.get("latency_ms", 0.0) for s in steps) / 1000 if steps else 0.0,
        llm_seconds_per_step=statistics.fmean(s.get("llm_latency_ms", 0.0) for s in steps) / 1000
        if steps
        else 0.0,
        end_reasons=run_stats.end_reasons(episodes),
        streaks=streaks,
        not_admissible=played.not_admissible,
        repeated_kinds=dict(
            Counter(command_kind(t["steps"][-1]["action"]) for t in ended if t.get("steps")).most_common()
        ),
        limit_ended=len(ended),
        limit_ended_steps=sum(len(t.get("steps", [])) for t in ended),
        limit_saved_steps=sum(max(settings.max_steps - len(t.get("steps", [])), 0) for t in ended),
        what_if=what_if,
    )


def table_rows(all_figures: list[RunFigures]) -> str:
    head = (
        "| run id | model | prompt mode | won | 95% Wilson | mean steps | goal progress | "
        "prompt tok/step | completion tok/step | cached share | s/step (LLM) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| `{f.run_id}` | {f.model} | {f.prompt_mode} | {f.wins}/{f.episodes} "
        f"({f.wins / f.episodes:.0%}) | {f.success_ci[0]:.0%} to {f.success_ci[1]:.0%} | "
        f"{f.mean_steps:.1f} | {f.mean_goal_progress:.2f} | "
        f"{f.prompt_tokens_per_step:,.0f} | {f.completion_tokens_per_step:.1f} | "
        f"{f.cached_share:.0%} | {f.seconds_per_step:.2f} ({f.llm_seconds_per_step:.2f}) |"
        for f in all_figures
    ]
    details = [
        f"- `{f.run_id}`: by type {f.wins_by_type}; end reasons {f.end_reasons}; "
        f"{f.llm_calls_per_step:.2f} model calls per step; median step's cached share "
        f"{f.cached_share_median_step:.0%}; episodes with a command repeated "
        + ", ".join(f"{n} times in a row: {had} ({won} won)" for n, (had, won) in f.streaks.items())
        + f"; model file SHA-256 {f.model_sha256[:12]}…"
        for f in all_figures
    ]
    details += [
        f"- `{f.run_id}`: repeat note "
        f"{'off' if not f.repeat_note_after else f'from {f.repeat_note_after} identical answers on'}; "
        f"{f.not_admissible} of {f.steps} commands "
        f"({f.not_admissible / max(f.steps, 1):.0%}) not admissible as written; "
        f"the repeated-action limit ended {f.limit_ended} episodes after {f.limit_ended_steps} steps, "
        f"{f.limit_saved_steps} short of the {f.max_steps}-step cap; "
        f"they repeated {f.repeated_kinds or 'nothing'}; "
        + "; ".join(
            f"a limit of {limit} would have ended {n} episodes sooner, {saved} steps fewer, {lost} wins lost"
            for limit, (n, saved, lost) in f.what_if.items()
        )
        for f in all_figures
    ]
    return head + "\n".join(rows) + "\n\n" + "\n".join(details)


# -- playing a run ----------------------------------------------------------------------------


class LoadSampler:
    """The 1-minute load average every 30 s while a run plays: how busy the machine was."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(30.0):
            self.samples.append(os.getloadavg()[0])

    @contextmanager
    def running(self) -> Iterator[LoadSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {"mean": statistics.fmean(self.samples), "max": max(self.samples)}


def evaluation_request(args: argparse.Namespace) -> agent_pb2.RunEvaluationRequest:
    return agent_pb2.RunEvaluationRequest(
        split=DEFAULT_SPLIT,
        limit=args.games,
        concurrency=args.concurrency,
        policy=trajectory_pb2.LLM,
        run_id=args.run_id,
        settings=trajectory_pb2.AgentSettings(
            max_steps=args.max_steps,
            prompt_mode=args.prompt_mode,
            model=args.served_name or "",
            max_repeated_actions=args.max_repeated_actions,
            repeat_note_after=args.repeat_note_after,
            skill_library=args.skill_library,
            decoding=args.decoding,
        ),
    )


def run_evaluation(agent: str, request: agent_pb2.RunEvaluationRequest) -> agent_pb2.EvaluationSummary:
    with grpc.insecure_channel(agent) as channel:
        events = agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=6 * 3600)
        for event in events:
            if event.HasField("progress"):
                progress = event.progress
                episode = progress.episode
                print(
                    f"  [{progress.completed}/{progress.total}] {episode.game_id}: "
                    f"{trajectory_pb2.EndReason.Name(episode.end_reason)}, {episode.steps} steps",
                    flush=True,
                )
            elif event.HasField("summary"):
                return event.summary
    raise RuntimeError("RunEvaluation ended without a summary")


def play(args: argparse.Namespace) -> int:
    models.find(args.model)  # an unknown name fails here, not after the services started
    run_dir = ROOT / "logs" / args.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    extra = {"LLM_MODEL": args.model}
    if args.base_url:
        # Another server (e.g. llama-cpp-python's): the agent calls it instead of starting `llm`.
        extra = {"OPENAI_BASE_URL": args.base_url, "ALFAGENT_MODEL": args.served_name or args.model}
    environ = stack_environ(**extra)
    print(f"{args.run_id}: starting the services (logs in {run_dir})", flush=True)
    stack = start_stack(
        run_dir=run_dir, store_dir=STORE_DIR, environ=environ, llm_port=None if args.base_url else 0
    )
    sampler = LoadSampler()
    try:
        with sampler.running():
            started = time.perf_counter()
            summary = run_evaluation(stack.agent.address, evaluation_request(args))
            wall = time.perf_counter() - started
    finally:
        stack.stop()
    run = figures(args.run_id, stored(STORE_DIR, [args.run_id])[args.run_id])
    played_steps = run.steps  # of every stored episode; `resumed` ones were played before
    record = {
        "run_id": args.run_id,
        "wall_seconds": wall,
        "resumed": summary.resumed,
        "concurrency": args.concurrency,
        "load": sampler.summary(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": asdict(run),
    }
    with RESULTS.open("a") as results:
        results.write(json.dumps(record) + "\n")
    print(table_rows([run]))
    if not summary.resumed:
        print(f"wall {wall:.0f} s for {played_steps} steps: {wall / max(played_steps, 1):.2f} s per step")
    print(f"load average while playing: {sampler.summary()}")
    return 0


# -- prompt cache: a prefix-stable prompt against a sliding window ------------------------------


def shown_steps(trajectory: dict[str, Any]) -> list[PastStep]:
    """The episode's steps as the model saw them: its thoughts, the command, the answer with the
    note on repeated commands (as `LLMPolicy` shows them, by the episode's recorded setting;
    trajectories from before it was recorded had the note from 3 on)."""
    repeat_note_after = recorded_settings_of_dict(trajectory).repeat_note_after
    seen: Counter[tuple[str, str]] = Counter()
    steps = []
    for step in trajectory.get("steps", []):
        action, observation = step["action"], step.get("observation", "")
        seen[(action, observation)] += 1
        shown = shown_observation(observation, seen[(action, observation)], repeat_note_after)
        thoughts = tuple(t for t in step.get("thought", "").split("\n") if t)
        steps.append(PastStep(thoughts, action, shown))
    return steps


def window_prompt(
    *, system: str, opening: str, steps: list[PastStep], budget_tokens: int, counter: TokenCounter
) -> list[Message]:
    """The common alternative: the newest steps that fit, dropping the oldest one at a time, so
    the prompt's prefix moves on every turn once the budget is reached."""
    fixed = counter.message(Message("system", system)) + counter.message(Message("user", opening))
    sizes = [counter.messages(step.messages) for step in steps]

    def size(first: int) -> int:
        return fixed + sum(sizes[first:]) + (counter.text(dropped_note(first)) if first else 0)

    first = 0
    while first < len(steps) and size(first) > budget_tokens:
        first += 1
    messages = [Message("system", system), Message("user", opening + (dropped_note(first) if first else ""))]
    for step in steps[first:]:
        messages.extend(step.messages)
    return messages


def complete_once(base_url: str, model: str, messages: list[Message]) -> tuple[int, int]:
    """(prompt tokens, of which cached) of one call that generates a single token."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": 1,
            "temperature": 0,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.load(response)
    usage = answer["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or answer.get("timings", {}).get(
        "cache_n", 0
    )
    return int(usage["prompt_tokens"]), int(cached)


async def system_messages(env_address: str, task_types: Iterable[str], mode: PromptMode) -> dict[str, str]:
    """The system message of each task type: the agent's instructions and few-shot examples."""
    async with grpc.aio.insecure_channel(env_address) as channel:
        library = FewShotLibrary(RemoteEnv(EnvClient(channel)))
        return {
            task_type: system_message(mode, await library.examples(task_type)) for task_type in task_types
        }


def replay(
    base_url: str,
    model: str,
    trajectories: list[dict[str, Any]],
    systems: dict[str, str],
    budget: int,
    max_steps: int,
) -> dict[str, dict[str, float]]:
    """Each episode's prompts, one per step, sent to the server in both layouts; the share of
    prompt tokens it took from its cache."""
    counter = TokenCounter()
    totals = {layout: [0, 0, 0.0] for layout in ("stable", "window")}
    shares: dict[str, list[float]] = {"stable": [], "window": []}
    for trajectory in trajectories:
        system, opening = systems[trajectory["game"]["task_type"]], trajectory["initial_observation"]
        steps = shown_steps(trajectory)[:max_steps]
        for layout in ("stable", "window"):
            dropped = 0
            for index in range(len(steps) + 1):
                if layout == "stable":
                    prompt = build_prompt(
                        system=system,
                        opening=opening,
                        steps=steps[:index],
                        thoughts=(),
                        admissible=None,
                        budget_tokens=budget,
                        counter=counter,
                        dropped=dropped,
                    )
                    dropped, messages = prompt.dropped_steps, prompt.messages
                else:
                    messages = window_prompt(
                        system=system,
                        opening=opening,
                        steps=steps[:index],
                        budget_tokens=budget,
                        counter=counter,
                    )
                started = time.perf_counter()
                prompt_tokens, cached = complete_once(base_url, model, messages)
                totals[layout][0] += prompt_tokens
                totals[layout][1] += cached
                totals[layout][2] += time.perf_counter() - started
                shares[layout].append(cached / prompt_tokens)
    return {
        layout: {
            "calls": len(shares[layout]),
            "prompt_tokens": totals[layout][0],
            "cached_share": totals[layout][1] / max(totals[layout][0], 1),
            "median_step_share": statistics.median(shares[layout]) if shares[layout] else 0.0,
            "seconds_per_call": totals[layout][2] / max(len(shares[layout]), 1),
        }
        for layout in ("stable", "window")
    }


def cache(args: argparse.Namespace) -> int:
    trajectories = stored(STORE_DIR, [args.run_id])[args.run_id][: args.episodes]
    if not trajectories:
        raise SystemExit(f"no stored trajectories of run {args.run_id!r} in {STORE_DIR}")
    mode = recorded_settings_of_dict(trajectories[0]).prompt_mode
    if mode is not PromptMode.REACT:
        raise SystemExit("the replay rebuilds react prompts (the admissible list is not stored per prompt)")
    run_dir = ROOT / "logs" / f"cache-{args.run_id}"
    run_dir.mkdir(parents=True, exist_ok=True)
    environ = stack_environ(LLM_MODEL=trajectories[0]["model"], LLM_PARALLEL="1")
    llm = start_llm(port=0, log_path=run_dir / "llm.log", environ=environ)
    env = start_service("env_service", port=0, log_path=run_dir / "env_service.log", environ=environ)
    try:
        env.wait_serving()
        llm.wait_serving()
        task_types = {t["game"]["task_type"] for t in trajectories}
        systems = asyncio.run(system_messages(env.address, task_types, mode))
        model = trajectories[0]["model"]
        result = replay(f"http://{llm.address}/v1", model, trajectories, systems, args.budget, args.steps)
    finally:
        env.stop()
        llm.stop()
    record = {
        "cache_replay": args.run_id,
        "episodes": len(trajectories),
        "budget": args.budget,
        "steps": args.steps,
        **result,
    }
    with RESULTS.open("a") as results:
        results.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))
    return 0


# -- llama-server against llama-cpp-python's server ----------------------------------------------


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def llama_cpp_python_server(python: str, model: models.ModelSpec, run_dir: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the same model file: one request at a time,
    one prompt cache (the previous prompt's prefix), logits kept only for the last token."""
    port = free_port()
    model_file = paths.models_dir() / model.filename
    command = [
        python, "-m", "llama_cpp.server",
        "--model", str(model_file),
        "--model_alias", model.name,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "8192",
        "--n_threads", str(os.cpu_count() or 1),
        "--n_threads_batch", str(os.cpu_count() or 1),
        "--logits_all", "false",
    ]  # fmt: skip
    with (run_dir / "llama-cpp-python.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not answers(f"http://127.0.0.1:{port}/v1/models"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-cpp-python's server did not start; see {run_dir}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process_group(process.pid)


def servers(args: argparse.Namespace) -> int:
    """The same games with each server at concurrency 1 and 2: seconds per step."""
    model = models.find(args.model)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    rows: list[dict[str, Any]] = []
    slot_counts = [int(n) for n in args.slots.split(",")]
    chosen = [("llama-server", n) for n in slot_counts] if args.only != "llama-cpp-python" else []
    if args.only != "llama-server":
        chosen.append(("llama-cpp-python", 1))
    for server, slots in chosen:
        # llama-server's slots (LLM_PARALLEL) other than the `llm` service's 2 are named in the run id.
        label = server if server != "llama-server" or slots == 2 else f"{server}-{slots}slot"
        run_dir = ROOT / "logs" / f"servers-{stamp}-{label}"
        run_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            if server == "llama-server":
                llm = start_llm(
                    port=0,
                    log_path=run_dir / "llm.log",
                    environ=stack_environ(LLM_MODEL=model.name, LLM_PARALLEL=str(slots)),
                )
                stack.callback(llm.stop)
                llm.wait_serving()
                base_url = f"http://{llm.address}/v1"
            else:
                base_url = stack.enter_context(llama_cpp_python_server(args.llama_cpp_python, model, run_dir))
            environ = stack_environ(OPENAI_BASE_URL=base_url, ALFAGENT_MODEL=model.name)
            services = start_stack(run_dir=run_dir, store_dir=STORE_DIR, environ=environ)
            stack.callback(services.stop)
            for concurrency in (1, 2):
                run_id = f"servers-{stamp}-{label}-c{concurrency}"
                request = agent_pb2.RunEvaluationRequest(
                    split=DEFAULT_SPLIT,
                    task_types=[args.task_type],
                    limit=args.games,
                    concurrency=concurrency,
                    policy=trajectory_pb2.LLM,
                    run_id=run_id,
                    settings=trajectory_pb2.AgentSettings(max_steps=args.max_steps),
                )
                started = time.perf_counter()
                run_evaluation(services.agent.address, request)
                wall = time.perf_counter() - started
                run = figures(run_id, stored(STORE_DIR, [run_id])[run_id])
                rows.append(
                    {
                        "server": label,
                        "concurrency": concurrency,
                        "run_id": run_id,
                        "steps": run.steps,
                        "wall_seconds": wall,
                        "wall_seconds_per_step": wall / max(run.steps, 1),
                        "seconds_per_step": run.seconds_per_step,
                        "llm_seconds_per_step": run.llm_seconds_per_step,
                        "cached_share": run.cached_share,
                        "load": os.getloadavg()[0],
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    with RESULTS.open("a") as results:
        results.write(json.dumps({"servers": stamp, "model": model.name, "rows": rows}) + "\n")
    # Ratios against the first server of this run at the same concurrency.
    base: dict[int, float] = {}
    for row in rows:
        base.setdefault(row["concurrency"], row["wall_seconds_per_step"])
    for row in rows:
        ratio = row["wall_seconds_per_step"] / base[row["concurrency"]]
        print(
            f"| {row['server']} | {row['concurrency']} | {row['steps']} | "
            f"{row['wall_seconds_per_step']:.2f} | "
            f"{row['seconds_per_step']:.2f} | {ratio:.2f}x | `{row['run_id']}` |"
        )
    return 0


# -- keeping runs in the repository ------------------------------------------------------------


def export(args: argparse.Namespace) -> int:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    runs = stored(STORE_DIR, args.run_ids)
    for run_id, trajectories in runs.items():
        target = DATA_DIR / f"{run_id}.jsonl.gz"
        # Everything stored, cancelled episodes included: a resume plays those games again under
        # the next attempt, and `figures` counts only the later attempt.
        lines = sorted(json.dumps(t, sort_keys=True) for t in trajectories)
        # mtime=0: the same trajectories give the same bytes.
        with gzip.GzipFile(target, "wb", mtime=0) as out:
            out.write("".join(line + "\n" for line in lines).encode())
        print(f"{target}: {len(lines)} trajectories")
    return 0


async def append_all(store_address: str, records: list[dict[str, Any]]) -> int:
    created = 0
    async with grpc.aio.insecure_channel(store_address) as channel:
        store = StoreClient(channel)
        for record in records:
            _, new = await store.append(json_format.ParseDict(record, trajectory_pb2.Trajectory()))
            created += new
    return created


def restore(args: argparse.Namespace) -> int:
    """Appends the exported trajectories to the bench store (idempotent: ids already there stay)."""
    records = []
    for source in sorted(DATA_DIR.glob("*.jsonl.gz")):
        with gzip.open(source, "rt") as lines:
            records += [json.loads(line) for line in lines]
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    store = start_service(
        "store_service",
        port=0,
        log_path=ROOT / "restore-store.log",
        environ=stack_environ(STORE_DIR=str(STORE_DIR)),
    )
    try:
        store.wait_serving()
        created = asyncio.run(append_all(store.address, records))
    finally:
        store.stop()
    print(f"{created} of {len(records)} trajectories appended to {STORE_DIR} (the others were there)")
    return 0


def table(args: argparse.Namespace) -> int:
    runs = stored(STORE_DIR, args.run_ids)
    print(table_rows([figures(run_id, runs[run_id]) for run_id in args.run_ids]))
    return 0


@dataclass(frozen=True)
class Paired:
    """Two runs over the same games, episode by episode."""

    games: int
    # Episodes that sent the same commands from first to last in both runs.
    identical: int
    # For the others: the step at which the commands first differed (1 = the first step).
    first_difference: list[int]


def paired(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> Paired:
    def commands(run: list[dict[str, Any]]) -> dict[str, list[str]]:
        return {t["game"]["game_id"]: [s["action"] for s in t.get("steps", [])] for t in counted(run)}

    a, b = commands(first), commands(second)
    common = sorted(a.keys() & b.keys())
    differences = []
    for game_id in common:
        if a[game_id] != b[game_id]:
            same = next(
                (n for n, (x, y) in enumerate(zip(a[game_id], b[game_id], strict=False)) if x != y),
                min(len(a[game_id]), len(b[game_id])),
            )
            differences.append(same + 1)
    return Paired(len(common), len(common) - len(differences), sorted(differences))


def compare(args: argparse.Namespace) -> int:
    runs = stored(STORE_DIR, [args.first, args.second])
    pair = paired(runs[args.first], runs[args.second])
    print(
        f"{args.first} against {args.second}: {pair.games} games in both, {pair.identical} played with "
        f"the same commands throughout; the others first differed at steps {pair.first_difference}"
    )
    print()
    print(run_comparison.comparison_text(args.first, runs[args.first], args.second, runs[args.second]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("play", help="one resumable evaluation with the local model")
    run.add_argument("--model", default=models.DEFAULT_MODEL, help="the `llm` service's model (LLM_MODEL)")
    run.add_argument("--prompt-mode", default="react")
    run.add_argument("--games", type=int, default=30)
    run.add_argument("--concurrency", type=int, default=2, help="episodes at once (the server has 2 slots)")
    run.add_argument("--max-steps", type=int, default=50)
    run.add_argument("--max-repeated-actions", type=int, help="default: the agent's (10); 0: no limit")
    run.add_argument("--repeat-note-after", type=int, help="default: the agent's (no note); 0: no note")
    run.add_argument("--run-id", required=True)
    run.add_argument("--base-url", default="", help="another OpenAI-compatible server instead of `llm`")
    run.add_argument("--served-name", default="", help="the model name to send (default: the server's)")
    run.add_argument("--skill-library", help="a skill library id in the bench store (default: none)")
    run.add_argument("--decoding", help="free (default) or grammar")
    run.set_defaults(handler=play)
    rows = commands.add_parser("table", help="RESULTS.md rows of stored runs")
    rows.add_argument("run_ids", nargs="+")
    rows.set_defaults(handler=table)
    pair = commands.add_parser(
        "compare", help="two runs of the same games: episode by episode, success with McNemar's p, commands"
    )
    pair.add_argument("first")
    pair.add_argument("second")
    pair.set_defaults(handler=compare)
    replayed = commands.add_parser("cache", help="prompt-cache share: the agent's prompt against a window")
    replayed.add_argument("--run-id", required=True, help="a stored react run to replay")
    replayed.add_argument("--episodes", type=int, default=6)
    replayed.add_argument("--budget", type=int, default=2000, help="prompt tokens (estimated) for both")
    replayed.add_argument("--steps", type=int, default=30, help="steps replayed per episode")
    replayed.set_defaults(handler=cache)
    kept = commands.add_parser("export", help=f"write runs' trajectories to {DATA_DIR}")
    kept.add_argument("run_ids", nargs="+")
    kept.set_defaults(handler=export)
    commands.add_parser("restore", help="append the exported trajectories to the bench store").set_defaults(
        handler=restore
    )
    compared = commands.add_parser("servers", help="llama-server against llama-cpp-python's server")
    compared.add_argument("--model", default=models.DEFAULT_MODEL)
    compared.add_argument("--llama-cpp-python", default="/opt/llama-cpp-python/bin/python")
    # One task type: its episodes share the few-shot prefix, so the comparison is of steps, not
    # of first prompts (~45 s each on 2 cores).
    compared.add_argument("--task-type", default="pick_and_place_simple")
    compared.add_argument("--games", type=int, default=2)
    compared.add_argument("--max-steps", type=int, default=6)
    compared.add_argument("--only", choices=["llama-server", "llama-cpp-python"], help="one server only")
    compared.add_argument(
        "--slots", default="2", help="llama-server's slots (LLM_PARALLEL); a list plays each, e.g. 2,1"
    )
    compared.set_defaults(handler=servers)
    args = parser.parse_args(argv)
    handler: Any = args.handler
    return int(handler(args))


if __name__ == "__main__":
    # SIGTERM (`kill`, or a run started in the background, which ignores Ctrl-C) unwinds like
    # Ctrl-C does, so the services and servers a command started are stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
