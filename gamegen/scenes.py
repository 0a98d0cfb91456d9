"""Rooms (ALFRED floor plans) as the installed ``alfworld`` package describes them.

Each ``alfworld/gen/layouts/FloorPlan<N>-objects.json`` lists the object classes of a room,
``-openable.json`` gives receptacle ids with the pose the agent takes to use them, and ``-layout.npy``
the reachable floor points. Some receptacle classes appear only in the class list (CoffeeMachine,
StoveBurner, Toaster, GarbageCan, some SinkBasins...): they get ids and poses made up here, from the
floor plan alone, so a room looks the same in every game drawn from it.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import alfworld.gen.constants as constants
import numpy as np

from gamegen import tasks

LAYOUTS_DIR: Final[Path] = Path(constants.__file__).resolve().parent / "layouts"
STEP: Final[float] = constants.AGENT_STEP_SIZE  # metres per grid cell, as in ALFRED's loc|x|z|rot|horizon

# How many instances to make up for a class that has no ids in the floor plan. ALFRED kitchens have four
# burners; every other appliance comes once.
_MADE_UP_COUNT: Final[dict[str, int]] = {"StoveBurner": 4}
# Typical heights (metres) for made-up ids, only so that they read like real ALFRED ids.
_MADE_UP_HEIGHT: Final[dict[str, float]] = {
    "CoffeeMachine": 0.90,
    "Toaster": 0.90,
    "StoveBurner": 0.92,
    "GarbageCan": 0.0,
    "HandTowelHolder": 1.60,
    "TowelHolder": 1.10,
    "ToiletPaperHanger": 0.70,
    "Drawer": 0.40,
    "LaundryHamper": 0.0,
    "Toilet": 0.0,
    "Shelf": 0.80,
    "SinkBasin": 0.90,
    "Ottoman": 0.0,
    "Cabinet": 0.40,
    "Safe": 0.0,
}
_ROOM_TYPES: Final[tuple[tuple[str, range], ...]] = tuple(constants.SCENE_TYPE.items())


@dataclass(frozen=True, order=True)
class Pose:
    """A standing pose on ALFRED's grid: cell x, cell z, rotation in quarter turns, camera horizon."""

    x: int
    z: int
    rotation: int
    horizon: int

    def loc_id(self) -> str:
        """The unescaped location id ALFRED uses in its PDDL problems."""
        return f"loc|{self.x}|{self.z}|{self.rotation}|{self.horizon}"


@dataclass(frozen=True)
class Receptacle:
    """A fixed receptacle: ALFRED id (unescaped), class, and the pose to stand at to use it."""

    id: str
    cls: str
    pose: Pose
    made_up: bool = False


@dataclass(frozen=True)
class Scene:
    """One floor plan: its number, room type, receptacles and the classes of the objects in it."""

    number: int
    room_type: str
    receptacles: tuple[Receptacle, ...]
    object_classes: frozenset[str]
    floor_points: tuple[tuple[float, float], ...]

    @property
    def floor_plan(self) -> str:
        return f"FloorPlan{self.number}"

    def receptacle_classes(self) -> frozenset[str]:
        return frozenset(r.cls for r in self.receptacles)

    def receptacles_of(self, cls: str) -> list[Receptacle]:
        return [r for r in self.receptacles if r.cls == cls]

    def receptacles_for(self, obj: str) -> list[Receptacle]:
        """Receptacles that accept this object class (alfworld.gen.constants.VAL_RECEPTACLE_OBJECTS)."""
        return [r for r in self.receptacles if tasks.fits(r.cls, obj)]

    def free_poses(self) -> list[Pose]:
        """Floor poses where no receptacle is used from: the agent starts on one of them.

        A pose with no receptacle gives ALFWorld's opening line "You are in the middle of a room".
        """
        used = {(r.pose.x, r.pose.z) for r in self.receptacles}
        cells = sorted({_cell(x, z) for x, z in self.floor_points} - used)
        return [Pose(cx, cz, 0, 30) for cx, cz in cells]


def _cell(x: float, z: float) -> tuple[int, int]:
    return round(x / STEP), round(z / STEP)


def _pose(raw: list[float]) -> Pose:
    """An openable.json pose [x metres, z metres, rotation degrees, horizon degrees] as a grid Pose."""
    cx, cz = _cell(raw[0], raw[1])
    return Pose(cx, cz, round(raw[2] / 90.0) % 4, round(raw[3]))


def _class_of(receptacle_id: str) -> str:
    """The class of an ALFRED receptacle id; ``Sink|..|SinkBasin`` style ids carry it last."""
    parts = receptacle_id.split("|")
    return parts[-1] if len(parts) == 5 else parts[0]


def _sink_id(receptacle_id: str, cls: str) -> str:
    """Name every sink basin ``Sink|x|y|z|SinkBasin`` (one floor plan calls it a Bathtub|...|SinkBasin).

    ALFWorld's demangler turns the id into the name shown to the player; a sink must read "sinkbasin"
    so that "clean X with sinkbasin 1" looks like every other ALFWorld game.
    """
    if cls == "SinkBasin":
        parts = receptacle_id.split("|")
        return "|".join(["Sink", *parts[1:4], "SinkBasin"])
    return receptacle_id


