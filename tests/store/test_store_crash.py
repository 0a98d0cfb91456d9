"""Crash test: the real store process, 8 concurrent clients, SIGKILL at random moments.

Every other round also cuts the last segment at a random byte past the last acknowledged line,
as a power loss would. After every restart: each acknowledged trajectory is stored exactly once,
every line of every segment parses and is byte-for-byte the line of a trajectory some client
sent (so nothing is half-present), and the service answers for what it acknowledged. Replies
lost in a crash are resent after the restart, as agents do: the store must answer created=false
exactly when the first copy survived.
Set STORE_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.store import StoreClient
from alfagent_common.errors import AlfagentError
from store_service import records
from tests.store.store_harness import StoreProcess, sample_trajectory

ROUNDS = 24
CLIENTS = 8
RUN_ID = "crash-run"


@dataclass
class Ledger:
    sent: dict[str, trajectory_pb2.Trajectory] = field(default_factory=dict)
    # The exact line the store must hold for each sent trajectory.
    lines: dict[str, bytes] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    # Sent, but the reply was lost in the crash: stored or not, never half.
    unknown: set[str] = field(default_factory=set)
    retried: int = 0
    power_cuts: int = 0

    def send(self, trajectory: trajectory_pb2.Trajectory) -> None:
        self.sent[trajectory.trajectory_id] = trajectory
        self.lines[trajectory.trajectory_id] = records.encode(trajectory, 1 << 24)[0].rstrip(b"\n")


def stored_trajectories(store_dir: Path, ledger: Ledger) -> set[str]:
    counts: Counter[str] = Counter()
    for path in sorted(store_dir.glob("trajectories-*.jsonl")):
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path.name} ends inside a line after recovery"
        for line in data.splitlines():
            trajectory_id = json.loads(line)["trajectory_id"]
            assert line == ledger.lines[trajectory_id], f"{trajectory_id} differs from what was sent"
            counts[trajectory_id] += 1
    duplicated = [trajectory_id for trajectory_id, count in counts.items() if count > 1]
    assert not duplicated, f"stored more than once: {duplicated[:5]}"
    missing = ledger.acked - counts.keys()
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    return set(counts)


async def check_service(address: str, ledger: Ledger, stored: set[str], rng: random.Random) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        store = StoreClient(channel)
        for trajectory_id in rng.sample(sorted(ledger.acked), min(20, len(ledger.acked))):
            assert await store.get(trajectory_id) == ledger.sent[trajectory_id]
        assert (await store.stats(RUN_ID)).trajectories == len(stored)


def cut_like_a_power_loss(store_dir: Path, ledger: Ledger, rng: random.Random) -> None:
    """Truncate the last segment at a random byte after the last acknowledged line: a power
    loss can only lose what was not yet fsynced, i.e. not yet acknowledged."""
    segment = sorted(store_dir.glob("trajectories-*.jsonl"))[-1]
    data = segment.read_bytes()
    durable_end = position = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn by the SIGKILL itself: never acknowledged, recovery cuts it
        position += len(line)
        if json.loads(line)["trajectory_id"] in ledger.acked:
            durable_end = position
    if durable_end < len(data):
        os.truncate(segment, rng.randint(durable_end, len(data) - 1))
        ledger.power_cuts += 1


async def append_until_killed(
    process: StoreProcess, ledger: Ledger, stored: set[str], rng: random.Random, round_number: int
) -> None:
    stop = asyncio.Event()
    next_number = iter(range(10**9))
    retries = sorted(ledger.unknown)
    rng.shuffle(retries)

    async def client(number: int) -> None:
        async with grpc.aio.insecure_channel(process.address) as channel:
            store = StoreClient(channel, timeout_seconds=10)
            while not stop.is_set():
                if retries:
                    trajectory = ledger.sent[retries.pop()]
                    ledger.retried += 1
                    # Stored before this round started: its first copy survived the crash.
                    should_create = trajectory.trajectory_id not in stored
                else:
                    should_create = True
                    trajectory_id = f"r{round_number}-c{number}-{next(next_number)}"
                    trajectory = sample_trajectory(
                        trajectory_id,
                        run_id=RUN_ID,
                        steps=rng.randint(1, 15),
                        observation="ok " * rng.randint(1, 400),
                        won=rng.random() < 0.5,
                    )
                    ledger.send(trajectory)
                trajectory_id = trajectory.trajectory_id
                ledger.unknown.add(trajectory_id)
                try:
                    _, created = await store.append(trajectory)
                except AlfagentError:
                    return  # the store is gone; this one stays unknown
                ledger.unknown.discard(trajectory_id)
                assert created == should_create, (
                    f"{trajectory_id}: created={created}, expected {should_create}"
                )
                ledger.acked.add(trajectory_id)

    async def killer() -> None:
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        process.kill()
        stop.set()

    await asyncio.gather(killer(), *(client(number) for number in range(CLIENTS)))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_duplicates_and_tears_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("STORE_CRASH_SEED") or time.time_ns() % 2**32)
    print(f"STORE_CRASH_SEED={seed}")
    rng = random.Random(seed)
    store_dir = tmp_path / "store"
    ledger = Ledger()
    started = time.monotonic()
    for round_number in range(ROUNDS):
        process = StoreProcess(store_dir).start()
        try:
            stored = stored_trajectories(store_dir, ledger)
            asyncio.run(check_service(process.address, ledger, stored, rng))
            asyncio.run(append_until_killed(process, ledger, stored, rng, round_number))
        finally:
            process.kill()  # already dead, unless a check failed
        assert process.wait() == -signal.SIGKILL
        if round_number % 2:
            cut_like_a_power_loss(store_dir, ledger, rng)
    with StoreProcess(store_dir) as final:
        stored = stored_trajectories(store_dir, ledger)
        asyncio.run(check_service(final.address, ledger, stored, rng))
        recovered = final.logged("store recovered")[0]
        assert recovered["records"] == len(stored)
    print(
        f"{ROUNDS} kills in {time.monotonic() - started:.1f}s: {len(ledger.acked)} acknowledged, "
        f"{len(stored)} stored, {ledger.retried} resent after a lost reply, {ledger.power_cuts} power cuts, "
        f"{len(list(store_dir.glob('*.corrupt')))} torn tails cut"
    )
    assert len(ledger.acked) > ROUNDS * CLIENTS
