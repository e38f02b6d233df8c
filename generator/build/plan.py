"""``python -m generator plan``: what training a preset will take, before any model is trained.

For every scenario: the DP schedule ``_train_dp`` will use (sample rate q, planned steps, σ from
:func:`training.noise_multiplier`, checked against an independent PRV accountant), the logical
and physical batch, the model's parameter count, an estimate of the memory one model needs, and
a time per model measured from a few real training steps on the chosen device; then the total
model count and the device-hours of the whole preset, per trainer.

Nothing here needs the real datasets: the steps run on synthetic data of the official shapes
(CIFAR-10 images 3×32×32 or the preset's CNN input, Purchase-100's 600 binary features and 100
classes, token ids of the preset's ``max_length``). A RoBERTa named by ``pretrained`` is built
with random weights from the ``config.json`` under the data directory when there is one, else
from roberta-base's published configuration (:data:`ROBERTA_BASE_CONFIG`); its size and step
time do not depend on the weights.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from micokit.archspec import architecture

from ..spec.kinds import DATASET_KINDS
from ..spec.presets import (
    DEFAULT_BATCH_MODELS,
    MLP_DEFAULTS,
    TRAINER_ARCHS,
    TRAINERS,
    Preset,
    ScenarioSpec,
)

SYNTHETIC_NOTE = "synthetic data of the official shapes"
WARMUP_STEPS = 1
# training.noise_multiplier calls get_noise_multiplier with this epsilon_tolerance: the σ it
# returns spends an ε in [target − tolerance, target].
EPSILON_TOLERANCE = 0.01
# roberta-base's published config.json (the keys that size the model), used only when the data
# directory holds no config.json for a ``pretrained`` model: the documented default.
ROBERTA_BASE_CONFIG = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "vocab_size": 50265,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "layer_norm_eps": 1e-5,
}
# On a CPU a logical step at the real shapes can take minutes (roberta-base, 1,024 sentences).
# There steps of at most CPU_PROBE_BATCH examples (and a quarter of that) are timed first; when
# they predict a real step longer than CPU_STEP_BUDGET_S, that prediction, scaled linearly to
# the logical batch, is the step time (time_standard).
CPU_PROBE_BATCH = 8
CPU_STEP_BUDGET_S = 1.5
# On a CPU a setup's timed steps also stop, after at least one, once they add up to this, so
# that ``plan --preset mico`` stays within minutes on a 2-core machine (and a busy one).
CPU_TIMING_BUDGET_S = 10.0
MAX_STEPS = 1000  # timed steps per scenario: a bound on --steps
BYTES = 4  # float32


# ----------------------------------------------------------------------- schedule and privacy


def schedule(scenario: ScenarioSpec) -> dict[str, Any]:
    """The steps and sample rate the trainer uses, from n and the batch size alone.

    ``_train_dp`` and ``_train_plain`` both iterate a ``DataLoader(train_set, batch_size)``
    of ``ceil(n / batch_size)`` batches: DP's sample rate is ``1 / len(loader)`` (what Opacus'
    Poisson loader uses) and its planned steps ``epochs · len(loader)``; ε = ∞ takes the same
    number of steps and reports ``batch_size / n`` as its sample rate.
    """
    from .training import dp_schedule

    spec = scenario.training
    dp_rate, steps = dp_schedule(scenario.n, spec.batch_size, spec.epochs)
    return {
        "steps_per_epoch": steps // spec.epochs,
        "steps": steps,
        "sample_rate": dp_rate if scenario.is_dp else spec.batch_size / scenario.n,
        "logical_batch": spec.batch_size,
        "physical_batch": spec.max_physical_batch_size or spec.batch_size,
    }


def prv_epsilon(sigma: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of ``steps`` Poisson-subsampled Gaussian steps, from a fresh Opacus PRV accountant."""
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.history = [(sigma, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=delta))


def privacy(scenario: ScenarioSpec, plan: dict[str, Any]) -> dict[str, Any]:
    """σ as training calibrates it, and the ε an independent accountant gives for it."""
    from .training import noise_multiplier

    if not scenario.is_dp:
        return {"sigma": None, "epsilon_achieved": None, "epsilon_ok": None}
    sigma = noise_multiplier(scenario.epsilon, scenario.delta, plan["sample_rate"], plan["steps"])
    achieved = prv_epsilon(sigma, plan["sample_rate"], plan["steps"], scenario.delta)
    ok = scenario.epsilon - EPSILON_TOLERANCE - 1e-9 <= achieved <= scenario.epsilon + 1e-9
    return {"sigma": sigma, "epsilon_achieved": achieved, "epsilon_ok": ok}


