"""Where and how a game is written: ALFWorld's directory layout and file formats.

``<out>/json_2.1.1/<split>/<task_type>-<Object>-<MrecepOrNone>-<Receptacle>-<scene>/trial_T<id>/``
holds ``game.tw-pddl`` (JSON: pddl_domain, grammar, pddl_problem, solvable, walkthrough) and
``traj_data.json`` (the fields alfworld's loaders and handcoded expert read, plus our marker). Output
is byte-stable: fixed key order, no timestamps, no machine-dependent values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from env_service.games.names import GAME_FILE, GENERATED_MARKER, TRAJ_FILE
from gamegen.sampling import GameSpec


@dataclass(frozen=True)
class GameFiles:
    """The content of one game directory, ready to be written."""

    task_dir: str
    trial_dir: str
    game: dict[str, Any]
    traj_data: dict[str, Any]


def task_dir_name(spec: GameSpec) -> str:
    obj, mrecep, last = spec.params.dir_name_parts
    return f"{spec.params.task_type}-{obj}-{mrecep}-{last}-{spec.scene.number}"


def trial_dir_name(seed: int, draw: int) -> str:
    """``trial_T<seed>_<draw>``: stable for a seed, unique within a task directory."""
    return f"trial_T{seed:08d}_{draw:06d}"


def game_json(
    domain: str, grammar: str, problem: str, walkthrough: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    return {
        "pddl_domain": domain,
        "grammar": grammar,
        "pddl_problem": problem,
        "solvable": True,
        "walkthrough": list(walkthrough),
    }


def traj_data_json(spec: GameSpec, trial: str, generator: dict[str, Any], scene_seed: int) -> dict[str, Any]:
    """traj_data.json: what AlfredTWEnv (task_type), add_task_to_grammar (pddl_params, turk_annotations)
    and the handcoded expert (task_type, pddl_params) read, plus scene info and our provenance marker."""
    sentence = spec.sentence
    return {
        GENERATED_MARKER: True,
        "alfagent_generator": generator,
        "pddl_params": spec.params.pddl_params(),
        "scene": {
            "floor_plan": spec.scene.floor_plan,
            "scene_num": spec.scene.number,
            "room_type": spec.scene.room_type,
            "random_seed": scene_seed,
        },
        "task_id": trial,
        "task_type": spec.params.task_type,
        "template": {"task_desc": sentence, "high_descs": []},
        # No people described these games: the one annotation is the templated sentence, so that
        # alfworld's goal_desc_human_anns_prob option still finds a task_desc here.
        "turk_annotations": {
            "anns": [
                {"assignment_id": "alfagent-template", "task_desc": sentence, "high_descs": [], "votes": []}
            ]
        },
    }


def write_game(split_dir: Path, files: GameFiles) -> Path:
    """Write one game; returns its trial directory. Files are written whole, then renamed into place."""
    trial_dir = split_dir / files.task_dir / files.trial_dir
    trial_dir.mkdir(parents=True, exist_ok=True)
    _write(trial_dir / TRAJ_FILE, json.dumps(files.traj_data, indent=2, sort_keys=True) + "\n")
    # game.tw-pddl last: a directory with it is complete (and the loader needs both files anyway).
    _write(trial_dir / GAME_FILE, json.dumps(files.game))
    return trial_dir


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
