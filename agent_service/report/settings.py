"""What a run ran with, read from its trajectories, so that a report describes itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from alfagent.trajectory.v1 import trajectory_pb2

Trajectory = trajectory_pb2.Trajectory


def endpoint_host(base_url: str) -> str:
    """`scheme://host[:port]` of an endpoint: no user, password, path or query, where keys hide."""
    if not base_url:
        return ""
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "(unreadable endpoint)"
    if not host:
        return "(unreadable endpoint)"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{port}" if port else host
    return f"{parts.scheme}://{netloc}" if parts.scheme else netloc


def _values(trajectories: Sequence[Trajectory], read: Callable[[Trajectory], object]) -> str:
    """One value, or every distinct value with its count when the run's episodes differ."""
    counts = Counter(str(read(trajectory)) or "(not recorded)" for trajectory in trajectories)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{value} ({count} episodes)" for value, count in counts.most_common())


def _time_range(trajectories: Sequence[Trajectory]) -> str:
    started = [t.started_at.ToDatetime() for t in trajectories if t.HasField("started_at")]
    finished = [t.finished_at.ToDatetime() for t in trajectories if t.HasField("finished_at")]
    if not started or not finished:
        return ""
    return f"{min(started):%Y-%m-%d %H:%M:%S} to {max(finished):%Y-%m-%d %H:%M:%S} UTC"


def _repeat_note(trajectory: Trajectory) -> object:
    after = trajectory.settings.repeat_note_after
    if after < 0:
        return "off"
    return after or "(not recorded)"


def run_settings(trajectories: Sequence[Trajectory]) -> list[tuple[str, str]]:
    """(label, value) rows; a setting whose value varies inside the run lists each value."""
    llm = any(t.policy == trajectory_pb2.LLM for t in trajectories)
    rows: list[tuple[str, Callable[[Trajectory], object]]] = [
        ("policy", lambda t: trajectory_pb2.Policy.Name(t.policy)),
        ("split", lambda t: t.game.split),
        ("games from", lambda t: trajectory_pb2.GameSource.Name(t.game.source)),
        ("step cap", lambda t: t.settings.max_steps or "(agent default)"),
    ]
    if llm:
        rows += [
            ("model", lambda t: t.model),
            ("model SHA-256", lambda t: t.model_sha256 or "(not reported by the endpoint)"),
            ("endpoint", lambda t: endpoint_host(t.settings.base_url)),
            ("prompt mode", lambda t: t.settings.prompt_mode),
            ("grounding", lambda t: t.settings.grounding),
            ("temperature", lambda t: round(t.settings.temperature, 3)),
            ("max tokens per completion", lambda t: t.settings.max_tokens),
            ("token budget", lambda t: t.settings.token_budget or "none"),
            ("max repeated actions", lambda t: t.settings.max_repeated_actions),
            ("repeat note after", _repeat_note),
        ]
    rows += [
        ("seed", lambda t: t.seed),
        ("alfagent", lambda t: t.versions.alfagent),
        ("alfworld", lambda t: t.versions.alfworld),
        ("textworld", lambda t: t.versions.textworld),
    ]
    table = [(label, _values(trajectories, read)) for label, read in rows]
    table.append(("episodes", str(len(trajectories))))
    time_range = _time_range(trajectories)
    if time_range:
        table.append(("played", time_range))
    return table
