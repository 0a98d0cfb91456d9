"""The in-memory index over the log: rebuilt from the segment files at start-up, never the truth.

- id -> where its line is (segment number, byte offset, length), for Get;
- one list of record numbers per filter a List can ask for (every combination of run_id,
  task_type and won, each either set or "any"), so a page is a slice: O(page) whatever the size;
- running per-(run, task type) sums for GetStats, of the episodes `run_stats`' attempt rule
  counts: a later attempt of a game in a run takes an episode the harness cut short (CANCELLED,
  ENV_ERROR, LLM_ERROR) out of the sums, in whatever order the two arrive; and per run the
  number of trajectories stored.
Records are numbered in log order, and lists only grow, so a position in a list stays valid.
Locations and lists are kept in typed arrays: a few dozen bytes per record plus its id.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass

from alfagent_common import run_stats
from store_service.records import RecordMeta, RunStats

ANY = ""


@dataclass(frozen=True, slots=True)
class Location:
    segment: int
    offset: int
    # Without the trailing newline.
    length: int


@dataclass(frozen=True, slots=True)
class ListFilter:
    run_id: str = ANY
    task_type: str = ANY
    won: bool | None = None

    def key(self) -> tuple[str, str, bool | None]:
        return self.run_id, self.task_type, self.won


class Index:
    def __init__(self) -> None:
        self._segments = array("I")
        self._offsets = array("Q")
        self._lengths = array("I")
        self._number_by_id: dict[str, int] = {}
        self._numbers_by_filter: defaultdict[tuple[str, str, bool | None], array[int]] = defaultdict(
            lambda: array("I")
        )
        self._stats: defaultdict[str, defaultdict[str, run_stats.Tally]] = defaultdict(
            lambda: defaultdict(run_stats.Tally)
        )
        self._stored: Counter[str] = Counter()
        self._attempts: run_stats.Attempts[RecordMeta] = run_stats.Attempts()

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, trajectory_id: str) -> bool:
        return trajectory_id in self._number_by_id

    def add(self, meta: RecordMeta, location: Location) -> bool:
        """Index one line; False (and nothing indexed) if its id is already there."""
        if meta.trajectory_id in self._number_by_id:
            return False
        number = len(self._offsets)
        self._segments.append(location.segment)
        self._offsets.append(location.offset)
        self._lengths.append(location.length)
        self._number_by_id[meta.trajectory_id] = number
        # A set: a record whose run_id is "" must land in the "any run" list only once.
        keys = {
            (run, task, won)
            for run in (meta.run_id, ANY)
            for task in (meta.task_type, ANY)
            for won in (meta.won, None)
        }
        for key in keys:
            self._numbers_by_filter[key].append(number)
        counts, replaced = self._attempts.add(
            meta.game_id, meta.attempt, meta.end_reason, meta, scope=meta.run_id
        )
        for run_id in {meta.run_id, ANY}:
            self._stored[run_id] += 1
            by_task = self._stats[run_id]
            if counts:
                by_task[meta.task_type].add(meta)
            for older in replaced:
                by_task[older.task_type].remove(older)
        return True

    def get(self, trajectory_id: str) -> Location | None:
        number = self._number_by_id.get(trajectory_id)
        return None if number is None else self._location(number)

    def _location(self, number: int) -> Location:
        return Location(self._segments[number], self._offsets[number], self._lengths[number])

    def count(self, selection: ListFilter) -> int:
        return len(self._numbers_by_filter.get(selection.key(), ()))

    def page(self, selection: ListFilter, start: int, limit: int) -> list[Location]:
        """Locations number `start` to `start + limit` (exclusive) of the records `selection` matches."""
        numbers = self._numbers_by_filter.get(selection.key(), array("I"))
        return [self._location(number) for number in numbers[start : start + limit]]

    def stats(self, run_id: str) -> RunStats:
        """Per task type sums for one run (ANY: every run); copies, safe to keep."""
        by_task: dict[str, run_stats.Tally] = self._stats.get(run_id, {})
        return RunStats(
            {task_type: tally.copy() for task_type, tally in by_task.items()}, self._stored[run_id]
        )
