"""Train K same-architecture MLPs in one program: ε = ∞ (Adam/SGD) and DP-SGD.

Why: a tabular scenario trains hundreds of small MICO MLPs (600 → 128, tanh, → 100). One at a
time, each step of each model pays Python, autograd, DataLoader collation and (for DP) Opacus'
per-sample machinery; the matrices themselves are small. Here the K models' weights are stacked
(``[K, out, in]``), every step runs a handful of batched matrix products for all of them, and
the backward pass is written out by hand, so no autograd graph and no hooks are built.

The semantics are those of :func:`generator.build.training.train_model`, model by model, and the
tests hold the two side by side:

- initial weights: ``torch.manual_seed(training_seed)`` then ``create_model``, as train_model;
- batches: each model keeps its own ``torch.Generator().manual_seed(training_seed)`` and draws
  from it exactly what train_model's loaders draw (see :func:`plain_epoch_batches` and
  :func:`poisson_epoch_masks`), so the same seed selects the same batches;
- DP-SGD, as Opacus 1.6 does it (``opacus/optimizers/optimizer.py``):
  per-sample gradients clipped to C over all parameters at once with the factor
  ``min(1, C / (‖g_i‖ + 1e-6))`` (``DPOptimizer.clip_and_accumulate``; ghost clipping's
  ``GradSampleModuleFastGradientClipping.get_clipping_coef`` is the same formula), the clipped
  sum plus ``N(0, σ²C²)`` noise drawn per parameter, in parameter order, from the model's own
  noise generator (``_generate_noise`` / ``DPOptimizer.add_noise``), divided by the expected
  batch size ``int(N · q)`` (``DPOptimizer.scale_grad`` with ``loss_reduction="mean"``;
  ``PrivacyEngine.make_private`` sets ``expected_batch_size = int(len(dataset) * sample_rate)``).
  An empty Poisson batch is a step of pure noise, as in Opacus (its DPDataLoader yields a
  zero-length batch, ``clip_and_accumulate`` sums nothing, noise is still added and the
  accountant counts the step);
- per-sample gradient norms by the ghost-norm identity for a linear layer with one token per
  sample, ``‖∂ℓ_i/∂W‖² = ‖a_i‖²·‖δ_i‖²`` and ``‖∂ℓ_i/∂b‖² = ‖δ_i‖²`` (what Opacus'
  ``grad_sample/linear.py: compute_linear_norm_sample`` computes); the clipped sum is then
  book-kept from the stored activations ``a`` and output gradients ``δ`` as
  ``Σ_i c_i δ_i a_iᵀ = (c·δ)ᵀ a`` — one batched product per layer, no per-sample gradient is
  ever materialised (``method="autograd"`` does a second, weighted backward instead; it is
  slower and kept for the benchmark);
- the optimizer and scheduler are :func:`training.make_optimizer` / :func:`make_scheduler`
  applied to the stacked parameters: Adam, SGD, momentum and weight decay are elementwise, so
  one optimizer over ``[K, ...]`` tensors is K independent optimizers;
- σ from :func:`training.noise_multiplier`, ε from :func:`training.achieved_epsilon` with the
  accountant history Opacus would record, ``((σ, q, steps),)``.

A model whose loss or gradient turns non-finite is frozen at its last finite weights and
reported in its metadata (``non_finite``); the others carry on, since nothing mixes models.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .datasets import TaskData
from ..spec.presets import ScenarioSpec, TrainingSpec
from .training import (
    EVAL_BATCH,
    NOISE_SEED_XOR,
    TrainedModel,
    achieved_epsilon,
    create_model,
    dp_schedule,
    expected_warnings_silenced,
    library_versions,
    make_optimizer,
    make_scheduler,
    noise_multiplier,
)

# MicoMLP's state_dict keys, in parameter order (the order Opacus draws noise in).
PARAM_NAMES = ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias")
CLIP_EPS = 1e-6  # Opacus: max_grad_norm / (per_sample_norms + 1e-6)


def _check_mlp(model: nn.Module) -> None:
    """Only MicoMLP's shape (Linear, Tanh, Linear) is implemented by hand below."""
    layers = getattr(model, "layers", None)
    kinds = [type(m) for m in layers] if isinstance(layers, nn.Sequential) else []
    names = tuple(name for name, _ in model.named_parameters())
    if kinds != [nn.Linear, nn.Tanh, nn.Linear] or names != PARAM_NAMES:
        raise ValueError("the batched trainer handles MicoMLP (Linear, Tanh, Linear) models only")


