"""The game's fixed sentence shapes, read: what an observation says happened and what it shows.

ALFWorld (TextWorld's alfred grammar) answers every command with sentences of a few shapes:
"You arrive at R.", "On the R, you see a T, and a U.", "The R is closed.", "You open the R. The R is
open. In it, you see nothing.", "You pick up the T from the R.", "You move the T to the R.", "You
<verb> the T using the R.", "You turn on the R.", "Nothing happens." (R, T, U: things the game
names). Things are named "<kind> <number>"; a kind is one lower-case word. Nothing here knows
which kinds exist: they are whatever the sentences name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"[a-z]+ \d+"
INSTANCE = re.compile(r"\b([a-z]+) (\d+)\b")
_ON = re.compile(rf"On the ({_NAME}), you see ([^.]*)\.")
_IN = re.compile(rf"The ({_NAME}) is open\. In it, you see ([^.]*)\.")
_CLOSED = re.compile(rf"The ({_NAME}) is closed\.")
_ARRIVE = re.compile(rf"You arrive at ({_NAME})\.")
_OPEN = re.compile(rf"You open the ({_NAME})\.")
_CLOSE = re.compile(rf"You close the ({_NAME})\.")
_PICK = re.compile(rf"You pick up the ({_NAME}) from the ({_NAME})\.")
_PLACE = re.compile(rf"You (?:move|put) the ({_NAME}) (?:to|in|on|in/on) the ({_NAME})\.")
_TREAT = re.compile(rf"You ([a-z]+) the ({_NAME}) using the ({_NAME})\.")
_USE = re.compile(rf"You turn on the ({_NAME})\.")
_SENTENCE = re.compile(r"^\s*(.*?[.!?])(?=\s|$)", re.S)
_WORD = re.compile(r"[a-z]+")


def kind_of(name: str) -> str:
    """ "<kind> 1" -> "<kind>"."""
    return name.rsplit(" ", 1)[0]


def instances(text: str) -> list[str]:
    """The things a text names, in order, each once."""
    return list(dict.fromkeys(match.group(0) for match in INSTANCE.finditer(text)))


def first_sentence(text: str) -> str:
    match = _SENTENCE.match(text)
    return match.group(1) if match else text.strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass
class Observation:
    """What one answer of the game says."""

    # The receptacle the answer is about (arrived at, opened), if any.
    at: str = ""
    # (receptacle, things seen in or on it): a receptacle whose contents were shown.
    contents: list[tuple[str, list[str]]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    opened: str = ""
    picked: tuple[str, str] | None = None
    placed: tuple[str, str] | None = None
    # (verb, object, tool): "You <verb> the T using the R."
    treated: tuple[str, str, str] | None = None
    turned_on: str = ""
    closed_by_command: str = ""

    @property
    def changed_something(self) -> bool:
        """Whether the command did something (moved, opened, took, placed, treated, turned on)."""
        return bool(
            self.at
            or self.opened
            or self.closed_by_command
            or self.picked
            or self.placed
            or self.treated
            or self.turned_on
        )


def read(text: str) -> Observation:
    seen = Observation()
    if match := _ARRIVE.search(text):
        seen.at = match.group(1)
    if match := _OPEN.search(text):
        seen.opened = seen.at = match.group(1)
    if match := _CLOSE.search(text):
        seen.closed_by_command = match.group(1)
    for pattern in (_ON, _IN):
        for match in pattern.finditer(text):
            listed = match.group(2)
            seen.contents.append((match.group(1), [] if listed == "nothing" else instances(listed)))
    seen.closed = [match.group(1) for match in _CLOSED.finditer(text)]
    if match := _PICK.search(text):
        seen.picked = (match.group(1), match.group(2))
    if match := _PLACE.search(text):
        seen.placed = (match.group(1), match.group(2))
    if match := _TREAT.search(text):
        seen.treated = (match.group(1), match.group(2), match.group(3))
    if match := _USE.search(text):
        seen.turned_on = match.group(1)
    return seen
