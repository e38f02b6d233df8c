"""What the Development phase shows participants of their scores, as the generator sees it.

The definition (the views, their limits, the ``Disclosure`` value and the manifest key) lives
in the scoring program, ``scoring_program/scorer_disclosure.py``, because the standalone scorer
must apply it from the reference manifest alone. The generator imports that same module from
its folder, as ``generator.publish.columns`` does for the score keys, so the preset's validation, the
manifest the bundle ships and what the scorer accepts cannot drift apart.
"""

from __future__ import annotations

import importlib
import sys

from ..paths import SCORING_DIR

if str(SCORING_DIR) not in sys.path:
    # Imported by name, as score.py imports it, so that both see one module object.
    sys.path.insert(0, str(SCORING_DIR))
_scorer = importlib.import_module("scorer_disclosure")

Disclosure = _scorer.Disclosure
DEFAULT_VIEW: str = _scorer.DEFAULT_VIEW
DEFAULT_DECIMALS: int = _scorer.DEFAULT_DECIMALS
view_problem = _scorer.view_problem
decimals_problem = _scorer.decimals_problem
visible_keys = _scorer.visible_keys
parse_disclosure = _scorer.parse_disclosure

__all__ = [
    "SCORING_DIR",
    "DEFAULT_DECIMALS",
    "DEFAULT_VIEW",
    "Disclosure",
    "decimals_problem",
    "parse_disclosure",
    "view_problem",
    "visible_keys",
]
