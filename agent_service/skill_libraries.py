"""The skill library a request names, read from the store once and kept: libraries are immutable
(their id is their content's hash), so a copy never goes stale.

Attached to the request at the edge, before any game is reset, so that an unknown library is
NOT_FOUND at once and the runner and evaluator can refuse a game the library was made from.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from agent_service.episode import EpisodeRequest
from agent_service.skills.library import SkillLibrary

FetchLibrary = Callable[[str], Awaitable[SkillLibrary]]
# Libraries kept in memory; one holds a few hundred episodes' text, a few MB at most.
KEPT = 8


class SkillLibraries:
    def __init__(self, fetch: FetchLibrary, kept: int = KEPT) -> None:
        self._fetch = fetch
        self._kept = kept
        self._libraries: OrderedDict[str, asyncio.Task[SkillLibrary]] = OrderedDict()

    async def get(self, library_id: str) -> SkillLibrary:
        """The library; NotFound (from the store) when it has none of that id."""
        task = self._libraries.get(library_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._libraries[library_id] = asyncio.ensure_future(self._fetch(library_id))
            while len(self._libraries) > self._kept:
                self._libraries.popitem(last=False)
        self._libraries.move_to_end(library_id)
        # Shielded: a caller going away must not cancel a read others wait for.
        return await asyncio.shield(task)

    async def attach(self, request: EpisodeRequest) -> EpisodeRequest:
        """`request` with the library its settings name (none: unchanged)."""
        library_id = request.settings.skill_library
        if not library_id:
            return request
        return replace(request, skills=await self.get(library_id))
