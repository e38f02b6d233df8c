"""Run model tasks on a Ray cluster: an existing one (``--ray-address``) or a local one.

Ray is an optional dependency, imported only here and only when this executor is chosen.

* **Chunks.** Models are submitted in chunks, one Ray task per chunk, so per-task overhead and
  each worker's dataset load are paid once per chunk. A chunk is a *streaming generator*: it
  yields one result per model as soon as that model is stored, which keeps the progress bar and
  the retry books exact to the model.
* **Resources.** Each chunk asks for ``cpus_per_model`` CPUs and, when the cluster has GPUs,
  ``1 / models_per_gpu`` of a GPU (Ray then sets ``CUDA_VISIBLE_DEVICES`` for the task). In
  reproducible mode a model trains on one torch thread, as on every executor (see executors).
* **Failures.** Ray's own task retries are off (``max_retries=0``): the driver knows which models
  of a chunk are already stored, so it resubmits only the rest and can say so. A dead worker or
  node charges one attempt to the model that was running; an exception in a model charges that
  model. After ``retries`` extra attempts a model is reported as failed, never dropped.
* **Code and files.** The ``generator`` and ``micokit`` packages travel with the job
  (``py_modules``); the
  preset, store and data directory must be at the same paths on every node (a shared file
  system), as in any multi-node training setup.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..paths import PACKAGE_DIR
from .store import GenerationContext, ModelId, run_model_unit
from .tracking import DEFAULT_RETRIES, RunSummary, Tracker, Unit, cpu_threads, discard_partial

RAY_PIN = "ray==2.60.0"
WAIT_S = 1.0  # how often the bar refreshes its ETA while no model finishes


def _usage_error(message: str) -> Exception:
    from ..errors import UsageError  # the CLI prints it as one line, exit status 2

    return UsageError(message)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise _usage_error(
            f"ray is not installed: pip install '{RAY_PIN}' (or pip install -r requirements.txt)"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a wrong ``host:port``: Ray itself keeps retrying for many minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise _usage_error(f"cannot connect to the Ray cluster at {address}: {reason}") from None


def shipped_packages() -> list[str]:
    """The first-party packages a worker imports: ``generator`` and ``micokit`` (the starting
    kit, which the generator uses for loading and attacks). Both travel with the job, so a node
    needs only the pinned third-party requirements, not this checkout installed."""
    import micokit

    return [str(PACKAGE_DIR), str(Path(micokit.__file__).resolve().parent)]


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a private local one.

    Returns True when this call connected (and so should disconnect). A driver that already
    called ``ray.init`` (a notebook, say) keeps its connection. Without an address the cluster is
    always a new one (``address="local"``), never whatever ``ray start`` left on the machine.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {
        "runtime_env": {"py_modules": shipped_packages()},
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address:
        check_reachable(address)
        options["address"] = address
    else:
        options.update(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False)
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if address and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            # Ray 2.60 clusters use token authentication by default, and a driver given an
            # explicit address only sends its token when told to.
            first += (
                " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token)"
            )
        raise _usage_error(f"cannot connect to {where}: {first}") from None
    return True


@dataclass(frozen=True)
class Plan:
    """What each chunk asks of the cluster, and how many chunks run at once."""

    num_cpus: float
    num_gpus: float
    slots: int
    device: str


def plan_resources(
    resources: dict[str, float], device: str, models_per_gpu: int, cpus_per_model: float
) -> Plan:
    """Fractional GPUs when the cluster has GPUs (unless ``device`` is cpu), else CPUs only."""
    gpus = resources.get("GPU", 0.0) if device != "cpu" else 0.0
    if gpus:
        share = round(1.0 / max(1, models_per_gpu), 4)
        # Ray picks the GPU and sets CUDA_VISIBLE_DEVICES: inside the task it is always cuda:0.
        return Plan(cpus_per_model, share, max(1, int(gpus / share)), "cuda")
    if device.startswith("cuda"):
        raise _usage_error(f"--device {device}, but the Ray cluster has no GPUs")
    cpus = resources.get("CPU", 1.0)
    return Plan(cpus_per_model, 0.0, max(1, int(cpus // cpus_per_model)), "cpu")


def run_chunk(
    context: GenerationContext, units: list[Unit], threads: int
) -> Iterator[tuple[ModelId, str, str | None]]:
    """The Ray task: train ``units`` one after the other, yielding (task, outcome, error) for
    each model as soon as its unit is stored."""
    import torch

    torch.set_num_threads(max(1, threads))
    for unit in units:
        try:
            outcomes = run_model_unit(context, unit)
        except Exception as error:  # noqa: BLE001 - sent to the driver, which retries or reports
            outcomes = [(task, "error", f"{type(error).__name__}: {error}") for task in unit]
        yield from outcomes


def default_chunk_size(models: int, slots: int) -> int:
    """About four chunks per concurrent slot: start-up amortised, the tail still balanced."""
    return max(1, math.ceil(models / (4 * slots)))


def run_ray(
    context: GenerationContext,
    units: list[Unit],
    retries: int = DEFAULT_RETRIES,
    show: bool = True,
    address: str | None = None,
    models_per_gpu: int = 1,
    chunk_size: int | None = None,
    cpus_per_model: float = 1,
) -> RunSummary:
    """Run ``units`` on Ray in chunks; retry failed models, then report them as failed."""
    if not units:
        return RunSummary()
    ray = import_ray()
    connected = connect(ray, address)
    try:
        plan = plan_resources(
            ray.cluster_resources(), context.device, models_per_gpu, cpus_per_model
        )
        total = sum(len(unit) for unit in units)
        size = chunk_size or default_chunk_size(total, plan.slots)
        remote = ray.remote(run_chunk).options(
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus,
            max_retries=0,
            num_returns="streaming",
            name="generator.train_models",
        )
        worker_context = replace(context, device=plan.device, show_progress=False)
        threads = cpu_threads(context, int(plan.num_cpus))
        with Tracker(context, total, retries, show) as tracker:
            _drive(
                ray,
                tracker,
                lambda chunk: remote.remote(worker_context, chunk, threads),
                units,
                size,
                plan.slots,
            )
        return tracker.summary
    finally:
        if connected:
            ray.shutdown()


def chunks(units: list[Unit], size: int) -> list[list[Unit]]:
    """Consecutive units, about ``size`` models per chunk, never splitting a unit."""
    out: list[list[Unit]] = []
    models = 0
    for unit in units:
        if not out or models >= size:
            out.append([])
            models = 0
        out[-1].append(unit)
        models += len(unit)
    return out


def _drive(ray: Any, tracker: Tracker, submit, units: list[Unit], size: int, slots: int):
    """Submit every chunk, then consume results model by model until none is outstanding."""
    active: dict[Any, list[ModelId]] = {}  # streaming generator -> its models not yet reported
    unit_of = {task: unit for unit in units for task in unit}

    def start(tasks: list[ModelId]) -> None:
        """Submit ``tasks`` as one chunk, each with the models of its unit still to run."""
        again: dict[Unit, list[ModelId]] = {}
        for task in tasks:
            again.setdefault(unit_of[task], []).append(task)
        if again:
            active[submit([tuple(members) for members in again.values()])] = list(tasks)

    for chunk in chunks(units, size):
        active[submit(chunk)] = [task for unit in chunk for task in unit]
    while active:
        tracker.refresh(running=min(len(active), slots))
        ready, _ = ray.wait(list(active), num_returns=1, timeout=WAIT_S)
        for generator in ready:
            left = active[generator]
            try:
                task, outcome, error = ray.get(next(generator))
            except StopIteration:
                del active[generator]
                start([t for t in left if tracker.attempt_failed(t, "chunk ended early")])
                continue
            except ray.exceptions.RayError as failure:
                del active[generator]
                start(_after_chunk_failure(ray, tracker, left, unit_of, failure))
                continue
            left.remove(task)
            if error is None:
                tracker.finished(task, outcome)
            elif tracker.attempt_failed(task, error):
                start([task])
    tracker.refresh(running=0)


def _after_chunk_failure(
    ray: Any, tracker: Tracker, left: list[ModelId], unit_of: dict, failure: Exception
) -> list[ModelId]:
    """The models of a failed chunk to run again.

    A dead worker or node (killed, out of memory, preempted) was running the first unit not yet
    reported: only its models are charged. An error in the chunk code itself or in setting up
    its environment would hit every model of the chunk, so each is charged.
    """
    kind = type(failure).__name__
    if isinstance(failure, ray.exceptions.RayTaskError | ray.exceptions.RuntimeEnvSetupError):
        first_line = str(failure).strip().splitlines()[0]
        return [t for t in left if tracker.attempt_failed(t, f"{kind}: {first_line}")]
    running = [t for t in left if unit_of[t] == unit_of[left[0]]]
    tracker.say(f"a Ray worker died ({kind}) during {left[0]}; resubmitting {len(left)} model(s)")
    again = [t for t in running if tracker.attempt_failed(t, f"Ray worker died ({kind})")]
    for task in running:
        discard_partial(tracker.context, task)
    return again + [t for t in left if t not in running]
