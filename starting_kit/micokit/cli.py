"""``micokit``: run a baseline attack, validate a submission, score predictions on train models.

    micokit info        --data DATA [--task T]
    micokit attack lira --data DATA [--task T] --out submission.zip
    micokit validate    submission.zip --data DATA [--task T]
    micokit score-train train.zip --data DATA [--task T] [--html results.html]

Also ``python -m micokit ...``.

Exit status: 0 success, 1 the submission is invalid (the scorer's message is printed),
2 a bad path, archive, manifest, dataset or option, 3 an internal error of micokit (a bug:
please report it), 130 interrupted. Every failure is one line on stderr, never a traceback;
set MICOKIT_DEBUG=1 to see the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from . import __version__
from .baselines import ATTACKS, BASELINES
from .errors import MicokitError, OptionError, SubmissionInvalid
from .layout import MANIFEST_FILE
from .rmia import POPULATION

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
TABLE_METRICS = (
    ("TPR_FPR_1000", "TPR@0.1"),
    ("TPR_FPR_100", "TPR@0.01"),
    ("TPR_FPR_10", "TPR@0.001"),
    ("AUC", "AUC"),
)
PROGRESS_INTERVAL = 10.0  # seconds between two plain progress lines when stderr is not a TTY


def plain(text: str | None) -> str:
    """Docstring text for --help, without its reStructuredText markup.

    Roles (:func:`run_attacks`, :class:`~micokit.loading.Task`) keep only their target, and
    literals in double backticks or interpreted text in single ones keep only their text.
    """
    text = re.sub(r":[\w.:-]+:`~?([^`]*)`", r"\1", text or "")  # :func:`x`, :class:`~a.B`
    text = re.sub(r"``(.*?)``", r"\1", text, flags=re.S)
    return re.sub(r"`([^`]*)`_?", r"\1", text)


def _paragraphs(text: str | None) -> list[str]:
    return [" ".join(p.split()) for p in plain(text).strip().split("\n\n") if p.strip()]


def _duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """The ``progress(message)`` callback given to ``run_attacks``: elapsed time and an ETA.

    ``run_attacks`` calls it before each model loads, with ``"<scenario>: model i/n (...)"``;
    the ETA of the scenario comes from its rate so far (i - 1 models done). On a terminal one
    status line is redrawn in place with a carriage return; otherwise (a log file, a pipe)
    plain lines are written, at most one per ``interval`` seconds plus the last model of each
    scenario, so that a log stays readable. Other messages are shown as they are, with the
    time elapsed since the start.
    """

    PATTERN = re.compile(r"(?P<scenario>.+?): model (?P<i>\d+)/(?P<n>\d+)\b")

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        scenarios: Sequence[str] = (),
        tty: bool | None = None,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.scenarios = list(scenarios)
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.scenario: str | None = None
        self.scenario_started = self.started
        self.printed_at = -math.inf
        self.drawn = 0  # characters of the status line now on the terminal

    def status(self, message: str, now: float) -> tuple[str, bool]:
        """The status text for ``message`` and whether it is the last model of its scenario."""
        match = self.PATTERN.match(message)
        if not match:
            return f"{message}  {_duration(now - self.started)} elapsed", False
        scenario, i, n = match["scenario"], int(match["i"]), int(match["n"])
        if scenario != self.scenario:
            self.scenario, self.scenario_started = scenario, now
        elapsed = now - self.scenario_started
        done = i - 1
        text = f"{message}  {_duration(elapsed)} elapsed"
        if done > 0 and elapsed > 0:
            text += f", ETA {_duration(elapsed / done * (n - done))}"
        if scenario in self.scenarios and len(self.scenarios) > 1:
            text = f"[{self.scenarios.index(scenario) + 1}/{len(self.scenarios)}] {text}"
        return text, i >= n

    def __call__(self, message: str) -> None:
        now = self.clock()
        text, last = self.status(str(message), now)
        if self.tty:
            self._draw(f"  {text}")
        elif last or now - self.printed_at >= self.interval:
            print(f"  {text}", file=self.stream, flush=True)
            self.printed_at = now

    def _draw(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)  # a wrap breaks \r
        text = text[:width]
        self.stream.write("\r" + text + " " * max(0, self.drawn - len(text)))
        self.stream.flush()
        self.drawn = len(text)

    def close(self) -> None:
        """Clear the terminal's status line, so that what follows starts on a clean line."""
        if self.tty and self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
            self.drawn = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _datasets(values: list[str] | None) -> dict[str, str] | str | None:
    """``--dataset PATH`` (the task's only dataset) or ``--dataset NAME=PATH`` (repeatable)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise MicokitError(f"--dataset {value!r}: expected NAME=PATH when giving several")
        pairs[name] = path
    return pairs


def _open(args: argparse.Namespace):
    """The task, with the --dataset copies checked: known names, paths that exist."""
    from .loading import open_task

    paths = _datasets(args.dataset)
    task = open_task(args.data, args.task)
    names = ", ".join(task.dataset_names)
    if isinstance(paths, str):
        if len(task.dataset_names) != 1:
            raise OptionError(
                f"task {task.id!r} uses several datasets ({names}); use --dataset NAME=PATH"
            )
        paths = {task.dataset_names[0]: paths}
    for name, path in (paths or {}).items():
        if name not in task.dataset_names:
            raise OptionError(
                f"--dataset {name}={path}: task {task.id!r} has no dataset {name!r} "
                f"(its datasets: {names})"
            )
        if not Path(path).expanduser().exists():
            raise OptionError(f"--dataset {name}={path}: no such file or directory")
    return open_task(args.data, args.task, paths) if paths else task


def positive_int(text: str) -> int:
    """argparse type for counts such as --batch-size: 0 or less would loop forever or crash."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def output_path(value: str, option: str) -> Path:
    """A file the command will write, checked before the work that produces it starts.

    An attack runs for minutes to hours; a typo in the folder must not surface only then.
    The folder must exist (it is not created, so a typo is not silently accepted).
    """
    path = Path(value).expanduser()
    folder = path.parent
    if path.is_dir():
        raise OptionError(f"{option} {value}: is a folder; give the file to write")
    if not folder.is_dir():
        raise OptionError(f"{option} {value}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {value}: folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise OptionError(f"{option} {value}: the file exists and is not writable")
    return path


def _outputs(args: argparse.Namespace, options: tuple[str, ...]) -> None:
    """Check every output option given, and that no two of them name the same file."""
    seen: dict[Path, str] = {}
    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        path = output_path(value, option).resolve()
        if path in seen:
            raise OptionError(f"{seen[path]} and {option} name the same file {value}")
        seen[path] = option


def _check_attack_options(args: argparse.Namespace) -> None:
    """One attack's options mean nothing to another: refuse them rather than ignore them."""
    for attack, baseline in BASELINES.items():
        if attack == args.attack:
            continue
        given = [
            flag for name, flag in baseline.options if getattr(args, name) not in (None, False)
        ]
        if given:
            why = (
                "does not take them" if BASELINES[args.attack].shadows else "uses no shadow models"
            )
            raise OptionError(
                f"{', '.join(given)}: {baseline.title} option(s); the {args.attack} attack {why}"
            )


def offline_a(text: str) -> float | str:
    """argparse type of ``--offline-a``: ``auto`` or a number in [0, 1]."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], not {text!r}")
    return value


def _scorer(args: argparse.Namespace, task):
    from .submission import load_scorer

    return load_scorer(args.scorer, data_root=task.root.parent)


def _table(
    title: str, scenarios, metrics: dict[str, dict[str, float]], ranking: tuple[str, float]
) -> str:
    head = f"{'scenario':<16}" + "".join(f"{label:>11}" for _, label in TABLE_METRICS)
    lines = [title, head]
    for scenario in scenarios:
        values = metrics[scenario.id]
        lines.append(
            f"{scenario.id:<16}" + "".join(f"{values[key]:>11.4f}" for key, _ in TABLE_METRICS)
        )
    lines.append(f"{ranking[0]}: {ranking[1]:.4f}")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    """List the task's scenarios in leaderboard order (``scenario<k>``): ε, dataset,
    architecture, challenge points per model and models per phase."""
    task = _open(args)
    print(f"task {task.id}: {task.title}  ({task.root})")
    for s in task.scenarios:
        eps = "inf" if s.epsilon is None else f"{s.epsilon:g}"
        counts = ", ".join(f"{phase} {len(names)}" for phase, names in s.models.items())
        print(
            f"  {s.position}. {s.id:<14} eps={eps:<5} dataset={s.dataset:<10} "
            f"arch={s.architecture.get('arch')} 2m={2 * s.m}  models: {counts}"
        )
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    """Run a baseline attack (``loss``, offline/online LiRA or offline RMIA with the train
    models as shadows) on every scenario, print its held-out scores on the train models, and write
    ``--out`` with predictions for every dev and final model, checked with the scorer's own
    validation. Progress (elapsed time, ETA per scenario) goes to stderr unless ``--quiet``."""
    from .attacks import run_attack, score_against_reference
    from .loading import pick_device
    from .submission import pack, validate

    # Every option is checked before anything is loaded: an attack can run for hours.
    _check_attack_options(args)
    device = pick_device(args.device)
    _outputs(args, ("--out", "--train-out", "--json"))
    if args.reference and not (Path(args.reference) / MANIFEST_FILE).is_file():
        raise OptionError(f"--reference {args.reference}: no manifest.json there")
    task = _open(args)
    scorer = _scorer(args, task)
    progress = None if args.quiet else Progress(scenarios=[s.id for s in task.scenarios])
    try:
        result = run_attack(
            task,
            args.attack,
            online=args.online,
            variance=args.variance or "auto",
            shrink=not args.no_shrink,
            offline_a="auto" if args.offline_a is None else args.offline_a,
            population=args.population or POPULATION,
            device=device,
            batch_size=args.batch_size,
            scorer=scorer,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    name = args.attack + (" (online)" if args.online else "")
    ranking = (scorer.RANKING_KEY, result.train_scores[scorer.RANKING_KEY])
    print(
        _table(
            f"{name}, held-out scores on train models:",
            task.scenarios,
            result.train_metrics,
            ranking,
        )
    )
    out = pack(task, result.predictions, args.out)
    for warning in validate(out, task, scorer):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {out} (dev and final, {_count(out)} models); the scorer's validation passed")
    report = {"attack": args.attack, "online": args.online, "train_scores": result.train_scores}
    if args.train_out:
        train = pack(task, result.predictions, args.train_out, phases=("train",))
        print(f"wrote {train} (held-out train predictions; check with 'micokit score-train')")
    if args.reference:
        scores = score_against_reference(result, task, args.reference, scorer)
        report["reference_scores"] = scores
        print(f"{scorer.RANKING_KEY} against {args.reference}: {scores[scorer.RANKING_KEY]:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _count(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return len(archive.namelist())


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a submission zip with the scoring program's own validation, against the task's
    public manifest: the messages are the ones the platform would show."""
    from .submission import validate

    task = _open(args)
    warnings = validate(args.submission, task, _scorer(args, task))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.submission}: valid submission for task {task.id} (dev and final)")
    return 0


