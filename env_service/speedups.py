"""Caches for the work textworld repeats on every step, installed in each worker process.

Upstream re-parses the same grammar templates with TatSu on every derivation (the feedback of an
action, every admissible command's template, the room description) and re-parses the same
conjunctive queries on every rule check: about 95% of a step. The inputs are a small, fixed set
of strings per game, and parsing is a pure function of them, so the parses are memoised. Callers
mutate the symbols they get back (each is given its own context), so every call receives a deep
copy of the cached parse, never the cached objects themselves. The game's observations and
admissible commands stay byte-identical; tests compare them over full walkthroughs.
"""

from __future__ import annotations

import copy
import functools
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from env_service.translations import TranslationCache

# Games whose PDDL translation a worker keeps; the service's session placement mirrors it.
TRANSLATIONS_KEPT = 128

_installed = False


def install(translations: TranslationCache | None = None) -> None:
    """Idempotent; call once per process before playing games. With `translations`, a game's
    PDDL→SAS translation is also kept on disk (env_service/translations.py)."""
    global _installed
    if _installed:
        return
    # Imported here: the service's parent process reads TRANSLATIONS_KEPT but never loads textworld.
    import fast_downward
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    parse_and_convert = textgen._parse_and_convert

    @functools.lru_cache(maxsize=8192)
    def cached_parse(text: str, rule_name: str) -> Any:
        return parse_and_convert(text, rule_name=rule_name)

    def parse_and_convert_cached(text: str, rule_name: str = "start", trace: bool = False) -> Any:
        if trace:  # TW_CSG_TRACE debugging wants TatSu's trace: do the real parse.
            return parse_and_convert(text, rule_name=rule_name, trace=True)
        return copy.deepcopy(cached_parse(text, rule_name))

    textgen._parse_and_convert = parse_and_convert_cached

    parse_query = Rule.parse_conjunctive_query

    @functools.lru_cache(maxsize=8192)
    def cached_query(expression: str) -> Any:
        return parse_query(expression)

    # Rules are only read by State.all_assignments, so one parsed Rule can serve every call.
    Rule.parse_conjunctive_query = staticmethod(cached_query)

    # Every symbol of a derivation gets its own context, which upstream deep-copies, entity
    # infos included. The derivation only ever adds keys to the `variables` and `mapping` dicts
    # (textgen.query); it never changes the objects in them. Copying the two dicts is enough.
    def copy_context(context: dict[str, Any]) -> dict[str, Any]:
        return {
            "state": context["state"],
            "facts": context["facts"],
            "variables": dict(context["variables"]),
            "mapping": dict(context["mapping"]),
            "entity_infos": context["entity_infos"],
        }

    textgen.copy_context = copy_context

    # A reset translates the game's PDDL to SAS twice (plain, and optimised for replanning):
    # most of a reset. The translation depends only on the texts, and PddlState only reads the
    # task it returns, so a game seen before by this worker resets without translating again,
    # and one seen by any worker sharing `translations` (restarts included) reads the text.
    pddl2sas = fast_downward.pddl2sas

    @functools.lru_cache(maxsize=TRANSLATIONS_KEPT)
    def cached_pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False) -> Any:
        if translations is None:
            return pddl2sas(domain, problem, verbose=verbose, optimize=optimize)
        key = translations.key(domain, problem, optimize)
        sas = translations.get(key)
        if sas is None:
            task, sas = pddl2sas(domain, problem, verbose=verbose, optimize=optimize)
            translations.put(key, sas)
            return task, sas
        # The SAS text is the costly part (~0.1-0.2 s a game); the parsed task PddlState also
        # reads (actions, types, objects, init) takes ~5 ms to parse again, and is the same as
        # the translation leaves it (tests/env/test_translations.py plays both ways).
        return parse_task(domain, problem), sas

    fast_downward.pddl2sas = cached_pddl2sas
    _installed = True


def parse_task(domain: str, problem: str) -> Any:
    """The normalised PDDL task, as fast_downward.pddl2sas builds it before translating."""
    import fast_downward.interface

    # fast_downward's translator reads its options from sys.argv when first imported.
    argv, sys.argv = sys.argv, ["translate.py", "domain", "task"]
    try:
        from fast_downward.translate import normalize
        from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions

        with fast_downward.interface.CapturingStdout():
            task = parsing_functions.parse_task(
                lisp_parser.parse_nested_list(domain.split("\n")),
                lisp_parser.parse_nested_list(problem.split("\n")),
            )
            normalize.normalize(task)
    finally:
        sys.argv = argv
    return task
