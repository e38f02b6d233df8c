"""Shared builders for the scoring-program tests (this module holds no tests itself).

The tests import it as ``test_scorer_support``; keeping it out of conftest.py leaves that file
to the rest of the project.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCORING_DIR = REPO / "scoring_program"

# These modules are valid Python 3.7 and need only numpy and pytest (plus scipy, scikit-learn
# and hypothesis as oracles): `make test` also runs them under a Python 3.7 with numpy 1.17, as
# on CodaLab's codalab-legacy:py37 image. A check that needs the organizer's own toolchain
# (.venv, Python 3.11, see pyproject.toml) is marked with this and skipped there.
needs_organizer_python = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="needs the organizer toolchain (.venv, Python 3.11); the main run checks it",
)


def load_scorer():
    """Import scoring_program/score.py the way other project code does: by file path."""
    if "mico_scorer" in sys.modules:
        return sys.modules["mico_scorer"]
    spec = importlib.util.spec_from_file_location("mico_scorer", SCORING_DIR / "score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mico_scorer"] = module
    spec.loader.exec_module(module)
    return module


def format_scores(values) -> bytes:
    """One value per line, shortest round-trip repr, trailing newline (the canonical form)."""
    return "".join(f"{float(v)!r}\n" for v in values).encode()


class ScorerCase:
    """A small competition: a task with scenarios, dev and final models, and their labels.

    ``files()`` gives the canonical submission as {relative path: bytes}; tests change that
    dict to build every variant, then write it as a folder or a zip.
    """

    def __init__(
        self,
        root: Path,
        task: str = "image",
        scenarios: tuple[str, ...] = ("image_inf", "image_hi", "image_lo"),
        models: dict[str, int] | None = None,
        points: int = 20,
        seed: int = 0,
    ) -> None:
        self.root = root
        self.task = task
        self.scenarios = scenarios
        self.models = models or {"dev": 3, "final": 2}
        self.points = points
        rng = np.random.default_rng(seed)
        self.labels: dict[tuple[str, str, str], np.ndarray] = {}
        self.scores: dict[tuple[str, str, str], np.ndarray] = {}
        for sid in scenarios:
            for phase, count in self.models.items():
                for i in range(count):
                    labels = rng.permutation(np.arange(points) % 2)
                    noise = rng.uniform(0.0, 1.0, points)
                    self.labels[(sid, phase, f"model_{i}")] = labels
                    self.scores[(sid, phase, f"model_{i}")] = np.round(
                        0.35 * labels + 0.65 * noise, 3
                    )

    def model_names(self, phase: str) -> list[str]:
        return [f"model_{i}" for i in range(self.models[phase])]

    def manifest(self, phase: str = "dev") -> dict:
        return {
            "format": "mico-reference/1",
            "task": self.task,
            "phase": phase,
            "scenarios": [
                {
                    "id": sid,
                    "label": f"scenario {sid}",
                    "epsilon": None if k == 0 else float(10 ** (1 - k)),
                    "delta": 1e-5,
                    "models": {
                        p: {m: self.points for m in self.model_names(p)} for p in self.models
                    },
                }
                for k, sid in enumerate(self.scenarios)
            ],
        }

    def write_reference(self, name: str = "ref", phase: str = "dev", manifest=None) -> Path:
        """manifest.json plus the scored phase's solution.csv files."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        (path / "manifest.json").write_text(json.dumps(manifest or self.manifest(phase)))
        for sid in self.scenarios:
            for model in self.model_names(phase):
                folder = path / self.task / sid / phase / model
                folder.mkdir(parents=True, exist_ok=True)
                labels = self.labels[(sid, phase, model)]
                (folder / "solution.csv").write_text("".join(f"{v}\n" for v in labels))
        return path

    def solution_text(self, sid: str, phase: str, model: str) -> str:
        return "".join(f"{v}\n" for v in self.labels[(sid, phase, model)])

    def path(self, sid: str, phase: str, model: str, name: str = "prediction.csv") -> str:
        return f"{self.task}/{sid}/{phase}/{model}/{name}"

    def files(self) -> dict[str, bytes]:
        return {
            self.path(sid, phase, model): format_scores(values)
            for (sid, phase, model), values in self.scores.items()
        }

    def labels_and_scores(self, sid: str, phase: str = "dev") -> tuple[np.ndarray, np.ndarray]:
        """The pooled labels and scores of one scenario, as the scorer must pool them."""
        models = self.model_names(phase)
        labels = np.concatenate([self.labels[(sid, phase, m)] for m in models])
        scores = np.concatenate([self.scores[(sid, phase, m)] for m in models])
        return labels, scores

    def write_dir(self, files: dict[str, bytes], name: str = "res") -> Path:
        root = self.root / name
        root.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root

    def write_zip(self, files: dict[str, bytes], name: str = "submission.zip") -> Path:
        path = self.root / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel, data in files.items():
                archive.writestr(rel, data)
        return path


def subprocess_env() -> dict[str, str]:
    """Environment for running the scorer in a subprocess with this interpreter."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env
