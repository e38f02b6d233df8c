"""Scoring program for membership-inference competitions (MICO-compatible layouts).

Platform mode (CodaLab / Codabench; see ``metadata``)::

    python3 score.py INPUT OUTPUT      # INPUT/ref: reference data, INPUT/res: submission

Local mode, for participants and organizers::

    python3 score.py --submission submission.zip --reference REFERENCE [--output DIR]

REFERENCE is a reference-data folder or zip (manifest.json plus solutions). Without
``--output`` the scores are only printed. ``--no-plots`` skips the inline SVG ROC plots.
A manifest with a ``disclosure`` (the Development reference) gets only the scores it shows,
rounded, in every mode and every output (scorer_disclosure.py, docs/layouts.md).

Exit status: 0 scored; 1 submission error; 2 reference data error (organizer); 3 internal
error; 4 wrong command line. Every error is one readable message on stderr, and no scores
file is left behind. Layouts: docs/layouts.md.

Other code imports this file (``importlib`` or ``sys.path``) for ``ALPHAS``, ``score_keys``,
``compute_metrics``, ``tpr_at_fpr``, ``validate_submission`` and ``score_submission``.
Python 3.7 syntax, numpy as the only hard dependency.
"""

from __future__ import annotations

import argparse
import os
import sys

# The helper modules sit beside this file; the platform runs it from another folder.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:  # checked first, so that a platform image without numpy gets a message, not a traceback
    import numpy  # noqa: F401
except ImportError:
    sys.stderr.write("internal error in the scoring program: it needs numpy >= 1.17\n")
    sys.exit(3)

import scorer_disclosure as disclosure
import scorer_inputs as inputs
import scorer_metrics as metrics
import scorer_report as report
from scorer_inputs import ReferenceDataError, ScoringError, SubmissionError
from scorer_metrics import (
    ALPHAS,
    DEFAULT_DELTA,
    EPS_METHOD,
    METRIC_NAMES,
    RANKING_ALPHA,
    clopper_pearson_upper,
    compute_metrics,
    eps_lower_bound,
    roc_curve,
    tpr_at_fpr,
)
from scorer_report import RANKING_KEY, score_keys

EXIT_OK = 0
EXIT_INTERNAL = 3
EXIT_USAGE = 4


class ScoreResult:
    """Scores of one submission, plus what the detailed results need.

    ``scores`` are all of them at full precision; ``shown`` what the scored phase shows (the
    reference's disclosure applied), the only scores any output or the log gets.
    """

    def __init__(
        self,
        reference: inputs.Reference,
        per_scenario: list[dict[str, float]],
        rocs: list[metrics.Roc],
        scores: dict[str, float],
        warnings: list[str],
    ) -> None:
        self.reference = reference
        self.per_scenario = per_scenario
        self.rocs = rocs
        self.scores = scores
        self.warnings = warnings
        self.shown = disclosure.disclose(scores, reference.disclosure)


def validate_submission(submission: str, reference: str) -> list[str]:
    """Check a submission zip (or folder) against a reference; return the warnings.

    ``reference`` is a folder, zip or manifest.json; only its task, scenarios and model
    counts are used (no solutions needed), so participants can run the scorer's own checks.
    Raises SubmissionError / ReferenceDataError, whose ``render()`` is the scorer's message.
    """
    ref = inputs.load_reference(reference, with_solutions=False)
    with inputs.open_submission(submission) as tree:
        _, warnings = inputs.read_submission(tree.entries, ref)
        tree.verify()  # a zip: every member decompresses, as the platform's extraction needs
    return warnings


def score_submission(submission: str, reference: str) -> ScoreResult:
    """Validate and score a submission zip (or folder) against reference data with solutions."""
    ref = inputs.load_reference(reference, with_solutions=True)
    with inputs.open_submission(submission) as tree:
        scores_by_scenario, warnings = inputs.read_submission(tree.entries, ref)
        tree.verify()
    per_scenario: list[dict[str, float]] = []
    rocs: list[metrics.Roc] = []
    for scenario in ref.scenarios:
        roc = metrics.roc_counts(ref.labels[scenario.id], scores_by_scenario.pop(scenario.id))
        rocs.append(roc)
        per_scenario.append(metrics.metrics_from_roc(roc, scenario.delta))
    scores = report.build_scores(per_scenario)
    return ScoreResult(ref, per_scenario, rocs, scores, warnings)


def output_contents(result: ScoreResult, plots: bool = True) -> dict[str, str]:
    """The three output files by name, scores.txt last so that it is renamed last.

    A phase with a disclosure (Development) gets only its shown scores everywhere, and a
    detailed page with those numbers alone: both platforms give the submitter every output
    file (scorer_disclosure.py cites where).
    """
    ref = result.reference
    if ref.disclosure is None:
        page = report.detailed_html(ref, result.per_scenario, result.rocs, result.scores, plots)
    else:
        page = disclosure.restricted_html(ref.task, ref.phase, result.shown, ref.disclosure)
    return {
        "detailed_results.html": page,
        "scores.json": report.scores_json(result.shown),
        "scores.txt": report.scores_txt(result.shown),
    }


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong command line exits 4 instead of clashing with exit status 2."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"usage error: {message}\n")
        sys.exit(EXIT_USAGE)


