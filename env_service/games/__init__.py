"""ALFWorld games as the env service serves them: a catalog that finds the games of any data root
(official ALFWorld data or ours) the way ALFWorld does.

Modules, one job each:

- ``names``: task types and file names shared by everything (no heavy imports).
- ``catalog``: lists and selects the games of data roots (``Catalog``, ``GameInfo``, errors).
- ``scan_cache``: what start-up read from each game file, kept for the next start-up.

The games shipped in ``env_service/data`` were made by the offline generator, the top-level
``gamegen`` package (``python -m gamegen``), which this package never imports.
Importing this package (or ``catalog``) does not import alfworld or textworld.
"""

from env_service.games.names import DEFAULT_SPLIT, TASK_TYPES

__all__ = ["DEFAULT_SPLIT", "TASK_TYPES"]