class StackedMLP(nn.Module):
    """K MicoMLPs as four stacked parameters: w1 [K,H,F], b1 [K,H], w2 [K,C,H], b2 [K,C].

    The parameter order (w1, b1, w2, b2) is MicoMLP's own, so per-model noise is drawn in the
    order Opacus draws it.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("need at least one model")
        for model in models:
            _check_mlp(model)
        states = [m.state_dict() for m in models]
        stacked = [torch.stack([s[name].detach() for s in states]).clone() for name in PARAM_NAMES]
        self.w1, self.b1, self.w2, self.b2 = (nn.Parameter(t) for t in stacked)
        # In a tuple, so that the template's parameters are not registered as this module's.
        self._template = (copy.deepcopy(models[0]).cpu(),)

    @property
    def k(self) -> int:
        return self.w1.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [K, B, C] of inputs [K, B, F] (model k sees x[k])."""
        h = torch.tanh(torch.baddbmm(self.b1.unsqueeze(1), x, self.w1.transpose(1, 2)))
        return torch.baddbmm(self.b2.unsqueeze(1), h, self.w2.transpose(1, 2))

    def state_of(self, k: int) -> dict[str, torch.Tensor]:
        return {
            name: p[k].detach().clone()
            for name, p in zip(PARAM_NAMES, self.parameters(), strict=True)
        }

    def model(self, k: int) -> nn.Module:
        """Model k as an ordinary MicoMLP (same state_dict keys and shapes as create_model's)."""
        module = copy.deepcopy(self._template[0])
        module.load_state_dict(self.state_of(k))
        return module


@dataclass
class Gradients:
    """Per-model gradients of one step, shaped like the stacked parameters."""

    grads: list[torch.Tensor]  # [K, ...] each, in parameter order
    loss: torch.Tensor  # [K] mean loss over each model's own batch (NaN for an empty batch)
    per_sample_norms: torch.Tensor | None  # [K, B] (DP only; padding rows included)
    has_rows: torch.Tensor  # [K] bool: the model's batch is not empty


def _forward_and_deltas(stacked: StackedMLP, x, y):
    """Activations and per-sample output gradients of the cross-entropy, written out.

    δ2 = softmax(z2) − onehot(y) is ∂ℓ_i/∂z2 for sample i alone, and δ1 = (δ2 W2) ⊙ (1 − h²)
    is ∂ℓ_i/∂z1; with a single token per sample these determine every per-sample gradient.
    """
    h = torch.tanh(torch.baddbmm(stacked.b1.detach().unsqueeze(1), x, stacked.w1.detach().mT))
    logits = torch.baddbmm(stacked.b2.detach().unsqueeze(1), h, stacked.w2.detach().mT)
    logp = torch.log_softmax(logits, dim=-1)
    target = y.unsqueeze(-1)
    loss = -logp.gather(-1, target).squeeze(-1)  # [K, B]
    d2 = logp.exp_()
    d2.scatter_add_(-1, target, torch.full_like(target, -1, dtype=d2.dtype))
    d1 = torch.bmm(d2, stacked.w2.detach()).mul_(1 - h * h)
    return h, loss, d1, d2


def _weighted_sums(x, h, d1, d2, weights) -> list[torch.Tensor]:
    """Σ_i w_i ∂ℓ_i/∂θ for every parameter θ, from activations and output gradients."""
    w = weights.unsqueeze(-1)
    wd1, wd2 = d1 * w, d2 * w
    return [torch.bmm(wd1.mT, x), wd1.sum(1), torch.bmm(wd2.mT, h), wd2.sum(1)]


