"""Who is told how long each LLM request took: the observer of the episode making it.

`ChatClient.complete` reports every request it sends (answered or failed) to the observer the
code running the episode has attached with `observing` — a contextvar, as the episode's log fields
are attached (`alfagent_common.logs.bind`), so it reaches the calls of every task the episode
starts. The clients are shared by every episode and built by the LLM policies, which need not
carry the observer; a request made outside any episode is reported to no one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class CallObserver(Protocol):
    def llm_request(self, base_url: str, seconds: float) -> None:
        """One HTTP request to the chat-completions endpoint at `base_url` took `seconds`."""
        ...


_observer: contextvars.ContextVar[CallObserver | None] = contextvars.ContextVar(
    "llm_call_observer", default=None
)


@contextmanager
def observing(observer: CallObserver) -> Iterator[None]:
    """LLM requests made inside the block (and tasks it starts) are reported to `observer`."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def report(base_url: str, seconds: float) -> None:
    observer = _observer.get()
    if observer is not None:
        observer.llm_request(base_url, seconds)
