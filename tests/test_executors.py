"""Every executor builds the same store; a killed worker is retried; stale models are not reused.

One small scenario of the tiny preset (image_inf: the CNN, 7 models) runs in reproducible mode
through the inline path, the local pool and a real local Ray cluster, and the stores are compared
byte for byte (``metadata.json`` minus its wall time). The CNN is chosen because its weights
change with the number of torch threads, which the executors must therefore fix. The fault tests kill a busy worker with SIGKILL from
outside, found by scanning /proc for the generator's descendants, so the production code carries
no test hook.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from generator.build.executors import run_models
from generator.build.ray_executor import default_chunk_size, plan_resources
from generator.build.store import GenerationContext, ModelId, find_stale
from generator.spec.presets import load_preset

from .conftest import (
    ROOT,
    TINY_MASTER_SEED,
    TINY_PRESET,
    generate_scenario,
    run_generator,
    snapshot,
)

SCENARIO = ["--tasks", "image", "--scenarios", "image_inf"]
MODELS = 7  # tiny preset: 3 train + 2 dev + 2 final
SEED_ENV = {"MICO_MASTER_SEED": TINY_MASTER_SEED}
# The worker processes of each executor, as /proc/<pid>/cmdline shows them.
WORKER_MARK = {"local": "multiprocessing.spawn", "ray": "ray::generator.train_models"}


def generate(store: Path, *extra: str, **kwargs):
    return generate_scenario(store, SCENARIO, *extra, **kwargs)


def model_dirs(store: Path) -> list[Path]:
    return sorted(store.glob("image/image_inf/*/*"))


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_executor_builds_the_same_store_as_inline(tmp_path, reference, executor):
    store = tmp_path / "store"
    result = generate(store, "--executor", executor, "--workers", "2")
    assert f"{MODELS} trained, 0 already finished, 0 failed" in result.stderr
    assert snapshot(store) == reference


# ------------------------------------------------------------------------------ fault tolerance


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after "(comm)"
        table[int(entry.name)] = (parent, cmdline)
    return table


def busy_workers(root: int, mark: str) -> list[int]:
    """Worker processes descending from ``root`` (Ray's raylet is the driver's child)."""
    table = process_table()

    def descends(pid: int) -> bool:
        while pid in table and pid > 1:
            if pid == root:
                return True
            pid = table[pid][0]
        return False

    return [pid for pid, (_, cmd) in table.items() if mark in cmd and pid != root and descends(pid)]


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_killed_worker_is_retried_and_reported(tmp_path, reference, executor):
    store = tmp_path / "store"
    command = [
        sys.executable,
        "-m",
        "generator",
        "generate",
        "--preset",
        str(TINY_PRESET),
        *SCENARIO,
        "--store",
        str(store),
        "--quiet",
        "--executor",
        executor,
        "--workers",
        "2",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(os.environ, **SEED_ENV),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = None
    deadline = time.monotonic() + 150
    try:
        # As soon as the first model is stored every worker is busy with a model: kill one.
        while victim is None and time.monotonic() < deadline and process.poll() is None:
            workers = busy_workers(process.pid, WORKER_MARK[executor])
            if workers and list(store.glob("image/image_inf/*/model_*/metadata.json")):
                victim = workers[0]
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.02)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert victim is not None, "the run ended before a worker could be killed"
    assert process.returncode == 0, stderr[-2000:]
    assert "died" in stderr and "0 failed" in stderr
    # The kill usually lands mid-model, which is charged and retried. Rarely it lands after the
    # worker renamed its model into place and before it reported it: that model is complete and
    # counted as done (Tracker.attempt_failed), nothing to retry, and the run must still be whole.
    if "retrying image/image_inf/" not in stderr:
        assert f"{MODELS} trained" in stderr and "0 retries" in stderr, stderr[-2000:]
    names = [p.name for p in model_dirs(store)]
    assert len(names) == MODELS and all(name.startswith("model_") for name in names)
    assert not list(store.rglob(".tmp-*")), "a partial directory was left behind"
    assert snapshot(store) == reference, "the retried model differs from the inline one"


# ----------------------------------------------------------------------------------- staleness


def edited_preset(tmp_path: Path) -> Path:
    """The tiny preset with the image task's learning rate changed."""
    text = TINY_PRESET.read_text()
    old = "training: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 32, epochs: 8}"
    assert old in text
    path = tmp_path / "tiny_edited.yaml"
    path.write_text(text.replace(old, old.replace("0.05", "0.06")))
    return path