# ----------------------------------------------------------------------------- models and data


class _Tokens:
    """What ``training._tiny_roberta`` reads of a tokenizer: its size and special token ids
    (those of the locally trained byte-level BPE: <s> 0, <pad> 1, </s> 2)."""

    pad_token_id, bos_token_id, eos_token_id = 1, 0, 2

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def build_model(scenario: ScenarioSpec, data_dir: Path | None):
    """The scenario's untrained model and where its configuration came from.

    CNN and MLP: :func:`training.create_model`. A from-config RoBERTa: ``create_model`` with a
    stand-in tokenizer of the dataset's ``vocab_size`` (the upper bound the preset check uses),
    without public pretraining. A ``pretrained`` RoBERTa: random weights from its config.json
    under the data directory, else from :data:`ROBERTA_BASE_CONFIG`.
    """
    from .datasets import TaskData, resolve_model_path
    from .training import create_model

    spec = scenario.model
    if architecture(spec["arch"]).network is not None:
        return create_model(scenario, None, data_dir), "random initial weights"
    from transformers import RobertaConfig, RobertaForSequenceClassification

    if not spec.get("pretrained"):
        bare = replace(scenario, model={k: v for k, v in spec.items() if k != "public_pretraining"})
        data = TaskData("synthetic", "text", None, tokenizer=_Tokens(scenario.dataset.vocab_size))
        return create_model(bare, data, data_dir), "the preset's config; random weights"
    config_file = resolve_model_path(spec["pretrained"], data_dir) / "config.json"
    if data_dir is not None and config_file.is_file():
        config = RobertaConfig.from_json_file(str(config_file))
        source = f"{config_file}; random weights"
    else:
        missing = f"no {config_file}" if data_dir is not None else "no --data-dir"
        source = (
            f"roberta-base's published config ({missing}); random weights, the same size as "
            "the checkpoint"
        )
        config = RobertaConfig(**ROBERTA_BASE_CONFIG)
    config.num_labels = 2
    return RobertaForSequenceClassification(config), source


def synthetic_tensors(scenario: ScenarioSpec, model, count: int, seed: int = 0) -> list:
    """``count`` synthetic examples of the model's input shape, as (inputs..., labels).

    Images: standard normal pixels. Tabular: binary features (Purchase-100's are 0/1). Text:
    token ids framed by <s> … </s> at the preset's ``max_length``, attention masks of ones
    (SST-2 is padded to ``max_length``, so every sentence costs the full length).
    """
    import torch
    from micokit.architectures import input_shape, num_classes

    generator = torch.Generator().manual_seed(seed)
    spec = scenario.model
    modality = architecture(spec["arch"]).modality
    if modality == "text":
        config = model.config
        length = scenario.dataset.max_length
        ids = torch.randint(3, config.vocab_size, (count, length), generator=generator)
        ids[:, 0], ids[:, -1] = config.bos_token_id or 0, config.eos_token_id or 2
        mask = torch.ones(count, length, dtype=torch.int64)
        return [ids, mask, torch.randint(0, 2, (count,), generator=generator)]
    shape, classes = input_shape(spec), num_classes(spec)
    if modality == "image":
        x = torch.randn(count, *shape, generator=generator)
    else:
        x = (torch.rand(count, *shape, generator=generator) < 0.1).float()
    return [x, torch.randint(0, classes, (count,), generator=generator)]


def activation_counts(model, example: list) -> tuple[int, int]:
    """(A, G) per example: values output by every leaf module, and the inputs plus outputs of
    the leaf modules with trainable parameters, counted with forward hooks on one example."""
    import torch

    from .training import logits_of

    counts = [0, 0]

    def numel(value) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel()
        if isinstance(value, (tuple, list)):
            return sum(numel(v) for v in value)
        return 0

    def hook(module, inputs, output) -> None:
        counts[0] += numel(output)
        if any(p.requires_grad for p in module.parameters(recurse=False)):
            counts[1] += numel(inputs) + numel(output)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()
            logits_of(model, [t[:1] for t in example])
    finally:
        for handle in handles:
            handle.remove()
    return counts[0], counts[1]


