"""StoreService over gRPC: a thin adapter. Validate, convert at the edge, call the log, convert back.

Domain errors propagate to the wrapper `alfagent_common.grpc_errors.with_domain_errors` adds.
Appends are counted and timed here (store_service/metrics.py).
"""

from __future__ import annotations

import asyncio
import time

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from alfagent.skills.v1 import skills_pb2
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids, skill_file, skill_library
from alfagent_common.errors import InvalidRequest
from store_service import pages, records, skill_records
from store_service.index import ListFilter
from store_service.log import TrajectoryLog
from store_service.metrics import StoreMetrics
from store_service.skill_libraries import SkillLibraryLog

Context = grpc.aio.ServicerContext

# A page stops early once its lines pass this size, to stay well inside gRPC's 64 MiB cap.
MAX_PAGE_BYTES = 16 * 1024 * 1024
# What page tokens of ListSkillLibraries are issued for (pages.encode_position).
LIBRARIES_SCOPE = "skill-libraries"


class StoreServicer(store_pb2_grpc.StoreServiceServicer):
    def __init__(
        self, log: TrajectoryLog, libraries: SkillLibraryLog, metrics: StoreMetrics | None = None
    ) -> None:
        self._log = log
        self._libraries = libraries
        self._metrics = metrics or StoreMetrics()

    async def AppendTrajectory(
        self,
        request: store_pb2.AppendTrajectoryRequest,
        context: Context[store_pb2.AppendTrajectoryRequest, store_pb2.AppendTrajectoryResponse],
    ) -> store_pb2.AppendTrajectoryResponse:
        started = time.perf_counter()
        try:
            # The log's writer process encodes the trajectory; only its metadata is read here.
            meta = records.meta_of(request.trajectory)
            created = await self._log.append(request.trajectory.SerializeToString(), meta)
        except InvalidRequest:
            self._metrics.appended("refused", time.perf_counter() - started)
            raise
        except Exception:
            self._metrics.appended("failed", time.perf_counter() - started)
            raise
        self._metrics.appended("stored" if created else "duplicate", time.perf_counter() - started)
        return store_pb2.AppendTrajectoryResponse(trajectory_id=meta.trajectory_id, created=created)

    async def GetTrajectory(
        self,
        request: store_pb2.GetTrajectoryRequest,
        context: Context[store_pb2.GetTrajectoryRequest, trajectory_pb2.Trajectory],
    ) -> trajectory_pb2.Trajectory:
        return records.decode(self._log.read(ids.check_id(request.trajectory_id, "trajectory_id")))

    async def ListTrajectories(
        self,
        request: store_pb2.ListTrajectoriesRequest,
        context: Context[store_pb2.ListTrajectoriesRequest, store_pb2.ListTrajectoriesResponse],
    ) -> store_pb2.ListTrajectoriesResponse:
        selection = ListFilter(
            run_id=ids.check_optional_id(request.run_id, "run_id"),
            task_type=ids.check_label(request.task_type, "task_type"),
            won=request.won if request.HasField("won") else None,
        )
        page_size = pages.check_page_size(request.page_size)
        available = self._log.count(selection)
        start = pages.decode_token(request.page_token, selection, available)
        lines, end = self._log.page(selection, start, page_size, MAX_PAGE_BYTES)
        return store_pb2.ListTrajectoriesResponse(
            trajectories=[records.decode(line) for line in lines],
            next_page_token=pages.encode_token(selection, end) if end < available else "",
        )

    async def GetStats(
        self,
        request: store_pb2.GetStatsRequest,
        context: Context[store_pb2.GetStatsRequest, store_pb2.StoreStats],
    ) -> store_pb2.StoreStats:
        run_id = ids.check_optional_id(request.run_id, "run_id")
        return records.stats_to_proto(run_id, self._log.stats(run_id))

    async def PutSkillLibrary(
        self,
        request: store_pb2.PutSkillLibraryRequest,
        context: Context[store_pb2.PutSkillLibraryRequest, store_pb2.PutSkillLibraryResponse],
    ) -> store_pb2.PutSkillLibraryResponse:
        source = request.WhichOneof("source")
        if source is None:
            raise InvalidRequest("give library or library_text")
        edited_from = ""
        library = request.library
        if source == "library_text":
            # Parsing and encoding a large library takes milliseconds: off the event loop.
            read = await asyncio.to_thread(skill_file.loads, request.library_text)
            library, edited_from = read.library, read.edited_from
        now = Timestamp()
        now.GetCurrentTime()
        limit = self._libraries.max_line_bytes
        line, meta = await asyncio.to_thread(skill_records.encode, library, limit, now)
        created = await self._libraries.put(line, meta)
        return store_pb2.PutSkillLibraryResponse(
            library_id=meta.library_id, created=created, edited_from=edited_from
        )

    async def GetSkillLibrary(
        self,
        request: store_pb2.GetSkillLibraryRequest,
        context: Context[store_pb2.GetSkillLibraryRequest, skills_pb2.SkillLibrary],
    ) -> skills_pb2.SkillLibrary:
        line = self._libraries.read(skill_library.check_id(request.library_id))
        return await asyncio.to_thread(skill_records.decode, line)

    async def ListSkillLibraries(
        self,
        request: store_pb2.ListSkillLibrariesRequest,
        context: Context[store_pb2.ListSkillLibrariesRequest, store_pb2.ListSkillLibrariesResponse],
    ) -> store_pb2.ListSkillLibrariesResponse:
        page_size = pages.check_page_size(request.page_size)
        available = len(self._libraries)
        start = pages.decode_position(request.page_token, LIBRARIES_SCOPE, available, "ListSkillLibraries")
        page = self._libraries.page(start, page_size)
        end = start + len(page)
        return store_pb2.ListSkillLibrariesResponse(
            libraries=[skill_records.summary_to_proto(meta) for meta in page],
            next_page_token=pages.encode_position(LIBRARIES_SCOPE, end) if end < available else "",
        )
