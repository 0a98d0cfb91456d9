"""The episode loop's view of the env and store services, over their gRPC clients."""

from __future__ import annotations

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from agent_service import convert
from agent_service.env_replicas import EnvApi
from agent_service.episode import EpisodeOutcome, EpisodeRecord, EpisodeRequest, GameRef
from agent_service.runner import EnvSession, EnvState
from agent_service.skills import convert as skills_convert
from agent_service.skills.library import SkillLibrary
from alfagent.env.v1 import env_pb2
from alfagent_clients.store import StoreClient
from alfagent_common import errors

# How long a finished episode waits for an unreachable store before its append is given up.
STORE_RETRY_SECONDS = 90.0
# How long a new episode waits for an unreachable env (e.g. restarting) before it fails.
ENV_RESET_RETRY_SECONDS = 60.0


def while_unreachable(seconds: float) -> AsyncRetrying:
    """Retries a call while its service is unreachable (e.g. restarting), for up to `seconds`."""
    return AsyncRetrying(
        retry=retry_if_exception_type(errors.Unavailable),
        stop=stop_after_delay(seconds),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
        reraise=True,
    )


def _state(response: env_pb2.ResetResponse | env_pb2.StepResponse) -> EnvState:
    if isinstance(response, env_pb2.ResetResponse):
        return EnvState(
            observation=response.observation,
            admissible_commands=tuple(response.admissible_commands),
            expert_plan=tuple(response.expert_plan),
            goal_progress=response.goal_progress,
        )
    return EnvState(
        observation=response.observation,
        admissible_commands=tuple(response.admissible_commands),
        expert_plan=tuple(response.expert_plan),
        goal_progress=response.goal_progress,
        won=response.won,
        done=response.done,
        admissible=response.admissible,
    )


class RemoteEnv:
    def __init__(self, client: EnvApi) -> None:
        self._client = client

    async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession:
        # An env that is restarting (a crashed container coming back) is waited for rather than
        # failing every episode that starts meanwhile. If a reply was lost rather than the env, the
        # session it opened is closed by the env's idle expiry.
        retrying = while_unreachable(ENV_RESET_RETRY_SECONDS)
        return await retrying(self._reset, request, with_expert_plan=with_expert_plan)

    async def _reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession:
        response = await self._client.reset(convert.reset_request_to_proto(request, with_expert_plan))
        return EnvSession(
            response.session_id,
            convert.game_from_proto(response.game),
            _state(response),
            versions=convert.game_versions_from_proto(response.versions),
        )

    async def step(self, session_id: str, action: str) -> EnvState:
        return _state(await self._client.step(session_id, action))

    async def close(self, session_id: str) -> None:
        await self._client.close(session_id)

    async def list_games(self, split: str, task_type: str) -> list[GameRef]:
        games: list[GameRef] = []
        token = ""
        while True:
            page = await self._client.list_games(
                split=split, task_type=task_type, page_size=1000, page_token=token
            )
            games.extend(convert.game_from_proto(game) for game in page.games)
            token = page.next_page_token
            if not token:
                return games


class RemoteStore:
    def __init__(self, client: StoreClient) -> None:
        self._client = client

    async def save(self, record: EpisodeRecord) -> bool:
        trajectory = convert.trajectory_to_proto(record)
        # A store restart must not lose a finished episode: retry while it is unreachable, for as
        # long as a store container takes to be restarted and recover its log. The append is
        # idempotent by trajectory_id, so a retry after a lost reply stores nothing twice.
        appended: tuple[str, bool] = await while_unreachable(STORE_RETRY_SECONDS)(
            self._client.append, trajectory
        )
        return appended[1]

    async def find(self, trajectory_id: str) -> EpisodeOutcome | None:
        try:
            return convert.outcome_from_trajectory(await self._client.get(trajectory_id))
        except errors.NotFound:
            return None

    async def skill_library(self, library_id: str) -> SkillLibrary:
        """The stored library; NotFound when the store has none of that id."""
        try:
            return skills_convert.from_proto(await self._client.get_library(library_id))
        except errors.NotFound:
            raise errors.NotFound(
                f"skill library {library_id} is not in the store: `python -m agent_service skills list` "
                "lists those it holds"
            ) from None