def optimizer_slots(scenario: ScenarioSpec) -> int:
    """Values of optimizer state per parameter: Adam 2, SGD with momentum 1, plain SGD 0."""
    spec = scenario.training
    if spec.optimizer == "adam":
        return 2
    return 1 if spec.momentum else 0


def memory_estimate(scenario: ScenarioSpec, parameters: int, activations: tuple[int, int]) -> int:
    """Bytes one model needs in training (float32), by this formula::

        M = 4 · [ P·(2 + s) + B·A + DP ]
        DP = 0                (ε = ∞)
           = B·P + P          (hooks: per-sample gradients grad_sample, plus summed_grad)
           = B·G + P          (ghost: activations and backprops kept for the per-sample
                               norms and the second, reweighted backward, plus summed_grad)

    P: trainable parameters (weights and gradients: the 2); s: optimizer state per parameter
    (:func:`optimizer_slots`); B: the physical batch, at most the logical one; A and G: per
    example, leaf-module outputs and the inputs plus outputs of trainable leaf modules
    (:func:`activation_counts`). An estimate: attention scores made outside modules, the CUDA
    context and the allocator's slack are not counted.
    """
    plan = schedule(scenario)
    p, s = parameters, optimizer_slots(scenario)
    b = min(plan["physical_batch"], plan["logical_batch"])
    a, g = activations
    dp = 0
    if scenario.is_dp:
        dp = b * p + p if scenario.training.grad_sample_mode == "hooks" else b * g + p
    return BYTES * (p * (2 + s) + b * a + dp)


def batched_memory_estimate(scenario: ScenarioSpec, parameters: int, k: int) -> int:
    """Bytes of the batched trainer's K stacked MLPs (float32), by this formula::

        M = 4 · [ K·(P·(3 + s) + B·(F + 3H + 3C)) + D·(F + 2) ]

    P parameters per model (weights, gradients, noise: the 3), s optimizer state per parameter;
    per model and example of the logical batch B the gathered inputs (F), hidden activations,
    their output gradients and the weighted copy (3H) and logits, log-probabilities and
    δ2 (3C); D·(F + 2): the feature table kept on the device (D rows of the dataset, plus
    labels and squared norms).
    """
    spec = {**MLP_DEFAULTS, **scenario.model}
    f, h, c = spec["in_features"], spec["hidden"], spec["num_classes"]
    b = scenario.training.batch_size
    kind = scenario.dataset.kind
    rows = scenario.dataset.size or DATASET_KINDS[kind].official_size or scenario.n + scenario.m
    per_model = parameters * (3 + optimizer_slots(scenario)) + b * (f + 3 * h + 3 * c)
    return BYTES * (k * per_model + rows * (f + 2))


# ------------------------------------------------------------------------------------- timing


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _spent(device, seconds: float) -> bool:
    """Whether timed steps totalling ``seconds`` are enough (the CPU's budget; never elsewhere)."""
    return device.type == "cpu" and seconds > CPU_TIMING_BUDGET_S


def _forever(dataset, batch_size: int, seed: int):
    """Shuffled batches of a DataLoader over the synthetic set, round after round (the per-
    example fetch and collation that training's loaders do is part of every step)."""
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


