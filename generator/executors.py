"""Where model tasks run: in this process, in a local process pool, or on a Ray cluster.

Every model is a pure, idempotent :class:`~generator.store.ModelTask`, so an executor only has to
run each task at least once: a model finished twice is written once (atomic rename), and a retry
after a crash simply trains the model again from its seeds. Executors hand out *units*: the
models of one trainer call (:func:`~generator.store.work_units`), one model each unless the
scenario uses the batched trainer; outcomes and retries are still booked model by model.

:func:`run_tasks` is the seam: it sorts the chosen models into finished (skipped), stale
(reported, or retrained on request) and to do, then hands the rest to one executor. Each executor
keeps its books with a :class:`Tracker`, so retries, failures and the progress bar read the same
whichever one ran.

Reproducible mode also fixes how many threads train a model on the CPU: one, whichever executor
runs it. The intra-op thread count changes the order of floating-point reductions, and with it
the last bits of the weights (seen on the demo's CNN and RoBERTa), so "one model per core, one
thread each" is what makes the stores byte-identical across executors.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from .locks import claim_path, folder_lock, holder, wait_for_claim
from .store import (
    GenerationContext,
    ModelTask,
    Outcome,
    find_stale,
    is_finished,
    run_model_unit,
    sweep_partial,
    work_units,
)

Unit = tuple[ModelTask, ...]  # the models of one trainer call (store.training_group)

DEFAULT_RETRIES = 2
STALE_SHOWN = 10  # stale models listed one by one; the rest are counted


@dataclass
class RunSummary:
    done: list[ModelTask] = field(default_factory=list)
    skipped: list[ModelTask] = field(default_factory=list)
    failed: dict[ModelTask, str] = field(default_factory=dict)  # task -> last error
    retried: dict[ModelTask, int] = field(default_factory=dict)  # task -> attempts beyond the first
    stale: dict[ModelTask, str] = field(default_factory=dict)  # task -> why it no longer matches
    claimed: list[ModelTask] = field(default_factory=list)  # being trained by another run

    def merge(self, other: RunSummary) -> None:
        """Add the outcomes of a later round over other models (see :func:`run_tasks`)."""
        self.done += other.done
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.retried.update(other.retried)
        self.stale.update(other.stale)
        self.claimed = list(other.claimed)

    @property
    def ok(self) -> bool:
        """False when a model failed or a stale model stands where a current one should be."""
        return not self.failed and not self.stale


class ProgressLines:
    """Progress as plain lines for a log: at most one a minute, and at every tenth of the run."""

    EVERY_S = 60.0

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.started = self.last = time.monotonic()

    def tick(self, running: int, failed: int) -> None:
        self.done += 1
        now = time.monotonic()
        tenth = max(1, self.total // 10)
        if self.done % tenth and self.done != self.total and now - self.last < self.EVERY_S:
            return
        self.last = now
        elapsed = now - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"models: {self.done}/{self.total} ({running} running, {failed} failed), "
            f"{_duration(elapsed)} elapsed, about {_duration(eta)} left",
            file=sys.stderr,
            flush=True,
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Tracker:
    """The books of one run: outcomes, attempts, retry decisions and the one progress bar.

    Executors call :meth:`finished` for each outcome and :meth:`attempt_failed` for each failed
    attempt; the tracker decides whether to retry, says so on stderr and keeps the bar's
    done / running / failed figures and ETA current.
    """

    def __init__(self, context: GenerationContext, total: int, retries: int, show: bool):
        self.context = context
        self.retries = retries
        self.summary = RunSummary()
        self.attempts: dict[ModelTask, int] = {}
        self.running = 0
        # A bar redraws itself with carriage returns: in a log file that is one endless line,
        # so off a terminal the same figures come as a plain line now and then instead.
        self.lines = ProgressLines(total) if show and not sys.stderr.isatty() else None
        hidden = not show or self.lines is not None
        self.bar = tqdm(total=total, desc="models", unit="model", file=sys.stderr, disable=hidden)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def say(self, message: str) -> None:
        """One line on stderr, printed above the bar (and also when the bar is hidden)."""
        self.bar.write(message, file=sys.stderr)

    def _tick(self) -> None:
        self.bar.update(1)
        self.refresh()
        if self.lines is not None:
            self.lines.tick(self.running, len(self.summary.failed))

    def refresh(self, running: int | None = None) -> None:
        if running is not None:
            self.running = running
        self.bar.set_postfix(running=self.running, failed=len(self.summary.failed), refresh=False)
        self.bar.refresh()

    def finished(self, task: ModelTask, outcome: str) -> None:
        """Record a model's outcome: ``done``, ``skipped``, ``stale`` or ``claimed``
        (see store.Outcome)."""
        if outcome == "skipped" and self.attempts.get(task):
            outcome = "done"  # an earlier attempt of ours renamed it into place, then died
        if outcome == "claimed":
            self.summary.claimed.append(task)
        elif outcome == "stale":
            self.summary.stale[task] = "finished meanwhile by a run with another configuration"
        else:
            (self.summary.done if outcome == "done" else self.summary.skipped).append(task)
        self._tick()

    def unit_finished(self, outcomes: list[Outcome]) -> list[ModelTask]:
        """Record a unit's outcomes (store.run_model_unit); return the models to run again."""
        again = []
        for task, outcome, error in outcomes:
            if error is None:
                self.finished(task, outcome)
            elif self.attempt_failed(task, error):
                again.append(task)
        return again

    def unit_failed(self, unit: Unit, error: str) -> list[ModelTask]:
        """Charge every model of ``unit`` one failed attempt; return those to run again."""
        return [task for task in unit if self.attempt_failed(task, error)]

    def attempt_failed(self, task: ModelTask, error: str) -> bool:
        """Charge ``task`` one failed attempt; True when it should run again.

        A model whose directory is complete despite the failure (the worker died after the
        rename) counts as done and is not retried.
        """
        self.attempts[task] = self.attempts.get(task, 0) + 1
        if is_finished(task.path(Path(self.context.store))):
            self.finished(task, "done")
            return False
        if self.attempts[task] > self.retries:
            self.summary.failed[task] = error  # listed by the caller's summary
            self._tick()
            return False
        self.summary.retried[task] = self.attempts[task]
        self.say(
            f"retrying {task} (attempt {self.attempts[task] + 1} of {self.retries + 1}): {error}"
        )
        return True


