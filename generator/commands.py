"""What each ``python -m generator`` command does; ``generator.cli`` parses the command line.

Kept apart from the parser so that ``--help`` and ``--version`` answer without importing numpy,
torch or the rest: this module is imported only once a command is chosen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, fields
from itertools import combinations
from pathlib import Path

from micokit.errors import MicokitError
from micokit.layout import PHASES

from .build.datasets import DatasetError, check_available, load_dataset, resolve_model_path
from .build.devices import check_device
from .build.store import GenerationContext, find_stale, select_models, sweep_partial
from .build.tracking import DEFAULT_RETRIES
from .errors import GeneratorError, UsageError
from .locks import folder_lock
from .publish.export import ExportError, export_public, export_reference, model_tasks, verify_store
from .spec.presets import Preset, load_preset
from .spec.seeds import MASTER_SEED_ENV


def _csv(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


def parse_range(value: str | None) -> set[int] | None:
    """``"0-3,7"`` → {0, 1, 2, 3, 7}."""
    if not value:
        return None
    chosen: set[int] = set()
    try:
        for part in value.split(","):
            low, dash, high = part.partition("-")
            first, last = int(low), int(high if dash else low)
            if first < 0 or last < first:
                raise ValueError
            chosen.update(range(first, last + 1))
    except ValueError:
        raise UsageError(f"--models {value!r}: expected indices like 0-3,7") from None
    return chosen


@dataclass(frozen=True)
class GenerateOptions:
    """What one ``generate`` run is asked to do: the command line's training options.

    ``bundle`` trains with the same options but always every model, so its parser has no
    ``--tasks``/``--scenarios``/``--phases``/``--models`` and they stay None (all).
    """

    store: Path
    data_dir: Path | None = None
    tasks: str | None = None  # comma-separated ids, as typed
    scenarios: str | None = None
    phases: str | None = None
    models: str | None = None  # index ranges such as 0-3,7
    device: str | None = None  # None: the preset's
    executor: str | None = None  # None: the preset's
    workers: int | None = None
    retries: int = DEFAULT_RETRIES
    ray_address: str | None = None
    models_per_gpu: int = 1
    chunk_size: int | None = None
    retrain_stale: bool = False
    master_seed_file: str | None = None
    quiet: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GenerateOptions:
        """The options a subcommand's parser defines; the others keep their defaults."""
        given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        given["store"] = Path(given["store"])
        if given.get("data_dir"):
            given["data_dir"] = Path(given["data_dir"])
        return cls(**given)


def read_master_seed(master_seed_file: str | None) -> str | None:
    """The private master secret from ``--master-seed-file`` or $MICO_MASTER_SEED, else None."""
    if master_seed_file:
        path = Path(master_seed_file)
        if not path.exists() or path.is_dir():
            raise UsageError(f"{path}: master seed file not found")
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"{path}: cannot read the master seed ({error})") from None
        if not secret:
            raise UsageError(f"{path}: master seed file is empty")
        return secret
    if MASTER_SEED_ENV not in os.environ:
        return None
    secret = os.environ[MASTER_SEED_ENV].strip()
    if not secret:
        # Set but blank is a broken secret store, not a request for secure mode.
        raise UsageError(f"${MASTER_SEED_ENV} is set but empty; unset it for secure mode")
    return secret


def _check_choices(preset: Preset, tasks, scenarios, phases) -> None:
    task_ids = [t.id for t in preset.tasks]
    scenario_ids = [s.id for t in preset.tasks for s in t.scenarios]
    for kind, chosen, known in (
        ("task", tasks, task_ids),
        ("scenario", scenarios, scenario_ids),
        ("phase", phases, PHASES),
    ):
        for value in chosen or ():
            if value not in known:
                raise UsageError(
                    f"{preset.path}: unknown {kind} {value!r} (known: {', '.join(known)})"
                )


