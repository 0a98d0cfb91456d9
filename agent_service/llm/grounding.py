"""From the model's text to the command sent to the environment.

`parse_reply` reads a reply the way a person would: thoughts ("think: ...", "Thought: ...") are
thoughts; the first other line that says something is the command the model chose, and anything
after it (an imagined observation, further commands) is ignored. Formatting around the command
is not part of it: a leading ">", "Action:" or "Command:" label, list markers, markdown emphasis,
quotes, backticks and code fences, a final full stop, letter case and repeated spaces. A label
line ("Action:", "Here is my next command:") is skipped, and so is a line that only repeats what
the simulator says ("OK.", "Nothing happens."): a model that answers as the simulator would has
not chosen a command (Qwen2.5-Coder-0.5B opened every react episode with "OK.", which was sent as
the command "ok" until the game ended the episode for repeating it).

Placing an object has two dialects: ALFWorld 0.4 (and our generated games) say "move X to Y",
the official data's older grammar "put X in/on Y". A placing command the model writes in either
("put apple 1 in fridge 1", "move apple 1 to fridge 1") is written in the dialect of the game's
own admissible commands: the same choice in the game's words, under every grounding.

`ground` maps that command to the command actually sent, by the episode's declared setting:

- exact      — the command as the model wrote it (read as above, in the game's dialect); one the
  game does not accept is sent anyway and answered "Nothing happens.", as published ALFWorld
  baselines do;
- normalised — as exact, but a command that names an admissible one without its articles ("the
  desk 1") or without instance numbers that only one admissible command fits ("move apple to
  fridge") sends that admissible command;
- nearest    — as normalised, and otherwise the most similar admissible command (difflib ratio):
  this substitutes commands the model did not choose, so it is an option, never the default.

The label recorded with each step says what happened: "exact" (the command was admissible as the
model wrote it, dialect aside), "normalised", "nearest", or "none" (sent without a match). An
empty reply sends "look", which changes nothing, labelled "none": the environment refuses empty
commands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from agent_service.vocabulary import Grounding

EMPTY_REPLY_ACTION = "look"
# Longer than any ALFWorld command by far, well inside the env's limit.
MAX_ACTION_CHARS = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Markdown and quoting that may surround a line or a label: **bold**, _it_, `code`, "quotes".
# (Typographic quotes written as escapes so that they cannot be mistaken for ASCII ones.)
_DECORATION = "*_`\"' \t\u201c\u201d\u2018\u2019"
_LIST_MARKER = re.compile(r"^(?:[-*•]\s+|\d+[.)]\s+)")
_FENCE = re.compile(r"^(?:```|~~~)[\w+-]*$")
_THINK_LABEL = re.compile(r"^(?:think(?:ing)?|thoughts?|reasoning|plan)\s*:\s*", re.IGNORECASE)
_ACTION_LABEL = re.compile(
    r"^(?:(?:next\s+|my\s+)?(?:action|command|act|answer|response|output))\s*(?:\d+\s*)?:\s*",
    re.IGNORECASE,
)
# "Thought: ... Action: go to desk 1" on one line.
_INLINE_ACTION = re.compile(r"\s(?:action|command)\s*:\s*", re.IGNORECASE)
# What the simulator answers, never a command: a thought's "OK." and a failed command's answer.
_SIMULATOR_ECHO = re.compile(r"^(?:ok|nothing happens)\s*[.!]?$", re.IGNORECASE)
_PLACE = re.compile(r"^(?:put|place|move)\s+(?P<obj>.+?)\s+(?:in/on|into|onto|in|on|to)\s+(?P<recep>.+)$")
_ARTICLE = re.compile(r"\b(?:the|a|an)\s+")
_NUMBER = re.compile(r"\s+\d+\b")


@dataclass(frozen=True)
class Reply:
    # The text of the thought lines, joined by spaces ("" when there were none).
    thought: str
    # The command the model chose, read as a person would ("" when the reply was only thinking).
    action: str

    @property
    def thinks_only(self) -> bool:
        return bool(self.thought) and not self.action

    @property
    def empty(self) -> bool:
        return not self.thought and not self.action


@dataclass(frozen=True)
class Grounded:
    action: str
    grounding: str  # "exact" | "normalised" | "nearest" | "none"


def _undecorate(line: str) -> str:
    """Strips list markers, prompt markers and markdown around a line, repeatedly."""
    previous = None
    while previous != line:
        previous = line
        line = line.strip(_DECORATION)
        line = _LIST_MARKER.sub("", line)
        line = line.lstrip(">").strip()
    return line


def parse_reply(text: str) -> Reply:
    thoughts: list[str] = []
    for raw in _CONTROL.sub("\n", text.replace("\t", " ")).split("\n"):
        line = _undecorate(raw)
        if not line or _FENCE.match(raw.strip()):
            continue
        think = _THINK_LABEL.match(line)
        if think is not None:
            thought = _undecorate(line[think.end() :])
            inline = _INLINE_ACTION.search(thought)
            if inline is not None:
                thoughts.append(thought[: inline.start()].strip())
                if command := clean_command(thought[inline.end() :]):
                    return Reply(" ".join(t for t in thoughts if t), command)
            elif thought:
                thoughts.append(thought)
            continue
        if _SIMULATOR_ECHO.match(line):
            continue  # the model answering as the simulator does in the examples
        command = clean_command(line)
        if not command or line.rstrip("*_` ").endswith(":"):
            continue  # a label or a preamble ("Action:", "Here is my next command:")
        return Reply(" ".join(thoughts), command)
    return Reply(" ".join(thoughts), "")


def clean_command(line: str) -> str:
    """One line as the command it states: labels, markdown, quotes, case, spaces and a final
    full stop removed."""
    line = _undecorate(line)
    label = _ACTION_LABEL.match(line)
    if label is not None:
        line = _undecorate(line[label.end() :])
    line = line.rstrip(".!;,").strip(_DECORATION).lower()
    return " ".join(line.split())[:MAX_ACTION_CHARS]


def dialect_of(admissible: Sequence[str]) -> str:
    """ "move" or "put": how the game's admissible commands place objects ("" when none do)."""
    for command in admissible:
        if command.startswith("move ") and " to " in command:
            return "move"
        if command.startswith("put ") and " in/on " in command:
            return "put"
    return ""