def discard_partial(context: GenerationContext, task: ModelTask) -> None:
    """Remove the ``.tmp-`` directory a killed worker left for ``task``.

    Call it only once the worker is gone. The sweep takes the model's claim first, so if
    another run has meanwhile started training the model, its folder is left alone.
    """
    sweep_partial(Path(context.store), [task])


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_workers(device: str, models_per_gpu: int = 1) -> int:
    """One worker per CPU core, or ``models_per_gpu`` workers per visible GPU."""
    gpus = gpu_count() if device in ("auto", "cuda") else 0
    return gpus * models_per_gpu if gpus else max(1, os.cpu_count() or 1)


def cpu_threads(context: GenerationContext, share: int) -> int:
    """Torch threads per model: 1 in reproducible mode (see the module docstring), else ``share``."""
    return 1 if context.master_seed is not None else max(1, share)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Train with ``count`` intra-op threads in this process, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_inline(context: GenerationContext, units: list[Unit], show: bool = True) -> RunSummary:
    """Run each unit in this process, in order, without retries: the simplest path, for debugging."""
    if not units:
        return RunSummary()
    threads = cpu_threads(context, os.cpu_count() or 1)
    total = sum(len(unit) for unit in units)
    with torch_threads(threads), Tracker(context, total, retries=0, show=show) as tracker:
        for unit in units:
            tracker.refresh(running=len(unit))
            try:
                outcomes = run_model_unit(context, unit)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                tracker.unit_failed(unit, f"{type(error).__name__}: {error}")
            else:
                tracker.unit_finished(outcomes)
        tracker.refresh(running=0)
    return tracker.summary


# --------------------------------------------------------------------------- local process pool

_WORKER_DEVICE = "cpu"


def _init_worker(slots, threads: int, device: str) -> None:
    """Pin this worker to one device (GPU ``slot % gpus``) and its share of CPU threads."""
    global _WORKER_DEVICE
    import torch

    torch.set_num_threads(threads)
    slot = slots.get()
    gpus = gpu_count() if device in ("auto", "cuda") else 0
    _WORKER_DEVICE = f"cuda:{slot % gpus}" if gpus else ("cpu" if device == "auto" else device)


def _run_in_worker(context: GenerationContext, unit: Unit) -> list[Outcome]:
    return run_model_unit(replace(context, device=_WORKER_DEVICE), unit)


def run_local(
    context: GenerationContext,
    units: list[Unit],
    workers: int,
    retries: int = DEFAULT_RETRIES,
    show: bool = True,
) -> RunSummary:
    """Run units on a pool of ``workers`` processes; rebuild the pool if a worker dies.

    At most ``workers`` units are submitted at a time, so every submitted unit is one that is
    actually running: when a worker dies (OOM kill, segfault, ``kill -9``) the pool breaks, the
    models then in flight are charged one attempt, and a fresh pool takes them again, up to
    ``retries`` extra attempts each. An exception inside a model (CUDA out of memory when several
    models share a GPU, say) is charged and retried the same way. Then the model is reported as
    failed, never dropped. A unit run again holds only its models still to do.
    """
    ctx = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
    threads = cpu_threads(context, (os.cpu_count() or 1) // workers)
    queue = list(reversed(units))  # pop() from the end keeps the given order
    total = sum(len(unit) for unit in units)
    with Tracker(context, total, retries, show) as tracker:
        while queue:
            slots = ctx.Queue()
            for slot in range(workers):
                slots.put(slot)
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_init_worker,
                initargs=(slots, threads, context.device),
            )  # fmt: skip
            futures: dict[Future, Unit] = {}
            broken = False
            lost: list[ModelTask] = []  # in flight when the pool broke
            while (queue and not broken) or futures:
                while queue and not broken and len(futures) < workers:
                    unit = queue.pop()
                    futures[pool.submit(_run_in_worker, context, unit)] = unit
                tracker.refresh(running=sum(len(u) for u in futures.values()))
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    unit = futures.pop(future)
                    try:
                        outcomes = future.result()
                    except BrokenProcessPool:
                        if not broken:
                            tracker.say("a worker process died; restarting the pool")
                        broken = True
                        lost += unit
                        again = tracker.unit_failed(unit, "worker process died")
                    except Exception as error:  # noqa: BLE001 - a bug, bad data or CUDA OOM
                        again = tracker.unit_failed(unit, f"{type(error).__name__}: {error}")
                    else:
                        again = tracker.unit_finished(outcomes)
                    if again:
                        queue.append(tuple(again))
            pool.shutdown(wait=True, cancel_futures=True)
            for task in lost:  # every worker is gone now: nothing writes there any more
                discard_partial(context, task)
        tracker.refresh(running=0)
    return tracker.summary