def cmd_score_train(args: argparse.Namespace) -> int:
    """Score the train-model predictions of a zip (``micokit attack --train-out``, or
    ``pack(..., phases=["train"])``) with the real scorer against the published train
    solutions. ``--html`` writes the detailed results page the platform shows (metric table,
    ROC curves) for them."""
    from .submission import score_train

    _outputs(args, ("--json", "--html"))
    task = _open(args)
    scorer = _scorer(args, task)
    scores = score_train(args.submission, task, scorer, html=args.html)
    metrics = {
        s.id: {key: scores[f"scenario{s.position}_{key}"] for key, _ in TABLE_METRICS}
        for s in task.scenarios
    }
    ranking = (scorer.RANKING_KEY, scores[scorer.RANKING_KEY])
    print(
        _table(
            f"{args.submission}, scored by the scorer on train models:",
            task.scenarios,
            metrics,
            ranking,
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    if args.html:
        print(f"wrote {args.html} (detailed results on the train models, as the platform shows)")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="unzipped data folder (holds <task>/)")
    parser.add_argument("--task", help="task id (optional when the folder holds one task)")
    parser.add_argument(
        "--dataset",
        action="append",
        metavar="[NAME=]PATH",
        help="your copy of a dataset not shipped in the archive",
    )
    parser.add_argument("--scorer", help="scoring_program folder (default: found beside the task)")


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other micokit error.

    The stock parser prints the whole usage block before the error; the subcommand parsers
    inherit this class (add_subparsers uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(sub, name: str, func: Callable[[argparse.Namespace], int], summary: str):
    """A subcommand whose --help description is its function's docstring, in plain text."""
    parser = sub.add_parser(name, help=summary, description="\n\n".join(_paragraphs(func.__doc__)))
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    head, *rest = _paragraphs(__doc__)
    epilog = next((p for p in rest if p.startswith("Exit status")), None)
    parser = OneLineParser(prog="micokit", description=head, epilog=epilog)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = _command(sub, "info", cmd_info, "list the task's scenarios and models")
    _common(info)
    attack = _command(sub, "attack", cmd_attack, "run a baseline attack and write a submission zip")
    attack.add_argument("attack", choices=ATTACKS)
    _common(attack)
    attack.add_argument("--out", required=True, help="submission zip to write")
    attack.add_argument("--online", action="store_true", help="LiRA: use in and out shadows")
    attack.add_argument(
        "--variance",
        choices=("auto", "global", "per_point"),
        help="LiRA: variance estimate (default auto)",
    )
    attack.add_argument(
        "--no-shrink", action="store_true", help="LiRA: raw per-point means (no empirical Bayes)"
    )
    attack.add_argument(
        "--offline-a",
        type=offline_a,
        help="RMIA: a in Pr(x) = (1+a)/2 Pr_out(x) + (1-a)/2, or auto (default: tuned on the "
        "other train models)",
    )
    attack.add_argument(
        "--population",
        type=positive_int,
        help=f"RMIA: population points z outside every challenge set (default {POPULATION})",
    )
    attack.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    attack.add_argument(
        "--batch-size",
        type=positive_int,
        default=512,
        help="points per forward pass (default 512)",
    )
    attack.add_argument("--train-out", help="also write held-out train predictions to this zip")
    attack.add_argument("--reference", help="organizers: score against this reference folder")
    attack.add_argument("--json", help="write the computed scores to this JSON file")
    attack.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr (by default: elapsed time and ETA per scenario, redrawn "
        "in place on a terminal, a plain line at most every 10 s otherwise)",
    )
    check = _command(
        sub, "validate", cmd_validate, "check a submission zip with the scorer's validation"
    )
    check.add_argument("submission")
    _common(check)
    train = _command(
        sub, "score-train", cmd_score_train, "score train predictions with the real scorer"
    )
    train.add_argument("submission")
    _common(train)
    train.add_argument("--json", help="write the scores to this JSON file")
    train.add_argument(
        "--html",
        metavar="PATH",
        help="write the scorer's detailed results page (metric table, ROC curves) to PATH",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure becomes one line on stderr and an exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SubmissionInvalid as error:
        print(str(error), file=sys.stderr)
        return EXIT_INVALID
    except (MicokitError, OSError, zipfile.BadZipFile) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"{error.filename}: {message}"
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the promise is: never a traceback
        if os.environ.get("MICOKIT_DEBUG"):
            raise
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    """A bug, not bad input: say so, with the exception's type, under its own exit status.

    Running out of memory is the one unexpected failure the user can act on, so it says how.
    """
    lines = str(error).strip().splitlines()
    detail = f": {lines[0][:200]}" if lines else ""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        print(f"error: out of memory{detail} (try a smaller --batch-size)", file=sys.stderr)
        return EXIT_USAGE
    print(
        "internal error in micokit (please report it; MICOKIT_DEBUG=1 shows the traceback): "
        f"{type(error).__name__}{detail}",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