def _masked_mean_loss(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    counts = mask.sum(1)
    total = torch.where(mask, loss, torch.zeros_like(loss)).sum(1)
    return total / counts.to(loss.dtype)  # 0/0 = NaN for an empty batch, like Opacus' mean


def plain_gradients(stacked: StackedMLP, x, y, mask) -> Gradients:
    """Each model's gradient of its mean cross-entropy over its batch (``mask`` marks real rows).

    The same gradient as ``nn.CrossEntropyLoss()(model(x_k), y_k).backward()`` per model.
    """
    h, loss, d1, d2 = _forward_and_deltas(stacked, x, y)
    counts = mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)
    weights = mask.to(x.dtype) / counts
    sums = _weighted_sums(x, h, d1, d2, weights)
    return Gradients(sums, _masked_mean_loss(loss, mask), None, mask.any(1))


def clipped_gradient_sums(
    stacked: StackedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    max_grad_norm: float,
    x_sq_norms: torch.Tensor | None = None,
    method: str = "bookkeeping",
) -> Gradients:
    """Σ_i c_i g_i per model, c_i = min(1, C / (‖g_i‖ + 1e-6)) over all parameters (flat).

    This is Opacus' ``p.summed_grad`` after ``DPOptimizer.clip_and_accumulate``; padded rows
    (``mask`` false) get c_i = 0. ``x_sq_norms`` [K, B] may carry precomputed ‖x_i‖².
    ``method="autograd"`` computes δ by autograd and the sum by a second, weighted backward
    (as Opacus' ghost clipping does); ``"bookkeeping"`` writes both out.
    """
    if method == "autograd":
        return _clipped_sums_autograd(stacked, x, y, mask, max_grad_norm)
    h, loss, d1, d2 = _forward_and_deltas(stacked, x, y)
    if x_sq_norms is None:
        x_sq_norms = (x * x).sum(-1)
    d1_sq, d2_sq = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    sq = d1_sq * (x_sq_norms + 1) + d2_sq * ((h * h).sum(-1) + 1)
    norms = sq.sqrt()
    factor = (max_grad_norm / (norms + CLIP_EPS)).clamp(max=1.0).masked_fill_(~mask, 0.0)
    sums = _weighted_sums(x, h, d1, d2, factor)
    return Gradients(sums, _masked_mean_loss(loss, mask), norms, mask.any(1))


def _clipped_sums_autograd(stacked, x, y, mask, max_grad_norm) -> Gradients:
    params = list(stacked.parameters())
    with torch.enable_grad():
        z1 = torch.baddbmm(stacked.b1.unsqueeze(1), x, stacked.w1.mT)
        h = torch.tanh(z1)
        z2 = torch.baddbmm(stacked.b2.unsqueeze(1), h, stacked.w2.mT)
        loss = nn.functional.cross_entropy(z2.flatten(0, 1), y.flatten(), reduction="none")
        loss = loss.view_as(y)
        d1, d2 = torch.autograd.grad(loss.sum(), [z1, z2], retain_graph=True)
        sq = (d1 * d1).sum(-1) * ((x * x).sum(-1) + 1) + (d2 * d2).sum(-1) * (
            (h.detach() ** 2).sum(-1) + 1
        )
        norms = sq.sqrt()
        factor = (max_grad_norm / (norms + CLIP_EPS)).clamp(max=1.0).masked_fill(~mask, 0.0)
        grads = torch.autograd.grad((loss * factor).sum(), params)
    return Gradients(list(grads), _masked_mean_loss(loss.detach(), mask), norms, mask.any(1))


def draw_noise(
    stacked: StackedMLP, std: float, generators: Sequence[torch.Generator]
) -> list[torch.Tensor]:
    """N(0, std²) noise shaped like the stacked parameters, model k's from ``generators[k]``.

    Per model, one draw per parameter in parameter order, as Opacus' ``DPOptimizer.add_noise``
    calls ``_generate_noise`` (``torch.normal(0, std, size, generator)``): the same generator
    state gives the same noise as a one-model Opacus run.
    """
    noise = [
        torch.empty_like(p, memory_format=torch.contiguous_format) for p in stacked.parameters()
    ]
    if std == 0:
        return [n.zero_() for n in noise]
    for k, generator in enumerate(generators):
        for n in noise:
            n[k].normal_(0.0, std, generator=generator)
    return noise