@dataclass
class _Stepper:
    """One model set up as the scenario's trainer sets it up; ``step`` times one logical step.

    ε = ∞: ``_train_plain``'s step (``training._accumulate_gradients`` in physical slices, then
    the optimizer). DP: ``_train_dp``'s ``PrivacyEngine.make_private`` (PRV accountant, the
    preset's grad_sample_mode and clipping norm, σ) and its loop body, each logical batch split
    as BatchMemoryManager splits it (``np.array_split`` into ⌈B / physical⌉ slices, skip
    signalled on all but the last). The batches are drawn with a fixed size instead of by
    Poisson sampling, so that each of the few timed steps carries the logical batch.
    """

    scenario: ScenarioSpec
    model: Any
    optimizer: Any
    criterion: Any
    device: Any

    @classmethod
    def create(cls, scenario: ScenarioSpec, model, device, sigma: float | None, dataset):
        from torch import nn
        from torch.utils.data import DataLoader

        from .training import make_optimizer

        spec = scenario.training
        model = model.to(device)
        model.train()
        optimizer = make_optimizer(model, spec)
        criterion = nn.CrossEntropyLoss()
        if scenario.is_dp:
            from opacus import PrivacyEngine

            engine = PrivacyEngine(accountant="prv")
            loader = DataLoader(dataset, batch_size=spec.batch_size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                private = engine.make_private(
                    module=model,
                    optimizer=optimizer,
                    data_loader=loader,
                    noise_multiplier=sigma,
                    max_grad_norm=spec.max_grad_norm,
                    poisson_sampling=False,
                    grad_sample_mode=spec.grad_sample_mode,
                    criterion=criterion,
                )
            if spec.grad_sample_mode == "ghost":
                model, optimizer, criterion, _ = private
            else:
                model, optimizer, _ = private
            model.train()
        return cls(scenario, model, optimizer, criterion, device)

    def step(self, batch: list, physical: int) -> tuple[float, float]:
        """(forward/backward seconds, final optimizer step seconds) of one logical batch."""
        from .training import _accumulate_gradients, logits_of

        started = time.perf_counter()
        if not self.scenario.is_dp:
            batch = [t.to(self.device) for t in batch]
            self.optimizer.zero_grad(set_to_none=True)
            _accumulate_gradients(self.model, batch, self.criterion, physical)
            _sync(self.device)
            middle = time.perf_counter()
            self.optimizer.step()
            _sync(self.device)
            return middle - started, time.perf_counter() - middle
        slices = math.ceil(len(batch[-1]) / physical)
        parts = [t.tensor_split(slices) for t in batch]
        for j in range(slices):
            part = [p[j].to(self.device) for p in parts]
            last = j == slices - 1
            self.optimizer.signal_skip_step(do_skip=not last)
            self.optimizer.zero_grad(set_to_none=True)
            self.criterion(logits_of(self.model, part), part[-1]).backward()
            if last:
                _sync(self.device)
                middle = time.perf_counter()
            self.optimizer.step()
        _sync(self.device)
        return middle - started, time.perf_counter() - middle


def time_standard(
    scenario: ScenarioSpec, model, device, steps: int, sigma: float | None
) -> dict[str, Any]:
    """Seconds per logical step of ``train_model``'s trainer, measured after a warm-up step.

    Real shapes on an accelerator: a warm-up step, then ``steps`` timed ones; the step time is
    their median (robust to a stray stall on a shared machine).

    On a CPU a real step can take minutes, so after a warm-up on b = :data:`CPU_PROBE_BATCH`
    examples (at most the physical batch) steps alternate between b and b / 4 examples, each
    one physical slice. Their forward/backward times fit ``c0 + c1 · examples`` (a fixed cost
    per slice and a cost per example), and a real step is predicted as
    ``⌈B / physical⌉ · c0 + c1 · B + optimizer_step``. When the first pair predicts at most
    :data:`CPU_STEP_BUDGET_S`, the real shapes are timed as on an accelerator instead;
    otherwise the prediction from the medians of all pairs is the (``scaled``) step time.
    Timed steps on a CPU stop early, after one (pair) at least, once they pass
    :data:`CPU_TIMING_BUDGET_S`.
    """
    import torch
    from torch.utils.data import TensorDataset

    plan = schedule(scenario)
    logical, physical = plan["logical_batch"], min(plan["physical_batch"], plan["logical_batch"])
    big = min(physical, CPU_PROBE_BATCH) if device.type == "cpu" else logical
    small = max(1, big // 4)
    pool = min(logical * (WARMUP_STEPS + steps), max(4 * logical, 8192))
    dataset = TensorDataset(*synthetic_tensors(scenario, model, pool))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"opacus\.")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        stepper = _Stepper.create(scenario, model, device, sigma, dataset)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        if big < logical:
            fitted = _scaled_step(stepper, dataset, logical, physical, big, small, steps, device)
            if fitted is not None:
                per_step, timed = fitted
                return _timing(scenario, plan, per_step, timed, big, big, True, device)
        batches = _forever(dataset, logical, 2)
        for _ in range(WARMUP_STEPS):
            stepper.step(next(batches), physical)
        times: list[float] = []
        while len(times) < steps and not _spent(device, sum(times)):
            times.append(sum(stepper.step(next(batches), physical)))
    per_step = statistics.median(times)
    return _timing(scenario, plan, per_step, len(times), logical, physical, False, device)


def _scaled_step(stepper, dataset, logical, physical, big, small, steps, device):
    """(predicted seconds per real step, steps timed), or None when a real step is cheap."""
    batches = {size: _forever(dataset, size, size) for size in (big, small)}
    for _ in range(WARMUP_STEPS):
        stepper.step(next(batches[big]), big)
    timed: dict[int, list[tuple[float, float]]] = {big: [], small: []}

    def predict() -> float:
        fb_big = statistics.median(t[0] for t in timed[big])
        fb_small = statistics.median(t[0] for t in timed[small])
        optimizer_step = statistics.median(t[1] for t in timed[big] + timed[small])
        per_example = (fb_big - fb_small) / (big - small) if big > small else 0.0
        if per_example <= 0:  # noise swamped the difference: all of it per example
            per_example, fixed = fb_big / big, 0.0
        else:
            fixed = max(0.0, fb_big - per_example * big)
        slices = math.ceil(logical / physical)
        return slices * fixed + per_example * logical + optimizer_step

    while True:
        for size in (big, small):
            timed[size].append(stepper.step(next(batches[size]), size))
        count = len(timed[big]) + len(timed[small])
        if count == 2 and predict() <= CPU_STEP_BUDGET_S:
            return None
        spent = sum(sum(t) for t in timed[big] + timed[small])
        if count >= steps or _spent(device, spent):
            return predict(), count


def _timing(scenario, plan, per_step, timed, size, physical, scaled, device) -> dict[str, Any]:
    import torch

    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "trainer": "opacus" if scenario.is_dp else "plain",
        "step_s": per_step,
        "model_s": per_step * plan["steps"],
        "timed_steps": timed,
        "measured_batch": size,
        "measured_physical_batch": physical,
        "scaled": scaled,
        "measured_peak_bytes": peak,
    }


