"""Which stored episodes stand for their game when a run is resumed or reported.

An episode that ended because of the harness rather than the game or the policy's choices (the
agent was stopped mid-episode, the env replica or the model endpoint failed for good) says
nothing about the policy. Resuming its run plays the game again under the next attempt number
(trajectory ids include the attempt, so nothing stored is overwritten), and from then on the later
attempt stands for the game: in the evaluation's summary and in the report's success rates, end
reasons and curves. The interrupted episode stays stored and listed, as everything appended does.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_service.episode import EndReason

# LLM_ERROR is here too: after the bounded retries it means the endpoint stayed unreachable or
# kept failing, which a resume after fixing the endpoint should not count against the policy.
PLAYED_AGAIN_ON_RESUME = frozenset({EndReason.CANCELLED, EndReason.ENV_ERROR, EndReason.LLM_ERROR})
_PLAYED_AGAIN_NAMES = frozenset(reason.value for reason in PLAYED_AGAIN_ON_RESUME)


def is_played_again_on_resume(end_reason: EndReason) -> bool:
    return end_reason in PLAYED_AGAIN_ON_RESUME


def superseded(episodes: Sequence[tuple[str, int, str, str]]) -> set[str]:
    """The trajectory ids that a later attempt of their game replaces.

    `episodes`: (trajectory id, attempt, game id, end reason name) of one run's stored episodes.
    An episode is replaced when it ended for a reason played again on resume and the same game
    has an episode with a higher attempt in the run.
    """
    latest: dict[str, int] = {}
    for _, attempt, game_id, _ in episodes:
        latest[game_id] = max(latest.get(game_id, attempt), attempt)
    return {
        trajectory_id
        for trajectory_id, attempt, game_id, end_reason in episodes
        if end_reason in _PLAYED_AGAIN_NAMES and attempt < latest[game_id]
    }
