"""alfagent_client: ALFWorld sessions of alfagent's env service, for RL trainers and notebooks.

`AlfworldEnv` is one gymnasium-style environment; `BatchEnv` resets and steps N sessions at once
over the env replicas. Both take an address in the forms of the agent's ENV_ADDR: the agent's
port (it forwards EnvService and places sessions itself), one env replica, `host:port,…`, or
`dns:///name:port`. Errors are `alfagent_client.errors` exceptions.
"""

from alfagent_client.env import AlfworldEnv, BatchEnv, Game, Info
from alfagent_client.errors import (
    EnvError,
    EpisodeOver,
    InvalidRequest,
    NotFound,
    ResourceExhausted,
    SessionLost,
    Unavailable,
)

__all__ = [
    "AlfworldEnv",
    "BatchEnv",
    "EnvError",
    "EpisodeOver",
    "Game",
    "Info",
    "InvalidRequest",
    "NotFound",
    "ResourceExhausted",
    "SessionLost",
    "Unavailable",
]
