"""Env replicas: which replica a new session goes to, and which replica each session lives in.

No grpc here. A session's state lives in one env process, so every call of a session must reach
the replica that answered its Reset: `Replicas` pins sessions and places new ones on the least
loaded replica that serves. The adapter (`agent_service/env_replicas.py`) resolves `ENV_ADDR`,
checks each replica's health and load, and reports here; tests drive this class with fakes.

Load is the replica's own count of live sessions from its last `GetStats`, plus the sessions this
agent has opened there since (closed ones subtracted), plus the resets in flight to it, per worker:
resets that start together must not all see the same empty replica, and sessions opened by other
agents or clients on the same replica still count once its stats are read again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from alfagent_common import errors
from alfagent_common.settings import ConfigError

Result = TypeVar("Result")
# How a failed call to one replica is read: the replica is full (RESOURCE_EXHAUSTED), down
# (UNAVAILABLE), does not hold the session (NOT_FOUND), or None: the answer is final.
Verdict = Literal["full", "down", "missing"] | None

DNS_SCHEME = "dns:///"


@dataclass(frozen=True)
class EnvTarget:
    """ENV_ADDR parsed: fixed replicas (`host:port,…`) or a DNS name whose every address is one."""

    addresses: tuple[str, ...] = ()
    dns_name: str = ""
    dns_port: int = 0

    @property
    def is_dns(self) -> bool:
        return bool(self.dns_name)


def parse_env_addr(text: str) -> EnvTarget:
    """`host:port[,host:port…]` or `dns:///name:port`; raises ConfigError naming what is wrong."""
    text = text.strip()
    if text.startswith(DNS_SCHEME):
        name, port = _host_port(text[len(DNS_SCHEME) :], text)
        return EnvTarget(dns_name=name, dns_port=port)
    if "://" in text:
        raise ConfigError(f"ENV_ADDR={text!r}: the only scheme understood is {DNS_SCHEME}name:port")
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        raise ConfigError("ENV_ADDR is empty; give host:port[,host:port…] or dns:///name:port")
    for entry in entries:
        _host_port(entry, text)
    # The same replica named twice would be counted as two.
    return EnvTarget(addresses=tuple(dict.fromkeys(entries)))


def _host_port(entry: str, text: str) -> tuple[str, int]:
    host, sep, port = entry.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"ENV_ADDR={text!r}: {entry!r} is not host:port")
    return host, int(port)


@dataclass
class Replica:
    address: str
    # Named by ENV_ADDR's latest resolution; a replica no longer named takes no new sessions but
    # keeps its live ones (a pod being scaled down still serves them until it stops).
    listed: bool = True
    # Optimistic until a health check or a failed call says otherwise.
    serving: bool = True
    reported_sessions: int = 0
    opened_since_report: int = 0
    resetting: int = 0
    workers: int = 1
    max_sessions: int = 0  # 0: not known yet

    @property
    def live_sessions(self) -> int:
        return max(0, self.reported_sessions + self.opened_since_report) + self.resetting

    @property
    def full(self) -> bool:
        return self.max_sessions > 0 and self.live_sessions >= self.max_sessions


@dataclass
class _Pin:
    address: str
    last_used: float


class Replicas:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._replicas: dict[str, Replica] = {}
        self._pins: dict[str, _Pin] = {}
        # Breaks ties between equally loaded replicas, so an idle set fills evenly.
        self._turn = 0

    # --- what the adapter reports ---------------------------------------------------------

    def update(self, addresses: Iterable[str]) -> tuple[list[str], list[str]]:
        """The replicas ENV_ADDR names now; answers (added, no longer listed)."""
        wanted = list(dict.fromkeys(addresses))
        added = [a for a in wanted if a not in self._replicas or not self._replicas[a].listed]
        for address in wanted:
            self._replicas.setdefault(address, Replica(address)).listed = True
        gone = [a for a, r in self._replicas.items() if r.listed and a not in wanted]
        for address in gone:
            self._replicas[address].listed = False
        return added, gone

    def report(
        self,
        address: str,
        *,
        serving: bool,
        live_sessions: int | None = None,
        workers: int | None = None,
        max_sessions: int | None = None,
    ) -> None:
        """A health check's answer, with the replica's GetStats figures when it gave them."""
        replica = self._replicas.get(address)
        if replica is None:
            return
        replica.serving = serving
        if live_sessions is not None:
            replica.reported_sessions = live_sessions
            replica.opened_since_report = 0
        if workers is not None:
            replica.workers = max(1, workers)
        if max_sessions is not None:
            replica.max_sessions = max_sessions

    def lost(self, address: str) -> None:
        """A call to the replica found it unreachable: no new sessions there until it serves again."""
        if address in self._replicas:
            self._replicas[address].serving = False

    # --- placement and pinning ------------------------------------------------------------

    def candidates(self) -> list[str]:
        """Listed replicas in the order a new session should try them: serving before not (a
        health check may be stale), not full before full, then fewest live sessions per worker."""
        listed = [r for r in self._replicas.values() if r.listed]
        if not listed:
            return []
        self._turn = (self._turn + 1) % len(listed)
        rotated = listed[self._turn :] + listed[: self._turn]
        order = {r.address: i for i, r in enumerate(rotated)}
        rotated.sort(key=lambda r: (not r.serving, r.full, r.live_sessions / r.workers, order[r.address]))
        return [r.address for r in rotated]

    async def place(
        self,
        reset: Callable[[str], Awaitable[Result]],
        *,
        session_of: Callable[[Result], str],
        verdict: Callable[[Exception], Verdict],
    ) -> tuple[str, Result]:
        """Resets on the best replica, trying the next on an error `verdict` calls full or down;
        pins the new session there. Raises the last such error when every replica refused, and
        any other error at once (a bad game id is bad on every replica)."""
        last: Exception | None = None
        for address in self.candidates():
            replica = self._replicas[address]
            replica.resetting += 1
            try:
                result = await reset(address)
            except Exception as error:
                kind = verdict(error)
                if kind not in ("full", "down"):
                    raise
                if kind == "down":
                    replica.serving = False
                last = error
                continue
            finally:
                replica.resetting -= 1
            replica.opened_since_report += 1
            self._pins[session_of(result)] = _Pin(address, self._clock())
            return address, result
        if last is not None:
            raise last
        raise errors.Unavailable("env_service: no env replica is known yet (ENV_ADDR resolved to none)")

    def pin(self, session_id: str, address: str) -> None:
        """A session found on `address` that this agent did not place (e.g. before a restart)."""
        self._pins[session_id] = _Pin(address, self._clock())

    def replica_of(self, session_id: str) -> str | None:
        pin = self._pins.get(session_id)
        if pin is None:
            return None
        pin.last_used = self._clock()
        return pin.address

    def closed(self, session_id: str) -> None:
        """The session is over (closed, expired, or its replica gone): unpin it."""
        pin = self._pins.pop(session_id, None)
        if pin is not None and pin.address in self._replicas:
            self._replicas[pin.address].opened_since_report -= 1

    def forget_idle(self, idle_seconds: float) -> int:
        """Unpins sessions unused for `idle_seconds` (the env expires idle sessions itself; one
        that is still alive is found again by asking every replica). Answers how many."""
        deadline = self._clock() - idle_seconds
        idle = [s for s, pin in self._pins.items() if pin.last_used < deadline]
        for session_id in idle:
            self._pins.pop(session_id)
        return len(idle)

    def unused(self) -> list[str]:
        """Replicas neither listed nor holding a pinned session: their channels can go."""
        pinned = {pin.address for pin in self._pins.values()}
        unused = [a for a, r in self._replicas.items() if not r.listed and a not in pinned]
        for address in unused:
            del self._replicas[address]
        return unused

    # --- calls pinned to a session's replica, and calls any replica may answer ---------------

    async def call_pinned(
        self,
        session_id: str,
        call: Callable[[str], Awaitable[Result]],
        verdict: Callable[[Exception], Verdict],
    ) -> Result:
        """`call` on the session's replica. A session this agent did not place (reset by another
        agent, or before a restart) is looked for on every serving replica: a replica that does
        not hold it answers NOT_FOUND and changes nothing, so asking each in turn is safe."""
        address = self.replica_of(session_id)
        if address is not None:
            try:
                return await call(address)
            except Exception as error:
                kind = verdict(error)
                if kind == "down":
                    self.lost(address)
                elif kind == "missing":
                    self.closed(session_id)
                raise
        down: Exception | None = None
        missing: Exception | None = None
        for address in self.serving():
            try:
                result = await call(address)
            except Exception as error:
                kind = verdict(error)
                if kind == "missing":
                    missing = error
                    continue
                if kind == "down":
                    self.lost(address)
                    down = error
                    continue
                raise
            self.pin(session_id, address)
            return result
        # A replica that could not be asked may hold the session: say so rather than "not found".
        if down is not None:
            raise down
        if missing is not None:
            raise missing
        raise errors.Unavailable("env_service: no env replica is serving")

    async def close_pinned(
        self,
        session_id: str,
        close: Callable[[str], Awaitable[Result]],
        *,
        closed_of: Callable[[Result], bool],
        verdict: Callable[[Exception], Verdict],
    ) -> Result:
        """Close on the session's replica, and unpin it whatever happens. Close is idempotent (an
        unknown session answers closed=false), so an unpinned session is closed on each serving
        replica in turn until one says it held it; else the last answer (closed=false) is given."""
        try:
            address = self.replica_of(session_id)
            if address is not None:
                try:
                    return await close(address)
                except Exception as error:
                    if verdict(error) == "down":
                        self.lost(address)
                    raise
            answer: Result | None = None
            last: Exception | None = None
            for address in self.serving():
                try:
                    answer = await close(address)
                except Exception as error:
                    if verdict(error) != "down":
                        raise
                    self.lost(address)
                    last = error
                    continue
                if closed_of(answer):
                    return answer
            if answer is not None:
                return answer
            raise last or errors.Unavailable("env_service: no env replica is serving")
        finally:
            self.closed(session_id)

    async def call_any(
        self, call: Callable[[str], Awaitable[Result]], verdict: Callable[[Exception], Verdict]
    ) -> Result:
        """`call` on the first replica that answers (calls every replica answers alike)."""
        last: Exception | None = None
        for address in self.candidates():
            try:
                return await call(address)
            except Exception as error:
                if verdict(error) != "down":
                    raise
                self.lost(address)
                last = error
        if last is not None:
            raise last
        raise errors.Unavailable("env_service: no env replica is known yet")

    # --- what callers read ----------------------------------------------------------------

    def serving(self) -> list[str]:
        return [a for a, r in self._replicas.items() if r.listed and r.serving]

    def any_serving(self) -> bool:
        return bool(self.serving())

    def known(self) -> list[str]:
        return list(self._replicas)

    def get(self, address: str) -> Replica | None:
        return self._replicas.get(address)

    def sessions_on(self, address: str) -> int:
        return sum(1 for pin in self._pins.values() if pin.address == address)
