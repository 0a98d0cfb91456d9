"""`EpisodeSettings`: every setting an episode runs with, filled in once where a request comes in.

A request names the settings it wants and leaves the rest out; `fill` (called at the edge,
`settings_proto.py`) takes the agent's defaults for what was left out and checks what was given.
Past that point every value means what it says: limits read 0 as "none", and no "0 means the
default" travels further. A new setting is a field of the `AgentSettings` proto, a field here
(with its check in `_check`), and its use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from agent_service.vocabulary import (
    DEFAULT_DECODING,
    DEFAULT_GROUNDING,
    DEFAULT_PROMPT_MODE,
    Decoding,
    Grounding,
    PromptMode,
)
from alfagent_common import errors


@dataclass(frozen=True)
class EpisodeSettings:
    # The model and its endpoint; empty model: the one the endpoint serves.
    model: str = ""
    base_url: str = ""
    temperature: float = 0.0
    # Seeds the RANDOM policy; sent to the LLM endpoint.
    seed: int = 0
    max_steps: int = 50
    # Completion tokens per LLM call; 0: the server's own limit.
    max_tokens: int = 0
    prompt_mode: PromptMode = DEFAULT_PROMPT_MODE
    grounding: Grounding = DEFAULT_GROUNDING
    # Tokens an episode may use in all; 0: no budget.
    token_budget: int = 0
    # Identical consecutive actions that end an LLM episode; 0: no limit.
    max_repeated_actions: int = 0
    # The note on a command that got the same answer this many times; 0: no note.
    repeat_note_after: int = 0
    # The skill library's id; "": none.
    skill_library: str = ""
    # Whether the episode may play a game its skill library was made from.
    allow_seen_games: bool = False
    decoding: Decoding = DEFAULT_DECODING

    def __post_init__(self) -> None:
        _check(self)


# What only the LLM policy uses: left at their neutral values for EXPERT and RANDOM episodes, and
# out of their trajectories.
LLM_ONLY = frozenset(
    {
        "model",
        "base_url",
        "max_tokens",
        "prompt_mode",
        "grounding",
        "max_repeated_actions",
        "repeat_note_after",
        "skill_library",
        "allow_seen_games",
        "decoding",
    }
)
# A skill library's id: the SHA-256 of its content (alfagent.skills.v1.SkillLibrary.library_id).
LIBRARY_ID = re.compile(r"sha256:[0-9a-f]{64}")
# What a request names for "no skill library" (left out, a request takes the agent's default).
NO_SKILL_LIBRARY = "none"
NAMES = frozenset(field.name for field in fields(EpisodeSettings))


def _check(settings: EpisodeSettings) -> None:
    if settings.max_steps < 1:
        raise errors.InvalidRequest(f"max_steps must be at least 1, got {settings.max_steps}")
    for name in ("max_tokens", "token_budget", "max_repeated_actions", "repeat_note_after"):
        value = getattr(settings, name)
        if value < 0:
            raise errors.InvalidRequest(f"{name} must not be negative (0 means none), got {value}")
    if settings.skill_library and not LIBRARY_ID.fullmatch(settings.skill_library):
        raise errors.InvalidRequest(
            f"skill_library {settings.skill_library!r} is not a library id (sha256: and 64 hex digits, as "
            f"`skills extract` prints) nor {NO_SKILL_LIBRARY!r}"
        )
    if not 0.0 <= settings.temperature <= 2.0:
        raise errors.InvalidRequest(f"temperature must be between 0 and 2, got {settings.temperature}")


def fill(given: dict[str, Any], defaults: EpisodeSettings, *, llm: bool) -> EpisodeSettings:
    """The settings a request gave (by name, already typed), the rest from `defaults`; for a
    policy other than LLM, the LLM-only settings are neutral whatever the defaults say."""
    unknown = set(given) - NAMES
    if unknown:
        raise errors.InvalidRequest(f"unknown settings: {', '.join(sorted(unknown))}")
    base = defaults if llm else neutral_llm_settings(defaults)
    return replace(base, **given)


def neutral_llm_settings(settings: EpisodeSettings) -> EpisodeSettings:
    """`settings` with every LLM-only setting at its neutral value."""
    neutral = EpisodeSettings()
    return replace(settings, **{name: getattr(neutral, name) for name in LLM_ONLY})
