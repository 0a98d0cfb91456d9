"""Retrying LLM calls with tenacity, counting every retry by its cause.

Retried: 429 (waiting what Retry-After says, capped by the total wait), 408/409, 5xx, timeouts,
connection errors and replies that are not a usable completion ("bad_response"). Not retried:
any other 4xx (400, 401, 403, 404, 422, ...): those fail at once. Waits between attempts grow
exponentially with random jitter; a call stops after `max_attempts` attempts, or before a wait
would push the total time spent waiting (sleeping, not calling) past `max_wait_seconds`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from agent_service.llm.client import CallFailed

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 6
    # Total seconds one call may spend waiting between its attempts.
    max_wait_seconds: float = 120.0
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0


@dataclass(frozen=True)
class Retried(Generic[T]):
    value: T
    # One entry per retry, in order: the cause of the attempt that was retried.
    causes: tuple[str, ...]


class GaveUp(Exception):
    """The call failed for good: a non-retryable answer, or retries exhausted."""

    def __init__(
        self, message: str, causes: tuple[str, ...], last_cause: str, context_tokens: int = 0
    ) -> None:
        super().__init__(message)
        self.causes = causes
        self.last_cause = last_cause
        # The context size the prompt exceeded, when that was the failure (see CallFailed).
        self.context_tokens = context_tokens


class _TotalWaitExceeded(stop_base):
    def __init__(self, max_wait_seconds: float) -> None:
        self.max_wait_seconds = max_wait_seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        # tenacity computes the next wait before asking whether to stop.
        return retry_state.idle_for + retry_state.upcoming_sleep > self.max_wait_seconds + 1e-9


class _Wait:
    def __init__(self, settings: RetrySettings) -> None:
        self._settings = settings
        self._backoff = wait_exponential_jitter(
            multiplier=settings.initial_backoff_seconds,
            max=settings.max_backoff_seconds,
            jitter=settings.initial_backoff_seconds,
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, CallFailed) and error.retry_after is not None:
            return min(error.retry_after, self._settings.max_wait_seconds)
        return float(self._backoff(retry_state))


def _retryable(error: BaseException) -> bool:
    return isinstance(error, CallFailed) and error.retryable


async def call_with_retries(call: Callable[[], Awaitable[T]], settings: RetrySettings) -> Retried[T]:
    causes: list[str] = []

    def count(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        cause = error.cause if isinstance(error, CallFailed) else type(error).__name__
        causes.append(cause)
        log.warning(
            "LLM call failed, retrying",
            extra={
                "cause": cause,
                "attempt": retry_state.attempt_number,
                "wait_seconds": round(retry_state.upcoming_sleep, 3),
                "error": str(error),
            },
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(settings.max_attempts) | _TotalWaitExceeded(settings.max_wait_seconds),
        wait=_Wait(settings),
        before_sleep=count,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                value = await call()
            outcome = attempt.retry_state.outcome
            if outcome is not None and not outcome.failed:
                return Retried(value, tuple(causes))
    except CallFailed as error:
        attempts = len(causes) + 1
        why = "not retried" if not error.retryable else f"gave up after {attempts} attempts"
        raise GaveUp(f"{error} ({why})", tuple(causes), error.cause, error.context_tokens) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
