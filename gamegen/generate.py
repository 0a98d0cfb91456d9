"""The generator: draw, build, verify and write ALFWorld games, deterministically from a seed.

Draw ``d`` of task type ``t`` uses its own ``random.Random`` seeded from (generator version, seed, t, d)
and the floor plan at position ``d`` of a seeded shuffle of the eligible floor plans (cycled), so every
eligible room gets drawn and a failed draw never shifts the ones after it. A draw is skipped when it
repeats an earlier (room, task) pair or when verification fails or exceeds its time limit; only
verified games are written, with the planner's walkthrough.
"""

from __future__ import annotations

import importlib.metadata
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import alfworld

from env_service.games.names import DATA_DIR_NAME, TASK_TYPES
from gamegen import layout, problem, scenes, tasks, verify
from gamegen.sampling import candidate_tasks, draw_game

GENERATOR_VERSION: Final[str] = "1"
FLOOR_PLAN_SETS: Final[tuple[str, ...]] = ("train", "eval", "all")
_DATA: Final[Path] = Path(alfworld.__file__).resolve().parent / "data"


@dataclass(frozen=True)
class GenerateConfig:
    split: str
    per_type: int
    seed: int
    out: Path
    floor_plans: str = "all"
    task_types: tuple[str, ...] = TASK_TYPES
    timeout: float = 120.0  # seconds per game check; typical checks take 2-6 s
    clean: bool = False


@dataclass
class Report:
    written: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def eligible_floor_plans(task_type: str, which: str = "all") -> list[int]:
    """Floor plans that can host this task type, restricted to ALFRED's train or eval rooms."""
    if which not in FLOOR_PLAN_SETS:
        raise ValueError(f"floor plan set {which!r} is not one of {', '.join(FLOOR_PLAN_SETS)}")
    numbers = scenes.floor_plan_numbers()
    if which != "all":
        numbers = [n for n in numbers if scenes.floor_plan_split(n) == which]
    return [n for n in numbers if candidate_tasks(task_type, scenes.load_scene(n))]


def _versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in ("alfworld", "textworld")}


def generate(config: GenerateConfig, log: Callable[[str], None] | None = None) -> Report:
    """Generate ``per_type`` verified games for each task type into ``<out>/json_2.1.1/<split>``."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    for task_type in config.task_types:
        if task_type not in TASK_TYPES:
            raise ValueError(f"unknown task type {task_type!r}; valid: {', '.join(TASK_TYPES)}")
    if config.seed < 0:
        raise ValueError("the seed must be >= 0")
    split_dir = config.out / DATA_DIR_NAME / config.split
    if config.clean and split_dir.exists():
        shutil.rmtree(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)

    domain = (_DATA / "alfred.pddl").read_text()
    grammar = (_DATA / "alfred.twl2").read_text()
    versions = _versions()
    report = Report()
    started = time.monotonic()
    for task_type in config.task_types:
        report.written[task_type] = _generate_type(
            config, task_type, split_dir, domain, grammar, versions, say, report
        )
    report.seconds = time.monotonic() - started
    return report


def _generate_type(
    config: GenerateConfig,
    task_type: str,
    split_dir: Path,
    domain: str,
    grammar: str,
    versions: dict[str, str],
    say: Callable[[str], None],
    report: Report,
) -> list[Path]:
    plans = eligible_floor_plans(task_type, config.floor_plans)
    if not plans:
        raise ValueError(f"no {config.floor_plans} floor plan can host {task_type}")
    order = list(plans)
    random.Random(f"{GENERATOR_VERSION}|{config.seed}|{task_type}|order").shuffle(order)
    max_draws = 10 * config.per_type + 2 * len(order)
    seen: set[tuple[int, tasks.TaskParams]] = set()
    written: list[Path] = []
    draw = -1
    while len(written) < config.per_type:
        draw += 1
        if draw >= max_draws:
            raise RuntimeError(
                f"{task_type}: only {len(written)} of {config.per_type} games after {draw} draws"
            )
        number = order[draw % len(order)]
        rng = random.Random(f"{GENERATOR_VERSION}|{config.seed}|{task_type}|{draw}")
        spec = draw_game(task_type, scenes.load_scene(number), rng)
        if spec is None:
            continue
        key = (number, spec.params)
        # Prefer new (room, task) pairs; allow repeats (other placements) once rooms run out of them.
        if key in seen and draw < 4 * config.per_type:
            continue
        seen.add(key)
        trial = layout.trial_dir_name(config.seed, draw)
        name = f"plan_{trial}"
        game = layout.game_json(
            domain, tasks.add_task_to_grammar(grammar, spec.sentence), problem.build_problem(spec, name), []
        )
        checked = time.monotonic()
        verdict = verify.verify_in_subprocess(
            game, problem.build_planning_problem(spec, name), config.timeout
        )
        label = f"{task_type}-{spec.scene.floor_plan} draw {draw}"
        if not verdict.ok:
            report.skipped.append(f"{label}: {verdict.reason}")
            say(f"skip {label}: {verdict.reason}")
            continue
        game["walkthrough"] = list(verdict.walkthrough)
        generator = {
            "version": GENERATOR_VERSION,
            "seed": config.seed,
            "draw": draw,
            "floor_plans": config.floor_plans,
            "versions": versions,
        }
        files = layout.GameFiles(
            task_dir=layout.task_dir_name(spec),
            trial_dir=trial,
            game=game,
            traj_data=layout.traj_data_json(spec, trial, generator, rng.randrange(2**31)),
        )
        path = layout.write_game(split_dir, files)
        written.append(path)
        say(
            f"wrote {path.relative_to(split_dir)} ({len(verdict.walkthrough)} steps, "
            f"checked in {time.monotonic() - checked:.1f} s)"
        )
    return written
