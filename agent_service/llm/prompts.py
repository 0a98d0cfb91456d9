"""The prompt: instructions and worked examples (system message), then the episode as a dialogue.

Two modes, recorded in every trajectory as `settings.prompt_mode`:

- "react"      — the model may think ("think: ...", answered "OK.") or act; the examples show both.
- "admissible" — the same, and the latest observation also lists the commands the game accepts now.

The episode is a dialogue: the first user message is the game's opening text, then each of the
model's replies (the command actually sent, or a thought) is followed by what the game answered.

Long episodes must fit the model's context. Sizes are counted by `TokenCounter` (the server's
tokenizer where it has one, else a calibrated characters-per-token estimate). The system message
and the opening are always kept. The prompt only grows at its end from one call to the next, so a
server's prompt cache (llama-server keeps one per slot) reuses everything already processed and
only the new messages cost time. When the next prompt would exceed the budget, the oldest steps
are left out in one chunk, enough to bring the steps down to half the room they may use: the
prefix then changes once (the opening says how many steps are left out) and stays stable again
for many turns, instead of changing on every turn as dropping one step at a time would. The
count is recorded per step and per trajectory (`dropped_turns`).

A command that gets the same answer again has changed nothing: the game is where it was. Small
models at temperature 0 fall into such loops, sending one command over and over or going round
the same few places. An episode may ask for a note on them (`repeat_note_after` N): from the Nth
time a command gets the same answer, that answer as shown to the model says so. It is off by
default: with it on from the 3rd time, Qwen2.5-Coder-1.5B played 20 of 30 episodes step for step
as it did without it and won none either way (bench/RESULTS.md), and published ALFWorld baselines
show the game's answer alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent_service.llm.client import Message
from agent_service.llm.fewshot import THINK_REPLY, Example
from agent_service.llm.tokens import TokenCounter
from agent_service.vocabulary import PromptMode

# A chunk drop leaves the kept steps at most this share of the room steps may use.
KEEP_AFTER_DROP = 0.5

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


def render_example(number: int, example: Example) -> str:
    lines = [f"Example {number}:", example.initial_observation.strip()]
    for step in example.steps:
        lines.append(f"> {step.action}")
        lines.append(step.observation.strip())
    return "\n".join(lines)


FACTS_INTRO = """
What earlier games showed (from their records; use it to decide where to look first):"""


PROCEDURES_INTRO = """
Skills: once you see the object you need, instead of a command you may write one of these calls, \
with the names the simulator uses; a call looks like name(obj=<object> 1, recep=<place> 2, ...). \
The commands after the colon are then sent for you, one by one, until they are all done or the \
simulator answers something unexpected; then it is your turn again."""


def system_message(
    mode: PromptMode, examples: Sequence[Example], facts: Sequence[str] = (), procedures: Sequence[str] = ()
) -> str:
    parts = [INSTRUCTIONS]
    if mode is PromptMode.ADMISSIBLE:
        parts.append(ADMISSIBLE_NOTE)
    if examples:
        parts.append(EXAMPLES_INTRO)
        parts.extend(f"\n{render_example(n, example)}" for n, example in enumerate(examples, start=1))
    if facts:
        parts.append(FACTS_INTRO)
        parts.extend(f"- {fact}" for fact in facts)
    if procedures:
        parts.append(PROCEDURES_INTRO)
        parts.extend(f"- {line}" for line in procedures)
    parts.append("\nNow a new game begins.")
    return "\n".join(parts)


def admissible_list(commands: Sequence[str]) -> str:
    return "\n\nCommands you can use now:\n" + "\n".join(commands)


def repeat_note(count: int) -> str:
    return (
        f"\n[You have sent this command {count} times in this game and got this same answer each "
        "time: repeating what you did changes nothing. Try something different.]"
    )


def shown_observation(observation: str, times_seen: int, note_after: int) -> str:
    """The game's answer as the model is shown it: with the repeat note once the same command has
    had this same answer `note_after` times (0: never)."""
    if 0 < note_after <= times_seen:
        return observation + repeat_note(times_seen)
    return observation


@dataclass(frozen=True)
class PastStep:
    """One step of the episode as the model saw it: its thoughts, the command sent, the answer."""

    thoughts: tuple[str, ...]
    action: str
    observation: str
    messages: tuple[Message, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        messages: list[Message] = []
        for thought in self.thoughts:
            messages += [Message("assistant", f"think: {thought}"), Message("user", THINK_REPLY)]
        messages += [Message("assistant", self.action), Message("user", self.observation)]
        object.__setattr__(self, "messages", tuple(messages))


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    dropped_steps: int
    estimated_tokens: int


def dropped_note(count: int) -> str:
    return f"\n\n[The first {count} step(s) of this game are left out to save space.]"


def turn_messages(thoughts: Sequence[str]) -> list[Message]:
    """This turn's thoughts so far, each answered "OK."."""
    messages: list[Message] = []
    for thought in thoughts:
        messages += [Message("assistant", f"think: {thought}"), Message("user", THINK_REPLY)]
    return messages


def build_prompt(
    *,
    system: str,
    opening: str,
    steps: Sequence[PastStep],
    thoughts: Sequence[str],
    admissible: Sequence[str] | None,
    budget_tokens: int,
    counter: TokenCounter,
    dropped: int = 0,
) -> Prompt:
    """The messages for the next call: system, opening, the steps from `dropped` on (more are
    left out, in one chunk, only if they no longer fit), this turn's thoughts so far, and
    (admissible mode) the command list on the latest user message.

    `counter` must have been prepared with the texts of these messages."""
    current = turn_messages(thoughts)
    suffix = admissible_list(admissible) if admissible is not None else ""
    fixed = counter.message(Message("system", system)) + counter.message(Message("user", opening))
    fixed += counter.messages(current) + (counter.text(suffix) if suffix else 0)
    sizes = [counter.messages(step.messages) for step in steps]
    dropped = min(max(dropped, 0), len(steps))
    note = counter.text(dropped_note(len(steps)))
    kept = sum(sizes[dropped:])
    if fixed + kept + (note if dropped else 0) > budget_tokens:
        # Left out in one chunk: down to a share of the room, so the prefix stays put for a while.
        target = (budget_tokens - fixed - note) * KEEP_AFTER_DROP
        while dropped < len(steps) and kept > target:
            kept -= sizes[dropped]
            dropped += 1
    first = opening + (dropped_note(dropped) if dropped else "")
    messages = [Message("system", system), Message("user", first)]
    for step in steps[dropped:]:
        messages.extend(step.messages)
    messages.extend(current)
    if suffix:
        last = messages[-1]
        messages[-1] = Message(last.role, last.content + suffix)
    return Prompt(messages, dropped, fixed + kept + (note if dropped else 0))
