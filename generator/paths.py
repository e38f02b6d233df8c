"""Where the checkout's folders are, defined once.

The generator runs from a checkout (``python -m generator``), not from an installed wheel: the
presets, the page sources, the platform templates, the scoring program and the starting kit it
publishes are folders beside the package. Every module that reads one of them imports its path
from here, so moving a module between ``spec/``, ``build/`` and ``publish/`` cannot make it look
in the wrong place.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The ``generator`` package itself (shipped whole to Ray workers)."""
ROOT = PACKAGE_DIR.parent
"""The checkout: the folder holding ``generator/``, ``starting_kit/`` and the templates."""
PRESET_DIR = ROOT / "presets"
PAGES_DIR = ROOT / "pages"
SCORING_DIR = ROOT / "scoring_program"
"""The scoring program's folder, exactly as it is zipped into bundles."""
KIT_DIR = ROOT / "starting_kit"
CODALAB_TEMPLATE = ROOT / "competition.yaml"
CODABENCH_TEMPLATE = ROOT / "codabench.yaml"
