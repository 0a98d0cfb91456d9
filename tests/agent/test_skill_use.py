"""A skill library in play: what the model is shown and recorded, and the train/test rule (a game the
library was made from is refused unless the request allows it, and then marked)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from agent_service.convert import trajectory_to_proto
from agent_service.episode import EpisodeRecord, EpisodeRequest, PolicyKind
from agent_service.evaluation import EvaluationRequest, Evaluator
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.policy import LLMPolicies
from agent_service.llm.retries import RetrySettings
from agent_service.policies import ExpertPolicy
from agent_service.runner import EpisodeRunner
from agent_service.settings import EpisodeSettings
from agent_service.skill_libraries import SkillLibraries
from agent_service.skills import convert as skills_convert
from agent_service.skills.extract import extract
from agent_service.skills.library import Parameter, Procedure, ProcedureStep, SkillLibrary
from agent_service.vocabulary import Decoding
from alfagent_common import errors
from tests.agent.fake_openai import FakeOpenAI
from tests.agent.memory import PLAN, MemoryEnv, MemoryStore

TRAIN_GAME = "generated_train/pick_and_place_simple-Pencil-None-Shelf-7/trial_T0"
EVAL_GAME = "generated_eval/pick_and_place_simple-Pencil-None-Shelf-0/trial_T0"
NO_PROGRESS = {"done": False}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test") as fake:
        yield fake


def library_from_an_expert_win(game_id: str = TRAIN_GAME) -> SkillLibrary:
    """The expert plays `game_id` through the runner; the library is extracted from what was stored."""
    store = MemoryStore()
    runner = EpisodeRunner(MemoryEnv(), store, lambda _: ExpertPolicy())
    outcome = asyncio.run(runner.run(EpisodeRequest(PolicyKind.EXPERT, game_id=game_id, run_id="train")))
    assert outcome.won
    record: EpisodeRecord = store.stored[outcome.trajectory_id]
    return extract([skills_convert.source_from_proto(trajectory_to_proto(record))])


def llm_request(
    server: FakeOpenAI, library: SkillLibrary, game_id: str, *, allow_seen_games: bool = False
) -> EpisodeRequest:
    chosen = EpisodeSettings(
        model="scripted",
        base_url=server.base_url,
        max_steps=6,
        skill_library=library.library_id,
        allow_seen_games=allow_seen_games,
    )
    return EpisodeRequest(PolicyKind.LLM, settings=chosen, game_id=game_id, run_id="eval", skills=library)


def play(
    server: FakeOpenAI, request: EpisodeRequest, env: MemoryEnv | None = None
) -> tuple[MemoryStore, MemoryEnv]:
    env, store = env or MemoryEnv(), MemoryStore()

    async def main() -> None:
        make = LLMPolicies(
            library=FewShotLibrary(env),
            default_base_url=server.base_url,
            api_key="sk-test",
            retry=RetrySettings(),
        )
        try:
            await EpisodeRunner(env, store, make).run(request)
        finally:
            await make.close()

    asyncio.run(main())
    return store, env


def test_the_library_is_extracted_from_the_stored_win_and_names_its_game() -> None:
    library = library_from_an_expert_win()
    assert library.source_game_ids == (TRAIN_GAME,)
    assert [d.game_id for d in library.demonstrations] == [TRAIN_GAME]
    assert [step.action for step in library.demonstrations[0].steps] == list(PLAN)


def test_the_model_is_shown_the_nearest_demonstration_and_each_step_records_it(server: FakeOpenAI) -> None:
    library = library_from_an_expert_win()
    server.script(*PLAN)
    store, _ = play(server, llm_request(server, library, EVAL_GAME))
    [record] = store.stored.values()
    assert record.won and not record.seen_game
    system = server.requests[0].messages[0]["content"]
    # The library's one demonstration, in place of the two few-shot examples, with the stored game's
    # own text (every answer it got).
    demonstration = library.demonstrations[0]
    assert "Example 1:" in system and "Example 2:" not in system
    assert all(step.observation in system for step in demonstration.steps)
    shown = f"demonstration:{demonstration.trajectory_id}"
    assert all(shown in step.decision.skills_shown for step in record.steps)
    trajectory = trajectory_to_proto(record)
    assert trajectory.settings.skill_library == library.library_id
    assert all(shown in step.skills_shown for step in trajectory.steps)


def test_without_a_library_the_few_shot_examples_are_shown_and_nothing_is_recorded(
    server: FakeOpenAI,
) -> None:
    server.script(*PLAN)
    request = EpisodeRequest(
        PolicyKind.LLM,
        settings=EpisodeSettings(model="scripted", base_url=server.base_url, max_steps=6),
        game_id=EVAL_GAME,
    )
    store, _ = play(server, request)
    [record] = store.stored.values()
    assert "Example 2:" in server.requests[0].messages[0]["content"]
    assert record.won and all(step.decision.skills_shown == () for step in record.steps)
    assert trajectory_to_proto(record).settings.skill_library == ""


def test_a_game_the_library_was_made_from_is_refused_before_a_step_and_nothing_is_stored(
    server: FakeOpenAI,
) -> None:
    library = library_from_an_expert_win()
    env = MemoryEnv()
    with pytest.raises(errors.FailedPrecondition, match=f"game {TRAIN_GAME} is one the skill library"):
        play(server, llm_request(server, library, TRAIN_GAME), env)
    assert server.requests == [] and env.closed == ["s0"]


def test_allowed_a_seen_game_is_played_and_marked(server: FakeOpenAI) -> None:
    library = library_from_an_expert_win()
    server.script(*PLAN)
    store, _ = play(server, llm_request(server, library, TRAIN_GAME, allow_seen_games=True))
    [record] = store.stored.values()
    assert record.seen_game and trajectory_to_proto(record).seen_game


def test_an_evaluation_over_seen_games_is_refused_before_any_is_played() -> None:
    library = library_from_an_expert_win("generated_eval/pick_and_place_simple-Pencil-None-Shelf-1/trial_T0")
    env, store = MemoryEnv(), MemoryStore()

    class Games:
        async def list_games(self, split: str, task_type: str) -> list[object]:
            return [env_game(i) for i in range(3)]

    def env_game(index: int) -> object:
        from agent_service.episode import GameRef

        game_id = f"generated_eval/pick_and_place_simple-Pencil-None-Shelf-{index}/trial_T0"
        return GameRef(game_id, "generated_eval", "pick_and_place_simple", "put", "generated")

    evaluator = Evaluator(EpisodeRunner(env, store, lambda _: ExpertPolicy()), Games(), store)  # type: ignore[arg-type]  # a lister of GameRefs
    episode = EpisodeRequest(
        PolicyKind.EXPERT, settings=EpisodeSettings(skill_library=library.library_id), skills=library
    )
    request = EvaluationRequest("eval", "generated_eval", (), 0, 2, episode)

    async def ignore(progress: object) -> None:
        return None

    with pytest.raises(errors.FailedPrecondition, match=r"1 of the 3 games chosen.*Shelf-1"):
        asyncio.run(evaluator.run(request, ignore))
    assert env.resets == [] and store.stored == {}
    allowed = replace(
        request, episode=replace(episode, settings=replace(episode.settings, allow_seen_games=True))
    )
    summary = asyncio.run(evaluator.run(allowed, ignore))
    assert summary.overall.episodes == 3
    assert [record.seen_game for record in store.stored.values()].count(True) == 1


def test_a_library_is_read_from_the_store_once_and_an_unknown_one_is_not_found() -> None:
    library = library_from_an_expert_win()
    reads: list[str] = []

    async def fetch(library_id: str) -> SkillLibrary:
        reads.append(library_id)
        if library_id != library.library_id:
            raise errors.NotFound(f"skill library {library_id} is not in the store")
        return library

    libraries = SkillLibraries(fetch)
    request = EpisodeRequest(PolicyKind.LLM, settings=EpisodeSettings(skill_library=library.library_id))

    async def main() -> None:
        attached = await asyncio.gather(*(libraries.attach(request) for _ in range(3)))
        assert all(r.skills is library for r in attached)
        unknown = replace(request, settings=EpisodeSettings(skill_library="sha256:" + "0" * 64))
        with pytest.raises(errors.NotFound, match="not in the store"):
            await libraries.attach(unknown)
        none = EpisodeRequest(PolicyKind.LLM)
        assert (await libraries.attach(none)).skills is None

    asyncio.run(main())
    assert reads == [library.library_id, "sha256:" + "0" * 64]


# A procedure as extraction makes them (here written for the one-line game of tests/agent/memory.py,
# whose answers are "You did it: <command>.").
CARRY = Procedure(
    name="take_go_move",
    task_types=("pick_and_place_simple",),
    parameters=(Parameter("obj"), Parameter("recep"), Parameter("target")),
    steps=tuple(
        ProcedureStep(action, f"You did it: {action}.")
        for action in ("take {obj} from {recep}", "go to {target}", "move {obj} to {target}")
    ),
    support=2,
)


def carrying_library() -> SkillLibrary:
    return replace(library_from_an_expert_win(), procedures=(CARRY,))


def test_a_procedure_call_is_played_command_by_command_each_a_recorded_step(server: FakeOpenAI) -> None:
    library = carrying_library()
    call = "take_go_move(obj=pencil 1, recep=desk 1, target=shelf 1)"
    server.script("go to desk 1", call)
    store, env = play(server, llm_request(server, library, EVAL_GAME))
    [record] = store.stored.values()
    assert record.won and len(server.requests) == 2, "the model was asked twice: the call played on its own"
    assert env.steps == list(PLAN)
    assert [step.decision.skill for step in record.steps] == ["", call, call, call]
    assert [step.decision.grounding for step in record.steps][1:] == ["skill"] * 3
    assert record.steps[1].decision.raw_output == call
    assert (
        "take_go_move(obj, recep, target): take {obj} from {recep}"
        in server.requests[0].messages[0]["content"]
    )
    assert "procedure:take_go_move" in record.steps[0].decision.skills_shown
    assert [step.skill for step in trajectory_to_proto(record).steps][1:] == [call] * 3


def test_a_procedure_hands_back_control_at_the_first_unexpected_answer(server: FakeOpenAI) -> None:
    library = carrying_library()
    server.script("go to desk 1", "take_go_move(obj=pencil 1, recep=desk 1, target=shelf 2)", *PLAN[2:])
    store, env = play(server, llm_request(server, library, EVAL_GAME))
    [record] = store.stored.values()
    # take (as expected), go to shelf 2 ("Nothing happens.": handed back), then the model again.
    assert env.steps == ["go to desk 1", "take pencil 1 from desk 1", "go to shelf 2", *PLAN[2:]]
    assert record.won and len(server.requests) == 4
    assert [bool(step.decision.skill) for step in record.steps] == [False, True, True, False, False]


def test_a_call_that_fits_no_procedure_is_sent_as_the_command_it_was(server: FakeOpenAI) -> None:
    library = carrying_library()
    server.script("take_go_move(obj=pencil 1)", *PLAN)
    store, env = play(server, llm_request(server, library, EVAL_GAME))
    [record] = store.stored.values()
    assert env.steps[0] == "take_go_move(obj=pencil 1)" and record.steps[0].decision.skill == ""
    assert record.won


def test_grammar_decoding_sends_the_admissible_commands_and_the_calls_offered(server: FakeOpenAI) -> None:
    library = carrying_library()
    server.script(*PLAN)
    request = llm_request(server, library, EVAL_GAME)
    request = replace(request, settings=replace(request.settings, decoding=Decoding.GRAMMAR))
    play(server, request)
    grammar = server.requests[0].body["grammar"]
    assert 'command ::= "look" | "inventory" | "go to desk 1" | "take_go_move(" [^\\n)]* ")"' in grammar
    assert 'thought ::= "think: "' in grammar
    # Free decoding (the default) sends none.
    server.reset(api_key="sk-test")
    server.script(*PLAN)
    play(server, llm_request(server, library, EVAL_GAME))
    assert "grammar" not in server.requests[0].body


def test_a_call_in_order_with_kinds_is_played_on_the_things_the_game_named(server: FakeOpenAI) -> None:
    library = carrying_library()
    server.script("go to desk 1", "take_go_move(pencil 1, desk, shelf)")
    store, env = play(server, llm_request(server, library, EVAL_GAME))
    [record] = store.stored.values()
    assert env.steps == list(PLAN) and record.won
    assert record.steps[1].decision.skill == "take_go_move(obj=pencil 1, recep=desk 1, target=shelf 1)"
