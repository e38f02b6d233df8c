"""Where model tasks run: in this process, in a local process pool, or on a Ray cluster.

Every model is a pure, idempotent :class:`~micokit.layout.ModelId`, so an executor only has to
run each task at least once: a model finished twice is written once (atomic rename), and a retry
after a crash simply trains the model again from its seeds. Executors hand out *units*: the
models of one trainer call (:func:`~generator.build.store.work_units`), one model each unless the
scenario uses the batched trainer; outcomes and retries are still booked model by model.

:func:`run_models` is the seam: it sorts the chosen models into finished (skipped), stale
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
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

from ..locks import claim_path, folder_lock, holder, wait_for_claim
from .store import (
    GenerationContext,
    ModelId,
    Outcome,
    find_stale,
    is_finished,
    run_model_unit,
    work_units,
)
from .tracking import (
    DEFAULT_RETRIES,
    RunSummary,
    Tracker,
    Unit,
    cpu_threads,
    discard_partial,
)

STALE_SHOWN = 10  # stale models listed one by one; the rest are counted


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_workers(device: str, models_per_gpu: int = 1) -> int:
    """One worker per CPU core, or ``models_per_gpu`` workers per visible GPU."""
    gpus = gpu_count() if device in ("auto", "cuda") else 0
    return gpus * models_per_gpu if gpus else max(1, os.cpu_count() or 1)


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
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(slots, threads, context.device),
            )
            futures: dict[Future, Unit] = {}
            broken = False
            lost: list[ModelId] = []  # in flight when the pool broke
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


def report_stale(stale: dict[ModelId, str]) -> None:
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


def run_models(
    context: GenerationContext,
    tasks: list[ModelId],
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


def _after_claims(context: GenerationContext, summary: RunSummary) -> list[ModelId]:
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
    todo: list[ModelId],
    executor: str,
    workers: int | None,
    retries: int,
    show: bool,
    ray_address: str | None,
    models_per_gpu: int,
    chunk_size: int | None,
) -> RunSummary:
    """One round of ``todo`` on the chosen executor, in units of one trainer call each."""
    from ..spec.presets import load_preset

    units = work_units(load_preset(context.preset_path), todo)
    if executor == "inline":
        return run_inline(context, units, show)
    if executor == "ray":
        from .ray_executor import run_ray

        return run_ray(
            context,
            units,
            retries=retries,
            show=show,
            address=ray_address,
            models_per_gpu=models_per_gpu,
            chunk_size=chunk_size,
        )
    workers = workers or default_workers(context.device, models_per_gpu)
    if workers == 1:
        return run_inline(context, units, show)
    return run_local(context, units, max(1, min(workers, len(units))), retries, show)