def in_dialect(command: str, dialect: str) -> str:
    """A placing command in the game's dialect; anything else unchanged."""
    place = _PLACE.match(command) if dialect else None
    if place is None:
        return command
    if dialect == "put":
        return f"put {place['obj']} in/on {place['recep']}"
    return f"move {place['obj']} to {place['recep']}"


def normalise(text: str) -> str:
    """The form commands are compared in under `normalised`: as read, in one dialect, without
    articles."""
    return " ".join(_ARTICLE.sub("", in_dialect(clean_command(text), "move")).split())


def _without_numbers(text: str) -> str:
    return _NUMBER.sub("", text)


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def ground(command: str, admissible: Sequence[str], mode: Grounding) -> Grounded:
    command = in_dialect(clean_command(command), dialect_of(admissible))
    if command in admissible:
        return Grounded(command, "exact")
    if mode is Grounding.EXACT or not command:
        return Grounded(command or EMPTY_REPLY_ACTION, "none")
    wanted = normalise(command)
    normal = {normalise(c): c for c in reversed(admissible)}
    if wanted in normal:
        return Grounded(normal[wanted], "normalised")
    # Instance numbers left out: only when exactly one admissible command fits.
    if wanted == _without_numbers(wanted):
        fits = [c for n, c in normal.items() if _without_numbers(n) == wanted]
        if len(fits) == 1:
            return Grounded(fits[0], "normalised")
    if mode is Grounding.NORMALISED or not admissible:
        return Grounded(command, "none")
    best = max(admissible, key=lambda c: _similarity(wanted, normalise(c)))
    return Grounded(best, "nearest")
