"""Limits on what one caller may take of a shared agent: episodes and evaluations in flight, and the
size of what a request may ask for. Beyond a quota: RESOURCE_EXHAUSTED naming it and its value.

Callers are who the token says (`alfagent_common.auth.current_caller`); in dev mode (no tokens)
every caller is the same one, so the quotas then bound the agent as a whole.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from alfagent_common import errors


@dataclass(frozen=True)
class QuotaLimits:
    # RunEpisode and StreamEpisode calls one caller has in flight.
    episodes_in_flight: int = 16
    # RunEvaluation calls one caller has in flight.
    evaluations_in_flight: int = 4
    # The largest step budget a request may set.
    max_steps: int = 1000


@dataclass
class Quotas:
    limits: QuotaLimits = field(default_factory=QuotaLimits)
    _held: Counter[tuple[str, str]] = field(default_factory=Counter)

    @contextlib.contextmanager
    def hold(self, caller: str, kind: str) -> Iterator[None]:
        """One `kind` ("episodes_in_flight", "evaluations_in_flight") for `caller` while the block
        runs; RESOURCE_EXHAUSTED when the caller already holds its quota."""
        limit = getattr(self.limits, kind)
        key = (caller, kind)
        if self._held[key] >= limit:
            variable = f"ALFAGENT_QUOTA_{kind.upper()}"
            held = f"{self._held[key]} {kind.replace('_', ' ')}"
            raise errors.ResourceExhausted(
                f"caller {caller} already has {held} ({variable}={limit}): wait for one to end"
            )
        self._held[key] += 1
        try:
            yield
        finally:
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]

    def check_max_steps(self, max_steps: int) -> None:
        if max_steps > self.limits.max_steps:
            raise errors.ResourceExhausted(
                f"max_steps {max_steps} is more than this agent allows (ALFAGENT_QUOTA_MAX_STEPS="
                f"{self.limits.max_steps})"
            )
