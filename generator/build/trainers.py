"""The trainers a preset can name (``training.trainer``), each one function over a group of runs.

Why a registry: the store, the executors and staleness only ever see "train these models of
one scenario and give me one :class:`~generator.build.training.TrainedModel` each"; which program
does it is a record here. ``presets.TRAINER_ARCHS`` holds the names and what each can train (so
that a preset is checked without importing torch); a test keeps the two in step.

A trainer returns the models in the order of its runs, each with metadata that says which
trainer produced it (``metadata["trainer"]``). A run's result depends only on the scenario, the
data, its indices and its seed, plus (for the batched trainer) which runs share its group:
the store fixes the groups from the preset alone (:func:`generator.build.store.training_group`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .datasets import TaskData
from ..spec.presets import ScenarioSpec
from .training import TrainedModel, train_model


@dataclass(frozen=True)
class Run:
    """One model to train: its training and evaluation rows, its seed and a progress label."""

    training: np.ndarray
    evaluation: np.ndarray
    seed: int
    description: str = ""


# (scenario, data, runs, device, data_dir, show_progress) -> one TrainedModel per run
TrainerFn = Callable[
    [ScenarioSpec, TaskData, Sequence[Run], torch.device, object, bool], list[TrainedModel]
]


def train_standard(scenario, data, runs, device, data_dir=None, show=False) -> list[TrainedModel]:
    """One model per program, one after the other (training.train_model)."""
    return [
        train_model(
            scenario,
            data,
            run.training,
            run.evaluation,
            run.seed,
            device,
            data_dir,
            show,
            run.description,
        )
        for run in runs
    ]


def train_batched(scenario, data, runs, device, data_dir=None, show=False) -> list[TrainedModel]:
    """All runs as one stacked program (batched.train_mlps_batched)."""
    from .batched import train_mlps_batched

    triples = [(run.training, run.evaluation, run.seed) for run in runs]
    return train_mlps_batched(scenario, data, triples, device)


# Keyed by the names of presets.TRAINER_ARCHS (tests/test_trainers.py keeps them equal).
TRAINERS: dict[str, TrainerFn] = {"standard": train_standard, "batched": train_batched}


def train_runs(
    scenario: ScenarioSpec,
    data: TaskData,
    runs: Sequence[Run],
    device: torch.device,
    data_dir=None,
    show: bool = False,
) -> list[TrainedModel]:
    """Train ``runs`` with the scenario's trainer."""
    return TRAINERS[scenario.training.trainer](scenario, data, runs, device, data_dir, show)


def non_finite_problem(trained: TrainedModel) -> str | None:
    """Why ``trained`` must not be published (its training diverged), or None.

    The batched trainer reports where a model's loss or gradient stopped being finite; any
    trainer's model whose weights hold NaN or ±inf is refused too.
    """
    report = trained.metadata.get("non_finite")
    if report:
        return (
            f"training diverged: the {report['what']} became non-finite at step "
            f"{report['step'] + 1} (epoch {report['epoch'] + 1}); the model is not stored"
        )
    for name, tensor in trained.model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"training diverged: weights {name!r} hold NaN or inf; the model is not stored"
    return None
