"""Fast Downward's PDDL translator modules, imported safely.

Its `options` module parses `sys.argv` when first imported and exits on anything it does not
expect (such as a worker's or pytest's arguments). textworld works around this by overwriting
`sys.argv` for good; here the arguments it wants are set only for the import and then restored.
"""

from __future__ import annotations

import sys

_saved_argv = sys.argv
sys.argv = ["translate.py", "domain", "task"]
try:
    from fast_downward.translate import options as _options  # noqa: F401  (parses sys.argv once)
    from fast_downward.translate import pddl
    from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions
finally:
    sys.argv = _saved_argv

__all__ = ["lisp_parser", "parsing_functions", "pddl"]
