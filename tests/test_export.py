"""The public tree is an allow-list with no dev/final ground truth; reference data is exact."""

from __future__ import annotations

import json

import numpy as np
from micokit.layout import NONCHALLENGE_FILE

from generator.build.store import read_lines

PRIVATE_NAMES = {"solution.csv", "seed_membership", "training_indices.csv", "private.json"}


def _dev_final_models(store):
    return [p for phase in ("dev", "final") for p in sorted(store.glob(f"*/*/{phase}/model_*"))]


def test_public_tree_has_no_dev_or_final_ground_truth_in_names(tiny_export):
    public, _ = tiny_export
    for path in public.rglob("*"):
        relative = path.relative_to(public).parts
        if len(relative) > 2 and relative[2] in ("dev", "final"):
            assert path.name not in PRIVATE_NAMES, path


def test_public_tree_has_no_dev_or_final_ground_truth_in_contents(tiny_store, tiny_export):
    # Every private secret of every dev/final model — membership seed, training seed, the
    # solution as a string, the member indices — must appear in no public file.
    public, _ = tiny_export
    secrets_found = []
    needles = set()
    for model in _dev_final_models(tiny_store):
        needles.add((model / "seed_membership").read_text().strip())
        private = json.loads((model / "private.json").read_text())
        needles.add(str(private["training_seed"]))
        solution = read_lines(model / "solution.csv")
        needles.add("".join(f"{v}\n" for v in solution))
        needles.add(",".join(map(str, solution)))
    blobs = [p.read_bytes() for p in public.rglob("*") if p.is_file()]
    for needle in needles:
        if any(needle.encode() in blob for blob in blobs):
            secrets_found.append(needle[:40])
    assert not secrets_found


def test_member_indices_of_dev_final_models_are_not_published(tiny_store, tiny_export):
    public, _ = tiny_export
    for model in _dev_final_models(tiny_store):
        relative = model.relative_to(tiny_store)
        published = {p.name for p in (public / relative).iterdir()}
        assert "solution.csv" not in published and "training_indices.csv" not in published
        challenge = read_lines(model / "challenge_indices.csv")
        assert np.array_equal(read_lines(public / relative / "challenge_indices.csv"), challenge)


def test_train_models_publish_everything_participants_learn_from(tiny_store, tiny_export):
    public, _ = tiny_export
    model = public / "image/image_inf/train/model_0"
    for name in ("solution.csv", "training_indices.csv", "seed_membership", "model.safetensors"):
        assert (model / name).is_file()
    assert not (model / "private.json").exists()


def test_published_metadata_is_the_stores_without_the_run_time(tiny_store, tiny_export):
    """A rebuild in reproducible mode then gives byte-identical archives (SHA256SUMS holds)."""
    public, _ = tiny_export
    relative = "image/image_inf/train/model_0/metadata.json"
    stored = json.loads((tiny_store / relative).read_text())
    published = json.loads((public / relative).read_text())
    assert "wall_time_s" in stored and "wall_time_s" not in published
    assert published == {k: v for k, v in stored.items() if k != "wall_time_s"}


def test_dp_distinguisher_discloses_training_data_but_not_membership(tiny_store, tiny_export):
    public, _ = tiny_export
    for model in sorted(tiny_store.glob("ddp/*/dev/model_*")):
        target = public / model.relative_to(tiny_store)
        disclosed = read_lines(target / NONCHALLENGE_FILE)
        training = read_lines(model / "training_indices.csv")
        challenge = read_lines(model / "challenge_indices.csv")
        assert np.array_equal(disclosed, np.setdiff1d(training, challenge))
        assert not set(disclosed) & set(challenge)
        assert (target / "seed_training").is_file() and not (target / "seed_membership").exists()


def test_reference_data_matches_the_private_store(tiny_preset, tiny_store, tiny_export):
    _, reference = tiny_export
    for task in tiny_preset.tasks:
        for phase in ("dev", "final"):
            root = reference / task.id / phase
            manifest = json.loads((root / "manifest.json").read_text())
            assert manifest["phase"] == phase
            assert [s["id"] for s in manifest["scenarios"]] == [s.id for s in task.scenarios]
            for scenario in manifest["scenarios"]:
                assert set(scenario["models"]) == {"dev", "final"}
                for name, count in scenario["models"][phase].items():
                    solution = root / task.id / scenario["id"] / phase / name / "solution.csv"
                    private = tiny_store / task.id / scenario["id"] / phase / name / "solution.csv"
                    assert solution.read_bytes() == private.read_bytes()
                    assert len(read_lines(solution)) == count
            other = "final" if phase == "dev" else "dev"
            assert not list(root.glob(f"*/*/{other}/*/solution.csv"))


def test_public_manifest_lists_scenarios_in_preset_order(tiny_preset, tiny_export):
    public, _ = tiny_export
    for task in tiny_preset.tasks:
        manifest = json.loads((public / task.id / "manifest.json").read_text())
        assert [s["id"] for s in manifest["scenarios"]] == [s.id for s in task.scenarios]
        assert manifest["disclose_training"] == task.disclose_training
