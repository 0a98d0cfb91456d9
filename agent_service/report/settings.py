"""What a run ran with, read from its trajectories, so that a report describes itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from agent_service.settings import EpisodeSettings
from agent_service.settings_proto import recorded_settings
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


Read = Callable[[Trajectory, EpisodeSettings], object]


def _values(trajectories: Sequence[Trajectory], settings: Sequence[EpisodeSettings], read: Read) -> str:
    """One value, or every distinct value with its count when the run's episodes differ."""
    counts = Counter(str(read(t, s)) or "(not recorded)" for t, s in zip(trajectories, settings, strict=True))
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{value} ({count} episodes)" for value, count in counts.most_common())


def _time_range(trajectories: Sequence[Trajectory]) -> str:
    started = [t.started_at.ToDatetime() for t in trajectories if t.HasField("started_at")]
    finished = [t.finished_at.ToDatetime() for t in trajectories if t.HasField("finished_at")]
    if not started or not finished:
        return ""
    return f"{min(started):%Y-%m-%d %H:%M:%S} to {max(finished):%Y-%m-%d %H:%M:%S} UTC"


def run_settings(trajectories: Sequence[Trajectory]) -> list[tuple[str, str]]:
    """(label, value) rows; a setting whose value varies inside the run lists each value."""
    llm = any(t.policy == trajectory_pb2.LLM for t in trajectories)
    settings = [recorded_settings(t) for t in trajectories]
    rows: list[tuple[str, Read]] = [
        ("policy", lambda t, s: trajectory_pb2.Policy.Name(t.policy)),
        ("split", lambda t, s: t.game.split),
        ("games from", lambda t, s: trajectory_pb2.GameSource.Name(t.game.source)),
        ("step cap", lambda t, s: s.max_steps),
    ]
    if llm:
        rows += [
            ("model", lambda t, s: s.model),
            ("model SHA-256", lambda t, s: t.model_sha256 or "(not reported by the endpoint)"),
            ("endpoint", lambda t, s: endpoint_host(s.base_url)),
            ("prompt mode", lambda t, s: s.prompt_mode),
            ("grounding", lambda t, s: s.grounding),
            ("temperature", lambda t, s: round(s.temperature, 3)),
            ("max tokens per completion", lambda t, s: s.max_tokens or "the server's own limit"),
            ("token budget", lambda t, s: s.token_budget or "none"),
            ("max repeated actions", lambda t, s: s.max_repeated_actions or "no limit"),
            ("repeat note after", lambda t, s: s.repeat_note_after or "off"),
            ("decoding", lambda t, s: s.decoding),
            ("skill library", lambda t, s: s.skill_library or "none"),
            ("played on a game the library was made from", lambda t, s: "yes" if t.seen_game else "no"),
        ]
    rows += [
        ("seed", lambda t, s: s.seed),
        ("alfagent", lambda t, s: t.versions.alfagent),
        ("alfworld", lambda t, s: t.versions.alfworld),
        ("textworld", lambda t, s: t.versions.textworld),
    ]
    table = [(label, _values(trajectories, settings, read)) for label, read in rows]
    table.append(("episodes", str(len(trajectories))))
    time_range = _time_range(trajectories)
    if time_range:
        table.append(("played", time_range))
    return table
