"""`AgentSettings` messages to and from `EpisodeSettings`: a request's, at the edge; a trajectory's,
for every reader of recorded settings (the report, the benchmarks)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from agent_service.settings import LLM_ONLY, NAMES, NO_SKILL_LIBRARY, EpisodeSettings, fill
from agent_service.vocabulary import (
    DEFAULT_DECODING,
    DEFAULT_GROUNDING,
    DEFAULT_PROMPT_MODE,
    Decoding,
    Grounding,
    PromptMode,
    parse_setting,
)
from alfagent.trajectory.v1 import trajectory_pb2

AgentSettings = trajectory_pb2.AgentSettings
# Trajectories stored before the repeat note's threshold was recorded all had this one.
UNRECORDED_REPEAT_NOTE_AFTER = 3


def _given(message: AgentSettings) -> dict[str, Any]:
    """The fields `message` sets (explicit presence: a 0 given is a 0), typed."""
    given: dict[str, Any] = {field.name: value for field, value in message.ListFields()}
    if "prompt_mode" in given:
        given["prompt_mode"] = parse_setting(
            PromptMode, given["prompt_mode"], "prompt_mode", DEFAULT_PROMPT_MODE
        )
    if "grounding" in given:
        given["grounding"] = parse_setting(Grounding, given["grounding"], "grounding", DEFAULT_GROUNDING)
    if "decoding" in given:
        given["decoding"] = parse_setting(Decoding, given["decoding"], "decoding", DEFAULT_DECODING)
    if given.get("skill_library") == NO_SKILL_LIBRARY:
        given["skill_library"] = ""
    return given


def settings_from_request(message: AgentSettings, defaults: EpisodeSettings, *, llm: bool) -> EpisodeSettings:
    """A request's settings, checked, with the agent's defaults for those it leaves out."""
    return fill(_given(message), defaults, llm=llm)


def settings_to_proto(settings: EpisodeSettings, *, llm: bool) -> AgentSettings:
    """Every setting the episode's policy used (see `LLM_ONLY`), so the record is complete."""
    message = AgentSettings()
    for name in NAMES:
        if llm or name not in LLM_ONLY:
            # The enums are StrEnums: the text a request named.
            setattr(message, name, getattr(settings, name))
    return message


def recorded_settings(trajectory: trajectory_pb2.Trajectory) -> EpisodeSettings:
    """What a stored episode ran with, whichever version of the agent stored it.

    Older trajectories left out settings equal to 0 and wrote "none" as a negative number; the
    repeat note's threshold is absent from those stored before it was recorded (they had 3), and
    model and seed were recorded beside the settings only.
    """
    message = trajectory.settings
    llm = trajectory.policy == trajectory_pb2.LLM
    cleaned = AgentSettings()
    for field, value in message.ListFields():
        if field.name in ("prompt_mode", "grounding", "decoding") and not value:
            continue
        # Older agents wrote "none" as a negative number.
        setattr(cleaned, field.name, max(value, 0) if isinstance(value, int) else value)
    given = _given(cleaned)
    given.setdefault("model", trajectory.model)
    given.setdefault("seed", trajectory.seed)
    if llm and not message.HasField("repeat_note_after"):
        given["repeat_note_after"] = UNRECORDED_REPEAT_NOTE_AFTER
    # A trajectory stored without max_steps (a 0 left out long ago) counts as the old default.
    given.setdefault("max_steps", EpisodeSettings().max_steps)
    return fill(given, EpisodeSettings(), llm=llm)


def recorded_settings_of_dict(trajectory: dict[str, Any]) -> EpisodeSettings:
    """`recorded_settings` of a trajectory read as JSON (a line of the store's files)."""
    message = trajectory_pb2.Trajectory()
    json_format.ParseDict(
        {key: trajectory[key] for key in ("settings", "policy", "model", "seed") if key in trajectory},
        message,
        ignore_unknown_fields=True,
    )
    return recorded_settings(message)