def _fmt(value: float) -> str:
    """ALFRED's coordinate format in ids: sign, two integer digits, two decimals (``+01.29``)."""
    return f"{value:+06.2f}"


def _made_up(
    number: int, cls: str, taken: set[tuple[int, int]], points: list[tuple[float, float]]
) -> list[Receptacle]:
    """Ids and poses for a receptacle class the floor plan names but does not place.

    Seeded by floor plan and class only, so the same room always gets the same made-up appliances.
    Instances two by two share a pose (stove burners sit side by side); each pose is a reachable floor
    point not used by another receptacle, facing the appliance. Ids are unique (PDDL rejects duplicates):
    an id that would repeat another is moved 5 cm along z.
    """
    rng = random.Random(f"FloorPlan{number}|{cls}")
    count = _MADE_UP_COUNT.get(cls, 1)
    free = [p for p in points if _cell(*p) not in taken] or list(points)
    out: list[Receptacle] = []
    height = _MADE_UP_HEIGHT.get(cls, 0.5)
    pose: Pose | None = None
    ids: set[str] = set()
    for index in range(count):
        if pose is None or index % 2 == 0:
            x, z = rng.choice(free)
            rotation = rng.randrange(4)
            pose = Pose(*_cell(x, z), rotation, 30)
            taken.add((pose.x, pose.z))
            free = [p for p in free if _cell(*p) not in taken] or free
        # The object sits half a metre in front of the pose, a little apart per instance.
        dx, dz = ((0.0, 0.5), (0.5, 0.0), (0.0, -0.5), (-0.5, 0.0))[pose.rotation]
        side = 0.25 * (index % 2)
        ox = pose.x * STEP + dx + (side if dz else 0.0)
        oz = pose.z * STEP + dz + (side if dx else 0.0)
        prefix = "Sink" if cls == "SinkBasin" else cls
        while (rid := f"{prefix}|{_fmt(ox)}|{_fmt(height)}|{_fmt(oz)}") in ids:
            oz += 0.05
        ids.add(rid)
        if cls == "SinkBasin":
            rid += "|SinkBasin"
        out.append(Receptacle(rid, cls, pose, made_up=True))
    return out


def room_type(number: int) -> str:
    for name, numbers in _ROOM_TYPES:
        if number in numbers:
            return name
    raise ValueError(f"FloorPlan{number} is not in any ALFRED room type")


def floor_plan_numbers() -> list[int]:
    """Every floor plan shipped with alfworld, in numeric order."""
    names = LAYOUTS_DIR.glob("FloorPlan*-objects.json")
    return sorted(int(p.name[len("FloorPlan") : -len("-objects.json")]) for p in names)


@functools.cache
def load_scene(number: int) -> Scene:
    """Read one floor plan and complete its receptacles (cached: scenes never change)."""
    prefix = LAYOUTS_DIR / f"FloorPlan{number}"
    classes: list[str] = json.loads(Path(f"{prefix}-objects.json").read_text())
    openable: dict[str, list[float]] = json.loads(Path(f"{prefix}-openable.json").read_text())
    points_arr = np.load(f"{prefix}-layout.npy")
    points = [(float(x), float(z)) for x, z in points_arr.tolist()]

    receptacles: list[Receptacle] = []
    for rid in sorted(openable):
        cls = _class_of(rid)
        if cls not in tasks.STATIC_RECEPTACLES:
            continue
        receptacles.append(Receptacle(_sink_id(rid, cls), cls, _pose(openable[rid])))
    placed = {r.cls for r in receptacles}
    taken = {(r.pose.x, r.pose.z) for r in receptacles}
    for cls in sorted(set(classes) & tasks.STATIC_RECEPTACLES - placed):
        receptacles.extend(_made_up(number, cls, taken, points))

    return Scene(
        number=number,
        room_type=room_type(number),
        receptacles=tuple(sorted(receptacles, key=lambda r: r.id)),
        object_classes=frozenset(c for c in classes if c in constants.OBJECTS),
        floor_points=tuple(points),
    )


def lamp_surfaces(scene: Scene) -> list[Receptacle]:
    """Tables and desks a DeskLamp can stand on in this room (empty if the room has no DeskLamp)."""
    if "DeskLamp" not in scene.object_classes:
        return []
    return [r for r in scene.receptacles if r.cls in tasks.LAMP_SURFACES]


def floor_plan_split(number: int) -> str:
    """ "train" or "eval": ALFRED's own split of rooms (alfworld.gen.constants TRAIN/TEST_SCENE_NUMBERS).

    Eval rooms are the ones ALFRED held out for its unseen tests, so generated eval games are played in
    rooms no generated training game uses.
    """
    return "eval" if number in constants.TEST_SCENE_NUMBERS else "train"
