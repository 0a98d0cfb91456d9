"""store_service: constant-cost appends, group commit through gRPC, and Get latency.

    python -m bench.bench_store            # the figures in bench/RESULTS.md (minutes, ~1 GB of temp files)
    python -m bench.bench_store --quick    # smaller stores, for a smoke run

1. In-process `TrajectoryLog`: append throughput with 20,000 trajectories stored against a (nearly)
   empty store, and at 5,000 stored against the "read the whole file, write a temp file, fsync,
   os.replace" pattern. Measurements that are compared run interleaved (ABBA rounds) in one run,
   so that disk noise from other processes hits both sides alike; rates are those of the median
   round.
2. Through gRPC, `python -m store_service` as a real process, 16 concurrent clients (one channel
   each) appending ~10 kB trajectories; fsyncs per append from the store's own counters.
3. GetTrajectory latency through gRPC with 50,000 trajectories stored.
Every trajectory is ~10 kB of JSON (12 steps with 25 admissible commands each).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.store import StoreClient
from alfagent_common import eventloop
from alfagent_common.server import CHANNEL_OPTIONS
from launcher.processes import ServiceProcess, start_service
from store_service import records
from store_service.log import TrajectoryLog
from tests.store.store_harness import sample_trajectory

STEPS, ADMISSIBLE = 12, 25
SEGMENT_BYTES = 64 * 1024 * 1024
# Runs of the same code here vary by ±10%: the gRPC figure is the median of this many.
GRPC_REPEATS = 5
Entry = tuple[bytes, records.RecordMeta]


def sample(trajectory_id: str) -> trajectory_pb2.Trajectory:
    return sample_trajectory(trajectory_id, steps=STEPS, admissible=ADMISSIBLE)


class Lines:
    """~10 kB trajectories with distinct ids, from one template (building them is not measured):
    `lines(n)` is what `TrajectoryLog.append` takes, `lines.line(n)` the JSON line it stores."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.trajectory = sample("ID-PLACEHOLDER")
        self.template, self.meta = records.encode(self.trajectory, 1 << 24)
        self.size = len(self.template)

    def trajectory_id(self, number: int) -> str:
        return f"{self.prefix}-{number:08d}"

    def __call__(self, number: int) -> Entry:
        trajectory_id = self.trajectory_id(number)
        self.trajectory.trajectory_id = trajectory_id
        meta = dataclasses.replace(self.meta, trajectory_id=trajectory_id)
        return self.trajectory.SerializeToString(), meta

    def line(self, number: int) -> bytes:
        return self.template.replace(b'"ID-PLACEHOLDER"', f'"{self.trajectory_id(number)}"'.encode(), 1)


async def open_log(directory: Path) -> TrajectoryLog:
    log = TrajectoryLog(directory, segment_bytes=SEGMENT_BYTES)
    await log.open()
    return log


async def fill(log: TrajectoryLog, lines: Lines, until: int) -> None:
    """Bring the log to `until` records quickly (256 concurrent appends share fsyncs)."""
    numbers = iter(range(len(log.index), until))

    async def writer() -> None:
        for number in numbers:
            await log.append(*lines(number))

    await asyncio.gather(*(writer() for _ in range(256)))


async def timed_appends(log: TrajectoryLog, lines: Lines, count: int, writers: int) -> float:
    """Seconds to append `count` new lines with `writers` concurrent callers."""
    numbers = iter(range(len(log.index), len(log.index) + count))

    async def writer() -> None:
        for number in numbers:
            await log.append(*lines(number))

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started


def rewrite_append(path: Path, line: bytes) -> None:
    """The pattern the log replaces: O(size) per append."""
    data = path.read_bytes() if path.exists() else b""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as stream:
        stream.write(data + line)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