class Args:
    """What the command line asks for, in either mode."""

    def __init__(
        self,
        submission: str,
        reference: str,
        output_dir: str | None,
        no_plots: bool,
        platform: bool,
    ) -> None:
        self.submission = submission
        self.reference = reference
        self.output_dir = output_dir
        self.no_plots = no_plots
        self.platform = platform  # INPUT OUTPUT, as CodaLab's and Codabench's workers run it


def _parse_args(argv: list[str]) -> Args:
    """Local mode (--submission/--reference) or platform mode (INPUT OUTPUT)."""
    parser = _Parser(
        prog="score.py",
        description="Score a membership-inference submission (platform or local mode).",
    )
    parser.add_argument("input", nargs="?", help="platform mode: folder with ref/ and res/")
    parser.add_argument("output", nargs="?", help="platform mode: folder for the scores")
    parser.add_argument("--submission", help="local mode: submission zip (or folder)")
    parser.add_argument("--reference", help="local mode: reference data folder or zip")
    parser.add_argument("--output", dest="output_dir", help="local mode: folder for the scores")
    parser.add_argument("--no-plots", action="store_true", help="skip the ROC plots")
    args = parser.parse_args(argv)
    if args.submission is not None or args.reference is not None:
        if args.input is not None or args.output is not None:
            parser.error("give either INPUT OUTPUT or --submission/--reference, not both")
        if args.submission is None or args.reference is None:
            parser.error("local mode needs both --submission and --reference")
        return Args(args.submission, args.reference, args.output_dir, args.no_plots, False)
    if args.input is None or args.output is None:
        parser.error("give INPUT OUTPUT (platform mode) or --submission and --reference")
    if args.output_dir is not None:
        parser.error("--output belongs to local mode; in platform mode OUTPUT is positional")
    res = os.path.join(args.input, "res")
    ref = os.path.join(args.input, "ref")
    return Args(res, ref, args.output, args.no_plots, True)


class OutputError(ScoringError):
    """The output folder cannot take the scores: the caller's mistake, not the scorer's."""

    prefix = "output error"
    exit_code = EXIT_USAGE


def _stale_outputs(args: Args) -> list[str]:
    """What a failed or starting run removes: the scores, and in local mode the page too.

    In platform mode detailed_results.html is the worker's file, written in place (see
    ``scorer_report.write_in_place``), so it is overwritten and never deleted.
    """
    return list(report.SCORES_FILES if args.platform else report.OUTPUT_FILES)


def _run(args: Args) -> int:
    output_dir = args.output_dir
    if output_dir is not None and os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OutputError([f"{output_dir}: not a folder"])
    if output_dir is not None and os.path.isdir(output_dir):
        report.remove_outputs(output_dir, _stale_outputs(args))
    result = score_submission(args.submission, args.reference)
    for warning in result.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if output_dir is not None:
        in_place = [report.DETAILED_RESULTS] if args.platform else []
        try:
            report.write_outputs(
                output_dir, output_contents(result, plots=not args.no_plots), in_place
            )
        except OSError as exc:
            problem = f"{output_dir}: cannot write the scores ({exc.strerror or exc})"
            raise OutputError([problem]) from None
    ref = result.reference
    sys.stdout.write(
        f"scored task {ref.task}, phase {ref.phase} ({len(ref.scenarios)} scenarios)\n"
    )
    sys.stdout.write(report.scores_txt(result.shown))  # the log shows no more than the files
    return EXIT_OK


def _fail(args: Args, message: str, status: int) -> int:
    """Report one failure and make sure no scores file survives it.

    In platform mode the detailed-results page then shows the same message, so a participant
    reading it sees why, instead of an empty page or the worker's traceback.
    """
    output_dir = args.output_dir
    if output_dir is not None and os.path.isdir(output_dir):
        try:
            report.remove_outputs(output_dir, _stale_outputs(args))
            if args.platform:
                report.write_in_place(
                    os.path.join(output_dir, report.DETAILED_RESULTS), report.error_html(message)
                )
        except OSError as exc:
            message += f"\n(could not clean the output folder: {exc})"
    sys.stderr.write(message + "\n")
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the scorer; every failure becomes one message on stderr and an exit status."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except ScoringError as exc:
        return _fail(args, exc.render(), exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", EXIT_INTERNAL)
    except MemoryError:
        return _fail(args, "internal error in the scoring program: out of memory", EXIT_INTERNAL)
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        lines = str(exc).splitlines()
        detail = f": {lines[0][:200]}" if lines else ""
        message = (
            "internal error in the scoring program (please tell the organizers): "
            f"{type(exc).__name__}{detail}"
        )
        return _fail(args, message, EXIT_INTERNAL)


__all__ = [
    "ALPHAS",
    "DEFAULT_DELTA",
    "EPS_METHOD",
    "METRIC_NAMES",
    "RANKING_ALPHA",
    "RANKING_KEY",
    "ReferenceDataError",
    "ScoreResult",
    "ScoringError",
    "SubmissionError",
    "clopper_pearson_upper",
    "compute_metrics",
    "eps_lower_bound",
    "main",
    "output_contents",
    "roc_curve",
    "score_keys",
    "score_submission",
    "tpr_at_fpr",
    "validate_submission",
]

if __name__ == "__main__":
    sys.exit(main())
