"""Every bad input to micokit is reported as one line that names the file (or option) and the
problem, with a non-zero exit status and never a traceback.

Each case damages one thing in a copy of a tiny task's public tree, as a bad download, a
hand-edited manifest or a wrong dataset would, and runs the command line on it. Exit status 2
is bad input; 3 is reserved for micokit's own bugs ("internal error").
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from micokit import cli
from micokit.errors import DataError, OptionError
from micokit.loading import open_task
from micokit.submission import load_scorer, score_train, validate
from safetensors.torch import load_file, save_file

Damage = Callable[[Path], None]
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

# ----------------------------------------------------------------------------- helpers


def damaged_copy(public: Path, task: str, tmp_path: Path, damage: Damage) -> Path:
    """A data folder holding a copy of one task of the tiny export, damaged by ``damage``."""
    root = tmp_path / "data"
    shutil.copytree(public / task, root / task)
    damage(root / task)
    return root


def run_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str]:
    """micokit's main() as the console script calls it: (exit status, stderr)."""
    status = cli.main([str(a) for a in args])
    return status, capsys.readouterr().err


def assert_one_line(err: str, *fragments: str) -> None:
    """One line on stderr, no traceback, and every fragment in it."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], err


def attack(root: Path, task: str, tmp_path: Path, name: str = "loss") -> list[object]:
    return [
        "attack",
        name,
        "--data",
        root,
        "--task",
        task,
        "--out",
        tmp_path / "s.zip",
        "--device",
        "cpu",
        "--quiet",
    ]


def edit_lines(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(f"{v}\n" for v in edit(path.read_text().split())))


def edit_manifest(edit: Callable[[dict], object]) -> Damage:
    def damage(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        edit(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return damage


def edit_npy(name: str, edit: Callable[[np.ndarray], np.ndarray]) -> Damage:
    def damage(folder: Path) -> None:
        path = folder / "data" / "digits" / name
        np.save(path, edit(np.load(path)))

    return damage


def first(manifest: dict) -> dict:
    return manifest["scenarios"][0]


def swap_a_member(values: list[str]) -> list[str]:
    """Same counts of 0 and 1, but one member and one non-member trade places."""
    i, j = values.index("1"), values.index("0")
    values[i], values[j] = values[j], values[i]
    return values


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def nan_weights(path: Path) -> None:
    """The same tensors, every value NaN: the file loads and fits, the outputs are NaN."""
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in load_file(str(path)).items()}, str(path)
    )


DEV0 = "image_inf/dev/model_0"
TRAIN0 = "image_inf/train/model_0"

# ----------------------------------------------------------------------------- damaged files

ARCHIVE_DAMAGE = {
    "challenge index beyond the dataset": (
        "loss",
        lambda f: edit_lines(f / DEV0 / "challenge_indices.csv", lambda v: ["999999", *v[1:]]),
        f"{DEV0}/challenge_indices.csv: index 999999 is outside dataset 'digits'",
    ),
    "challenge file one line short": (
        "lira",
        lambda f: edit_lines(f / DEV0 / "challenge_indices.csv", lambda v: v[:-1]),
        f"{DEV0}/challenge_indices.csv: 39 values, expected 2m = 40",
    ),
    "solution holds a 2": (
        "loss",
        lambda f: edit_lines(f / TRAIN0 / "solution.csv", lambda v: ["2", *v[1:]]),
        f"{TRAIN0}/solution.csv: value 2; expected 0 or 1",
    ),
    "solution three values short": (
        "loss",
        lambda f: edit_lines(f / TRAIN0 / "solution.csv", lambda v: v[:-3]),
        f"{TRAIN0}/solution.csv: 37 values, expected 2m = 40",
    ),
    "solution says all members": (
        "loss",
        lambda f: edit_lines(f / TRAIN0 / "solution.csv", lambda v: ["1"] * len(v)),
        f"{TRAIN0}/solution.csv: 40 members, expected m = 20",
    ),
    "solution disagrees with the training set": (
        "lira",
        lambda f: edit_lines(f / TRAIN0 / "solution.csv", swap_a_member),
        f"{TRAIN0}/solution.csv: line 1 says",
    ),
    "labels beyond the classes": (
        "loss",
        edit_npy("labels.npy", lambda y: np.full_like(y, 42)),
        "data/digits: label 42 is outside the 10 classes of the cnn model of scenario 'image_inf'",
    ),
    "labels not integers": (
        "loss",
        edit_npy("labels.npy", lambda y: y + 0.5),
        "data/digits/labels.npy: expected a 1-D integer array",
    ),
    "features of the wrong shape": (
        "loss",
        edit_npy("features.npy", lambda x: x.reshape(len(x), -1)[:, :10]),
        "data/digits: inputs are 10 per point, but the cnn model",
    ),
    "truncated weights": (
        "loss",
        lambda f: truncate(f / DEV0 / "model.safetensors"),
        f"{DEV0}/model.safetensors: not a readable safetensors file",
    ),
    "weights that give NaN": (
        "loss",
        lambda f: nan_weights(f / DEV0 / "model.safetensors"),
        f"{DEV0}: the model's outputs are NaN or infinite on 40 of 40 points",
    ),
    "weights of another network": (
        "lira",
        lambda f: save_file({"w": torch.zeros(2)}, str(f / DEV0 / "model.safetensors")),
        f"{DEV0}/model.safetensors: weights do not fit the manifest's architecture (tensor",
    ),
}


@pytest.mark.parametrize("case", ARCHIVE_DAMAGE)
def test_damaged_archive_files_are_named_in_one_line(tiny_export, tmp_path, capsys, case):
    attack_name, damage, message = ARCHIVE_DAMAGE[case]
    root = damaged_copy(tiny_export[0], "image", tmp_path, damage)
    status, err = run_cli(capsys, *attack(root, "image", tmp_path, attack_name))
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, "error: ", message)
    assert not (tmp_path / "s.zip").exists()


# ----------------------------------------------------------------------------- the manifest

MANIFEST_DAMAGE = {
    "n is a string": (
        lambda m: first(m).update(n="abc"),
        "n must be a positive integer, not 'abc'",
    ),
    "m is a decimal string": (lambda m: first(m).update(m="50.5"), "m must be a positive integer"),
    "m is a bool": (lambda m: first(m).update(m=True), "m must be a positive integer"),
    "m exceeds n": (lambda m: first(m).update(m=10_000), "cannot exceed the training set size"),
    "delta is null": (lambda m: first(m).update(delta=None), "delta must be a number in [0, 1)"),
    "epsilon is a string": (
        lambda m: first(m).update(epsilon="inf"),
        "epsilon must be a positive number or null",
    ),
    "architecture is a list": (
        lambda m: first(m).update(architecture=[1, 2]),
        "'architecture' must be an object",
    ),
    "model names are integers": (
        lambda m: first(m)["models"].update(dev=[0, 1]),
        "dev model 0 is not a plain name",
    ),
    "model name climbs out": (
        lambda m: first(m)["models"]["dev"].__setitem__(0, "../../x/dev/model_0"),
        "'../../x/dev/model_0' is not a plain name",
    ),
    "model listed twice": (
        lambda m: first(m)["models"].update(dev=["model_0", "model_0"]),
        "dev model 'model_0' is listed twice",
    ),
    "scenario id is an integer": (
        lambda m: first(m).update(id=7),
        "scenario 1 id 7 is not a plain name",
    ),
    "scenario listed twice": (lambda m: m["scenarios"].append(first(m)), "repeats id 'image_inf'"),
    "dataset name is a path": (
        lambda m: first(m).update(dataset="../digits"),
        "dataset '../digits' is not a plain name",
    ),
}


@pytest.mark.parametrize("command", ["info", "validate", "score-train", "attack"])
@pytest.mark.parametrize("case", MANIFEST_DAMAGE)
def test_a_damaged_manifest_is_named_by_every_command(tiny_export, tmp_path, capsys, command, case):
    """Checked when the task opens, before any model: the same line from every command."""
    edit, message = MANIFEST_DAMAGE[case]
    root = damaged_copy(tiny_export[0], "image", tmp_path, edit_manifest(edit))
    if command == "attack":
        args = attack(root, "image", tmp_path)
    else:
        sub = [] if command == "info" else [tmp_path / "sub.zip"]
        args = [command, *sub, "--data", root, "--task", "image"]
    status, err = run_cli(capsys, *args)
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, f"error: {root / 'image' / 'manifest.json'}: ", message)


ARCHITECTURE_DAMAGE = {
    "unknown architecture": (
        lambda m: first(m)["architecture"].update(arch="vit"),
        "manifest.json: scenario 'image_inf': its architecture cannot be built",
        "'vit'",
    ),
    "two channel widths instead of three": (
        lambda m: first(m)["architecture"].update(channels=[16, 32]),
        "manifest.json: scenario 'image_inf': its architecture cannot be built",
        "unpack",
    ),
    "m disagrees with the index files": (
        lambda m: first(m).update(m=15),
        f"{TRAIN0}/challenge_indices.csv: 40 values",
        "2m = 30",
    ),
    "no dev models": (
        lambda m: first(m)["models"].pop("dev"),
        "manifest.json: scenario 'image_inf' lists no 'dev' models",
        "",
    ),
}


@pytest.mark.parametrize("case", ARCHITECTURE_DAMAGE)
def test_a_manifest_that_does_not_fit_the_files_stops_the_attack(
    tiny_export, tmp_path, capsys, case
):
    edit, message, detail = ARCHITECTURE_DAMAGE[case]
    root = damaged_copy(tiny_export[0], "image", tmp_path, edit_manifest(edit))
    status, err = run_cli(capsys, *attack(root, "image", tmp_path))
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, message, detail)


def test_the_scorers_complaint_about_the_public_manifest_names_it(tiny_export, tmp_path):
    """validate and score-train hand the scorer a reference re-written from the participant's
    manifest: a problem in it is the participant's manifest's, not "(organizer)" data's."""
    public = tiny_export[0]
    task = open_task(public, "image")
    scorer = load_scorer(data_root=public)
    task.scenarios[0] = dataclasses.replace(task.scenarios[0], delta=1.5)  # past the kit's checks
    submission = tmp_path / "sub.zip"
    zipfile.ZipFile(submission, "w").close()
    for check in (validate, score_train):
        with pytest.raises(DataError) as caught:
            check(submission, task, scorer)
        message = str(caught.value)
        assert message.startswith(f"{public / 'image' / 'manifest.json'}: scenario 1: delta 1.5")
        assert "organizer" not in message and "\n" not in message


