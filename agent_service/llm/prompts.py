"""The prompt: instructions and worked examples (system message), then the episode as a dialogue.

Two modes, recorded in every trajectory as `settings.prompt_mode`:

- "react"      — the model may think ("think: ...", answered "OK.") or act; the examples show both.
- "admissible" — the same, and the latest observation also lists the commands the game accepts now.

The episode is a dialogue: the first user message is the game's opening text, then each of the
model's replies (the command actually sent, or a thought) is followed by what the game answered.

Long episodes must fit the model's context. Sizes are estimated as characters / 4 (a rough but
conservative figure for English text with common tokenizers; no tokenizer is needed). The system
message and the opening are always kept; the newest steps are kept while they fit the budget, and
the opening then says how many earlier steps are left out. The count is recorded per step and per
trajectory (`dropped_turns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent_service.llm.client import Message
from agent_service.llm.fewshot import THINK_REPLY, Example

PROMPT_MODES = ("react", "admissible")
CHARS_PER_TOKEN = 4

INSTRUCTIONS = """\
You control a character in a text-based household simulator. Each message you receive is what \
the simulator shows you. Answer with exactly one line: a command for the simulator, or a thought.

Commands look like these (use the names and numbers the simulator uses):
  go to <place>, open <place>, close <place>, take <object> from <place>,
  move <object> to <place>, examine <something>, use <object>, heat <object> with <appliance>,
  cool <object> with <appliance>, clean <object> with <place>, inventory, look
A thought starts with "think:". Use one to plan or to keep track of what you have done; the \
simulator answers "OK." and nothing changes. Do not repeat a failing command: if the simulator \
says "Nothing happens.", try something else.
Write only the command or the thought: no quotes, no explanations, no ">" in front."""

ADMISSIBLE_NOTE = """
After what the simulator shows, you will also see the commands it accepts right now; answer \
with one of them, or with a thought."""

EXAMPLES_INTRO = """
Below are solved games of the same kind. Lines starting with ">" are the player's answers; the \
other lines are what the simulator showed."""


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def render_example(number: int, example: Example) -> str:
    lines = [f"Example {number}:", example.initial_observation.strip()]
    for step in example.steps:
        lines.append(f"> {step.action}")
        lines.append(step.observation.strip())
    return "\n".join(lines)


def system_message(mode: str, examples: Sequence[Example]) -> str:
    if mode not in PROMPT_MODES:
        raise ValueError(f"prompt mode {mode!r} is not one of {', '.join(PROMPT_MODES)}")
    parts = [INSTRUCTIONS]
    if mode == "admissible":
        parts.append(ADMISSIBLE_NOTE)
    if examples:
        parts.append(EXAMPLES_INTRO)
        parts.extend(f"\n{render_example(n, example)}" for n, example in enumerate(examples, start=1))
    parts.append("\nNow a new game begins.")
    return "\n".join(parts)


def admissible_list(commands: Sequence[str]) -> str:
    return "\n\nCommands you can use now:\n" + "\n".join(commands)


@dataclass(frozen=True)
class PastStep:
    """One step of the episode as the model saw it: its thoughts, the command sent, the answer."""

    thoughts: tuple[str, ...]
    action: str
    observation: str
    messages: tuple[Message, ...] = field(init=False, compare=False)
    tokens: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        messages: list[Message] = []
        for thought in self.thoughts:
            messages += [Message("assistant", f"think: {thought}"), Message("user", THINK_REPLY)]
        messages += [Message("assistant", self.action), Message("user", self.observation)]
        object.__setattr__(self, "messages", tuple(messages))
        object.__setattr__(self, "tokens", sum(estimate_tokens(m.content) for m in messages))


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    dropped_steps: int
    estimated_tokens: int


def dropped_note(count: int) -> str:
    return f"\n\n[The first {count} step(s) of this game are left out to save space.]"


def build_prompt(
    *,
    system: str,
    opening: str,
    steps: Sequence[PastStep],
    thoughts: Sequence[str],
    admissible: Sequence[str] | None,
    budget_tokens: int,
) -> Prompt:
    """The messages for the next call: system, opening, as many newest steps as fit, this turn's
    thoughts so far, and (admissible mode) the command list on the latest user message."""
    current: list[Message] = []
    for thought in thoughts:
        current += [Message("assistant", f"think: {thought}"), Message("user", THINK_REPLY)]
    suffix = admissible_list(admissible) if admissible is not None else ""
    used = estimate_tokens(system) + estimate_tokens(opening) + estimate_tokens(suffix)
    used += sum(estimate_tokens(m.content) for m in current)
    kept = 0
    note_cost = estimate_tokens(dropped_note(len(steps)))
    for step in reversed(steps):
        # Room for the "left out" note unless every step fits.
        reserve = note_cost if kept + 1 < len(steps) else 0
        if used + step.tokens + reserve > budget_tokens:
            break
        used += step.tokens
        kept += 1
    dropped = len(steps) - kept
    first = opening + (dropped_note(dropped) if dropped else "")
    messages = [Message("system", system), Message("user", first)]
    for step in steps[dropped:]:
        messages.extend(step.messages)
    messages.extend(current)
    if suffix:
        last = messages[-1]
        messages[-1] = Message(last.role, last.content + suffix)
    return Prompt(messages, dropped, used + (note_cost if dropped else 0))