def preflight(preset: Preset, data_dir: Path | None, tasks) -> None:
    """Check every dataset and pretrained model the chosen tasks need, before training anything.

    Each dataset is loaded once here: a malformed file then stops the run with one line, instead
    of failing (and being retried) in every model, and n + m is checked against its real size.
    """
    from .spec.splits import check_sizes

    chosen = [task for task in preset.tasks if not tasks or task.id in tasks]
    check_available([s.dataset for task in chosen for s in task.scenarios], data_dir)
    for task in chosen:
        for scenario in task.scenarios:
            pretrained = scenario.model.get("pretrained")
            if pretrained:
                path = resolve_model_path(pretrained, data_dir)
                if not (path / "config.json").is_file():
                    raise DatasetError(
                        f"{path}: no config.json; expected a local copy of {pretrained!r} (save_pretrained layout)"
                    )
            size = len(load_dataset(scenario.dataset, data_dir, scenario.model))
            try:
                check_sizes(size, scenario.n, scenario.m)
            except ValueError as error:
                raise DatasetError(f"{preset.path}: scenario {scenario.id}: {error}") from None


def check_writable(store: Path) -> None:
    """Create the store and write to it once, so that no model trains into an unusable path."""
    if store.exists() and not store.is_dir():
        raise UsageError(f"{store}: not a folder (the store)")
    probe = store / f".tmp-probe-{os.getpid()}"
    try:
        store.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"{store}: cannot write the store ({error.strerror})") from None


def check_separate(**folders: Path) -> None:
    """Output folders must not overlap the store or each other.

    ``export`` replaces whole task folders: a public tree written into the store would delete
    private files, and reference data written into the public tree would ship the dev/final
    solutions to participants.
    """
    resolved = {name: path.resolve() for name, path in folders.items()}
    for (a, path_a), (b, path_b) in combinations(resolved.items(), 2):
        if path_a == path_b or path_a.is_relative_to(path_b) or path_b.is_relative_to(path_a):
            raise UsageError(
                f"{folders[a]}: the {a} folder overlaps the {b} folder {folders[b]}; "
                "use separate folders"
            )


def check_chosen(preset: Preset, chosen, models: set[int] | None) -> None:
    if models is not None:
        largest = max(preset.models.values())
        if max(models) >= largest:
            raise UsageError(
                f"--models: index {max(models)} does not exist (the preset has at most "
                f"{largest} models per phase, numbered from 0)"
            )
    if not chosen:
        raise UsageError("the chosen tasks, scenarios, phases and models select no model")


def cmd_generate(args: argparse.Namespace) -> int:
    return 0 if generate(load_preset(args.preset), GenerateOptions.from_args(args)) else 1


def generate(preset: Preset, options: GenerateOptions) -> bool:
    """Train every chosen model not finished yet; print a summary; True when none failed."""
    from .build.executors import run_models

    tasks, scenarios, phases = _csv(options.tasks), _csv(options.scenarios), _csv(options.phases)
    _check_choices(preset, tasks, scenarios, phases)
    models = parse_range(options.models)
    chosen = select_models(preset, tasks, scenarios, phases, models)
    check_chosen(preset, chosen, models)
    master_seed = read_master_seed(options.master_seed_file)
    device = options.device or preset.device
    check_device(device)
    data_dir = options.data_dir
    preflight(preset, data_dir, tasks)
    store = options.store
    check_writable(store)
    for leftover in sweep_partial(store, chosen):
        print(f"removed partial model directory {leftover}", file=sys.stderr)
    context = GenerationContext(
        preset_path=str(preset.path),
        store=str(store),
        data_dir=str(data_dir) if data_dir else None,
        master_seed=master_seed,
        device=device,
        show_progress=not options.quiet and (options.executor == "inline" or options.workers == 1),
        retrain_stale=options.retrain_stale,
    )
    started = time.perf_counter()
    summary = run_models(
        context,
        chosen,
        executor=options.executor or preset.executor,
        workers=options.workers,
        retries=options.retries,
        show=not options.quiet,
        ray_address=options.ray_address,
        models_per_gpu=options.models_per_gpu,
        chunk_size=options.chunk_size,
    )
    elapsed = time.perf_counter() - started
    print(
        f"{len(summary.done)} trained, {len(summary.skipped)} already finished, "
        f"{len(summary.failed)} failed, {len(summary.stale)} stale, "
        f"{sum(summary.retried.values())} retries in {elapsed:.1f}s",
        file=sys.stderr,
    )
    for task, error in sorted(summary.failed.items()):
        print(f"failed: {task}: {error}", file=sys.stderr)
    if summary.stale:
        print(
            f"{len(summary.stale)} finished model(s) no longer match the preset, dataset or code; "
            "rerun with --retrain-stale to replace them",
            file=sys.stderr,
        )
    return summary.ok


