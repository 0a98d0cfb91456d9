"""Which stored episodes a resumed evaluation plays again: the agent's side of the attempt rule.

An episode that ended because of the harness rather than the game or the policy's choices (the
agent was stopped mid-episode, the env replica or the model endpoint failed for good) says
nothing about the policy. Resuming its run plays the game again under the next attempt number
(trajectory ids include the attempt, so nothing stored is overwritten), and from then on the later
attempt stands for the game: in the evaluation's summary, the store's GetStats, the report and
the benchmarks, which all count with `alfagent_common.run_stats` (its `superseded`). The
interrupted episode stays stored and listed, as everything appended does.
"""

from __future__ import annotations

from agent_service.episode import EndReason
from alfagent_common import run_stats

PLAYED_AGAIN_ON_RESUME = frozenset(EndReason(name) for name in run_stats.PLAYED_AGAIN_ON_RESUME)


def is_played_again_on_resume(end_reason: EndReason) -> bool:
    return run_stats.is_played_again_on_resume(end_reason.value)
