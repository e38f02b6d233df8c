"""Train one target model: plain SGD/Adam for ε = ∞, DP-SGD with Opacus otherwise.

DP training follows MICO: Poisson sampling, the noise multiplier calibrated to the target ε at δ
for the planned number of steps with Opacus' PRV accountant, per-sample clipping to norm C, and
a cap on the physical batch size (BatchMemoryManager) so that large logical batches fit in
memory. ε = ∞ models never touch Opacus.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from micokit.architectures import build_model
from micokit.archspec import architecture
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from .datasets import TaskData, resolve_model_path
from ..spec.presets import ScenarioSpec, TrainingSpec

EVAL_BATCH = 512


@dataclass
class TrainedModel:
    model: nn.Module  # unwrapped (no Opacus wrapper), on CPU
    metadata: dict[str, Any]


def pick_device(requested: str) -> torch.device:
    """``auto`` means the first visible GPU when there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def create_model(scenario: ScenarioSpec, data: TaskData, data_dir) -> nn.Module:
    """Build the scenario's untrained model (RoBERTa from a local checkpoint or a small config)."""
    spec = scenario.model
    if architecture(spec["arch"]).network is not None:
        return build_model(spec)
    from transformers import RobertaConfig, RobertaForSequenceClassification

    if spec.get("pretrained"):
        path = resolve_model_path(spec["pretrained"], data_dir)
        return RobertaForSequenceClassification.from_pretrained(
            str(path), num_labels=2, local_files_only=True
        )
    model = _tiny_roberta(RobertaConfig, RobertaForSequenceClassification, scenario, data)
    if spec.get("public_pretraining"):
        model.load_state_dict(_publicly_pretrained_state(scenario, data))
    return model


def _tiny_roberta(config_cls, model_cls, scenario: ScenarioSpec, data: TaskData) -> nn.Module:
    tokenizer = data.tokenizer
    spec = scenario.model
    config = config_cls(
        vocab_size=len(tokenizer),
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        max_position_embeddings=scenario.dataset.max_length + 2,
        type_vocab_size=1,
        **spec.get("config", {}),
    )
    return model_cls(config)


_PRETRAINED: dict[str, dict[str, torch.Tensor]] = {}


def _publicly_pretrained_state(scenario: ScenarioSpec, data: TaskData) -> dict[str, torch.Tensor]:
    """Weights of the tiny RoBERTa after non-private training on a *public* corpus.

    MICO fine-tuned a pretrained roberta-base; the demo's from-scratch tiny RoBERTa learns
    nothing under DP in a few hundred steps, so it gets the same kind of head start: a
    deterministic pretraining on sentences drawn from another seed of the synthetic corpus, with
    the dataset's own fractions of flipped, neutral and negated sentences (disjoint from every
    challenge point), computed once per process and then reused.
    """
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from .datasets import synthetic_sentences, tokenize

    spec = dict(scenario.model["public_pretraining"])
    key = repr(
        (sorted(spec.items()), scenario.dataset, sorted(scenario.model.get("config", {}).items()))
    )
    if key not in _PRETRAINED:
        corpus = scenario.dataset
        sentences, labels = synthetic_sentences(
            spec["size"], spec["seed"], corpus.label_noise, corpus.ambiguous, corpus.negation
        )
        public = tokenize("public", sentences, labels, data.tokenizer, scenario.dataset.max_length)
        with torch.random.fork_rng():
            torch.manual_seed(spec["seed"])
            model = _tiny_roberta(RobertaConfig, RobertaForSequenceClassification, scenario, data)
            plan = TrainingSpec(
                optimizer="adam", lr=spec.get("lr", 1e-3), batch_size=32, epochs=spec["epochs"]
            )
            everything = np.arange(len(public))
            _train_plain(
                model,
                public.subset(everything),
                plan,
                torch.device("cpu"),
                torch.Generator().manual_seed(spec["seed"]),
                "",
                False,
            )
        _PRETRAINED[key] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return _PRETRAINED[key]


