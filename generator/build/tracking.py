"""The books every executor keeps, whichever runs the models: outcomes, retries, progress.

:class:`Tracker` turns each outcome and each failed attempt into the run's
:class:`RunSummary`, decides retries and keeps the one progress bar (or, off a terminal, a plain
line now and then), so that the local pool and Ray report and retry alike. Executors import it
from here, and :mod:`generator.build.executors` picks an executor, so neither imports the other.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .store import GenerationContext, ModelId, Outcome, is_finished, sweep_partial

Unit = tuple[ModelId, ...]  # the models of one trainer call (store.training_group)

DEFAULT_RETRIES = 2


@dataclass
class RunSummary:
    done: list[ModelId] = field(default_factory=list)
    skipped: list[ModelId] = field(default_factory=list)
    failed: dict[ModelId, str] = field(default_factory=dict)  # task -> last error
    retried: dict[ModelId, int] = field(default_factory=dict)  # task -> attempts beyond the first
    stale: dict[ModelId, str] = field(default_factory=dict)  # task -> why it no longer matches
    claimed: list[ModelId] = field(default_factory=list)  # being trained by another run

    def merge(self, other: RunSummary) -> None:
        """Add the outcomes of a later round over other models (see :func:`run_models`)."""
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
        self.attempts: dict[ModelId, int] = {}
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

    def finished(self, task: ModelId, outcome: str) -> None:
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

    def unit_finished(self, outcomes: list[Outcome]) -> list[ModelId]:
        """Record a unit's outcomes (store.run_model_unit); return the models to run again."""
        again = []
        for task, outcome, error in outcomes:
            if error is None:
                self.finished(task, outcome)
            elif self.attempt_failed(task, error):
                again.append(task)
        return again

    def unit_failed(self, unit: Unit, error: str) -> list[ModelId]:
        """Charge every model of ``unit`` one failed attempt; return those to run again."""
        return [task for task in unit if self.attempt_failed(task, error)]

    def attempt_failed(self, task: ModelId, error: str) -> bool:
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


def discard_partial(context: GenerationContext, task: ModelId) -> None:
    """Remove the ``.tmp-`` directory a killed worker left for ``task``.

    Call it only once the worker is gone. The sweep takes the model's claim first, so if
    another run has meanwhile started training the model, its folder is left alone.
    """
    sweep_partial(Path(context.store), [task])


def cpu_threads(context: GenerationContext, share: int) -> int:
    """Torch threads per model: 1 in reproducible mode (see the module docstring), else ``share``."""
    return 1 if context.master_seed is not None else max(1, share)
