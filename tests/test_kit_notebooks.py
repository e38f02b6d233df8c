"""The starting kit's notebooks: one per demo task, shipped in the participant archive, clean,
and run end to end (load, baselines, pack, validate) in a Jupyter kernel on the tiny tasks."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from micokit.loading import open_task
from micokit.submission import load_scorer, validate
from nbclient import NotebookClient

from generator.publish.bundle import data_archive_name
from generator.spec.presets import load_preset

from .conftest import ROOT, TINY_PRESET

NOTEBOOKS = ROOT / "starting_kit" / "notebooks"
DEMO_TASKS = [task.id for task in load_preset(ROOT / "presets" / "demo.yaml").tasks]
TINY_TASKS = [task.id for task in load_preset(TINY_PRESET).tasks]
KERNEL = "micokit-tests"
CELL_TIMEOUT = 300  # seconds per cell; a tiny task's baselines take a few seconds


def notebook_path(task_id: str) -> Path:
    path = NOTEBOOKS / f"{task_id}.ipynb"
    assert path.is_file(), f"{path}: no starting-kit notebook for task {task_id!r}"
    return path


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """A kernelspec for this interpreter (the venv's python), in a private Jupyter path."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))
    spec = json.loads((prefix / "share/jupyter/kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return str(prefix)


def execute(path: Path, jupyter_prefix: str, monkeypatch, tmp_path: Path, data: Path | None):
    """Run the notebook at ``path`` from its own folder (as Jupyter does); return it executed."""
    monkeypatch.setenv("JUPYTER_PATH", str(Path(jupyter_prefix) / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    if data is None:
        monkeypatch.delenv("MICO_DATA", raising=False)
    else:
        monkeypatch.setenv("MICO_DATA", str(data))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def stdout(nb) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stdout"
    )


def check_submission(nb, folder: Path, public: Path, task_id: str) -> None:
    """The notebook wrote its zip next to itself, and the zip passes the scorer's validation."""
    submission = folder / f"{task_id}-submission.zip"
    assert zipfile.is_zipfile(submission), stdout(nb)
    assert f"{submission}: valid submission for task {task_id}" in stdout(nb)
    task = open_task(public, task_id)
    assert validate(submission, task, load_scorer(ROOT / "scoring_program")) == []
    with zipfile.ZipFile(submission) as archive:
        names = archive.namelist()
    for scenario in task.scenarios:
        for phase in ("dev", "final"):
            for model in scenario.models[phase]:
                assert f"{task_id}/{scenario.id}/{phase}/{model}/prediction.csv" in names


def test_every_demo_task_has_a_notebook_and_nothing_else_is_there():
    for task_id in DEMO_TASKS:
        notebook_path(task_id)
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == sorted(f"{t}.ipynb" for t in DEMO_TASKS)


@pytest.mark.parametrize("task_id", DEMO_TASKS)
def test_notebooks_are_stored_clean_and_canonical(task_id):
    """No outputs, no execution counts, valid nbformat 4, written exactly as nbformat writes."""
    path = notebook_path(task_id)
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert text == nbformat.writes(nb) + "\n"
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        assert cell.metadata == {}, f"{path}: cell {cell.id} has metadata"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path}: {cell.id}"
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert f'TASK = "{task_id}"' in code
    for call in ("open_task(", "run_attacks(", "pack(", "validate("):
        assert call in code


def test_notebooks_ship_in_every_participant_archive(tiny_preset, bundles):
    for task in tiny_preset.tasks:
        with zipfile.ZipFile(bundles / data_archive_name(task.id)) as archive:
            for task_id in DEMO_TASKS:
                name = f"starting_kit/notebooks/{task_id}.ipynb"
                assert archive.read(name) == notebook_path(task_id).read_bytes(), name


@pytest.mark.parametrize("task_id", TINY_TASKS)
def test_notebook_runs_in_the_unzipped_participant_archive(
    task_id, tiny_export, bundles, kernel, monkeypatch, tmp_path
):
    """As a participant runs it: unzip <task>-data.zip, open starting_kit/notebooks/<task>.ipynb,
    run every cell with the defaults (data two folders up, the shipped scoring program)."""
    public, _ = tiny_export
    assert (public / task_id / "manifest.json").is_file()
    notebook_path(task_id)
    unzipped = tmp_path / "data"
    with zipfile.ZipFile(bundles / data_archive_name(task_id)) as archive:
        archive.extractall(unzipped)
    path = unzipped / "starting_kit" / "notebooks" / f"{task_id}.ipynb"
    nb = execute(path, kernel, monkeypatch, tmp_path, data=None)
    assert f"({unzipped.resolve() / task_id})" in stdout(nb)
    check_submission(nb, path.parent, public, task_id)


def test_notebook_reads_the_data_folder_named_by_mico_data(
    tiny_export, kernel, monkeypatch, tmp_path
):
    """MICO_DATA points a notebook at another data folder, here the whole tiny public tree."""
    public, _ = tiny_export
    path = tmp_path / "notebooks" / "tabular.ipynb"
    path.parent.mkdir()
    path.write_bytes(notebook_path("tabular").read_bytes())
    nb = execute(path, kernel, monkeypatch, tmp_path, data=public)
    assert f"({public.resolve() / 'tabular'})" in stdout(nb)
    check_submission(nb, path.parent, public, "tabular")
