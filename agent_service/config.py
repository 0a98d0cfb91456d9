"""agent_service configuration, read once from environment variables at start-up.

The API key is held here and handed to the LLM client only; it is never logged or stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent_service.quotas import QuotaLimits
from agent_service.settings import LIBRARY_ID, NO_SKILL_LIBRARY, EpisodeSettings
from alfagent_common.security import Security
from alfagent_common.settings import ConfigError, get_float, get_int, get_port, get_str


@dataclass(frozen=True)
class AgentConfig:
    port: int = 50051
    # Loopback unless told otherwise: reachable from other machines only with TLS and tokens
    # (or ALFAGENT_INSECURE=1; alfagent_common/security.py).
    host: str = "127.0.0.1"
    # Prometheus metrics over HTTP on HOST (agent_service/metrics.py); 0: none.
    metrics_port: int = 9451
    # TLS and tokens (ALFAGENT_TLS_*, ALFAGENT_TOKENS, ALFAGENT_TOKEN, ALFAGENT_INSECURE).
    security: Security = field(default_factory=Security)
    env_addr: str = "localhost:50052"
    store_addr: str = "localhost:50053"
    # OPENAI_BASE_URL, or the local model service `llm` at LLM_ADDR when that is unset.
    openai_base_url: str = ""
    openai_api_key: str = field(default="", repr=False)
    model: str = ""
    # Where the local model service listens (compose: llm:8080).
    llm_addr: str = "localhost:8080"
    default_max_steps: int = 50
    # Reading one completion once a server slot is ours: a fresh few-shot prompt takes ~45-60 s
    # on 2 CPU cores (agent_service/README.md, "Timeouts").
    llm_timeout_seconds: float = 300.0
    llm_connect_timeout_seconds: float = 10.0
    llm_max_attempts: int = 6
    llm_max_wait_seconds: float = 120.0
    # LLM calls in flight per endpoint; 0: the server's slots (llama-server /props), else no limit.
    llm_concurrency: int = 0
    # Where generation stops: the end of the first line (OpenAI allows at most 4 strings).
    llm_stop: tuple[str, ...] = ("\n",)
    # Completion tokens per call when a request gives none; 0: the server's own limit.
    llm_max_tokens: int = 128
    # Identical consecutive actions that end an LLM episode when a request gives none; 0: no limit.
    max_repeated_actions: int = 10
    # The note to the model on a command that got the same answer this many times; 0: no note
    # (the default: measured, it did not change what the model did; see llm/prompts.py).
    repeat_note_after: int = 0
    max_concurrency: int = 64
    # What one caller may hold at once and ask for (agent_service/quotas.py).
    quotas: QuotaLimits = field(default_factory=QuotaLimits)
    # Endpoints a request's `base_url` may name besides OPENAI_BASE_URL (`*`: any on a public
    # address); empty: none (agent_service/llm/egress.py).
    allowed_base_urls: tuple[str, ...] = ()
    # HTTP clients to LLM endpoints kept open at once (an LRU; agent_service/llm/client.py).
    llm_clients: int = 16
    # The skill library LLM episodes use when a request names none (ALFAGENT_SKILL_LIBRARY); "": none.
    skill_library: str = ""
    # Prompt budget of the LLM policy (estimated as characters / 4); older turns are dropped.
    context_tokens: int = 6000
    log_level: str = "INFO"

    def episode_defaults(self) -> EpisodeSettings:
        """What a request that leaves a setting out gets."""
        return EpisodeSettings(
            model=self.model,
            base_url=self.openai_base_url,
            max_steps=self.default_max_steps,
            max_tokens=self.llm_max_tokens,
            max_repeated_actions=self.max_repeated_actions,
            repeat_note_after=self.repeat_note_after,
            skill_library=self.skill_library,
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AgentConfig:
        environ = os.environ if environ is None else environ
        llm_addr = get_str(environ, "LLM_ADDR", cls.llm_addr)
        return cls(
            port=get_int(environ, "PORT", cls.port),
            host=get_str(environ, "HOST", cls.host),
            metrics_port=get_port(environ, "METRICS_PORT", cls.metrics_port),
            security=Security.from_environ(environ),
            env_addr=get_str(environ, "ENV_ADDR", cls.env_addr),
            store_addr=get_str(environ, "STORE_ADDR", cls.store_addr),
            openai_base_url=get_str(environ, "OPENAI_BASE_URL", local_base_url(llm_addr)),
            openai_api_key=get_str(environ, "OPENAI_API_KEY", ""),
            model=get_str(environ, "ALFAGENT_MODEL", ""),
            llm_addr=llm_addr,
            default_max_steps=get_int(environ, "ALFAGENT_MAX_STEPS", cls.default_max_steps, minimum=1),
            llm_timeout_seconds=get_float(environ, "ALFAGENT_LLM_TIMEOUT_SECONDS", cls.llm_timeout_seconds),
            llm_max_attempts=get_int(environ, "ALFAGENT_LLM_MAX_ATTEMPTS", cls.llm_max_attempts, minimum=1),
            llm_max_wait_seconds=get_float(
                environ, "ALFAGENT_LLM_MAX_WAIT_SECONDS", cls.llm_max_wait_seconds
            ),
            llm_connect_timeout_seconds=get_float(
                environ, "ALFAGENT_LLM_CONNECT_TIMEOUT_SECONDS", cls.llm_connect_timeout_seconds
            ),
            llm_concurrency=get_int(environ, "ALFAGENT_LLM_CONCURRENCY", cls.llm_concurrency),
            llm_stop=stop_strings(environ.get("ALFAGENT_LLM_STOP", ""), cls.llm_stop),
            llm_max_tokens=_none_if_negative(environ, "ALFAGENT_LLM_MAX_TOKENS", cls.llm_max_tokens),
            max_repeated_actions=_none_if_negative(
                environ, "ALFAGENT_MAX_REPEATED_ACTIONS", cls.max_repeated_actions
            ),
            repeat_note_after=_none_if_negative(environ, "ALFAGENT_REPEAT_NOTE_AFTER", cls.repeat_note_after),
            skill_library=skill_library(get_str(environ, "ALFAGENT_SKILL_LIBRARY", "")),
            context_tokens=get_int(environ, "ALFAGENT_CONTEXT_TOKENS", cls.context_tokens, minimum=500),
            allowed_base_urls=allowed_base_urls(get_str(environ, "ALFAGENT_ALLOWED_BASE_URLS", "")),
            llm_clients=get_int(environ, "ALFAGENT_LLM_CLIENTS", cls.llm_clients, minimum=1),
            max_concurrency=get_int(environ, "ALFAGENT_MAX_CONCURRENCY", cls.max_concurrency, minimum=1),
            quotas=QuotaLimits(
                episodes_in_flight=get_int(
                    environ, "ALFAGENT_QUOTA_EPISODES_IN_FLIGHT", QuotaLimits.episodes_in_flight, minimum=1
                ),
                evaluations_in_flight=get_int(
                    environ,
                    "ALFAGENT_QUOTA_EVALUATIONS_IN_FLIGHT",
                    QuotaLimits.evaluations_in_flight,
                    minimum=1,
                ),
                max_steps=get_int(environ, "ALFAGENT_QUOTA_MAX_STEPS", QuotaLimits.max_steps, minimum=1),
            ),
            log_level=get_str(environ, "LOG_LEVEL", cls.log_level),
        )


def local_base_url(llm_addr: str) -> str:
    """The OpenAI-compatible endpoint of the local model service (llama-server) at `host:port`."""
    if "://" in llm_addr or "/" in llm_addr:
        raise ConfigError(f"LLM_ADDR={llm_addr!r} must be host:port, e.g. localhost:8080")
    return f"http://{llm_addr}/v1"


def allowed_base_urls(text: str) -> tuple[str, ...]:
    """ALFAGENT_ALLOWED_BASE_URLS: comma-separated http(s) endpoints (e.g. `http://vllm:8000/v1`),
    or `*` for any endpoint on a public address."""
    urls = tuple(url.strip() for url in text.split(",") if url.strip())
    for url in urls:
        if url != "*" and not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"ALFAGENT_ALLOWED_BASE_URLS: {url!r} must start with http:// or https://, or be *"
            )
    return urls


def skill_library(text: str) -> str:
    """ALFAGENT_SKILL_LIBRARY: a library id, or empty or "none" for none."""
    text = text.strip()
    if text in ("", NO_SKILL_LIBRARY):
        return ""
    if not LIBRARY_ID.fullmatch(text):
        raise ConfigError(f"ALFAGENT_SKILL_LIBRARY={text!r} is not a library id (sha256: and 64 hex digits)")
    return text


def stop_strings(text: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """ALFAGENT_LLM_STOP: a JSON list of strings (`["\\n"]`, the default; `[]` sends none, for
    models that refuse `stop`); at most 4, OpenAI's limit."""
    if not text.strip():
        return default
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f'ALFAGENT_LLM_STOP={text!r} is not a JSON list such as ["\\n"]') from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"ALFAGENT_LLM_STOP={text!r} must be a JSON list of non-empty strings")
    if len(value) > 4:
        raise ConfigError(f"ALFAGENT_LLM_STOP has {len(value)} strings; OpenAI accepts at most 4")
    return tuple(value)


def _none_if_negative(environ: Mapping[str, str], name: str, default: int) -> int:
    """A limit where 0 means none; a negative value (what these variables took for "none" before)
    means none too."""
    return max(get_int(environ, name, default, minimum=-(2**31)), 0)
