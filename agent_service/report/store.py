"""Reading a run's trajectories from StoreService, and finding the latest run in a store directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.store import StoreClient
from alfagent_common import auth
from alfagent_common.security import Security
from alfagent_common.server import CHANNEL_OPTIONS

# Trajectories per ListTrajectories page: ~50 kB each for a 50-step episode, so a page stays
# well under the store's 16 MB page limit while 1,000 episodes take 5 round trips.
PAGE_SIZE = 200


class EmptyRuns(LookupError):
    """Some run ids have no trajectory in the store (unknown, or nothing was stored yet)."""

    def __init__(self, run_ids: Sequence[str]) -> None:
        self.run_ids = list(run_ids)
        names = ", ".join(self.run_ids)
        super().__init__(f"no trajectories stored for run id(s): {names}")


async def fetch_runs(
    store_addr: str, run_ids: Sequence[str], security: Security | None = None
) -> dict[str, list[trajectory_pb2.Trajectory]]:
    """Every trajectory of each run, oldest first; EmptyRuns names the runs that have none.
    `security`: the token and CA of a stack that wants them (`--token`, `--ca`)."""
    runs: dict[str, list[trajectory_pb2.Trajectory]] = {}
    async with auth.channel(store_addr, security or Security(), CHANNEL_OPTIONS) as channel:
        store = StoreClient(channel, timeout_seconds=60.0)
        for run_id in dict.fromkeys(run_ids):
            runs[run_id] = [t async for t in store.iter_all(run_id=run_id, page_size=PAGE_SIZE)]
    empty = [run_id for run_id, trajectories in runs.items() if not trajectories]
    if empty:
        raise EmptyRuns(empty)
    return runs


def latest_run_id(store_dir: Path) -> str:
    """The run of the last trajectory written to the store's newest segment.

    The store keeps no list of runs, and paging through every stored trajectory to find the last
    one costs as much as the whole store; the newest segment's last whole line costs a read from
    its end. A line being written (no `\\n` yet) is not a record and is skipped, as the store's own
    readers do.
    """
    for segment in sorted(store_dir.glob("trajectories-*.jsonl"), reverse=True):
        line = last_whole_line(segment)
        if line is not None:
            run_id = json.loads(line).get("run_id", "")
            if run_id:
                return str(run_id)
    raise LookupError(f"no stored trajectory with a run id in {store_dir}")


def last_whole_line(path: Path, block: int = 1 << 20) -> bytes | None:
    """The last non-blank line that ends in `\\n`, read backwards a block at a time."""
    with path.open("rb") as file:
        position = file.seek(0, 2)
        data = b""
        while position > 0:
            start = max(0, position - block)
            file.seek(start)
            data = file.read(position - start) + data
            position = start
            # The last piece has no newline after it; the first may be cut unless the file starts there.
            pieces = data.split(b"\n")[:-1]
            whole = pieces if position == 0 else pieces[1:]
            for line in reversed(whole):
                if line.strip():
                    return line
    return None
