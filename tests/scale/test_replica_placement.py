"""The placement and pinning rules of env replicas (agent_service/replicas.py), with fake replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from agent_service.env_replicas import domain_verdict
from agent_service.replicas import Replicas, parse_env_addr
from alfagent_common import errors
from alfagent_common.settings import ConfigError


@dataclass
class FakeReplica:
    """Holds sessions like an env replica; `fail` makes its next calls raise."""

    name: str
    sessions: set[str] = field(default_factory=set)
    fail: errors.AlfagentError | None = None
    calls: int = 0

    async def reset(self, session_id: str) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        self.sessions.add(session_id)
        return session_id

    async def step(self, session_id: str) -> str:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        if session_id not in self.sessions:
            raise errors.NotFound(f"session {session_id}")
        return f"{self.name}:{session_id}"

    async def close(self, session_id: str) -> bool:
        if self.fail is not None:
            raise self.fail
        if session_id in self.sessions:
            self.sessions.remove(session_id)
            return True
        return False


class World:
    def __init__(self, *names: str) -> None:
        self.replicas = {name: FakeReplica(name) for name in names}
        self.core = Replicas(clock=lambda: self.now)
        self.core.update(names)
        self.now = 0.0
        self.counter = 0

    async def reset(self) -> str:
        self.counter += 1
        session_id = f"s{self.counter}"
        address, _ = await self.core.place(
            lambda a: self.replicas[a].reset(session_id), session_of=lambda s: s, verdict=domain_verdict
        )
        return address

    def step(self, session_id: str) -> Awaitable[str]:
        return self.core.call_pinned(session_id, lambda a: self.replicas[a].step(session_id), domain_verdict)

    def close(self, session_id: str) -> Awaitable[bool]:
        call: Callable[[str], Awaitable[bool]] = lambda a: self.replicas[a].close(session_id)  # noqa: E731
        return self.core.close_pinned(session_id, call, closed_of=lambda c: c, verdict=domain_verdict)


def test_env_addr_forms() -> None:
    assert parse_env_addr("localhost:50052").addresses == ("localhost:50052",)
    assert parse_env_addr(" a:1, b:2 ,a:1").addresses == ("a:1", "b:2")
    target = parse_env_addr("dns:///env:50052")
    assert target.is_dns and (target.dns_name, target.dns_port) == ("env", 50052)
    assert parse_env_addr("[::1]:50052").addresses == ("[::1]:50052",)
    for bad in ("", "env", "env:port", "a:1,b", "http://env:50052", "dns:///env", "env:70000"):
        with pytest.raises(ConfigError):
            parse_env_addr(bad)


def test_concurrent_resets_spread_evenly_and_sessions_stay_pinned() -> None:
    async def main() -> None:
        world = World("a:1", "b:1", "c:1")
        placed = await asyncio.gather(*(world.reset() for _ in range(12)))
        assert sorted(placed.count(name) for name in world.replicas) == [4, 4, 4]
        for session in range(1, 13):
            answer = await world.step(f"s{session}")
            assert answer.startswith(placed[session - 1])

    asyncio.run(main())


def test_least_loaded_by_sessions_per_worker_and_reported_stats() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        world.core.report("a:1", serving=True, live_sessions=0, workers=4, max_sessions=64)
        world.core.report("b:1", serving=True, live_sessions=0, workers=1, max_sessions=64)
        placed = [await world.reset() for _ in range(10)]
        # Four workers take four sessions for each one the single worker takes.
        assert placed.count("a:1") == 8 and placed.count("b:1") == 2
        # Sessions another client opened on `a` count once its stats say so.
        world.core.report("a:1", serving=True, live_sessions=60, workers=4, max_sessions=64)
        assert await world.reset() == "b:1"

    asyncio.run(main())


def test_full_or_unavailable_replica_is_skipped_at_reset_and_other_errors_are_final() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        world.replicas["a:1"].fail = errors.ResourceExhausted("64 sessions open")
        assert {await world.reset() for _ in range(4)} == {"b:1"}
        world.replicas["a:1"].fail = None
        world.replicas["b:1"].fail = errors.Unavailable("connection refused")
        # Busier than b, so b is tried first: it fails, a takes the session.
        world.core.report("a:1", serving=True, live_sessions=10)
        calls = world.replicas["b:1"].calls
        assert await world.reset() == "a:1"
        assert world.replicas["b:1"].calls == calls + 1
        # b was found down: new sessions no longer even try it, though it is less loaded.
        calls = world.replicas["b:1"].calls
        for _ in range(3):
            assert await world.reset() == "a:1"
        assert world.replicas["b:1"].calls == calls
        world.replicas["a:1"].fail = errors.NotFound("no game x")
        with pytest.raises(errors.NotFound):
            await world.reset()
        assert world.replicas["b:1"].calls == calls

    asyncio.run(main())


def test_every_replica_refusing_raises_the_last_refusal() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        world.replicas["a:1"].fail = errors.ResourceExhausted("full")
        world.replicas["b:1"].fail = errors.ResourceExhausted("full")
        with pytest.raises(errors.ResourceExhausted):
            await world.reset()
        with pytest.raises(errors.Unavailable):
            await Replicas().place(World("x:1").replicas["x:1"].reset, session_of=str, verdict=domain_verdict)

    asyncio.run(main())


def test_a_dead_replica_fails_only_its_own_sessions_and_takes_no_new_ones() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        placed = [await world.reset() for _ in range(4)]
        world.replicas["a:1"].fail = errors.Unavailable("connection refused")
        for session, address in enumerate(placed, start=1):
            if address == "a:1":
                with pytest.raises(errors.Unavailable):
                    await world.step(f"s{session}")
            else:
                assert (await world.step(f"s{session}")).startswith("b:1")
        assert world.core.serving() == ["b:1"]
        assert {await world.reset() for _ in range(3)} == {"b:1"}
        # A health check that finds it back makes it a candidate again.
        world.replicas["a:1"].fail = None
        world.core.report("a:1", serving=True)
        assert "a:1" in world.core.serving()

    asyncio.run(main())


def test_unpinned_sessions_are_found_on_the_replica_holding_them_then_pinned() -> None:
    async def main() -> None:
        world = World("a:1", "b:1", "c:1")
        world.replicas["c:1"].sessions.add("elsewhere")
        assert await world.step("elsewhere") == "c:1:elsewhere"
        assert world.core.replica_of("elsewhere") == "c:1"
        with pytest.raises(errors.NotFound):
            await world.step("nowhere")
        # Close of an unpinned session closes it where it lives; closing again says closed=false.
        world.replicas["b:1"].sessions.add("other")
        assert await world.close("other") is True and "other" not in world.replicas["b:1"].sessions
        assert await world.close("other") is False

    asyncio.run(main())


def test_replicas_that_appear_and_disappear() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        placed = await world.reset()
        other = "b:1" if placed == "a:1" else "a:1"
        world.replicas["c:1"] = FakeReplica("c:1")
        added, gone = world.core.update([other, "c:1"])
        assert added == ["c:1"] and gone == [placed]
        # The unlisted replica keeps serving its session but takes no new ones...
        assert (await world.step("s1")).startswith(placed)
        assert placed not in {await world.reset() for _ in range(4)}
        assert world.core.unused() == []
        # ...and is dropped once its last session is closed.
        assert await world.close("s1") is True
        assert world.core.unused() == [placed]
        assert placed not in world.core.known()

    asyncio.run(main())


def test_idle_pins_are_forgotten_and_the_session_found_again() -> None:
    async def main() -> None:
        world = World("a:1", "b:1")
        address = await world.reset()
        world.now = 100.0
        assert world.core.forget_idle(50.0) == 1
        assert world.core.replica_of("s1") is None
        assert (await world.step("s1")).startswith(address)
        assert world.core.replica_of("s1") == address

    asyncio.run(main())
