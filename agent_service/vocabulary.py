"""The agent's named settings, one enum each, checked once where a request comes in.

A prompt mode or a grounding arrives as text (a protobuf string, a CLI flag). `parse_setting`
turns it into its enum at the edge (`convert.py`), refusing an unknown one with
INVALID_ARGUMENT, and everything inside takes the enum, so mypy sees that nothing unchecked
gets through. They are StrEnums: the trajectory records the very text the request named.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from alfagent_common import errors


class PromptMode(StrEnum):
    """What the model is shown each turn (see llm/prompts.py)."""

    # The dialogue of commands and answers; the model may think ("think: ...").
    REACT = "react"
    # The same, and the latest answer also lists the commands the game accepts now.
    ADMISSIBLE = "admissible"


class Grounding(StrEnum):
    """How the model's command becomes the command sent (see llm/grounding.py)."""

    # The model's own command, as published ALFWorld baselines send it: the default.
    EXACT = "exact"
    # An admissible command the model named without articles or unambiguous numbers.
    NORMALISED = "normalised"
    # The most similar admissible command: substitutes commands the model did not choose.
    NEAREST = "nearest"


class Decoding(StrEnum):
    """How the server may form a reply (see llm/decoding.py)."""

    # Whatever the model writes.
    FREE = "free"
    # A thought or one of the commands the game accepts now, by a grammar the server applies.
    GRAMMAR = "grammar"


DEFAULT_PROMPT_MODE = PromptMode.REACT
DEFAULT_GROUNDING = Grounding.EXACT
DEFAULT_DECODING = Decoding.FREE

Setting = TypeVar("Setting", PromptMode, Grounding, Decoding)


def choices(setting: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in setting)


def parse_setting(setting: type[Setting], text: str, field: str, default: Setting) -> Setting:
    """`text` as a member of `setting`; empty means `default`; anything else is InvalidRequest."""
    if not text:
        return default
    try:
        return setting(text)
    except ValueError:
        raise errors.InvalidRequest(f"{field} {text!r} is not one of {', '.join(choices(setting))}") from None
