"""Drawing one game: which task, in which room, with which objects where.

All randomness comes from the ``random.Random`` passed in, so a seed fixes the whole game. The rules
follow ALFRED's generator: objects only go where ``alfworld.gen.constants`` lets them, the target never
starts where the goal wants it (nor in the appliance that changes its state), a room only hosts a task
whose appliance it has, and the agent starts away from every receptacle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import alfworld.gen.constants as constants

from gamegen import tasks
from gamegen.scenes import Pose, Receptacle, Scene, lamp_surfaces
from gamegen.tasks import TaskParams


@dataclass(frozen=True)
class PlacedObject:
    """An object instance (unescaped ALFRED-style id) inside a receptacle."""

    id: str
    cls: str
    receptacle: Receptacle


@dataclass(frozen=True)
class GameSpec:
    """Everything needed to write one game's PDDL problem and traj_data.json."""

    scene: Scene
    params: TaskParams
    sentence: str
    objects: tuple[PlacedObject, ...]
    agent_pose: Pose


def candidate_tasks(task_type: str, scene: Scene) -> list[TaskParams]:
    """Every task of this type the room can host, in a fixed order (empty: the room is not eligible)."""
    if not tasks.room_allowed(task_type, scene.room_type):
        return []
    objects = sorted(c for c in scene.object_classes if tasks.object_fits_task(task_type, c))
    if task_type == "look_at_obj_in_light":
        if not lamp_surfaces(scene):
            return []
        return [
            TaskParams(task_type, obj, toggle_target="DeskLamp")
            for obj in objects
            if scene.receptacles_for(obj)
        ]
    appliance = tasks.appliance_for(task_type)
    if appliance is not None and not scene.receptacles_of(appliance):
        return []
    out: list[TaskParams] = []
    for obj in objects:
        for parent in sorted(scene.receptacle_classes()):
            if not tasks.parent_allowed(task_type, parent) or not tasks.fits(parent, obj):
                continue
            if start_receptacles(task_type, scene, obj, parent):
                out.append(TaskParams(task_type, obj, parent_target=parent))
    return out


def start_receptacles(task_type: str, scene: Scene, obj: str, parent: str) -> list[Receptacle]:
    """Where a target object may start: it fits, it is not already in the goal's receptacle class,
    and it is not already inside the appliance the task needs (a fridge would make it cool)."""
    excluded = {parent, tasks.appliance_for(task_type) or ""}
    return [r for r in scene.receptacles_for(obj) if r.cls not in excluded]


def _coords(receptacle_id: str) -> tuple[float, float, float]:
    parts = receptacle_id.split("|")
    return float(parts[1]), float(parts[2]), float(parts[3])


def _object_id(cls: str, receptacle: Receptacle, rng: random.Random, used: set[str]) -> str:
    """An ALFRED-looking id for an object lying in/on a receptacle (unique within the game)."""
    rx, ry, rz = _coords(receptacle.id)
    while True:
        x = rx + rng.uniform(-0.4, 0.4)
        y = ry + rng.uniform(0.02, 0.3)
        z = rz + rng.uniform(-0.4, 0.4)
        oid = f"{cls}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"
        if oid not in used:
            used.add(oid)
            return oid


def draw_game(task_type: str, scene: Scene, rng: random.Random) -> GameSpec | None:
    """Draw one game of this type in this room, or None if the room cannot host the task type."""
    candidates = candidate_tasks(task_type, scene)
    if not candidates:
        return None
    # Pick the object class first, then a destination, so rooms with many receptacle classes do not
    # make every game about the same object.
    objects = sorted({c.object_target for c in candidates})
    target = rng.choice(objects)
    params = rng.choice([c for c in candidates if c.object_target == target])
    sentence = tasks.task_sentence(params, rng)

    used: set[str] = set()
    placed: list[PlacedObject] = []

    if task_type == "look_at_obj_in_light":
        starts = scene.receptacles_for(target)
    else:
        starts = start_receptacles(task_type, scene, target, params.parent_target)
    # ALFRED's counts: 1-4 instances of the target (2-4 for pick_two), 1-3 of every other class.
    low = 2 if task_type == "pick_two_obj_and_place" else 1
    for _ in range(rng.randint(low, constants.PICKUP_REPEAT_MAX)):
        receptacle = rng.choice(starts)
        placed.append(PlacedObject(_object_id(target, receptacle, rng, used), target, receptacle))

    surfaces = lamp_surfaces(scene)
    if surfaces:
        # The room's DeskLamp stands on a table or desk in every game (it is switchable only in
        # look_at_obj_in_light games, as in ALFWorld's own problems).
        surface = rng.choice(surfaces)
        placed.append(PlacedObject(_object_id("DeskLamp", surface, rng, used), "DeskLamp", surface))

    # Distractors: the room's other pickable classes, wherever they fit.
    for cls in sorted(scene.object_classes & tasks.PICKUPABLE - {target}):
        homes = scene.receptacles_for(cls)
        if not homes:
            continue
        for _ in range(rng.randint(1, constants.MAX_NUM_OF_OBJ_INSTANCES)):
            receptacle = rng.choice(homes)
            placed.append(PlacedObject(_object_id(cls, receptacle, rng, used), cls, receptacle))

    free = scene.free_poses()
    start = rng.choice(free)
    agent_pose = Pose(start.x, start.z, rng.randrange(4), 30)
    return GameSpec(scene, params, sentence, tuple(sorted(placed, key=lambda p: p.id)), agent_pose)