def logits_of(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
    """Forward a batch of (inputs..., label): text batches carry input ids and attention masks."""
    if len(batch) == 3:
        return model(input_ids=batch[0], attention_mask=batch[1]).logits
    return model(batch[0])


def make_optimizer(model: nn.Module, spec: TrainingSpec) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def make_scheduler(optimizer: torch.optim.Optimizer, spec: TrainingSpec):
    if spec.lr_step_size is None:
        return None
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=spec.lr_step_size, gamma=spec.lr_gamma
    )


# The DP noise generator's seed is the training seed XOR this, so that the noise stream differs
# from the one that drew the initial weights and the batches.
NOISE_SEED_XOR = 0x5DEECE66D


def dp_schedule(n: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """(q, planned steps) of DP training on ``n`` examples.

    ``q = 1 / len(DataLoader(train_set, batch_size))``, the sample rate Opacus' Poisson loader
    uses, and ``epochs · len(loader)`` steps, the ones σ is calibrated for.
    """
    batches = math.ceil(n / batch_size)
    return 1 / batches, epochs * batches


@lru_cache(maxsize=64)
def noise_multiplier(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """σ that makes ``steps`` Poisson-subsampled steps (ε, δ)-DP under the PRV accountant.

    Cached: every model of a scenario shares it, and the search costs seconds.
    """
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant="prv",
            epsilon_tolerance=0.01,
        )


@lru_cache(maxsize=256)
def achieved_epsilon(history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    """ε spent by a training run, from the PRV accountant's history of (σ, q, steps).

    Cached: every model of a scenario has the same history, and one evaluation costs ~1 s.
    """
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.history = list(history)
    return float(accountant.get_epsilon(delta=delta))


def evaluate(model: nn.Module, dataset: TensorDataset, device: torch.device) -> float:
    """Top-1 accuracy of ``model`` on ``dataset``."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=EVAL_BATCH):
            batch = [t.to(device) for t in batch]
            correct += (logits_of(model, batch).argmax(dim=1) == batch[-1]).sum().item()
    return correct / max(len(dataset), 1)


def _epoch_bar(epochs: int, description: str, show: bool):
    return tqdm(range(epochs), desc=description, leave=False, disable=not show, unit="epoch")


def _train_plain(model, train_set, spec, device, generator, bar_desc, show) -> dict[str, Any]:
    loader = DataLoader(train_set, batch_size=spec.batch_size, shuffle=True, generator=generator)
    optimizer = make_optimizer(model, spec)
    scheduler = make_scheduler(optimizer, spec)
    criterion = nn.CrossEntropyLoss()
    physical = spec.max_physical_batch_size or spec.batch_size
    steps = 0
    for _ in _epoch_bar(spec.epochs, bar_desc, show):
        model.train()
        for batch in loader:
            batch = [t.to(device) for t in batch]
            optimizer.zero_grad(set_to_none=True)
            _accumulate_gradients(model, batch, criterion, physical)
            optimizer.step()
            steps += 1
        if scheduler is not None:
            scheduler.step()
    return {
        "steps": steps,
        "sample_rate": spec.batch_size / len(train_set),
        "max_physical_batch_size": physical,
    }


def _accumulate_gradients(model, batch, criterion, physical: int) -> None:
    """Backpropagate the mean loss of ``batch`` in slices of at most ``physical`` examples.

    The logical batch (the optimizer's step) stays the preset's ``batch_size`` whatever fits in
    accelerator memory; weighting each slice's mean by its share makes the summed gradient the
    whole batch's mean gradient. A batch that fits is one slice with weight exactly 1.
    """
    size = len(batch[-1])
    for start in range(0, size, physical):
        part = [t[start : start + physical] for t in batch]
        share = len(part[-1]) / size
        (criterion(logits_of(model, part), part[-1]) * share).backward()


def _train_dp(model, train_set, scenario, device, generator, noise_generator, bar_desc, show):
    from opacus import PrivacyEngine
    from opacus.utils.batch_memory_manager import BatchMemoryManager

    spec = scenario.training
    loader = DataLoader(train_set, batch_size=spec.batch_size, generator=generator)
    sample_rate, steps_planned = dp_schedule(len(train_set), spec.batch_size, spec.epochs)
    sigma = noise_multiplier(scenario.epsilon, scenario.delta, sample_rate, steps_planned)
    engine = PrivacyEngine(accountant="prv")
    optimizer = make_optimizer(model, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about secure_mode; see README "Secure mode"
        private = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=spec.max_grad_norm,
            poisson_sampling=True,
            noise_generator=noise_generator,
            grad_sample_mode=spec.grad_sample_mode,
            criterion=nn.CrossEntropyLoss(),
        )
    if spec.grad_sample_mode == "ghost":
        dp_model, dp_optimizer, criterion, dp_loader = private
    else:
        dp_model, dp_optimizer, dp_loader = private
        criterion = nn.CrossEntropyLoss()
    scheduler = make_scheduler(dp_optimizer, spec)
    physical = spec.max_physical_batch_size or spec.batch_size
    for _ in _epoch_bar(spec.epochs, bar_desc, show):
        dp_model.train()
        with BatchMemoryManager(
            data_loader=dp_loader, max_physical_batch_size=physical, optimizer=dp_optimizer
        ) as batches:
            for batch in batches:
                batch = [t.to(device) for t in batch]
                dp_optimizer.zero_grad(set_to_none=True)
                criterion(logits_of(dp_model, batch), batch[-1]).backward()
                dp_optimizer.step()
        if scheduler is not None:
            scheduler.step()
    steps = sum(num_steps for _, _, num_steps in engine.accountant.history)
    return {
        "noise_multiplier": sigma,
        "sample_rate": sample_rate,
        "steps": int(steps),
        "steps_planned": int(steps_planned),
        "max_grad_norm": spec.max_grad_norm,
        "grad_sample_mode": spec.grad_sample_mode,
        "max_physical_batch_size": physical,
        "epsilon_achieved": achieved_epsilon(tuple(engine.accountant.history), scenario.delta),
    }, dp_model._module


@contextmanager
def expected_warnings_silenced():
    """Opacus' notes on secure_mode and on backward hooks are expected here (README: secure mode)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"opacus\.")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        yield


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata so that ε = ∞ runs never import Opacus."""
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "opacus", "transformers", "numpy")}


@expected_warnings_silenced()
def train_model(
    scenario: ScenarioSpec,
    data: TaskData,
    training_indices: np.ndarray,
    evaluation_indices: np.ndarray,
    training_seed: int,
    device: torch.device,
    data_dir=None,
    show_progress: bool = False,
    description: str = "",
) -> TrainedModel:
    """Train one model on ``training_indices`` and measure it on ``evaluation_indices``.

    ``training_seed`` seeds the global torch RNG (initial weights, shuffling and Poisson batch
    selection) and a separate generator for the DP noise; the same seed gives identical weights on
    the same device and library versions.
    """
    started = time.perf_counter()
    torch.manual_seed(training_seed)
    model = create_model(scenario, data, data_dir).to(device)
    train_set = data.subset(training_indices)
    generator = torch.Generator().manual_seed(training_seed)
    info: dict[str, Any]
    if scenario.is_dp:
        noise_generator = torch.Generator(device=device).manual_seed(training_seed ^ NOISE_SEED_XOR)
        info, model = _train_dp(
            model,
            train_set,
            scenario,
            device,
            generator,
            noise_generator,
            description,
            show_progress,
        )
    else:
        info = _train_plain(
            model, train_set, scenario.training, device, generator, description, show_progress
        )
    test_accuracy = evaluate(model, data.subset(evaluation_indices), device)
    train_accuracy = evaluate(model, train_set, device)
    metadata = {
        "scenario": scenario.id,
        "epsilon_target": scenario.epsilon,
        "epsilon_achieved": info.pop("epsilon_achieved", math.inf) if scenario.is_dp else None,
        "delta": scenario.delta if scenario.is_dp else None,
        **info,
        "optimizer": scenario.training.optimizer,
        "lr": scenario.training.lr,
        "batch_size": scenario.training.batch_size,
        "epochs": scenario.training.epochs,
        "train_size": int(len(training_indices)),
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "device": str(device),
        "library_versions": library_versions(),
        "trainer": "standard",
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    return TrainedModel(model.cpu().eval(), metadata)
