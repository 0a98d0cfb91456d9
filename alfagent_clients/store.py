"""A small typed client for StoreService that speaks in trajectories and domain exceptions.

    # CHANNEL_OPTIONS: alfagent_common.server's, as the agent uses (large messages, less overhead).
    async with grpc.aio.insecure_channel(os.environ["STORE_ADDR"], options=CHANNEL_OPTIONS) as channel:
        store = StoreClient(channel)
        trajectory_id, created = await store.append(trajectory)

Appends are idempotent: retrying one after a timeout or on Unavailable is safe. So are puts of
skill libraries (an id is stored once).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator

import grpc

from alfagent.skills.v1 import skills_pb2
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.base import ServiceClient


class StoreClient(ServiceClient):
    service = "store_service"

    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float | None = 30.0) -> None:
        super().__init__(timeout_seconds=timeout_seconds)
        self._stub = store_pb2_grpc.StoreServiceStub(channel)

    async def append(self, trajectory: trajectory_pb2.Trajectory) -> tuple[str, bool]:
        """Store a trajectory durably; returns (trajectory_id, created). created=False: already stored."""
        request = store_pb2.AppendTrajectoryRequest(trajectory=trajectory)
        response = await self._call(self._stub.AppendTrajectory, request)
        return response.trajectory_id, response.created

    async def get(self, trajectory_id: str) -> trajectory_pb2.Trajectory:
        request = store_pb2.GetTrajectoryRequest(trajectory_id=trajectory_id)
        return await self._call(self._stub.GetTrajectory, request)

    async def list(
        self,
        run_id: str = "",
        task_type: str = "",
        won: bool | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[trajectory_pb2.Trajectory], str]:
        """One page (oldest first) and the token of the next one ("" when this was the last)."""
        request = store_pb2.ListTrajectoriesRequest(
            run_id=run_id, task_type=task_type, won=won, page_size=page_size, page_token=page_token
        )
        response = await self._call(self._stub.ListTrajectories, request)
        return list(response.trajectories), response.next_page_token

    async def iter_all(
        self, run_id: str = "", task_type: str = "", won: bool | None = None, page_size: int = 0
    ) -> AsyncIterator[trajectory_pb2.Trajectory]:
        """Every matching trajectory, page by page."""
        token = ""
        while True:
            page, token = await self.list(run_id, task_type, won, page_size, token)
            for trajectory in page:
                yield trajectory
            if not token:
                return

    async def stats(self, run_id: str = "") -> store_pb2.StoreStats:
        """Episodes, wins, success rate (with 95% Wilson interval), mean steps and tokens per task type."""
        request = store_pb2.GetStatsRequest(run_id=run_id)
        return await self._call(self._stub.GetStats, request)

    async def put_library(self, library: skills_pb2.SkillLibrary) -> tuple[str, bool]:
        """Store a skill library durably; returns (library_id, created). created=False: already stored.

        An empty library_id is computed by the store; one that is not the content's hash is refused."""
        request = store_pb2.PutSkillLibraryRequest(library=library)
        response = await self._call(self._stub.PutSkillLibrary, request)
        return response.library_id, response.created

    async def import_library(self, text: str) -> store_pb2.PutSkillLibraryResponse:
        """Store the library a library file holds (`alfagent_common.skill_file`); the answer says
        its id, whether it was new, and what it was edited from (if it was)."""
        request = store_pb2.PutSkillLibraryRequest(library_text=text)
        return await self._call(self._stub.PutSkillLibrary, request)

    async def get_library(self, library_id: str) -> skills_pb2.SkillLibrary:
        request = store_pb2.GetSkillLibraryRequest(library_id=library_id)
        return await self._call(self._stub.GetSkillLibrary, request)

    async def list_libraries(
        self, page_size: int = 0, page_token: str = ""
    ) -> tuple[builtins.list[store_pb2.SkillLibrarySummary], str]:
        """One page of library summaries (oldest first) and the next page's token ("" at the end)."""
        request = store_pb2.ListSkillLibrariesRequest(page_size=page_size, page_token=page_token)
        response = await self._call(self._stub.ListSkillLibraries, request)
        return list(response.libraries), response.next_page_token

    async def iter_libraries(self, page_size: int = 0) -> AsyncIterator[store_pb2.SkillLibrarySummary]:
        token = ""
        while True:
            page, token = await self.list_libraries(page_size, token)
            for summary in page:
                yield summary
            if not token:
                return
