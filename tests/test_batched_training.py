"""The batched MLP trainer is K copies of train_model: same gradients, batches, noise, weights.

One-step checks feed Opacus 1.6 (PrivacyEngine.make_private, as training._train_dp calls it) and
generator.build.batched the same Poisson batches and the same noise tensors, in float64, and compare
the noised gradient and the optimizer's update. Whole-run checks compare train_mlps_batched
with train_model on the tiny preset's tabular scenarios, seed for seed.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import pytest
import torch
from micokit.architectures import MicoMLP, build_model
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from generator.build import batched
from generator.build.datasets import load_dataset
from generator.build.training import make_optimizer, train_model
from generator.spec.presets import TrainingSpec
from generator.spec.splits import make_split

SHAPE = {"in_features": 24, "hidden": 12, "num_classes": 5}
N, BATCH = 64, 16  # 4 Poisson batches per epoch: q = 1/4, expected batch int(64/4) = 16
SIGMA, CLIP = 0.8, 3.5
CPU = torch.device("cpu")


def _spec(optimizer: str) -> TrainingSpec:
    return TrainingSpec(
        optimizer=optimizer,
        lr=0.05,
        batch_size=BATCH,
        epochs=1,
        momentum=0.9,
        weight_decay=0.01,
        max_grad_norm=CLIP,
    )


def _problem(k_models: int, seed: int = 0):
    """K float64 MLPs, each with its own training set, Poisson masks and noise tensors."""
    torch.manual_seed(seed)
    models = [MicoMLP(**SHAPE).double() for _ in range(k_models)]
    xs = [torch.randn(N, SHAPE["in_features"], dtype=torch.float64) * 2 for _ in models]
    ys = [torch.randint(0, SHAPE["num_classes"], (N,)) for _ in models]
    masks = torch.stack([torch.rand(N) < 1 / 4 for _ in models])
    noise = [
        [torch.randn_like(p) * SIGMA * CLIP for p in m.parameters()] for m in models
    ]  # per model, per parameter, as Opacus' add_noise draws them
    return models, xs, ys, masks, noise


def _opacus_step(model, spec, x, y, mask, noise, mode, monkeypatch):
    """One DP-SGD step of Opacus on the batch ``mask`` selects, with ``noise`` as its noise."""
    from opacus import PrivacyEngine
    from opacus.optimizers import optimizer as dp_module
    from opacus.optimizers import optimizer_fast_gradient_clipping as ghost_module

    draws = iter(noise)

    def given_noise(std, reference, generator=None, secure_mode=False):
        tensor = next(draws)
        assert std == pytest.approx(SIGMA * CLIP) and tensor.shape == reference.shape
        return tensor.clone()

    monkeypatch.setattr(dp_module, "_generate_noise", given_noise)
    monkeypatch.setattr(ghost_module, "_generate_noise", given_noise)
    loader = DataLoader(TensorDataset(x, y), batch_size=spec.batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private = PrivacyEngine(accountant="prv").make_private(
            module=model,
            optimizer=make_optimizer(model, spec),
            data_loader=loader,
            noise_multiplier=SIGMA,
            max_grad_norm=CLIP,
            poisson_sampling=True,
            grad_sample_mode=mode,
            criterion=nn.CrossEntropyLoss(),
        )
        dp_model, dp_optimizer = private[0], private[1]
        criterion = private[2] if mode == "ghost" else nn.CrossEntropyLoss()
        dp_optimizer.zero_grad(set_to_none=True)
        criterion(dp_model(x[mask]), y[mask]).backward()
        dp_optimizer.step()
    assert next(draws, None) is None  # one draw per parameter
    return [p.grad.clone() for p in model.parameters()], [
        p.detach().clone() for p in model.parameters()
    ]


def _batched_step(models, spec, xs, ys, masks, noise):
    stacked = batched.StackedMLP(models)
    positions, valid = batched.masks_to_batches(masks)
    x = torch.stack([xk[pk] for xk, pk in zip(xs, positions, strict=True)])
    y = torch.stack([yk[pk] for yk, pk in zip(ys, positions, strict=True)])
    stacked_noise = [torch.stack(per_param) for per_param in zip(*noise, strict=True)]
    gradients = batched.dp_gradients(stacked, x, y, valid, CLIP, stacked_noise, N // 4)
    batched.apply_gradients(stacked, make_optimizer(stacked, spec), gradients)
    return gradients, stacked


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
@pytest.mark.parametrize("k_models", [1, 3])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_one_dp_step_equals_opacus_given_the_same_batches_and_noise(
    mode, k_models, optimizer, monkeypatch
):
    spec = _spec(optimizer)
    models, xs, ys, masks, noise = _problem(k_models)
    gradients, stacked = _batched_step(copy.deepcopy(models), spec, xs, ys, masks, noise)
    norms = gradients.per_sample_norms[batched.masks_to_batches(masks)[1]]
    assert (norms > CLIP).any() and (norms < CLIP).any()  # both branches of the clip factor
    for k, model in enumerate(models):
        grads, params = _opacus_step(
            model, spec, xs[k], ys[k], masks[k], noise[k], mode, monkeypatch
        )
        for i, (grad, param) in enumerate(zip(grads, params, strict=True)):
            torch.testing.assert_close(gradients.grads[i][k], grad, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(
                list(stacked.parameters())[i][k], param, rtol=1e-10, atol=1e-12
            )


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_an_empty_poisson_batch_is_a_pure_noise_step_as_in_opacus(mode, monkeypatch):
    spec = _spec("adam")
    models, xs, ys, masks, noise = _problem(3, seed=1)
    masks[1] = False  # model 1 draws nobody this step; the others draw their usual batches
    gradients, stacked = _batched_step(copy.deepcopy(models), spec, xs, ys, masks, noise)
    assert bool(batched.finite_models(gradients).all())
    for i, p in enumerate(noise[1]):
        torch.testing.assert_close(gradients.grads[i][1], p / (N // 4))
    grads, params = _opacus_step(
        models[1], spec, xs[1], ys[1], masks[1], noise[1], mode, monkeypatch
    )
    for i, (grad, param) in enumerate(zip(grads, params, strict=True)):
        torch.testing.assert_close(gradients.grads[i][1], grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(list(stacked.parameters())[i][1], param, rtol=1e-10, atol=1e-12)


def test_an_empty_batch_for_every_model_still_steps():
    models, xs, ys, masks, noise = _problem(2, seed=2)
    gradients, _ = _batched_step(models, _spec("adam"), xs, ys, torch.zeros_like(masks), noise)
    assert gradients.per_sample_norms.shape == (2, 0)
    assert bool(batched.finite_models(gradients).all())


def test_the_second_weighted_backward_gives_the_bookkeeping_clipped_sums():
    models, xs, ys, masks, _ = _problem(3, seed=3)
    stacked = batched.StackedMLP(models)
    positions, valid = batched.masks_to_batches(masks)
    x = torch.stack([xk[pk] for xk, pk in zip(xs, positions, strict=True)])
    y = torch.stack([yk[pk] for yk, pk in zip(ys, positions, strict=True)])
    book = batched.clipped_gradient_sums(stacked, x, y, valid, CLIP)
    auto = batched.clipped_gradient_sums(stacked, x, y, valid, CLIP, method="autograd")
    for a, b in zip(book.grads, auto.grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_poisson_masks_are_the_batches_opacus_loader_draws_from_the_same_generator():
    from opacus.data_loader import DPDataLoader

    indices = TensorDataset(torch.arange(N))
    loader = DataLoader(indices, batch_size=BATCH, generator=torch.Generator().manual_seed(5))
    dp_loader = DPDataLoader.from_data_loader(loader)
    ours = torch.Generator().manual_seed(5)
    for _ in range(2):  # two epochs: each starts with the DataLoader iterator's base-seed draw
        theirs = [batch[0].tolist() for batch in dp_loader]
        mine = [
            m.nonzero().flatten().tolist() for m in batched.poisson_epoch_masks(N, 1 / 4, 4, ours)
        ]
        assert mine == theirs


# --------------------------------------------------------------- whole runs vs train_model


def _runs(scenario, data, count):
    runs = []
    for i in range(count):
        split = make_split(
            len(data), scenario.n, scenario.m, f"a{i}" * 16, f"b{i}" * 16, f"c{i}" * 16
        )
        runs.append((split.training, split.evaluation, 100 + i))
    return runs


def _assert_same_model(trained, reference, atol):
    mine, theirs = trained.model.state_dict(), reference.model.state_dict()
    assert list(mine) == list(theirs)
    for name, tensor in theirs.items():
        torch.testing.assert_close(mine[name], tensor, rtol=0, atol=atol)


@pytest.fixture(scope="module")
def tabular(tiny_preset):
    task = tiny_preset.task("tabular")
    data = load_dataset(
        task.scenario("tabular_lo").dataset, None, task.scenario("tabular_lo").model
    )
    return task, data


SGD_WITH_STEPLR = {
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_step_size": 1,
    "lr_gamma": 0.5,
}


@pytest.mark.parametrize(
    ("scenario_id", "changes", "count"),
    [("tabular_lo", {}, 3), ("tabular_inf", {}, 3), ("tabular_lo", SGD_WITH_STEPLR, 2)],
    ids=["dp-adam", "plain-adam", "dp-sgd-momentum-steplr"],
)
def test_batched_training_reproduces_train_model_seed_for_seed(
    tabular, scenario_id, changes, count
):
    """Same seeds → same initial weights, batches (shuffled or Poisson) and noise → same models."""
    task, data = tabular
    scenario = task.scenario(scenario_id)
    training = dataclasses.replace(scenario.training, **changes)
    scenario = dataclasses.replace(scenario, training=training)
    runs = _runs(scenario, data, count)
    trained = batched.train_mlps_batched(scenario, data, runs, CPU)
    for (training, evaluation, seed), mine in zip(runs, trained, strict=True):
        reference = train_model(scenario, data, training, evaluation, seed, CPU)
        _assert_same_model(mine, reference, atol=1e-6 if scenario.is_dp else 1e-4)
        assert build_model(scenario.model).load_state_dict(mine.model.state_dict())
        for key in (
            "steps",
            "sample_rate",
            "noise_multiplier",
            "epsilon_achieved",
            "steps_planned",
        ):
            assert mine.metadata.get(key) == pytest.approx(reference.metadata.get(key)), key
        for key in ("test_accuracy", "train_accuracy"):
            assert mine.metadata[key] == pytest.approx(reference.metadata[key], abs=0.01), key
        assert mine.metadata["trainer"] == "batched" and mine.metadata["non_finite"] is None


def test_a_model_that_goes_non_finite_is_reported_and_the_others_continue(tabular):
    task, data = tabular
    scenario = task.scenario("tabular_lo")
    runs = _runs(scenario, data, 3)
    others = np.union1d(runs[1][0], runs[2][0])
    poisoned_rows = np.setdiff1d(runs[0][0], others)[:20]  # in model 0's training set only
    features = data.features.clone()
    features[poisoned_rows] = float("nan")
    poisoned = dataclasses.replace(data, features=features)
    trained = batched.train_mlps_batched(scenario, poisoned, runs, CPU)
    clean = batched.train_mlps_batched(scenario, data, runs[1:], CPU)
    report = trained[0].metadata["non_finite"]
    assert report is not None and report["what"] == "loss" and report["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in trained[0].model.state_dict().values())
    for mine, reference in zip(trained[1:], clean, strict=True):
        assert mine.metadata["non_finite"] is None
        _assert_same_model(mine, reference, atol=1e-6)


def test_padding_slots_read_a_zero_row_never_a_model_s_own_data():
    """Batches are padded to the longest; a padded slot must not carry (say) a NaN row."""
    from generator.build.datasets import TaskData

    features = torch.full((6, 3), float("nan"))
    data = TaskData("t", "tabular", np.zeros(6, dtype=np.int64), features=features)
    table = batched._Data(data, [np.arange(3), np.arange(3, 6)], CPU, torch.float32)
    masks = torch.tensor([[True, True, False], [False, False, False]])
    batch = table.batch(*batched.masks_to_batches(masks))
    assert batch.x.shape == (2, 2, 3)
    assert torch.isnan(batch.x[0]).all() and (batch.x[1] == 0).all()


def test_both_accuracy_paths_agree_with_training_evaluate(tabular):
    """All-rows evaluation (when the models cover most rows) and per-model evaluation."""
    from generator.build.training import evaluate

    task, data = tabular
    scenario = task.scenario("tabular_inf")
    torch.manual_seed(0)
    models = [build_model(scenario.model) for _ in range(3)]
    stacked = batched.StackedMLP(models)
    rng = np.random.default_rng(0)
    table = batched._Data(data, [np.arange(400)] * 3, CPU, torch.float32)
    wide = [(rng.permutation(len(data))[:900], rng.permutation(len(data))[:500], 0) for _ in models]
    narrow = [(train[:40], test[:10], 0) for train, test, _ in wide]
    for runs in (wide, narrow):
        expected = [
            (evaluate(m, data.subset(test), CPU), evaluate(m, data.subset(train), CPU))
            for m, (train, test, _) in zip(models, runs, strict=True)
        ]
        got = batched._accuracies(stacked, table, runs)
        assert [a for pair in got for a in pair] == pytest.approx([a for p in expected for a in p])
