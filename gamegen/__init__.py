"""The offline ALFWorld game generator: makes games from the installed ``alfworld`` package, in
ALFWorld's own data layout, verified winnable by the planner (``python -m gamegen``).

It is run by hand to make the games env_service ships (env_service/data/README.md says how); the
running env service never imports it, and the env image does not carry it. It reads the names of
the data layout from ``env_service.games.names``, so what it writes is what the catalog serves.

Modules, one job each:

- ``scenes``: floor plans from alfworld's layout files, with made-up ids for appliances they only name.
- ``tasks``: per task type rules, goals and sentences from alfworld's goal library and constants.
- ``sampling``: draws one game (task, object placement, start pose) from a seeded generator.
- ``problem``: writes the PDDL problem text.
- ``verify``: plans and replays a game through textworld + alfworld's wrappers.
- ``layout``: ALFWorld's directory layout and the game.tw-pddl / traj_data.json contents.
- ``generate``: the deterministic generation loop; ``__main__`` is its CLI.
"""
