"""PDDL→SAS translations kept on disk, shared by every worker and every env process, across restarts.

A reset translates the game's PDDL to SAS twice (plain, and optimised for replanning): about a
second for a game never met. The translation is a pure function of the domain and problem texts,
the flag and the translator's version, so it is kept in a file named by a hash of those, and any
worker that meets the game again, in this process, after a restart or in another replica sharing
the directory, reads the text instead of translating.

Files are written under a temporary name and renamed into place, so a reader sees a whole file
or none, and writers racing on one game leave one of their identical texts. Each file starts with
the SHA-256 of the text it holds: a file damaged some other way (a crash between the rename and
the data reaching the disk) is noticed, translated again and replaced, never handed to the planner.
The directory holds two files per game ever played, so it is bounded by the games installed.

Each read is counted, a hit or a miss (`TranslationCounts`), in memory the worker shares with the
service's process, where the metrics read the counts at a scrape without asking the worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SUFFIX = ".sas"


class TranslationCounts:
    """Hits and misses of a worker's `TranslationCache`: two integers in shared memory, written
    by the worker, read by the service (a torn read is impossible for an aligned 64-bit integer,
    and a count read a moment late is only a moment late). Handed to a worker process when it is
    started; built from `context`, the multiprocessing context that starts it."""

    def __init__(self, context: Any = multiprocessing) -> None:
        self._values = context.RawArray("q", 2)

    @property
    def hits(self) -> int:
        return int(self._values[0])

    @property
    def misses(self) -> int:
        return int(self._values[1])

    def count(self, hit: bool) -> None:
        self._values[0 if hit else 1] += 1


class TranslationCache:
    def __init__(
        self, directory: Path, translator_version: str, counts: TranslationCounts | None = None
    ) -> None:
        self.directory = directory
        self._version = translator_version
        self._write_failed = False
        self.counts = counts or TranslationCounts()

    def key(self, domain: str, problem: str, optimize: bool) -> str:
        digest = hashlib.sha256()
        for part in (self._version, "optimize" if optimize else "plain", domain, problem):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def get(self, key: str) -> str | None:
        """The stored translation, or None when there is none or it does not match its hash."""
        text = self._read(key)
        self.counts.count(hit=text is not None)
        return text

    def _read(self, key: str) -> str | None:
        path = self.directory / (key + _SUFFIX)
        try:
            stored = path.read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError) as error:
            log.warning(
                "unreadable translation; translating again", extra={"path": str(path), "error": str(error)}
            )
            return None
        checksum, _, text = stored.partition("\n")
        if hashlib.sha256(text.encode()).hexdigest() != checksum:
            log.warning("damaged translation; translating again", extra={"path": str(path)})
            return None
        return text

    def put(self, key: str, text: str) -> None:
        """Stores `text`; a directory that cannot be written is reported once and then only costs
        the translation each time, as without a cache."""
        written: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, written = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}.", suffix=".tmp")
            with os.fdopen(handle, "w") as temporary:
                temporary.write(hashlib.sha256(text.encode()).hexdigest() + "\n" + text)
            os.replace(written, self.directory / (key + _SUFFIX))
        except OSError as error:
            if written is not None:
                with contextlib.suppress(OSError):
                    os.unlink(written)
            if not self._write_failed:
                self._write_failed = True
                log.warning(
                    "cannot keep translations; each worker translates every game it meets",
                    extra={"directory": str(self.directory), "error": str(error)},
                )