def time_batched(
    scenario: ScenarioSpec, k: int, device, steps: int, sigma: float | None
) -> dict[str, Any]:
    """Seconds per model of ``batched.train_mlps_batched`` with K models in one stack.

    The loop body of ``batched.train_stacked`` (its batch draws over the real n — Poisson
    masks for DP, shuffled batches for ε = ∞ — gathering, gradients, noise, finiteness check
    and optimizer step) for ``WARMUP_STEPS + steps`` steps, on synthetic binary features of
    n rows; a step trains all K models, so a model costs ``step · steps_planned / K``.
    """
    import numpy as np
    import torch

    from .batched import (
        StackedMLP,
        _Data,
        _Tracker,
        apply_gradients,
        dp_gradients,
        draw_noise,
        masks_to_batches,
        pad_batches,
        plain_epoch_batches,
        plain_gradients,
        poisson_epoch_masks,
    )
    from .datasets import TaskData
    from .training import NOISE_SEED_XOR, create_model, make_optimizer

    spec, plan, n = scenario.training, schedule(scenario), scenario.n
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(create_model(scenario, None, None))
    stacked = StackedMLP(models).to(device)
    x, y = synthetic_tensors(scenario, models[0], n)
    data = TaskData("synthetic", "tabular", y.numpy(), features=x)
    rng = np.random.default_rng(0)
    table = _Data(data, [rng.permutation(n) for _ in range(k)], device, stacked.w1.dtype)
    del x, data
    samplers = [torch.Generator().manual_seed(seed) for seed in range(k)]
    noisers = [torch.Generator(device=device).manual_seed(s ^ NOISE_SEED_XOR) for s in range(k)]
    optimizer = make_optimizer(stacked, spec)
    tracker = _Tracker(stacked)
    rate, per_epoch = plan["sample_rate"], plan["steps_per_epoch"]

    def batches():
        while True:
            if scenario.is_dp:
                masks = [poisson_epoch_masks(n, rate, per_epoch, g) for g in samplers]
                yield from (masks_to_batches(torch.stack(s)) for s in zip(*masks, strict=True))
            else:
                draws = [plain_epoch_batches(n, spec.batch_size, g) for g in samplers]
                yield from (pad_batches(s) for s in zip(*draws, strict=True))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    stream, times = batches(), []
    for i in range(WARMUP_STEPS + steps):
        if _spent(device, sum(times)):
            break
        started = time.perf_counter()
        positions, mask = next(stream)
        batch = table.batch(positions, mask)
        if scenario.is_dp:
            noise = draw_noise(stacked, sigma * spec.max_grad_norm, noisers)
            gradients = dp_gradients(
                stacked,
                batch.x,
                batch.y,
                batch.mask,
                spec.max_grad_norm,
                noise,
                int(n * rate),
                batch.x_sq,
            )
        else:
            gradients = plain_gradients(stacked, batch.x, batch.y, batch.mask)
        tracker.check(stacked, gradients, i, 0)
        apply_gradients(stacked, optimizer, gradients, tracker.active)
        _sync(device)
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - started)
    per_step = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "trainer": "batched",
        "batch_models": k,
        "step_s": per_step,
        "model_s": per_step * plan["steps"] / k,
        "timed_steps": len(times),
        "measured_batch": spec.batch_size,
        "scaled": False,
        "measured_peak_bytes": peak,
    }


