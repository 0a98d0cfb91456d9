"""ALFWorld games: a generator that makes them from the installed ``alfworld`` package, and a catalog
that serves any data root (official ALFWorld data or ours) the way ALFWorld does.

Modules, one job each:

- ``names``: task types and file names shared by everything (no heavy imports).
- ``catalog``: lists and selects the games of data roots (``Catalog``, ``GameInfo``, errors).
- ``scenes``: floor plans from alfworld's layout files, with made-up ids for appliances they only name.
- ``tasks``: per task type rules, goals and sentences from alfworld's goal library and constants.
- ``sampling``: draws one game (task, object placement, start pose) from a seeded generator.
- ``problem``: writes the PDDL problem text.
- ``verify``: plans and replays a game through textworld + alfworld's wrappers.
- ``layout``: ALFWorld's directory layout and the game.tw-pddl / traj_data.json contents.
- ``generate``: the deterministic generation loop; ``__main__`` is its CLI.

Importing this package (or ``catalog``) does not import alfworld or textworld.
"""

from env_service.games.names import DEFAULT_SPLIT, TASK_TYPES

__all__ = ["DEFAULT_SPLIT", "TASK_TYPES"]