def verify_for_export(preset: Preset, store: Path, data_dir: Path | None, tasks) -> None:
    """Every chosen task's models complete, intact and current, before anything is written."""
    for task_id in tasks:
        verify_store(preset, preset.task(task_id), store)
    context = GenerationContext(
        str(preset.path), str(store), str(data_dir) if data_dir else None, master_seed=None
    )
    models = [m for task_id in tasks for m in model_tasks(preset, preset.task(task_id))]
    stale = find_stale(context, models)
    if stale:
        first, reason = next(iter(stale.items()))
        raise ExportError(
            f"{store}: {len(stale)} model(s) no longer match the preset (first: {first}: "
            f"{reason}); run 'python -m generator generate --retrain-stale'"
        )


def cmd_export(args: argparse.Namespace) -> int:
    preset = load_preset(args.preset)
    tasks = _csv(args.tasks) or [t.id for t in preset.tasks]
    _check_choices(preset, tasks, None, None)
    store, data_dir = Path(args.store), Path(args.data_dir) if args.data_dir else None
    check_separate(store=store, public=Path(args.public), reference=Path(args.reference))
    check_store_folder(store)
    # Exclusive: no generate run may train or swap in a model between the public export and
    # the reference export of it (generator/locks.py).
    with folder_lock(store, shared=False, purpose="export"):
        verify_for_export(preset, store, data_dir, tasks)
        for task_id in tasks:
            task = preset.task(task_id)
            public = export_public(preset, task, store, Path(args.public), data_dir)
            export_reference(preset, task, store, Path(args.reference))
            print(
                f"exported {task_id}: {public} and {Path(args.reference) / task_id}",
                file=sys.stderr,
            )
    return 0


def check_store_folder(store: Path) -> None:
    """Before locking ``store`` (which would create it): an absent store has nothing to export."""
    if store.exists() and not store.is_dir():
        raise UsageError(f"{store}: not a folder (the store)")
    if not store.exists():
        raise ExportError(
            f"{store}: no store there (models not generated yet); "
            "run 'python -m generator generate' first"
        )