def dp_gradients(
    stacked: StackedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    max_grad_norm: float,
    noise: Sequence[torch.Tensor],
    expected_batch_size: int,
    x_sq_norms: torch.Tensor | None = None,
    method: str = "bookkeeping",
) -> Gradients:
    """The gradient DP-SGD hands the optimizer: (Σ_i c_i g_i + noise) / expected_batch_size.

    Opacus: ``DPOptimizer.pre_step`` = ``clip_and_accumulate``, ``add_noise`` (p.grad =
    summed_grad + noise), ``scale_grad`` (p.grad /= expected_batch_size · accumulated_iterations,
    the latter 1 here: BatchMemoryManager's physical slices only split one logical batch).
    ``noise`` holds explicit noise tensors, shaped like the stacked parameters (see
    :func:`draw_noise`), so tests can feed Opacus and this function the same draws.
    """
    result = clipped_gradient_sums(stacked, x, y, mask, max_grad_norm, x_sq_norms, method)
    result.grads = [(g + n) / expected_batch_size for g, n in zip(result.grads, noise, strict=True)]
    return result


def finite_models(gradients: Gradients) -> torch.Tensor:
    """[K] bool: model k's mean loss and every entry of its gradient are finite.

    An empty batch's mean loss is 0/0 = NaN without anything having gone wrong (Opacus takes
    that step too), so only models with rows in their batch are judged by their loss.
    """
    k = gradients.grads[0].shape[0]
    ok = torch.isfinite(gradients.loss) | ~gradients.has_rows
    for g in gradients.grads:
        ok &= torch.isfinite(g.reshape(k, -1)).all(1)
    return ok


def apply_gradients(
    stacked: StackedMLP,
    optimizer: torch.optim.Optimizer,
    gradients: Gradients,
    active: torch.Tensor | None = None,
) -> None:
    """Set the stacked parameters' .grad (zero for inactive models) and take one optimizer step."""
    for p, g in zip(stacked.parameters(), gradients.grads, strict=True):
        if active is not None and not bool(active.all()):
            g = torch.where(active.view(-1, *([1] * (g.dim() - 1))), g, torch.zeros_like(g))
        p.grad = g
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


# ------------------------------------------------------------------ batches, as train_model's


def plain_epoch_batches(n: int, batch_size: int, generator: torch.Generator):
    """One epoch of ``_train_plain``'s shuffled batches (positions in the training set).

    A DataLoader over ``range(n)`` with the same batch size, shuffle and generator as
    ``_train_plain``'s: the same generator state yields the same batches (the DataLoader
    iterator's base-seed draw and RandomSampler's permutations included).
    """
    loader = DataLoader(range(n), batch_size=batch_size, shuffle=True, generator=generator)
    yield from loader


def poisson_epoch_masks(n: int, sample_rate: float, steps: int, generator: torch.Generator):
    """One epoch of Opacus' Poisson batches as boolean masks over the training set.

    ``_train_dp``'s loader is BatchMemoryManager's DataLoader around Opacus' DPDataLoader,
    both built on the original loader's generator: its iterator first draws a base seed
    (``torch.utils.data.dataloader._BaseDataLoaderIter``), then
    ``UniformWithReplacementSampler.__iter__`` draws ``torch.rand(n) < sample_rate`` per step.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    for _ in range(steps):
        yield torch.rand(n, generator=generator) < sample_rate


def pad_batches(positions: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[K, B_max] positions (padded with 0) and [K, B_max] mask of the real ones."""
    width = max((len(p) for p in positions), default=0)
    out = torch.zeros(len(positions), width, dtype=torch.int64)
    mask = torch.zeros(len(positions), width, dtype=torch.bool)
    for k, p in enumerate(positions):
        out[k, : len(p)] = p
        mask[k, : len(p)] = True
    return out, mask


