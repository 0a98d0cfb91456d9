"""env_service/metrics.py: resets and steps timed by the servicer, refusals counted, the core's state
and the translation cache's counts read at a scrape (a fake worker pool: no processes, no games)."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from alfagent.env.v1 import env_pb2
from alfagent_common import errors
from alfagent_common.grpc_errors import Context
from env_service.metrics import EnvMetrics
from env_service.servicer import EnvServicer
from env_service.translations import TranslationCache, TranslationCounts
from launcher.llm import free_port
from tests.env import fakes
from tests.env.envproc import env_service
from tests.observability.scrape import read, scrape

NO_CONTEXT: Context = None  # type: ignore[assignment]  # the servicer reads nothing from the call's context


def test_resets_steps_refusals_and_live_sessions() -> None:
    pool = fakes.FakePool(size=2)
    core = fakes.core(pool, max_sessions=2)
    metrics = EnvMetrics()
    metrics.watch(core, lambda: (5, 2))
    servicer = EnvServicer(core, metrics)

    async def body() -> None:
        reset = env_pb2.ResetRequest(split="generated_eval", task_type=fakes.TASK_TYPES[0])
        first = await servicer.Reset(reset, NO_CONTEXT)
        await servicer.Reset(reset, NO_CONTEXT)
        with pytest.raises(errors.ResourceExhausted):
            await servicer.Reset(reset, NO_CONTEXT)
        for action in ("look", fakes.WINNING_ACTION):
            await servicer.Step(env_pb2.StepRequest(session_id=first.session_id, action=action), NO_CONTEXT)
        # A step that fails is not timed.
        with pytest.raises(errors.FailedPrecondition):
            await servicer.Step(env_pb2.StepRequest(session_id=first.session_id, action="look"), NO_CONTEXT)
        assert read(metrics.registry).value("alfagent_env_live_sessions") == 2
        await servicer.Close(env_pb2.CloseRequest(session_id=first.session_id), NO_CONTEXT)

    asyncio.run(body())
    pool.replace(0)
    scraped = read(metrics.registry)
    assert scraped.value("alfagent_env_reset_seconds_count") == 2
    assert scraped.value("alfagent_env_step_seconds_count") == 2
    assert scraped.value("alfagent_env_sessions_refused_total") == 1
    assert scraped.value("alfagent_env_live_sessions") == 1
    assert scraped.value("alfagent_env_max_sessions") == 2
    assert scraped.value("alfagent_env_worker_restarts_total") == 1
    assert scraped.value("alfagent_env_translation_cache_hits_total") == 5
    assert scraped.value("alfagent_env_translation_cache_misses_total") == 2
    assert scraped.family_types["alfagent_env_worker_restarts"] == "counter"


def test_the_translation_cache_counts_its_hits_and_misses(tmp_path: Path) -> None:
    counts = TranslationCounts()
    cache = TranslationCache(tmp_path / "translations", "20.6.4", counts)
    key = cache.key("(define (domain d))", "(define (problem p))", optimize=False)
    assert cache.get(key) is None
    cache.put(key, "begin_version\n3\nend_version\n")
    assert cache.get(key) == "begin_version\n3\nend_version\n"
    (tmp_path / "translations" / f"{key}.sas").write_text("0\ndamaged")
    assert cache.get(key) is None  # damaged: translated again, a miss
    assert (counts.hits, counts.misses) == (1, 2)


def _count_in_child(counts: TranslationCounts) -> None:
    counts.count(hit=True)
    counts.count(hit=False)
    counts.count(hit=False)


def test_a_worker_process_counts_in_memory_the_service_reads() -> None:
    context = multiprocessing.get_context("spawn")  # as env_service.pool starts its workers
    counts = TranslationCounts(context)
    child = context.Process(target=_count_in_child, args=(counts,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert (counts.hits, counts.misses) == (1, 2)


def test_a_replica_playing_its_games_itself_counts_its_translations(tmp_path: Path) -> None:
    """ENV_WORKERS=0: the games, and the translation cache, in the service's own process."""
    port = free_port()
    settings = {
        "ENV_WORKERS": "0",
        "METRICS_PORT": str(port),
        "ENV_TRANSLATION_CACHE": str(tmp_path / "translations"),
        "ENV_CATALOG_CACHE": "",
    }
    with env_service(tmp_path, **settings) as (service, stub):
        assert service.metrics_port == port
        for _ in range(2):  # the same game twice: the second reset is served from memory
            session = stub.Reset(env_pb2.ResetRequest(split="generated_eval", index=0), timeout=120)
            stub.Step(env_pb2.StepRequest(session_id=session.session_id, action="look"), timeout=60)
        scraped = scrape(port)
    assert scraped.value("alfagent_env_reset_seconds_count") == 2
    assert scraped.value("alfagent_env_step_seconds_count") == 2
    assert scraped.value("alfagent_env_live_sessions") == 2
    assert scraped.value("alfagent_env_translation_cache_misses_total") == 2
    assert scraped.value("alfagent_env_translation_cache_hits_total") == 0
