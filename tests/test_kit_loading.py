"""The starting kit reads every tiny task's public tree, and its dataset loaders agree with the
generator's on the real datasets' file formats (so real-data models see the same tensors)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from micokit.datasets import load_local
from micokit.errors import DataError
from micokit.loading import open_task


@pytest.mark.parametrize("task_id", ["image", "tabular", "text", "ddp"])
def test_every_task_loads_with_challenge_points_and_models(tiny_preset, tiny_export, task_id):
    public, _ = tiny_export
    task = open_task(public, task_id)
    spec = tiny_preset.task(task_id)
    assert [s.id for s in task.scenarios] == [s.id for s in spec.scenarios]
    assert [s.position for s in task.scenarios] == list(range(1, len(spec.scenarios) + 1))
    for scenario, scenario_spec in zip(task.scenarios, spec.scenarios, strict=True):
        assert scenario.epsilon == scenario_spec.epsilon
        train = task.models(scenario, "train")
        assert len(train) == tiny_preset.models["train"]
        ref = train[0]
        assert ref.membership.sum() == scenario.m and len(ref.membership) == 2 * scenario.m
        assert len(ref.training_indices) == scenario.n
        members = ref.challenge_indices[ref.membership == 1]
        assert np.isin(members, ref.training_indices).all()
        assert not np.isin(ref.challenge_indices[ref.membership == 0], ref.training_indices).any()
        points = ref.challenge_points()
        assert len(points) == 2 * scenario.m
        dataset = task.dataset(scenario)
        assert torch.equal(points.labels, torch.as_tensor(dataset.labels[ref.challenge_indices]))
        logits = ref.load("cpu").logits(points)
        assert logits.shape[0] == 2 * scenario.m and torch.isfinite(logits).all()
        dev = task.models(scenario, "dev")[0]
        assert dev.membership is None and dev.training_indices is None
        disclosed = dev.nonchallenge_training_indices
        if task.disclose_training:
            assert len(disclosed) == scenario.n - scenario.m
            assert not np.isin(disclosed, dev.challenge_indices).any()
        else:
            assert disclosed is None


def test_train_models_classify_their_own_data(tiny_export):
    """Loading really restores the trained weights: train accuracy is far above chance."""
    public, _ = tiny_export
    task = open_task(public, "tabular")
    ref = task.models("tabular_inf", "train")[0]
    members = ref.task.dataset(ref.scenario).points(ref.training_indices)
    predicted = ref.load("cpu").logits(members).argmax(dim=1)
    assert (predicted == members.labels).float().mean() > 0.5


def test_open_task_errors_are_one_clear_line(tmp_path, tiny_export):
    public, _ = tiny_export
    with pytest.raises(DataError, match="no such directory"):
        open_task(tmp_path / "missing", "image")
    archive = tmp_path / "image-data.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(DataError, match="unzip it first"):
        open_task(archive, "image")
    with pytest.raises(DataError, match="manifest.json: not found"):
        open_task(public, "video")
    with pytest.raises(DataError, match="several tasks"):
        open_task(public)
    assert open_task(public / "image").id == "image"
    with pytest.raises(DataError, match="no scenario 'nope'"):
        open_task(public, "image").scenario("nope")


# ----------------------------------------------------------------------------- real formats


def _fake_cifar(folder, rng):
    from generator.build.datasets import CIFAR10_FILES

    folder.mkdir()
    for name in CIFAR10_FILES:
        batch = {
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, 4).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))


def test_local_loaders_match_the_generator(tmp_path):
    from generator.build import datasets as gen

    rng = np.random.default_rng(0)
    _fake_cifar(tmp_path / "cifar", rng)
    ours, theirs = load_local("cifar10", tmp_path / "cifar"), gen.load_cifar10(tmp_path / "cifar")
    assert torch.equal(ours.features, theirs.features)
    assert np.array_equal(ours.labels, theirs.labels) and ours.modality == "image"

    rows = np.column_stack([rng.integers(1, 101, 5), rng.integers(0, 2, (5, 600))])
    np.savetxt(tmp_path / "dataset_purchase", rows, fmt="%d", delimiter=",")
    ours = load_local("purchase100", tmp_path / "dataset_purchase")
    theirs = gen.load_purchase100(tmp_path / "dataset_purchase")
    assert torch.equal(ours.features, theirs.features)
    assert np.array_equal(ours.labels, theirs.labels) and ours.modality == "tabular"

    sst = tmp_path / "SST-2"
    sst.mkdir()
    (sst / "train.tsv").write_text("sentence\tlabel\na fine film \t1\nso dull\t0\n")
    (sst / "dev.tsv").write_text('sentence\tlabel\nit\'s "great"\t1\n')
    ours = load_local("sst2", sst)
    sentences, labels = gen.load_sst2_sentences(sst)
    assert ours.sentences == sentences and np.array_equal(ours.labels, labels)


def test_local_loaders_reject_wrong_files(tmp_path):
    with pytest.raises(DataError, match="data_batch_1: file not found"):
        (tmp_path / "empty").mkdir()
        load_local("cifar10", tmp_path / "empty")
    (tmp_path / "bad").write_text("1,0,1\n")
    with pytest.raises(DataError, match="columns, expected 601"):
        load_local("purchase100", tmp_path / "bad")
    with pytest.raises(DataError, match="no such file"):
        load_local("sst2", tmp_path / "nowhere")