async def interleaved(
    a: Callable[[], Any], b: Callable[[], Any], rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds of each round of `a` and of `b`, run ABBA-interleaved `rounds` times each."""
    times: tuple[list[float], list[float]] = ([], [])
    for number in range(rounds):
        order = [(0, a), (1, b)] if number % 2 == 0 else [(1, b), (0, a)]
        for side, measure in order:
            times[side].append(await measure())
    return times


def rate(count: int, seconds: list[float]) -> float:
    """Per-second rate of the median round: a disk stall from another process in one round (this
    machine is shared) moves it far less than it moves a total."""
    return count / statistics.median(seconds)


async def bench_log(
    root: Path, stored: int, rewrite_stored: int, per_round: int, rounds: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    lines = Lines("log")
    big = await open_log(root / "big")
    print(f"filling a store to {rewrite_stored} trajectories ...", flush=True)
    await fill(big, lines, rewrite_stored)

    rewrite_file = root / "rewrite.jsonl"
    rewrite_file.write_bytes(b"".join(lines.line(number) for number in range(rewrite_stored)))
    rewrite_lines = Lines("rewrite")
    rewrite_count = [0]
    rewrites_per_round = 3

    async def log_at_5k() -> float:
        return await timed_appends(big, lines, per_round, writers=1)

    async def rewrite_at_5k() -> float:
        started = time.perf_counter()
        for _ in range(rewrites_per_round):
            rewrite_append(rewrite_file, rewrite_lines.line(rewrite_count[0]))
            rewrite_count[0] += 1
        return time.perf_counter() - started

    log_seconds, rewrite_seconds = await interleaved(log_at_5k, rewrite_at_5k, rounds)
    results["log_at_5k_per_s"] = rate(per_round, log_seconds)
    results["rewrite_at_5k_per_s"] = rate(rewrites_per_round, rewrite_seconds)
    rewrite_file.unlink()

    print(f"filling the store to {stored} trajectories ...", flush=True)
    await fill(big, lines, stored)
    fresh = itertools.count()

    async def on_an_empty_store(count: int, writers: int) -> float:
        """Each round on a new, empty store, so that it never holds more than `count`."""
        directory = root / f"empty-{next(fresh)}"
        log = await open_log(directory)
        seconds = await timed_appends(log, Lines("empty"), count, writers)
        await log.close()
        shutil.rmtree(directory)
        return seconds

    for writers in (1, 16):
        fsyncs_before, appended_before = big.fsyncs, big.appended
        count = per_round * (1 if writers == 1 else 4)
        empty_seconds, full_seconds = await interleaved(
            functools.partial(on_an_empty_store, count, writers),
            functools.partial(timed_appends, big, lines, count, writers),
            rounds,
        )
        results[f"empty_{writers}w_per_s"] = rate(count, empty_seconds)
        results[f"full_{writers}w_per_s"] = rate(count, full_seconds)
        results[f"count_{writers}w"] = count
        results[f"fsyncs_per_append_{writers}w"] = (big.fsyncs - fsyncs_before) / (
            big.appended - appended_before
        )
    results["big_store_start"] = stored
    results["big_store_end"] = len(big.index)
    await big.close()
    started = time.perf_counter()
    reopened = await open_log(root / "big")
    results["recovery_seconds"] = time.perf_counter() - started
    results["recovered"] = len(reopened.index)
    await reopened.close()
    return results


def start_store(store_dir: Path, log_path: Path) -> ServiceProcess:
    # EVENT_LOOP passes through: `EVENT_LOOP=asyncio python -m bench.bench_store` measures the
    # store on the standard loop.
    kept = ("PATH", "HOME", "LANG", "EVENT_LOOP")
    environ = {name: os.environ[name] for name in kept if name in os.environ}
    service = start_service(
        "store_service", port=0, log_path=log_path, environ={**environ, "STORE_DIR": str(store_dir)}
    )
    service.wait_serving(600)
    return service


def logged(log_path: Path, message: str) -> dict[str, Any]:
    for line in log_path.read_text().splitlines():
        entry: dict[str, Any] = json.loads(line)
        if entry.get("msg") == message:
            return entry
    raise LookupError(f"no {message!r} line in {log_path}")


def resident_kb(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of one process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's running children (the store's writer process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(process_cpu_seconds(int(child)) for child in children)


async def grpc_appends(address: str, clients: int, total: int, warmup: int) -> tuple[float, int]:
    # The options the agent's channel to the store uses.
    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(clients)]
    stores = [StoreClient(channel) for channel in channels]

    async def run(prefix: str, count: int) -> None:
        numbers = iter(range(count))

        async def client(store: StoreClient, number: int) -> None:
            trajectory = sample("x")
            for n in numbers:
                trajectory.trajectory_id = f"{prefix}-{number}-{n}"
                _, created = await store.append(trajectory)
                assert created

        await asyncio.gather(*(client(store, number) for number, store in enumerate(stores)))

    await run("warmup", warmup)
    started = time.perf_counter()
    await run("grpc", total)
    seconds = time.perf_counter() - started
    for channel in channels:
        await channel.close(None)
    return total / seconds, total + warmup


def noop_store(ports: Any) -> None:
    """A StoreService whose AppendTrajectory does nothing: the floor gRPC itself sets."""
    from alfagent.store.v1 import store_pb2, store_pb2_grpc
    from alfagent_common.grpc_errors import with_domain_errors
    from store_service.server import SERVICE

    class Noop(store_pb2_grpc.StoreServiceServicer):
        async def AppendTrajectory(self, request: Any, context: Any) -> Any:
            return store_pb2.AppendTrajectoryResponse(
                trajectory_id=request.trajectory.trajectory_id, created=True
            )

    async def serve() -> None:
        server = grpc.aio.server()
        # The other RPCs are never called here; the stubs mark them abstract.
        noop = with_domain_errors(Noop(), SERVICE)  # type: ignore[abstract]  # Noop answers one RPC only
        store_pb2_grpc.add_StoreServiceServicer_to_server(noop, server)
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    eventloop.run(serve())


def bench_grpc_floor(clients: int, total: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=noop_store, args=(ports,), daemon=True)
    process.start()
    try:
        address = f"127.0.0.1:{ports.get(timeout=60)}"
        assert process.pid is not None
        cpu_before = process_cpu_seconds(process.pid)
        per_second, appended = eventloop.run(grpc_appends(address, clients, total, warmup=clients * 20))
        cpu_per_call = (process_cpu_seconds(process.pid) - cpu_before) / appended
    finally:
        process.kill()
        process.join()
    return {"noop_per_s": per_second, "noop_server_cpu_ms_per_call": cpu_per_call * 1000}


def bench_grpc(root: Path, clients: int, total: int, repeats: int) -> dict[str, list[dict[str, Any]]]:
    """The store and the no-op floor, alternated `repeats` times each (each store run on a new store)."""
    runs: dict[str, list[dict[str, Any]]] = {"store": [], "noop": []}
    for number in range(repeats):
        for kind in ("store", "noop") if number % 2 == 0 else ("noop", "store"):
            if kind == "store":
                runs[kind].append(bench_grpc_appends(root / f"grpc-{number}", clients, total))
            else:
                runs[kind].append(bench_grpc_floor(clients, total))
    return runs


def bench_grpc_appends(root: Path, clients: int, total: int) -> dict[str, Any]:
    log_path = root.with_suffix(".log")
    service = start_store(root, log_path)
    try:
        pid = service.process.pid
        before = (process_cpu_seconds(pid), children_cpu_seconds(pid), time.process_time())
        appends = grpc_appends(service.address, clients, total, warmup=clients * 20)
        per_second, appended = eventloop.run(appends)
        after = (process_cpu_seconds(pid), children_cpu_seconds(pid), time.process_time())
        gateway, writer, clients_cpu = ((b - a) / appended * 1000 for a, b in zip(before, after, strict=True))
    finally:
        service.stop()
    closed = logged(log_path, "store closed")
    assert closed["appended"] == appended, closed
    return {
        "grpc_appends_per_s": per_second,
        "grpc_fsyncs": closed["fsyncs"],
        "grpc_appended": closed["appended"],
        # CPU per append, in ms: the store's gRPC process, its writer, and the clients (this process).
        "grpc_server_cpu_ms_per_append": gateway + writer,
        "grpc_gateway_cpu_ms_per_append": gateway,
        "grpc_writer_cpu_ms_per_append": writer,
        "grpc_clients_cpu_ms_per_append": clients_cpu,
    }


async def timed_gets(address: str, ids: list[str], lines: Lines) -> list[float]:
    latencies = []
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        store = StoreClient(channel)
        for trajectory_id in ids[:50]:  # warm-up, and a check of what comes back
            assert (await store.get(trajectory_id)).trajectory_id == trajectory_id
        for trajectory_id in ids:
            started = time.perf_counter()
            trajectory = await store.get(trajectory_id)
            latencies.append(time.perf_counter() - started)
            assert len(trajectory.steps) == STEPS
    return latencies


def bench_gets(root: Path, stored: int, gets: int) -> dict[str, Any]:
    store_dir = root / "get"
    lines = Lines("get")

    async def prepare() -> None:
        log = await open_log(store_dir)
        await fill(log, lines, stored)
        await log.close()

    print(f"filling a store to {stored} trajectories for Get ...", flush=True)
    eventloop.run(prepare())
    log_path = root / "get.log"
    started = time.perf_counter()
    service = start_store(store_dir, log_path)
    start_seconds = time.perf_counter() - started
    try:
        rng = random.Random(7)
        ids = [lines.trajectory_id(rng.randrange(stored)) for _ in range(gets)]
        latencies = sorted(eventloop.run(timed_gets(service.address, ids, lines)))
        rss = resident_kb(service.process.pid)
    finally:
        service.stop()
    recovered = logged(log_path, "store recovered")
    return {
        "get_stored": recovered["records"],
        "get_median_ms": statistics.median(latencies) * 1000,
        "get_p90_ms": latencies[int(0.9 * len(latencies))] * 1000,
        "get_p99_ms": latencies[int(0.99 * len(latencies))] * 1000,
        "get_recovery_seconds": recovered["seconds"],
        "get_start_seconds": start_seconds,
        "get_rss_mb": rss / 1024,
        "store_bytes": sum(path.stat().st_size for path in store_dir.glob("trajectories-*.jsonl")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller stores and fewer requests")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    stored, rewrite_stored, get_stored = 20_000 // scale, 5_000 // scale, 50_000 // scale
    line_bytes = Lines("size").size
    print(
        f"trajectory line: {line_bytes} bytes; {time.strftime('%Y-%m-%d %H:%M')}; {os.cpu_count()} CPUs",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="bench-store-") as temporary:
        root = Path(temporary)
        log_results = eventloop.run(bench_log(root / "log", stored, rewrite_stored, per_round=100, rounds=20))
        # The log benchmark leaves hundreds of MB for the kernel to write back; let that finish
        # first, so that its disk traffic is not counted against the gRPC runs.
        os.sync()
        grpc_runs = bench_grpc(root, clients=16, total=8000 // scale, repeats=GRPC_REPEATS)
        get_results = bench_gets(root, get_stored, gets=2000 // scale)

    r = {**log_results, **get_results}
    print()
    print("In-process TrajectoryLog, appends/s (ABBA-interleaved in one run, median of 20 rounds each):")
    for writers, label in ((1, "1 writer:  "), (16, "16 writers:")):
        empty, full = r[f"empty_{writers}w_per_s"], r[f"full_{writers}w_per_s"]
        print(
            f"  {label} empty store (new each round, up to {r[f'count_{writers}w']:,}): {empty:,.0f}/s; "
            f"with {r['big_store_start']:,} stored: {full:,.0f}/s; ratio {full / empty:.2f} "
            f"({r[f'fsyncs_per_append_{writers}w']:.3f} fsyncs per append)"
        )
    print(
        f"  at {rewrite_stored:,} stored, 1 writer: log {r['log_at_5k_per_s']:,.0f}/s vs "
        f"read+write temp+fsync+os.replace {r['rewrite_at_5k_per_s']:,.1f}/s: "
        f"{r['log_at_5k_per_s'] / r['rewrite_at_5k_per_s']:,.0f}x"
    )
    print(f"  re-opening (recovery + index) with {r['recovered']:,} stored: {r['recovery_seconds']:.2f} s")
    print(
        f"Through gRPC (python -m store_service as a process), 16 clients, {GRPC_REPEATS} runs, "
        "each before or after"
    )
    print("a run of the same clients against a no-op server:")
    for run in grpc_runs["store"]:
        print(
            f"  durable appends: {run['grpc_appends_per_s']:,.0f}/s; fsyncs per append "
            f"{run['grpc_fsyncs'] / run['grpc_appended']:.3f} ({run['grpc_fsyncs']:,} fsyncs for "
            f"{run['grpc_appended']:,} appends); CPU per append: store "
            f"{run['grpc_server_cpu_ms_per_append']:.3f} ms (gRPC process "
            f"{run['grpc_gateway_cpu_ms_per_append']:.3f}, writer "
            f"{run['grpc_writer_cpu_ms_per_append']:.3f}), "
            f"clients {run['grpc_clients_cpu_ms_per_append']:.3f} ms"
        )
    median = statistics.median(run["grpc_appends_per_s"] for run in grpc_runs["store"])
    print(f"  median of the {GRPC_REPEATS} runs: {median:,.0f} durable appends/s")
    noop = [run["noop_per_s"] for run in grpc_runs["noop"]]
    noop_cpu = statistics.median(run["noop_server_cpu_ms_per_call"] for run in grpc_runs["noop"])
    print(
        f"  no-op AppendTrajectory (gRPC's own floor): {', '.join(f'{n:,.0f}' for n in noop)}/s; "
        f"server CPU {noop_cpu:.3f} ms per call"
    )
    print(
        f"  GetTrajectory with {r['get_stored']:,} stored ({r['store_bytes'] / 1e6:,.0f} MB): "
        f"median {r['get_median_ms']:.2f} ms, p90 {r['get_p90_ms']:.2f} ms, p99 {r['get_p99_ms']:.2f} ms; "
        f"start-up {r['get_start_seconds']:.1f} s (recovery {r['get_recovery_seconds']:.1f} s), "
        f"store RSS {r['get_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
