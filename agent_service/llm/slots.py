"""How many calls one endpoint serves at once, and the agent-side queue in front of it.

A llama.cpp server has a fixed number of slots (`--parallel N`): requests beyond them wait in the
server's own queue, and that wait counts against the client's read timeout although the model
has not even started. On a slow CPU server the wait for a busy slot can exceed any sensible
timeout, and a retry re-sends the whole prompt. So the agent keeps at most `limit` calls in
flight per endpoint and queues the others itself, where waiting is not a failure and is never
timed out.

The limit is ALFAGENT_LLM_CONCURRENCY when set (> 0); otherwise it is discovered once from
llama-server's `GET /props` (`total_slots`). An endpoint that has no `/props` (OpenAI, vLLM) gets
no limit: those queue or rate-limit (429, retried) on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerProps:
    """What a llama.cpp server says about itself (`GET /props`)."""

    total_slots: int = 0
    # The context of one slot (llama-server shares `-c` among its slots).
    slot_context_tokens: int = 0

    @classmethod
    def from_json(cls, body: Any) -> ServerProps:
        if not isinstance(body, dict):
            return cls()
        settings = body.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        slots = body.get("total_slots")
        return cls(
            total_slots=slots if isinstance(slots, int) and slots > 0 else 0,
            slot_context_tokens=n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else 0,
        )


class EndpointGate:
    """At most `limit` calls in flight to one endpoint; the rest wait here, untimed."""

    def __init__(self, configured: int = 0) -> None:
        # > 0: that many; 0: discover from /props; < 0: no limit.
        self._configured = configured
        self._semaphore: asyncio.Semaphore | None = None
        self._resolved = False
        self._lock = asyncio.Lock()
        self.limit = 0  # 0 once resolved: no limit

    async def resolve(self, discover: Callable[[], Awaitable[ServerProps | None]]) -> None:
        """Settles the limit once; `discover` answering None (server unreachable) leaves it
        unsettled, so the next call asks again."""
        if self._resolved:
            return
        async with self._lock:
            if self._resolved:
                return
            if self._configured != 0:
                limit = max(self._configured, 0)
            else:
                props = await discover()
                if props is None:
                    return
                limit = props.total_slots
            self.limit = limit
            self._semaphore = asyncio.Semaphore(limit) if limit > 0 else None
            self._resolved = True

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore is None:
            yield
            return
        async with self._semaphore:
            yield
