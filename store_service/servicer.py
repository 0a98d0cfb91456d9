"""StoreService over gRPC: a thin adapter. Validate, convert at the edge, call the log, convert back.

Domain errors propagate to the wrapper `alfagent_common.grpc_errors.with_domain_errors` adds.
"""

from __future__ import annotations

import grpc

from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids
from store_service import pages, records
from store_service.index import ListFilter
from store_service.log import TrajectoryLog

Context = grpc.aio.ServicerContext

# A page stops early once its lines pass this size, to stay well inside gRPC's 64 MiB cap.
MAX_PAGE_BYTES = 16 * 1024 * 1024


class StoreServicer(store_pb2_grpc.StoreServiceServicer):
    def __init__(self, log: TrajectoryLog) -> None:
        self._log = log

    async def AppendTrajectory(
        self,
        request: store_pb2.AppendTrajectoryRequest,
        context: Context[store_pb2.AppendTrajectoryRequest, store_pb2.AppendTrajectoryResponse],
    ) -> store_pb2.AppendTrajectoryResponse:
        # The log's writer process encodes the trajectory; only its metadata is read here.
        meta = records.meta_of(request.trajectory)
        created = await self._log.append(request.trajectory.SerializeToString(), meta)
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
