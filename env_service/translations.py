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
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_SUFFIX = ".sas"


class TranslationCache:
    def __init__(self, directory: Path, translator_version: str) -> None:
        self.directory = directory
        self._version = translator_version
        self._write_failed = False

    def key(self, domain: str, problem: str, optimize: bool) -> str:
        digest = hashlib.sha256()
        for part in (self._version, "optimize" if optimize else "plain", domain, problem):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def get(self, key: str) -> str | None:
        """The stored translation, or None when there is none or it does not match its hash."""
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