def cmd_bundle(args: argparse.Namespace) -> int:
    """The whole pipeline: generate (resuming), export, report, bundles, checksums.

    The bundle folder is locked for the whole run and the store exclusively from the export
    on, so concurrent runs wait for each other instead of mixing their outputs; the checksum
    lists are removed first and written last, so a killed run leaves none rather than wrong ones.
    Every flag of the calibration reports is printed at the end; with ``--strict`` any flag
    makes the exit status 1 (the bundles are written all the same).
    """
    preset = load_preset(args.preset)
    check_separate(
        store=Path(args.store),
        public=Path(args.public),
        reference=Path(args.reference),
        out=Path(args.out),
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{args.out}: not a folder (bundle output)")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, shared=False, purpose="bundle"):
        return _bundle(preset, args, out)


def _bundle(preset: Preset, args: argparse.Namespace, out: Path) -> int:
    from .publish.bundle import (
        ORGANIZER_SUMS,
        PUBLISHED_SUMS,
        build_task_bundles,
        clear_outputs,
        write_checksums,
    )
    from .publish.calibration import build_report, report_flags

    clear_outputs(out)
    timings = {}
    started = time.perf_counter()
    if not generate(preset, GenerateOptions.from_args(args)):
        print(
            "error: the store is not complete and current (see above); finished models are kept",
            file=sys.stderr,
        )
        return 1
    timings["generate"] = time.perf_counter() - started
    store = Path(args.store)
    data_dir = Path(args.data_dir) if args.data_dir else None
    public, reference = Path(args.public), Path(args.reference)
    written: list[Path] = []  # what the checksums vouch for: this run's files only
    flags: list[str] = []  # the calibration reports' flags, task by task
    with folder_lock(store, shared=False, purpose="export"):
        for task in preset.tasks:  # all checked before any task's bundles are rewritten
            verify_store(preset, task, store)
        for task in preset.tasks:
            step = time.perf_counter()
            export_public(preset, task, store, public, data_dir)
            export_reference(preset, task, store, reference)
            timings.setdefault("export", 0.0)
            timings["export"] += time.perf_counter() - step
            step = time.perf_counter()
            report_paths = build_report(preset, task, store, out, data_dir)
            written += report_paths
            flags += report_flags(report_paths[1])
            timings.setdefault("report", 0.0)
            timings["report"] += time.perf_counter() - step
            step = time.perf_counter()
            for path in build_task_bundles(preset, task, public, reference, out):
                written.append(path)
                print(f"wrote {path}", file=sys.stderr)
            timings.setdefault("bundles", 0.0)
            timings["bundles"] += time.perf_counter() - step
    write_checksums(out, written)
    total = time.perf_counter() - started
    spent = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
    print(
        f"bundle: {total:.1f}s in all ({spent}); checksums: {out / PUBLISHED_SUMS} (publish it "
        f"with the data archives) and {out / ORGANIZER_SUMS} (organizer only)",
        file=sys.stderr,
    )
    reports = out / "<task>-report.html"
    if not flags:
        print(f"calibration reports: no flags ({reports})", file=sys.stderr)
        return 0
    print(f"calibration reports: {len(flags)} flag(s) (details in {reports}):", file=sys.stderr)
    for flag in flags:
        print(f"flag: {flag}", file=sys.stderr)
    if getattr(args, "strict", False):
        print(
            f"error: --strict: the calibration reports raised {len(flags)} flag(s); the bundles "
            f"are written to {out}, but check the reports before publishing them",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_check_bundle(args: argparse.Namespace) -> int:
    from .publish.checkbundle import check_bundles, summary

    preset = load_preset(args.preset)
    problems = check_bundles(preset, Path(args.bundles))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:  # what was checked, so that a pass is not taken on trust
        for line in summary(preset, Path(args.bundles)):
            print(line, file=sys.stderr)
    return 1 if problems else 0


def cmd_status(args: argparse.Namespace) -> int:
    from .status import store_status

    preset = load_preset(args.preset)
    store = Path(args.store)
    if store.exists() and not store.is_dir():
        raise UsageError(f"{store}: not a folder (the store)")
    if not store.exists():
        print(f"note: {store} does not exist yet; nothing is generated", file=sys.stderr)
    print(
        store_status(
            preset, Path(args.store), Path(args.data_dir) if args.data_dir else None, args.stale
        )
    )
    return 0


def _count_option(name: str, text: str, maximum: int) -> int:
    """A positive count given on the command line, or a one-line UsageError."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise UsageError(f"{name} {text!r}: expected an integer from 1 to {maximum:,}")
    return value


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what training the preset takes (generator.build.plan); ``--json`` also writes it."""
    import json

    from .build.devices import usable_device
    from .build.plan import MAX_STEPS, plan_preset, render
    from .spec.presets import MAX_BATCH_MODELS
    from .writes import write_text_atomic

    steps = _count_option("--steps", args.steps, MAX_STEPS)
    batch_models = _count_option("--batch-models", args.batch_models, MAX_BATCH_MODELS)
    preset = load_preset(args.preset)
    device = usable_device(args.device or preset.device)
    data_dir = Path(args.data_dir) if args.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UsageError(f"{data_dir}: not a folder (--data-dir)")
    out = Path(args.json) if args.json else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise UsageError(f"{out}: cannot write the JSON there (not a file in an existing folder)")
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    result = plan_preset(preset, device, data_dir, steps, batch_models, progress)
    result["wall_time_s"] = round(time.perf_counter() - started, 1)
    print(render(result))
    if out is not None:
        write_text_atomic(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


COMMANDS = {
    "generate": cmd_generate,
    "bundle": cmd_bundle,
    "check-bundle": cmd_check_bundle,
    "export": cmd_export,
    "status": cmd_status,
    "plan": cmd_plan,
}
# Errors an organizer can cause: printed as one line, exit status 2.
USER_ERRORS = (GeneratorError, MicokitError)