# --------------------------------------------------------------------------------- the seam


def report_stale(stale: dict[ModelTask, str]) -> None:
    """Say which finished models were not reused because they no longer match the preset."""
    if not stale:
        return
    for task, reason in sorted(stale.items())[:STALE_SHOWN]:
        print(f"stale: {task}: {reason}", file=sys.stderr)
    if len(stale) > STALE_SHOWN:
        print(f"stale: ... and {len(stale) - STALE_SHOWN} more", file=sys.stderr)
    print(
        f"{len(stale)} finished model(s) are stale and were not reused; retrain them with "
        "--retrain-stale (or delete them)",
        file=sys.stderr,
    )


def run_tasks(
    context: GenerationContext,
    tasks: list[ModelTask],
    executor: str = "local",
    workers: int | None = None,
    retries: int = DEFAULT_RETRIES,
    show: bool = True,
    ray_address: str | None = None,
    models_per_gpu: int = 1,
    chunk_size: int | None = None,
) -> RunSummary:
    """Run the unfinished models among ``tasks`` on the chosen executor (inline, local or ray).

    Finished models are checked against the current configuration first (here, once, rather
    than in every worker): current ones are skipped, stale ones are reported and left alone
    unless ``context.retrain_stale``. ``models_per_gpu`` packs small models onto shared GPUs
    (local pool and Ray); ``chunk_size`` is the number of models per Ray task.
    """
    store = Path(context.store)
    store.mkdir(parents=True, exist_ok=True)
    # Shared: other generate runs may train other models of this store at the same time
    # (per-model claims keep them apart); export and bundle wait for all of them to finish.
    with folder_lock(store, shared=True, purpose="generate"):
        stale = find_stale(context, tasks)
        skipped = [t for t in tasks if t not in stale and is_finished(t.path(store))]
        done_or_kept = set(skipped) if context.retrain_stale else set(skipped) | set(stale)
        todo = [t for t in tasks if t not in done_or_kept]
        options = {"executor": executor, "workers": workers, "retries": retries, "show": show}
        options.update(ray_address=ray_address, models_per_gpu=models_per_gpu)
        run = partial(_execute, context, chunk_size=chunk_size, **options)
        summary = run(todo)
        while summary.claimed:
            summary.merge(run(_after_claims(context, summary)))
    summary.skipped[:0] = skipped
    if not context.retrain_stale:
        summary.stale.update(stale)
    report_stale(summary.stale)
    return summary


def _after_claims(context: GenerationContext, summary: RunSummary) -> list[ModelTask]:
    """Wait for the models another run was training (``summary.claimed``); return those it did
    not finish.

    Those it finished count as already finished; the others (the other run failed, or was
    killed) are ours to train in the next round.
    """
    claimed = summary.claimed
    store = Path(context.store)
    who = holder(claim_path(claimed[0].path(store)))
    print(
        f"waiting for {len(claimed)} model(s) that another run on this store is training "
        f"(first: {claimed[0]}, by {who})",
        file=sys.stderr,
        flush=True,
    )
    again = []
    for task in claimed:
        wait_for_claim(task.path(store))
        (summary.skipped if is_finished(task.path(store)) else again).append(task)
    return again


def _execute(
    context: GenerationContext,
    todo: list[ModelTask],
    executor: str,
    workers: int | None,
    retries: int,
    show: bool,
    ray_address: str | None,
    models_per_gpu: int,
    chunk_size: int | None,
) -> RunSummary:
    """One round of ``todo`` on the chosen executor, in units of one trainer call each."""
    from .presets import load_preset

    units = work_units(load_preset(context.preset_path), todo)
    if executor == "inline":
        return run_inline(context, units, show)
    if executor == "ray":
        from .ray_executor import run_ray

        return run_ray(
            context, units, retries=retries, show=show, address=ray_address,
            models_per_gpu=models_per_gpu, chunk_size=chunk_size,
        )  # fmt: skip
    workers = workers or default_workers(context.device, models_per_gpu)
    if workers == 1:
        return run_inline(context, units, show)
    return run_local(context, units, max(1, min(workers, len(units))), retries, show)
