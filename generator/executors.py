"""Where model tasks run: in this process, in a local process pool, or on a Ray cluster.

Every model is a pure, idempotent :class:`~generator.store.ModelTask`, so an executor only has to
run each task at least once: a model finished twice is written once (atomic rename), and a retry
after a crash simply trains the model again from its seeds.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .store import GenerationContext, ModelTask, is_finished, run_model_task

DEFAULT_RETRIES = 2


@dataclass
class RunSummary:
    done: list[ModelTask] = field(default_factory=list)
    skipped: list[ModelTask] = field(default_factory=list)
    failed: dict[ModelTask, str] = field(default_factory=dict)  # task -> last error
    retried: dict[ModelTask, int] = field(default_factory=dict)  # task -> attempts beyond the first

    @property
    def ok(self) -> bool:
        return not self.failed


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_workers(device: str, models_per_gpu: int = 1) -> int:
    """One worker per CPU core, or ``models_per_gpu`` workers per visible GPU."""
    gpus = gpu_count() if device in ("auto", "cuda") else 0
    return gpus * models_per_gpu if gpus else max(1, os.cpu_count() or 1)


def _progress(total: int, show: bool) -> tqdm:
    return tqdm(total=total, desc="models", unit="model", disable=not show, file=sys.stderr)


def run_inline(context: GenerationContext, tasks: list[ModelTask], show: bool = True) -> RunSummary:
    """Run each task in this process, in order: the simplest path, for debugging."""
    summary = RunSummary()
    with _progress(len(tasks), show) as bar:
        for task in tasks:
            try:
                outcome = run_model_task(context, task)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                summary.failed[task] = f"{type(error).__name__}: {error}"
            else:
                (summary.done if outcome == "done" else summary.skipped).append(task)
            bar.update(1)
            bar.set_postfix(failed=len(summary.failed))
    return summary


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


def _run_in_worker(context: GenerationContext, task: ModelTask) -> str:
    from dataclasses import replace

    return run_model_task(replace(context, device=_WORKER_DEVICE), task)


def run_local(
    context: GenerationContext,
    tasks: list[ModelTask],
    workers: int,
    retries: int = DEFAULT_RETRIES,
    show: bool = True,
) -> RunSummary:
    """Run tasks on a pool of ``workers`` processes; rebuild the pool if a worker dies.

    A dead worker (OOM kill, segfault, ``kill -9``) breaks the whole pool in
    :mod:`concurrent.futures`; the tasks that were in flight are charged one attempt and
    resubmitted to a fresh pool, up to ``retries`` extra attempts each, then reported as failed.
    """
    summary = RunSummary()
    pending = list(tasks)
    attempts = {task: 0 for task in tasks}
    ctx = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
    threads = max(1, (os.cpu_count() or 1) // workers)
    with _progress(len(tasks), show) as bar:
        while pending:
            slots = ctx.Queue()
            for slot in range(workers):
                slots.put(slot)
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_init_worker,
                initargs=(slots, threads, context.device),
            )  # fmt: skip
            futures = {pool.submit(_run_in_worker, context, task): task for task in pending}
            pending = []
            broken = False
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = futures.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        attempts[task] += 1
                        if is_finished(task.path(context.store)):
                            summary.done.append(task)
                            bar.update(1)
                        elif attempts[task] > retries:
                            summary.failed[task] = "worker process died"
                            bar.update(1)
                        else:
                            summary.retried[task] = attempts[task]
                            pending.append(task)
                        continue
                    except Exception as error:  # noqa: BLE001 - a bug or bad data: report it
                        summary.failed[task] = f"{type(error).__name__}: {error}"
                    else:
                        (summary.done if outcome == "done" else summary.skipped).append(task)
                    bar.update(1)
                    bar.set_postfix(running=min(len(futures), workers), failed=len(summary.failed))
            pool.shutdown(wait=True, cancel_futures=True)
            if broken and pending:
                bar.write(f"a worker died; retrying {len(pending)} unfinished model(s)")
    return summary


def run_tasks(
    context: GenerationContext,
    tasks: list[ModelTask],
    executor: str = "local",
    workers: int | None = None,
    retries: int = DEFAULT_RETRIES,
    show: bool = True,
    ray_address: str | None = None,
) -> RunSummary:
    """Dispatch to the chosen executor (``inline``, ``local`` or ``ray``)."""
    if executor == "inline":
        return run_inline(context, tasks, show)
    if executor == "ray":
        from .ray_executor import run_ray

        return run_ray(context, tasks, retries=retries, show=show, address=ray_address)
    workers = workers or default_workers(context.device)
    if workers == 1:
        return run_inline(context, tasks, show)
    return run_local(context, tasks, workers, retries, show)
