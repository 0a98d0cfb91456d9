"""One settings message: defaults filled once at the edge, a 0 given is a 0, one reader of recorded
settings for trajectories of every age."""

from __future__ import annotations

import pytest

from agent_service.config import AgentConfig
from agent_service.convert import request_from_proto, trajectory_to_proto
from agent_service.episode import EpisodeRecord, EpisodeRequest, GameRef, PolicyKind
from agent_service.settings import EpisodeSettings
from agent_service.settings_proto import (
    UNRECORDED_REPEAT_NOTE_AFTER,
    recorded_settings,
    recorded_settings_of_dict,
    settings_from_request,
    settings_to_proto,
)
from agent_service.vocabulary import Grounding, PromptMode
from alfagent.agent.v1 import agent_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors

DEFAULTS = AgentConfig.from_environ(
    {"ALFAGENT_MODEL": "m", "OPENAI_BASE_URL": "http://llm:8080/v1", "ALFAGENT_REPEAT_NOTE_AFTER": "4"}
).episode_defaults()


def test_a_setting_left_out_takes_the_agents_default_and_one_given_as_0_is_0() -> None:
    left_out = settings_from_request(trajectory_pb2.AgentSettings(), DEFAULTS, llm=True)
    assert (left_out.max_tokens, left_out.max_repeated_actions, left_out.repeat_note_after) == (128, 10, 4)
    assert (left_out.model, left_out.base_url, left_out.max_steps) == ("m", "http://llm:8080/v1", 50)
    zeros = trajectory_pb2.AgentSettings(max_tokens=0, max_repeated_actions=0, repeat_note_after=0)
    given = settings_from_request(zeros, DEFAULTS, llm=True)
    assert (given.max_tokens, given.max_repeated_actions, given.repeat_note_after) == (0, 0, 0)


def test_expert_and_random_episodes_get_no_llm_defaults() -> None:
    expert = settings_from_request(trajectory_pb2.AgentSettings(seed=5), DEFAULTS, llm=False)
    assert (expert.model, expert.base_url, expert.max_tokens, expert.max_repeated_actions) == ("", "", 0, 0)
    assert (expert.seed, expert.max_steps, expert.repeat_note_after) == (5, 50, 0)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_steps": 0}, "max_steps must be at least 1, got 0"),
        ({"max_steps": -3}, "max_steps must be at least 1"),
        ({"max_tokens": -1}, "max_tokens must not be negative"),
        ({"repeat_note_after": -1}, "repeat_note_after must not be negative"),
        ({"temperature": 3.0}, "temperature must be between 0 and 2"),
        ({"prompt_mode": "chatty"}, "prompt_mode 'chatty' is not one of react, admissible"),
        ({"grounding": "fuzzy"}, "grounding 'fuzzy' is not one of"),
        ({"decoding": "beam"}, "decoding 'beam' is not one of free, grammar"),
        ({"skill_library": "mine"}, "skill_library 'mine' is not a library id"),
    ],
)
def test_bad_settings_are_invalid_requests_naming_the_setting(given: dict[str, object], message: str) -> None:
    settings = trajectory_pb2.AgentSettings(**given)  # type: ignore[arg-type]  # fields of mixed types by name
    request = agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.LLM, settings=settings)
    with pytest.raises(errors.InvalidRequest, match=message):
        request_from_proto(request, DEFAULTS)


def test_game_selection_policy_run_and_attempt_stay_at_the_top_of_the_request() -> None:
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple",
        policy=trajectory_pb2.EXPERT,
        run_id="r",
        attempt=2,
        settings=trajectory_pb2.AgentSettings(max_steps=9),
    )
    episode = request_from_proto(request, DEFAULTS)
    assert (episode.task_type, episode.policy, episode.run_id, episode.attempt) == (
        "pick_and_place_simple",
        PolicyKind.EXPERT,
        "r",
        2,
    )
    assert episode.settings.max_steps == 9


def _record(request: EpisodeRequest) -> EpisodeRecord:
    game = GameRef("generated_eval/g/trial_T0", "generated_eval", "pick_and_place_simple", "put", "generated")
    return EpisodeRecord("t", "r", request, game, "You are in a room.", (), started_at=1.0, finished_at=2.0)


def test_a_trajectory_records_every_setting_its_policy_used_and_reads_back_the_same() -> None:
    settings = EpisodeSettings(
        model="m",
        base_url="http://llm:8080/v1",
        temperature=0.5,
        seed=3,
        max_steps=20,
        max_tokens=0,
        prompt_mode=PromptMode.ADMISSIBLE,
        grounding=Grounding.NEAREST,
        token_budget=0,
        max_repeated_actions=0,
        repeat_note_after=0,
    )
    trajectory = trajectory_to_proto(_record(EpisodeRequest(PolicyKind.LLM, settings=settings)))
    # Every field present, 0s included: a reader can tell "none" from "not recorded".
    assert len(trajectory.settings.ListFields()) == len(trajectory_pb2.AgentSettings.DESCRIPTOR.fields)
    assert recorded_settings(trajectory) == settings
    expert = trajectory_to_proto(_record(EpisodeRequest(PolicyKind.EXPERT, settings=EpisodeSettings(seed=2))))
    assert {field.name for field, _ in expert.settings.ListFields()} == {
        "temperature",
        "seed",
        "max_steps",
        "token_budget",
    }
    assert recorded_settings(expert) == EpisodeSettings(seed=2)


def test_older_trajectories_are_read_as_they_were_played() -> None:
    # Stored before the note's threshold was recorded: it was 3. Zeros were left out, "none" was -1.
    before_the_note = {
        "policy": "LLM",
        "model": "qwen",
        "seed": 0,
        "settings": {"prompt_mode": "react", "grounding": "exact", "max_steps": 50, "max_tokens": 128},
    }
    settings = recorded_settings_of_dict(before_the_note)
    assert (settings.repeat_note_after, settings.model, settings.max_tokens) == (
        UNRECORDED_REPEAT_NOTE_AFTER,
        "qwen",
        128,
    )
    note_off = {
        **before_the_note,
        "settings": {"max_steps": 50, "repeat_note_after": -1, "max_repeated_actions": -1},
    }
    settings = recorded_settings_of_dict(note_off)
    assert (settings.repeat_note_after, settings.max_repeated_actions, settings.prompt_mode) == (
        0,
        0,
        PromptMode.REACT,
    )


def test_a_new_setting_reaches_the_record_by_its_field_alone() -> None:
    # The proto message and the dataclass hold the same settings, so a new one is a field in each.
    dataclass_fields = set(EpisodeSettings.__dataclass_fields__)
    assert set(trajectory_pb2.AgentSettings.DESCRIPTOR.fields_by_name) == dataclass_fields
    recorded = settings_to_proto(EpisodeSettings(), llm=True)
    assert {field.name for field, _ in recorded.ListFields()} == dataclass_fields


def test_none_names_no_skill_library_and_left_out_takes_the_agents_default() -> None:
    library_id = "sha256:" + "ab" * 32
    defaults = AgentConfig.from_environ({"ALFAGENT_SKILL_LIBRARY": library_id}).episode_defaults()
    left_out = settings_from_request(trajectory_pb2.AgentSettings(), defaults, llm=True)
    assert left_out.skill_library == library_id
    none = settings_from_request(trajectory_pb2.AgentSettings(skill_library="none"), defaults, llm=True)
    assert none.skill_library == ""
    assert settings_from_request(trajectory_pb2.AgentSettings(), defaults, llm=False).skill_library == ""