def test_changed_preset_reports_stale_models_and_keeps_them(tmp_path, inline_store):
    store = tmp_path / "store"
    shutil.copytree(inline_store, store)
    before = snapshot(store)
    result = generate(store, "--executor", "local", preset=edited_preset(tmp_path), check=False)
    assert result.returncode == 1
    assert "0 trained, 0 already finished, 0 failed" in result.stderr
    assert "stale: image/image_inf/dev/model_0: preset settings changed" in result.stderr
    assert f"{MODELS} finished model(s) are stale and were not reused" in result.stderr
    assert snapshot(store) == before, "a stale model was touched"

    same = generate(store, "--executor", "local")  # the original preset: all current again
    assert f"0 trained, {MODELS} already finished, 0 failed" in same.stderr


def test_relabelling_a_scenario_or_changing_delta_at_epsilon_infinity_keeps_models(
    tmp_path, inline_store
):
    # Neither reaches a plain (ε = ∞) model's training, so neither may force a retrain.
    text = TINY_PRESET.read_text()
    old = "      - id: image_inf\n        epsilon: null\n"
    assert old in text
    edited = tmp_path / "tiny_relabelled.yaml"
    edited.write_text(text.replace(old, old + "        label: Plain SGD\n        delta: 1.0e-6\n"))
    assert load_preset(edited).task("image").scenario("image_inf").label == "Plain SGD"
    context = GenerationContext(str(edited), str(inline_store), master_seed=TINY_MASTER_SEED)
    tasks = [ModelId("image", "image_inf", "dev", i) for i in range(2)]
    assert find_stale(context, tasks) == {}


def test_stale_models_say_whether_the_dataset_or_the_generator_version_changed(
    inline_store, monkeypatch
):
    import generator.build.store as store

    context = GenerationContext(str(TINY_PRESET), str(inline_store), master_seed=TINY_MASTER_SEED)
    tasks = [ModelId("image", "image_inf", "dev", 0)]
    monkeypatch.setattr(store, "_fingerprint", lambda *args: "another dataset")
    assert find_stale(context, tasks) == {tasks[0]: "dataset changed"}
    monkeypatch.undo()
    monkeypatch.setattr(store, "__version__", "99.0")
    (reason,) = find_stale(context, tasks).values()
    assert reason.startswith("generator version changed (") and reason.endswith(" → 99.0)")


def test_other_master_seed_makes_models_stale(tmp_path, inline_store):
    context = GenerationContext(str(TINY_PRESET), str(inline_store), master_seed="another")
    tasks = [ModelId("image", "image_inf", "dev", i) for i in range(2)]
    stale = find_stale(context, tasks)
    assert set(stale) == set(tasks)
    assert all("master seed" in reason for reason in stale.values())
    current = GenerationContext(str(TINY_PRESET), str(inline_store), master_seed=TINY_MASTER_SEED)
    assert find_stale(current, tasks) == {}


def test_retrain_stale_replaces_the_model(tmp_path, inline_store):
    store = tmp_path / "store"
    shutil.copytree(inline_store, store)
    preset = edited_preset(tmp_path)
    task = ModelId("image", "image_inf", "train", 0)
    context = GenerationContext(
        str(preset), str(store), master_seed=TINY_MASTER_SEED, retrain_stale=True
    )
    old_key = json.loads((task.path(store) / "private.json").read_text())["config_key"]
    summary = run_models(context, [task], executor="inline", show=False)
    assert summary.done == [task] and summary.ok
    assert json.loads((task.path(store) / "metadata.json").read_text())["lr"] == 0.06
    assert json.loads((task.path(store) / "private.json").read_text())["config_key"] != old_key
    others = [ModelId("image", "image_inf", "dev", 0), task]
    assert list(find_stale(context, others)) == [others[0]]
    assert not list(store.rglob(".tmp-*"))