def masks_to_batches(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[K, N] selection masks → [K, B_max] selected positions in increasing order, and validity."""
    counts = masks.sum(1)
    width = int(counts.max()) if len(counts) else 0
    rows, cols = masks.nonzero(as_tuple=True)
    slots = masks.cumsum(1)[rows, cols] - 1
    out = torch.zeros(masks.shape[0], width, dtype=torch.int64)
    out[rows, slots] = cols
    valid = torch.arange(width).unsqueeze(0) < counts.unsqueeze(1)
    return out, valid


# ---------------------------------------------------------------------------- the trainer


@dataclass
class _Batch:
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    x_sq: torch.Tensor


class _Data:
    """The task's features once on the device, and each model's training indices into them.

    One all-zero row is appended: padding slots read it, so whatever a model's real rows hold
    (NaN included), padding contributes exactly nothing.
    """

    def __init__(self, data: TaskData, training: Sequence[np.ndarray], device, dtype) -> None:
        features = data.features.to(device=device, dtype=dtype)
        self.pad_row = len(features)
        self.features = torch.cat([features, features.new_zeros(1, features.shape[1])])
        labels = torch.as_tensor(data.labels, dtype=torch.int64).to(device)
        self.labels = torch.cat([labels, labels.new_zeros(1)])
        self.sq_norms = (self.features * self.features).sum(1)
        if len({len(t) for t in training}) != 1:
            raise ValueError("the batched trainer needs training sets of one size")
        self.index = torch.as_tensor(np.stack(training), dtype=torch.int64).to(device)
        self.device = device

    def batch(self, positions: torch.Tensor, mask: torch.Tensor) -> _Batch:
        positions, mask = positions.to(self.device), mask.to(self.device)
        rows = torch.gather(self.index, 1, positions).masked_fill_(~mask, self.pad_row)
        x = self.features.index_select(0, rows.flatten()).view(*rows.shape, -1)
        return _Batch(x, self.labels[rows], mask, self.sq_norms[rows])


def _initial_models(scenario: ScenarioSpec, data: TaskData, seeds: Sequence[int], device):
    """train_model's initial weights: ``torch.manual_seed(seed)`` then ``create_model``."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(create_model(scenario, data, None))
    return StackedMLP(models).to(device)


class _Tracker:
    """Which models are still finite; the last finite weights of those that are not."""

    def __init__(self, stacked: StackedMLP) -> None:
        self.active = torch.ones(stacked.k, dtype=torch.bool, device=stacked.w1.device)
        self.frozen: dict[int, dict[str, torch.Tensor]] = {}
        self.reports: dict[int, dict[str, Any]] = {}

    def check(self, stacked, gradients, step: int, epoch: int) -> None:
        ok = finite_models(gradients)
        newly = (self.active & ~ok).nonzero().flatten().tolist()
        for k in newly:
            self.frozen[k] = stacked.state_of(k)
            bad_loss = bool(gradients.has_rows[k] and not torch.isfinite(gradients.loss[k]))
            self.reports[k] = {
                "step": step,
                "epoch": epoch,
                "what": "loss" if bad_loss else "gradient",
            }
        if newly:
            self.active &= ok

    def restore(self, stacked: StackedMLP) -> None:
        with torch.no_grad():
            for k, state in self.frozen.items():
                for name, p in zip(PARAM_NAMES, stacked.parameters(), strict=True):
                    p[k].copy_(state[name])


def _dp_plan(scenario: ScenarioSpec, n: int) -> dict[str, Any]:
    """_train_dp's numbers: q = 1 / len(loader), σ for the planned steps, Opacus' step count."""
    spec = scenario.training
    sample_rate, steps_planned = dp_schedule(n, spec.batch_size, spec.epochs)
    return {
        "sample_rate": sample_rate,
        "steps_planned": steps_planned,
        "steps_per_epoch": int(1 / sample_rate),  # UniformWithReplacementSampler's default
        "expected_batch_size": int(n * sample_rate),  # PrivacyEngine.make_private
        "sigma": noise_multiplier(scenario.epsilon, scenario.delta, sample_rate, steps_planned),
    }


def train_stacked(
    stacked: StackedMLP,
    table: _Data,
    spec: TrainingSpec,
    seeds: Sequence[int],
    dp: dict[str, Any] | None = None,
    method: str = "bookkeeping",
) -> tuple[int, _Tracker]:
    """Train the stacked models in place; ``dp`` is :func:`_dp_plan`'s output or None (ε = ∞).

    Model k's batches come from ``torch.Generator().manual_seed(seeds[k])`` and its noise from
    ``torch.Generator(device).manual_seed(seeds[k] ^ NOISE_SEED_XOR)``, as in train_model.
    Returns the number of optimizer steps and the finiteness tracker.
    """
    n = table.index.shape[1]
    device = table.device
    samplers = [torch.Generator().manual_seed(int(s)) for s in seeds]
    noisers = [torch.Generator(device=device).manual_seed(int(s) ^ NOISE_SEED_XOR) for s in seeds]
    optimizer = make_optimizer(stacked, spec)
    scheduler = make_scheduler(optimizer, spec)
    tracker = _Tracker(stacked)
    steps = 0
    for epoch in range(spec.epochs):
        if dp is None:
            per_model = [plain_epoch_batches(n, spec.batch_size, g) for g in samplers]
            batches = (pad_batches(step) for step in zip(*per_model, strict=True))
        else:
            per_model = [
                poisson_epoch_masks(n, dp["sample_rate"], dp["steps_per_epoch"], g)
                for g in samplers
            ]
            batches = (masks_to_batches(torch.stack(s)) for s in zip(*per_model, strict=True))
        for positions, mask in batches:
            batch = table.batch(positions, mask)
            if dp is None:
                gradients = plain_gradients(stacked, batch.x, batch.y, batch.mask)
            else:
                std = dp["sigma"] * spec.max_grad_norm
                noise = draw_noise(stacked, std, noisers)
                gradients = dp_gradients(
                    stacked,
                    batch.x,
                    batch.y,
                    batch.mask,
                    spec.max_grad_norm,
                    noise,
                    dp["expected_batch_size"],
                    batch.x_sq,
                    method,
                )
            tracker.check(stacked, gradients, steps, epoch)
            apply_gradients(stacked, optimizer, gradients, tracker.active)
            steps += 1
        if scheduler is not None:
            scheduler.step()
    tracker.restore(stacked)
    return steps, tracker


def _accuracy(model: nn.Module, data: _Data, indices: np.ndarray) -> float:
    """training.evaluate's top-1 accuracy, on the device-resident features.

    The same module forward over the same chunks of EVAL_BATCH rows as ``evaluate``, without
    its DataLoader collating rows one by one (which costs more than the forward on an MLP).
    """
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=data.device)
    model.eval()
    correct = 0
    with torch.no_grad():
        for chunk in idx.split(EVAL_BATCH):
            logits = model(data.features[chunk])
            correct += int((logits.argmax(dim=1) == data.labels[chunk]).sum())
    return correct / max(len(idx), 1)


