"""The real loaders read tiny files written in each official format; bad files fail clearly."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from micokit.datasets import CIFAR10_MEAN

from generator.build.datasets import (
    CIFAR10_FILES,
    DatasetError,
    load_cifar10,
    load_purchase100,
    load_sst2_sentences,
    synthetic_purchase,
    synthetic_sentences,
)


def write_cifar(directory, per_batch=4):
    directory.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(CIFAR10_FILES):
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [(i + j) % 10 for j in range(per_batch)],
            b"batch_label": name.encode(),
        }
        with open(directory / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    return directory


def test_cifar10_batches_are_concatenated_train_then_test_and_normalised(tmp_path):
    directory = write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_cifar10(directory)
    assert data.features.shape == (24, 3, 32, 32)
    assert data.labels.tolist()[:4] == [0, 1, 2, 3] and data.labels.tolist()[-4:] == [5, 6, 7, 8]
    raw = pickle.load(open(directory / "data_batch_1", "rb"), encoding="bytes")[b"data"][0]
    expected_red0 = (raw[0] / 255.0 - CIFAR10_MEAN[0]) / 0.24703223
    assert data.features[0, 0, 0, 0].item() == pytest.approx(expected_red0, rel=1e-5)


def test_cifar10_missing_batch_and_foreign_pickle_are_refused(tmp_path):
    directory = write_cifar(tmp_path / "c")
    (directory / "test_batch").unlink()
    with pytest.raises(DatasetError, match="test_batch: file not found"):
        load_cifar10(directory)
    directory = write_cifar(tmp_path / "d")
    with open(directory / "data_batch_3", "wb") as handle:
        pickle.dump({b"data": __import__("collections").OrderedDict()}, handle)
    with pytest.raises(DatasetError, match="data_batch_3: not a CIFAR-10 python batch"):
        load_cifar10(directory)


def test_purchase100_reads_class_then_600_features(tmp_path):
    rows = [
        [c] + [int(b) for b in np.random.default_rng(c).random(600) < 0.1] for c in (1, 50, 100)
    ]
    path = tmp_path / "dataset_purchase"
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    data = load_purchase100(path)
    assert data.labels.tolist() == [0, 49, 99]
    assert data.features.shape == (3, 600)
    path.write_text("1,0,1\n")
    with pytest.raises(DatasetError, match="3 columns, expected 601"):
        load_purchase100(path)


def test_sst2_concatenates_train_and_dev(tmp_path):
    (tmp_path / "train.tsv").write_text('sentence\tlabel\na fine film \t1\nit \'s "dull"\t0\n')
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nsuperb .\t1\n")
    sentences, labels = load_sst2_sentences(tmp_path)
    assert sentences == ["a fine film ", 'it \'s "dull"', "superb ."]
    assert labels.tolist() == [1, 0, 1]
    (tmp_path / "dev.tsv").write_text("text\tlabel\nx\t1\n")
    with pytest.raises(DatasetError, match="dev.tsv: header"):
        load_sst2_sentences(tmp_path)


def test_synthetic_sets_are_deterministic_and_varied():
    a, b = synthetic_purchase(500, 3), synthetic_purchase(500, 3)
    assert np.array_equal(a.features.numpy(), b.features.numpy())
    assert len(set(a.labels.tolist())) == 100
    sentences, labels = synthetic_sentences(2000, 1)
    assert sentences == synthetic_sentences(2000, 1)[0]
    assert len(set(sentences)) == 2000 and 0.4 < labels.mean() < 0.6


def test_neutral_sentences_carry_no_sentiment_word_and_coin_flip_labels():
    """Neutral sentences are the ones a model can fit only by memorising (see the demo preset)."""
    from generator.build.datasets import _NEGATIVE, _NEUTRAL, _POSITIVE

    def words_of(sentence: str, vocabulary: list[str]) -> set[str]:
        return set(sentence.replace(",", "").split()) & set(vocabulary)

    sentences, labels = synthetic_sentences(3000, 2, label_noise=0.0, ambiguous=0.4, negation=0.0)
    neutral = np.array([bool(words_of(s, _NEUTRAL)) for s in sentences])
    assert 0.35 < neutral.mean() < 0.45
    for sentence, label, unclear in zip(sentences, labels, neutral, strict=True):
        sentiment = words_of(sentence, _POSITIVE + _NEGATIVE)
        assert bool(sentiment) != unclear and "not" not in sentence.split()
        if not unclear:  # no flips, no negation: the sentiment word decides the label
            assert label == int(sentiment <= set(_POSITIVE))
    assert 0.4 < labels[neutral].mean() < 0.6


def test_the_default_corpus_has_no_neutral_sentences():
    """Presets written before the neutral fraction existed keep their exact corpus."""
    from generator.build.datasets import _NEUTRAL

    sentences, _ = synthetic_sentences(500, 4)
    assert not any(set(s.split()) & set(_NEUTRAL) for s in sentences)


def test_an_unreadable_dataset_location_is_a_dataset_error_not_a_traceback(tmp_path, monkeypatch):
    from pathlib import Path

    from generator.build.datasets import check_available
    from generator.spec.presets import DatasetSpec

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", refuse)
    spec = DatasetSpec(kind="purchase100", path="purchase100/dataset_purchase")
    with pytest.raises(DatasetError) as error:
        check_available([spec], tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'purchase100/dataset_purchase'}: cannot read (Permission denied)"
    )


def test_every_missing_dataset_file_is_named_in_one_line(tmp_path):
    from generator.build.datasets import check_available
    from generator.spec.presets import DatasetSpec

    specs = [
        DatasetSpec(kind="cifar10", path="cifar-10-batches-py"),
        DatasetSpec(kind="sst2", path="SST-2"),
        DatasetSpec(kind="purchase100", path="purchase100/dataset_purchase"),
    ]
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(DatasetError) as error:
        check_available(specs, tmp_path)
    (line,) = str(error.value).splitlines()
    assert line.startswith(f"{tmp_path / 'cifar-10-batches-py/data_batch_1'}: file not found")
    for missing in ["cifar-10-batches-py/test_batch", "SST-2/dev.tsv", "dataset_purchase"]:
        assert str(tmp_path / missing if "/" in missing else missing) in line
    assert str(tmp_path / "SST-2" / "train.tsv") not in line