# ----------------------------------------------------------------------------- ray is optional


def test_importing_the_generator_does_not_import_ray():
    code = "import sys, generator.cli, generator.build.executors; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_missing_ray_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from generator.cli import main\n"
        f"sys.exit(main(['generate', '--preset', {str(TINY_PRESET)!r}, '--tasks', 'tabular',"
        f" '--scenarios', 'tabular_inf', '--models', '0', '--store', {str(tmp_path / 's')!r},"
        " '--executor', 'ray', '--quiet']))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: ray is not installed: pip install 'ray==2.60.0' (or pip install -r requirements.txt)"
    )


def test_unreachable_ray_address_is_one_clear_line(tmp_path):
    result = run_generator(
        "generate",
        "--preset",
        str(TINY_PRESET),
        *SCENARIO,
        "--models",
        "0",
        "--store",
        str(tmp_path / "s"),
        "--executor",
        "ray",
        "--ray-address",
        "127.0.0.1:1",
        "--quiet",
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot connect to the Ray cluster at 127.0.0.1:1: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_resource_plan_packs_models_onto_gpus():
    plan = plan_resources({"CPU": 16.0, "GPU": 2.0}, "auto", 4, 1)
    assert (plan.num_gpus, plan.slots, plan.device) == (0.25, 8, "cuda")
    cpu = plan_resources({"CPU": 16.0, "GPU": 2.0}, "cpu", 4, 2)
    assert (cpu.num_gpus, cpu.slots, cpu.device) == (0.0, 8, "cpu")
    assert plan_resources({"CPU": 2.0}, "auto", 1, 1).slots == 2
    assert default_chunk_size(2400, 8) == 75 and default_chunk_size(7, 2) == 1


def test_progress_in_a_log_file_is_plain_lines_not_a_redrawn_bar(tmp_path):
    # stderr captured by a pipe, as `make bundle > build.log 2>&1` does: no terminal.
    args = ["--tasks", "tabular", "--scenarios", "tabular_inf", "--store", str(tmp_path / "s")]
    result = run_generator("generate", "--preset", str(TINY_PRESET), *args, env_extra=SEED_ENV)
    assert "\r" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("models: ")]
    assert progress and progress[-1].startswith(f"models: {MODELS}/{MODELS} ")
    assert "left" in progress[0]


def test_every_first_party_package_the_generator_imports_travels_to_ray_workers():
    # A cluster node has the pinned requirements, not this checkout: whatever first-party
    # package generator/ imports must be shipped with the job.
    from generator.build.ray_executor import shipped_packages

    imported = set()
    for source in (ROOT / "generator").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    first_party = {p.parent.name for p in ROOT.glob("*/*/__init__.py")} | {"generator"}
    assert {Path(p).name for p in shipped_packages()} == imported & first_party | {"generator"}


def test_installing_the_generator_package_installs_micokit_too(tmp_path):
    # `pip install -e '.[ray]'` on a cluster node: the generator imports micokit.
    for name in ("pyproject.toml", "generator", "starting_kit/micokit"):
        source, target = ROOT / name, tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path / "wheel"), str(tmp_path)], check=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # Every module of every subpackage: a package missing from pyproject's list installs
    # without it, and the import fails only on the cluster node.
    modules = {
        f"generator/{p.relative_to(ROOT / 'generator').as_posix()}"
        for p in (ROOT / "generator").rglob("*.py")
    }
    assert modules <= names
    assert {"micokit/loading.py", "micokit/attacks.py"} <= names
