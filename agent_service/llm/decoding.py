"""Constrained decoding: a grammar that lets the model write only a thought, one of the commands
the game accepts now, or a call of a procedure it was offered.

The grammar is GBNF, the form llama.cpp's server takes in a completion request's `grammar` field
(llama-server's OpenAI-compatible endpoint passes it through; vLLM's equivalent is
`guided_choice`/`guided_grammar`, not sent here). A server that ignores the field answers freely,
and the reply is grounded as usual: the setting can make replies admissible, never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_service.vocabulary import Decoding


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def command_grammar(admissible: Sequence[str], procedures: Sequence[str] = ()) -> str:
    """GBNF: `think: <one line>`, one of `admissible`, or `<procedure>(<arguments>)`."""
    choices = [_literal(command) for command in dict.fromkeys(admissible) if command]
    choices += [f'{_literal(name + "(")} [^\\n)]* ")"' for name in dict.fromkeys(procedures)]
    rules = ["root ::= thought | command", 'thought ::= "think: " [^\\n]+']
    rules.append(f"command ::= {' | '.join(choices)}" if choices else 'command ::= "look"')
    return "\n".join(rules) + "\n"


def grammar_for(decoding: Decoding, admissible: Sequence[str], procedures: Sequence[str] = ()) -> str | None:
    """The grammar to send with a completion request; None when replies are free."""
    if decoding is Decoding.FREE:
        return None
    return command_grammar(admissible, procedures)