# ------------------------------------------------------------------------------- the whole plan


def _shape_key(scenario: ScenarioSpec) -> str:
    """What a step's cost depends on (not ε: scenarios differing only in ε share a timing)."""
    return repr(
        (scenario.dataset, sorted(scenario.model.items()), scenario.training, scenario.is_dp)
        + (scenario.n,)
    )


def plan_preset(
    preset: Preset,
    device,
    data_dir: Path | None = None,
    steps: int = 5,
    batch_models: int = DEFAULT_BATCH_MODELS,
    progress=None,
) -> dict[str, Any]:
    """Everything ``plan`` prints, as one JSON-ready mapping (see the module docstring)."""
    import torch

    models_per_scenario = sum(preset.models.values())
    rows, measured, notes, sources = [], {}, [], {}
    for task in preset.tasks:
        for scenario in task.scenarios:
            if progress:
                progress(f"planning {scenario.id} …")
            plan = schedule(scenario)
            row: dict[str, Any] = {
                "task": task.id,
                "scenario": scenario.id,
                "label": scenario.label,
                "epsilon": scenario.epsilon,
                "delta": scenario.delta if scenario.is_dp else None,
                "arch": scenario.model["arch"],
                "n": scenario.n,
                "epochs": scenario.training.epochs,
                "optimizer": scenario.training.optimizer,
                "grad_sample_mode": scenario.training.grad_sample_mode if scenario.is_dp else None,
                **plan,
                **privacy(scenario, plan),
                "models": models_per_scenario,
            }
            key = _shape_key(scenario)
            if key not in measured:
                torch.manual_seed(0)
                model, source = build_model(scenario, data_dir)
                params = sum(p.numel() for p in model.parameters() if p.requires_grad)
                example = synthetic_tensors(scenario, model, 1)
                counts = activation_counts(model, example)
                entry = {
                    "parameters": params,
                    "model_source": source,
                    "activations_per_example": counts[0],
                    "trainable_io_per_example": counts[1],
                    "memory_bytes": {"standard": memory_estimate(scenario, params, counts)},
                    "timing": {},
                }
                entry["timing"]["standard"] = time_standard(
                    scenario, model, device, steps, row["sigma"]
                )
                del model
                if scenario.model["arch"] in TRAINER_ARCHS["batched"]:
                    entry["memory_bytes"]["batched"] = batched_memory_estimate(
                        scenario, params, batch_models
                    )
                    entry["timing"]["batched"] = time_batched(
                        scenario, batch_models, device, steps, row["sigma"]
                    )
                measured[key] = entry
            row.update(measured[key])
            rows.append(row)
            if architecture(row["arch"]).network is None:
                sources.setdefault(row["model_source"], []).append(scenario.id)
    for source, ids in sources.items():
        notes.append(f"RoBERTa of {', '.join(ids)}: {source}")
    totals = _totals(rows)
    scaled = sorted({r["scenario"] for r in rows if r["timing"]["standard"]["scaled"]})
    if scaled:
        notes.append(
            f"scaled: {', '.join(scaled)}: timed on at most {CPU_PROBE_BATCH} examples per "
            "step on the CPU and scaled linearly to the logical batch (a fit of fixed cost "
            "per physical slice plus cost per example, then the optimizer step once)"
        )
    return {
        "preset": preset.name,
        "preset_path": str(preset.path),
        "device": str(device),
        "data": SYNTHETIC_NOTE,
        "warmup_steps": WARMUP_STEPS,
        "timed_steps": steps,
        "batch_models": batch_models,
        "models_per_scenario": dict(preset.models),
        "scenarios": rows,
        "totals": totals,
        "notes": notes,
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Model count and device-hours: every model with train_model's trainer (``standard``), and
    with the batched trainer for the MLP scenarios, train_model's for the rest (``batched``).
    Timed training steps only: model creation, evaluation and saving are not included."""
    hours = {}
    for trainer in TRAINERS:
        seconds = 0.0
        for row in rows:
            timing = row["timing"].get(trainer, row["timing"]["standard"])
            seconds += row["models"] * timing["model_s"]
        hours[trainer] = seconds / 3600
    return {
        "models": sum(row["models"] for row in rows),
        "scenarios": len(rows),
        "device_hours": hours,
    }


# ------------------------------------------------------------------------------------ rendering


def _bytes(value: int | None) -> str:
    if value is None:
        return "—"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.2f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    return f"{value:.2f} s"


def _hours(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.2g}"


def _memory(row: dict[str, Any]) -> str:
    """The estimate, and the peak torch allocated in the timed steps where it can say (CUDA)."""
    text = _bytes(row["memory_bytes"]["standard"])
    peak = row["timing"]["standard"]["measured_peak_bytes"]
    return text if peak is None else f"{text} (peak {_bytes(peak)})"


def _count(value: int) -> str:
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value:,}"


def render(result: dict[str, Any]) -> str:
    """The plan as a plain-text table, one row per scenario, then totals and notes."""
    header = (
        "scenario",
        "ε",
        "σ",
        "ε (PRV)",
        "q",
        "steps",
        "batch/phys",
        "params",
        "memory",
        "s/step",
        "per model",
        "batched/model",
        "models",
    )
    table = [header]
    for row in result["scenarios"]:
        standard = row["timing"]["standard"]
        batched = row["timing"].get("batched")
        eps = "∞" if row["epsilon"] is None else f"{row['epsilon']:g}"
        achieved = "—"
        if row["epsilon_achieved"] is not None:
            achieved = f"{row['epsilon_achieved']:.3f}" + ("" if row["epsilon_ok"] else " (!)")
        table.append(
            (
                row["scenario"],
                eps,
                "—" if row["sigma"] is None else f"{row['sigma']:.4f}",
                achieved,
                f"{row['sample_rate']:.4g}",
                f"{row['steps']:,}",
                f"{row['logical_batch']}/{row['physical_batch']}",
                _count(row["parameters"]),
                _memory(row),
                f"{standard['step_s']:.3f}" + ("*" if standard["scaled"] else ""),
                _seconds(standard["model_s"]),
                "—" if batched is None else _seconds(batched["model_s"]),
                str(row["models"]),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        f"plan for preset {result['preset']} on {result['device']}: {result['data']}; "
        f"{result['warmup_steps']} warm-up + up to {result['timed_steps']} timed step(s) per "
        "setup"
        + (
            f" (on the CPU, fewer once they pass {CPU_TIMING_BUDGET_S:g} s)"
            if result["device"] == "cpu"
            else ""
        ),
        "",
    ]
    for i, line in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    totals = result["totals"]
    hours = totals["device_hours"]
    lines += [
        "",
        f"models: {totals['models']:,} ({totals['scenarios']} scenarios × "
        f"{sum(result['models_per_scenario'].values())}: "
        + ", ".join(f"{k} {v}" for k, v in result["models_per_scenario"].items())
        + ")",
        f"device-hours (training steps only): {_hours(hours['standard'])} with train_model's "
        f"trainers; {_hours(hours['batched'])} with the batched trainer for MLP scenarios "
        f"(K = {result['batch_models']})",
        "σ: training.noise_multiplier (PRV, tolerance "
        f"{EPSILON_TOLERANCE}); ε (PRV): a fresh opacus PRVAccountant for (σ, q, steps) at δ"
        + ("" if all(r["epsilon_ok"] is not False for r in result["scenarios"]) else "; (!) off")
        + "; memory: estimate per model (generator.build.plan.memory_estimate)",
    ]
    lines += [f"note: {note}" for note in result["notes"]]
    if any(r["timing"]["standard"]["scaled"] for r in result["scenarios"]):
        lines.append("* scaled: see the note above")
    return "\n".join(lines)