def _correct_everywhere(stacked: StackedMLP, data: _Data) -> torch.Tensor:
    """[K, D] bool: model k classifies dataset row d correctly.

    One GEMM per chunk of rows for all K first layers at once (x @ [W1_1 … W1_K]), so no row
    is gathered per model; cheaper than per-model evaluation whenever the models' training and
    evaluation sets cover most of the dataset.
    """
    k, hidden, features = stacked.w1.shape
    w1 = stacked.w1.detach().reshape(k * hidden, features).T
    b1 = stacked.b1.detach().reshape(1, k * hidden)
    out = []
    with torch.no_grad():
        for rows in range(0, data.pad_row, 4 * EVAL_BATCH):
            x = data.features[rows : min(rows + 4 * EVAL_BATCH, data.pad_row)]
            h = torch.tanh(torch.addmm(b1, x, w1)).view(len(x), k, hidden).transpose(0, 1)
            logits = torch.baddbmm(stacked.b2.detach().unsqueeze(1), h, stacked.w2.detach().mT)
            out.append(logits.argmax(-1) == data.labels[rows : rows + len(x)])
    return torch.cat(out, dim=1)


def _accuracies(stacked: StackedMLP, data: _Data, runs) -> list[tuple[float, float]]:
    """(test, train) accuracy per model: training.evaluate's top-1 accuracy.

    When evaluating every model on every row costs at most twice the rows actually needed,
    that is done (:func:`_correct_everywhere`); otherwise each model runs over its own rows.
    """
    needed = sum(len(train) + len(test) for train, test, _ in runs)
    if stacked.k * data.pad_row <= 2 * needed:
        correct = _correct_everywhere(stacked, data)
        out = []
        for k, (train, test, _) in enumerate(runs):
            rates = [
                correct[k, torch.as_tensor(np.asarray(i, dtype=np.int64), device=data.device)]
                for i in (test, train)
            ]
            # correct / count, as evaluate computes it (a float32 mean would differ in the
            # last digits)
            out.append(tuple(int(r.sum()) / max(len(r), 1) for r in rates))
        return out
    models = [stacked.model(k).to(data.device) for k in range(stacked.k)]
    return [
        (_accuracy(m, data, test), _accuracy(m, data, train))
        for m, (train, test, _) in zip(models, runs, strict=True)
    ]


