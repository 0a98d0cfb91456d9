"""From the model's text to the command sent to the environment.

`parse_reply` reads a reply: lines starting with "think:" are thoughts; the first other non-empty
line is the command the model chose (anything after it, e.g. an imagined observation, is ignored).
`ground` maps that line to the command actually sent, by the episode's declared setting:

- exact      — the line as written (surrounding spaces removed);
- normalised — case, spaces, a leading ">" or "action:", quotes and a final full stop do not
  matter, and "put X in/on Y" means "move X to Y"; a match sends the admissible command itself;
- nearest    — as normalised, and otherwise the most similar admissible command (difflib ratio).

The label recorded with each step says what happened: "exact" (the line was an admissible
command as written), "normalised", "nearest", or "none" (sent without a match; the environment
answers "Nothing happens."). An empty reply sends "look", which changes nothing, labelled "none":
the environment refuses empty commands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

GROUNDINGS = ("exact", "normalised", "nearest")
EMPTY_REPLY_ACTION = "look"
# Longer than any ALFWorld command by far, well inside the env's limit.
MAX_ACTION_CHARS = 200

_THINK = re.compile(r"^\s*(?:>\s*)?think\s*:\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^(?:>\s*|(?:action|command|act)\s*:\s*)+", re.IGNORECASE)
_PUT = re.compile(r"^(?:put|place)\s+(?P<obj>.+?)\s+(?:in|on|in/on|into|onto)\s+(?P<recep>.+)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    # The text of the "think:" lines, joined by spaces ("" when there were none).
    thought: str
    # The first line that is not a thought ("" when the reply was only thinking).
    action: str

    @property
    def thinks_only(self) -> bool:
        return bool(self.thought) and not self.action


@dataclass(frozen=True)
class Grounded:
    action: str
    grounding: str  # "exact" | "normalised" | "nearest" | "none"


def parse_reply(text: str) -> Reply:
    thoughts: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        think = _THINK.match(line)
        if think is None:
            return Reply(" ".join(thoughts), _CONTROL.sub(" ", line).strip())
        thoughts.append(line[think.end() :].strip())
    return Reply(" ".join(thoughts), "")


def normalise(text: str) -> str:
    text = _PREFIX.sub("", text.strip().lower())
    text = text.strip().strip("`'\"").strip().rstrip(".!").strip()
    text = " ".join(text.split())
    put = _PUT.match(text)
    if put is not None:
        text = f"move {put['obj']} to {put['recep']}"
    return text


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def ground(line: str, admissible: Sequence[str], mode: str) -> Grounded:
    if mode not in GROUNDINGS:
        raise ValueError(f"grounding {mode!r} is not one of {', '.join(GROUNDINGS)}")
    line = line.strip()[:MAX_ACTION_CHARS]
    if line in admissible:
        return Grounded(line, "exact")
    if mode == "exact" or not line:
        return Grounded(line or EMPTY_REPLY_ACTION, "none")
    wanted = normalise(line)
    by_normal_form = {normalise(command): command for command in reversed(admissible)}
    if wanted in by_normal_form:
        return Grounded(by_normal_form[wanted], "normalised")
    if mode == "normalised" or not admissible:
        return Grounded(wanted or EMPTY_REPLY_ACTION, "none")
    best = max(admissible, key=lambda command: _similarity(wanted, normalise(command)))
    return Grounded(best, "nearest")