# ----------------------------------------------------------------------------- text models

TEXT_DEV0 = "text_inf/dev/model_0/model"


def resize_config(folder: Path) -> None:
    path = folder / TEXT_DEV0 / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "hidden_size": 2 * config["hidden_size"]}))


def resize_config_unstated(folder: Path) -> None:
    """As above, where the manifest does not state the sizes (MICO's pretrained roberta-base)."""
    resize_config(folder)
    edit_manifest(lambda m: first(m)["architecture"].pop("config"))(folder)


TEXT_DAMAGE = {
    "truncated weights": (
        lambda f: truncate(f / TEXT_DEV0 / "model.safetensors"),
        f"{TEXT_DEV0}: cannot load the model",
    ),
    "no tokenizer": (
        lambda f: (f / TEXT_DEV0 / "tokenizer.json").unlink(),
        f"{TEXT_DEV0}: no tokenizer.json",
    ),
    "config of another size": (
        resize_config,
        f"{TEXT_DEV0}/config.json: hidden_size is 64, but the manifest's architecture says 32",
    ),
    "config of another size, sizes unstated": (
        resize_config_unstated,
        f"{TEXT_DEV0}: model.safetensors does not fit config.json (tensor",
    ),
}


@pytest.mark.parametrize("case", TEXT_DAMAGE)
def test_damaged_text_models_are_named_in_one_line(tiny_export, tmp_path, capsys, case):
    damage, message = TEXT_DAMAGE[case]
    root = damaged_copy(tiny_export[0], "text", tmp_path, damage)
    status, err = run_cli(capsys, *attack(root, "text", tmp_path))
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, "error: ", message)


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half"])
def test_rmia_offline_a_is_auto_or_a_number_in_the_unit_interval(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as caught:
        args = ["attack", "rmia", "--data", tmp_path, "--out", tmp_path / "s.zip"]
        run_cli(capsys, *args, "--offline-a", value)
    assert caught.value.code == EXIT_BAD_INPUT
    assert_one_line(
        capsys.readouterr().err,
        f"argument --offline-a: expected 'auto' or a number in [0, 1], not '{value}'",
    )


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_batch_size_must_be_a_positive_integer(tmp_path, capsys, value):
    """Rejected by argparse, in one line (not the whole usage block)."""
    with pytest.raises(SystemExit) as caught:
        run_cli(capsys, *attack(tmp_path, "image", tmp_path), "--batch-size", value)
    assert caught.value.code == EXIT_BAD_INPUT
    assert_one_line(capsys.readouterr().err, "argument --batch-size: expected a positive integer")


@pytest.mark.parametrize(
    "device,cuda_count,message",
    [
        ("bogus", 0, "device 'bogus' is not a device name"),
        ("cuda", 0, "device 'cuda': this machine has no usable CUDA GPU"),
        ("cuda:3", 1, "device 'cuda:3': this machine has 1 CUDA GPU(s)"),
        ("meta", 0, "device 'meta' is not supported"),
    ],
)
def test_device_is_checked_before_anything_is_loaded(
    tmp_path, capsys, monkeypatch, device, cuda_count, message
):
    """The data folder does not even exist: the device error must come first."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count)
    args = ["attack", "loss", "--data", tmp_path / "nowhere", "--out", tmp_path / "s.zip"]
    status, err = run_cli(capsys, *args, "--device", device)
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, f"error: {message}")


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            ["--out", "{tmp}/missing/s.zip"],
            "--out {tmp}/missing/s.zip: folder {tmp}/missing does not exist",
        ),
        (["--out", "{tmp}"], "--out {tmp}: is a folder"),
        (
            ["--out", "{tmp}/s.zip", "--json", "{tmp}/no/r.json"],
            "--json {tmp}/no/r.json: folder {tmp}/no does not exist",
        ),
        (
            ["--out", "{tmp}/s.zip", "--train-out", "{tmp}/s.zip"],
            "--out and --train-out name the same file",
        ),
        (
            ["--out", "{tmp}/s.zip", "--online"],
            "--online: LiRA option(s); the loss attack uses no shadow models",
        ),
        (
            ["--out", "{tmp}/s.zip", "--no-shrink", "--variance", "global"],
            "--variance, --no-shrink: LiRA option(s)",
        ),
        (
            ["--out", "{tmp}/s.zip", "--offline-a", "0.4"],
            "--offline-a: RMIA option(s); the loss attack uses no shadow models",
        ),
        (
            ["lira", "--out", "{tmp}/s.zip", "--population", "10"],
            "--population: RMIA option(s); the lira attack does not take them",
        ),
        (
            ["rmia", "--out", "{tmp}/s.zip", "--online"],
            "--online: LiRA option(s); the rmia attack does not take them",
        ),
    ],
)
def test_attack_options_are_checked_before_the_attack_starts(tmp_path, capsys, extra, message):
    """Again the data folder does not exist: these errors must not wait for the attack."""
    fill = {"tmp": str(tmp_path)}
    attack, extra = (extra[0], extra[1:]) if extra[0] in ("lira", "rmia") else ("loss", extra)
    args = ["attack", attack, "--data", tmp_path / "nowhere", "--device", "cpu"]
    status, err = run_cli(capsys, *args, *[a.format(**fill) for a in extra])
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, f"error: {message.format(**fill)}")


@pytest.mark.parametrize(
    "dataset,message",
    [
        (
            "nope={tmp}",
            "--dataset nope={tmp}: task 'image' has no dataset 'nope' (its datasets: digits)",
        ),
        ("digits={tmp}/missing", "--dataset digits={tmp}/missing: no such file or directory"),
        ("{tmp}/missing", "--dataset digits={tmp}/missing: no such file or directory"),
    ],
)
def test_dataset_option_names_a_dataset_of_the_task(
    tiny_export, tmp_path, capsys, dataset, message
):
    public = tiny_export[0]
    fill = {"tmp": str(tmp_path)}
    args = attack(public, "image", tmp_path)
    status, err = run_cli(capsys, *args, "--dataset", dataset.format(**fill))
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, f"error: {message.format(**fill)}")


@pytest.mark.parametrize(
    "flags,options",
    [
        ([], {"shrink": True, "online": False, "variance": "auto"}),
        (["--no-shrink"], {"shrink": False}),
        (["--online", "--variance", "per_point"], {"online": True, "variance": "per_point"}),
        (["--batch-size", "7"], {"batch_size": 7, "device": torch.device("cpu")}),
    ],
)
def test_lira_options_reach_the_attack(tiny_export, tmp_path, capsys, monkeypatch, flags, options):
    """What the command line passes to run_attack (stopped there: the attack itself is tested
    elsewhere)."""
    import micokit.attacks

    seen = {}

    def fake_run_attack(task, name, **given):
        seen.update(given, attack=name)
        raise OptionError("stopped by the test")

    monkeypatch.setattr(micokit.attacks, "run_attack", fake_run_attack)
    status, err = run_cli(capsys, *attack(tiny_export[0], "image", tmp_path, "lira"), *flags)
    assert (status, err.strip()) == (EXIT_BAD_INPUT, "error: stopped by the test")
    assert seen["attack"] == "lira"
    assert {key: seen[key] for key in options} == options


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as caught:
        run_cli(capsys, "attack", "fgsm")
    assert caught.value.code == EXIT_BAD_INPUT
    assert_one_line(capsys.readouterr().err, "micokit attack: error: argument attack", "--help")


# ----------------------------------------------------------------------------- last resort


def test_a_bug_is_an_internal_error_with_its_own_exit_status(tmp_path, capsys, monkeypatch):
    """Not bad input: said so in one line with the exception type; MICOKIT_DEBUG re-raises."""

    def broken(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cli, "cmd_info", broken)
    status, err = run_cli(capsys, "info", "--data", tmp_path)
    assert status == EXIT_INTERNAL
    assert_one_line(err, "internal error in micokit", "ZeroDivisionError: boom")
    monkeypatch.setenv("MICOKIT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["info", "--data", str(tmp_path)])


def test_python_dash_m_micokit_runs_the_command_line(tiny_export, tmp_path):
    """``python -m micokit`` as a real process: same commands, same one-line errors."""
    root = damaged_copy(
        tiny_export[0], "image", tmp_path, edit_manifest(lambda m: first(m).update(n="abc"))
    )
    run = [sys.executable, "-m", "micokit"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "attack" in helped.stdout
    failed = subprocess.run(
        [*run, "info", "--data", root, "--task", "image"], capture_output=True, text=True
    )
    assert failed.returncode == EXIT_BAD_INPUT
    assert_one_line(
        failed.stderr, "manifest.json: scenario 'image_inf': n must be a positive integer"
    )


def test_the_library_raises_the_same_errors(tiny_export, tmp_path):
    """Library users get the same DataError (a ValueError) as the command line prints."""
    root = damaged_copy(
        tiny_export[0],
        "image",
        tmp_path,
        lambda f: edit_lines(f / DEV0 / "challenge_indices.csv", lambda v: ["-1", *v[1:]]),
    )
    ref = open_task(root, "image").models("image_inf", "dev")[0]
    with pytest.raises(DataError, match="challenge_indices.csv: index -1 is outside dataset"):
        ref.challenge_points()
    healthy = open_task(tiny_export[0], "image").models("image_inf", "dev")[0]
    with pytest.raises(OptionError, match="batch size must be a positive integer"):
        healthy.load("cpu").logits(healthy.challenge_points(), batch_size=0)


def test_micokit_version_is_printed_not_an_error(capsys):
    from micokit import __version__
    from micokit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"micokit {__version__}"