@expected_warnings_silenced()
def train_mlps_batched(
    scenario: ScenarioSpec,
    data: TaskData,
    runs: Sequence[tuple[np.ndarray, np.ndarray, int]],
    device: torch.device,
    method: str = "bookkeeping",
    group_size: int | None = None,
) -> list[TrainedModel]:
    """Train one MLP per ``(training_indices, evaluation_indices, training_seed)`` at once.

    Model k is the model ``train_model(scenario, data, *runs[k], device)`` trains, up to
    floating-point summation order: same initial weights, batches, noise, optimizer and
    schedule. Returns ordinary MicoMLP modules (on the CPU, eval mode) with train_model's
    metadata plus ``trainer: "batched"``, ``batch_models`` and ``non_finite`` (None, or where
    the model's loss or gradient stopped being finite; its weights are then the last finite
    ones and the caller should not publish it as a normal model).

    ``group_size`` caps how many models share one stacked program (default: all of them);
    groups are trained one after another and nothing else changes. On the shared 2-core CPU,
    32 models in groups of 4, 8, 16 or 32 came out within the machine's noise, one stack of 32
    somewhat ahead in the side-by-side benchmark, so the default is one stack.
    """
    if scenario.model.get("arch") != "mlp":
        raise ValueError(f"the batched trainer trains MLPs, not {scenario.model.get('arch')!r}")
    if group_size is None:
        group_size = len(runs)
    results: list[TrainedModel] = []
    for start in range(0, len(runs), max(group_size, 1)):
        results += _train_group(scenario, data, runs[start : start + group_size], device, method)
    return results


def _train_group(scenario, data, runs, device, method) -> list[TrainedModel]:
    started = time.perf_counter()
    spec = scenario.training
    seeds = [int(seed) for _, _, seed in runs]
    training = [np.asarray(t) for t, _, _ in runs]
    stacked = _initial_models(scenario, data, seeds, device)
    n = len(training[0])
    dp = _dp_plan(scenario, n) if scenario.is_dp else None
    table = _Data(data, training, device, stacked.w1.dtype)
    steps, tracker = train_stacked(stacked, table, spec, seeds, dp, method)
    if dp is not None:
        history = ((dp["sigma"], dp["sample_rate"], steps),)
        info = {
            "noise_multiplier": dp["sigma"],
            "sample_rate": dp["sample_rate"],
            "steps": steps,
            "steps_planned": dp["steps_planned"],
            "max_grad_norm": spec.max_grad_norm,
            "grad_sample_mode": "batched",  # ghost-norm identity + book-kept clipped sums
            "max_physical_batch_size": None,  # the whole padded logical batch at once
            "epsilon_achieved": achieved_epsilon(history, scenario.delta),
        }
    else:
        info = {"steps": steps, "sample_rate": spec.batch_size / n, "max_physical_batch_size": None}
    versions = library_versions()
    accuracies = _accuracies(stacked, table, runs)
    out = []
    for k, (train_idx, _, _) in enumerate(runs):
        model = stacked.model(k)
        metadata = {
            "scenario": scenario.id,
            "epsilon_target": scenario.epsilon,
            "epsilon_achieved": info["epsilon_achieved"] if dp is not None else None,
            "delta": scenario.delta if scenario.is_dp else None,
            **{key: v for key, v in info.items() if key != "epsilon_achieved"},
            "optimizer": spec.optimizer,
            "lr": spec.lr,
            "batch_size": spec.batch_size,
            "epochs": spec.epochs,
            "train_size": int(len(train_idx)),
            "test_accuracy": accuracies[k][0],
            "train_accuracy": accuracies[k][1],
            "device": str(device),
            "library_versions": versions,
            "trainer": "batched",
            "batch_models": len(runs),
            "non_finite": tracker.reports.get(k),
        }
        out.append(TrainedModel(model.eval(), metadata))
    elapsed = time.perf_counter() - started
    for trained in out:
        trained.metadata["wall_time_s"] = round(elapsed / len(runs), 3)  # the group's, shared
    return out
