"""The event loop every service runs on: uvloop by default, the standard library's on request.

uvloop runs asyncio's machinery (tasks, futures, callbacks, socket transports) in C on libuv,
and grpc.aio spends much of each call there: on this project's 2-core machine it raised the
store's durable appends from 16 clients by ~11% (bench/RESULTS.md). `EVENT_LOOP=asyncio` picks
the standard loop instead, should uvloop ever misbehave somewhere; both are tested.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import uvloop

from alfagent_common.settings import ConfigError, get_str

T = TypeVar("T")

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


def loop_factory(environ: Mapping[str, str]) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory `EVENT_LOOP` names (uvloop when unset); ConfigError for an unknown name."""
    name = get_str(environ, "EVENT_LOOP", "uvloop").lower()
    try:
        return LOOP_FACTORIES[name]
    except KeyError:
        raise ConfigError(f"EVENT_LOOP={name!r} is not one of {', '.join(LOOP_FACTORIES)}") from None


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str] | None = None) -> T:
    """`asyncio.run(main)`, on the loop `EVENT_LOOP` names."""
    try:
        factory = loop_factory(os.environ if environ is None else environ)
    except ConfigError:
        main.close()  # never started; closing it spares a "never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """ "uvloop" or "asyncio": which kind `loop` is, for logs."""
    return type(loop).__module__.split(".")[0]
