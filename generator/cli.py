"""``python -m generator``: generate models, export a competition, report the store's status.

Every failure the organizer can cause (bad preset, missing dataset, unknown task, incomplete
store) ends with one line on stderr and exit status 2, before any training starts.
"""

from __future__ import annotations

import argparse
import signal
import sys

from micokit import __version__ as kit_version
from micokit.cli import positive_int

from . import __version__
from .errors import UsageError, debugging
from .spec.presets import DEFAULT_BATCH_MODELS
from .spec.seeds import MASTER_SEED_ENV

__all__ = ["UsageError", "build_parser", "main"]


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (micokit {kit_version})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--preset",
            default="demo",
            help="preset name in presets/ or a YAML path (default: demo)",
        )
        p.add_argument("--store", default="store", help="private store directory (default: store)")
        p.add_argument("--data-dir", help="directory holding the real datasets and roberta-base")

    def training(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--executor", choices=("inline", "local", "ray"), help="default: the preset's"
        )
        p.add_argument(
            "--workers", type=positive_int, help="local pool size (default: CPU cores or GPUs)"
        )
        p.add_argument(
            "--retries",
            type=_non_negative,
            default=2,
            help="extra attempts after a worker dies",
        )
        p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the preset's)")
        p.add_argument(
            "--ray-address", help="address of an existing Ray cluster (default: start a local one)"
        )
        p.add_argument(
            "--master-seed-file",
            help=f"file with the private master secret (reproducible mode; or set ${MASTER_SEED_ENV}); "
            "without it every seed comes from the OS CSPRNG",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--retrain-stale",
            action="store_true",
            help="replace finished models whose configuration changed",
        )
        p.add_argument(
            "--models-per-gpu",
            type=positive_int,
            default=1,
            help="small models sharing one GPU (default: 1)",
        )
        p.add_argument(
            "--chunk-size", type=positive_int, help="models per Ray task (default: automatic)"
        )

    gen = sub.add_parser(
        "generate", help="train every model of the preset that is not finished yet"
    )
    common(gen)
    gen.add_argument("--tasks", help="comma-separated task ids (default: all)")
    gen.add_argument("--scenarios", help="comma-separated scenario ids (default: all)")
    gen.add_argument("--phases", help="comma-separated phases: train,dev,final (default: all)")
    gen.add_argument("--models", help="model indices, e.g. 0-3,7 (default: all)")
    training(gen)
    gen.set_defaults(command="generate")

    bun = sub.add_parser("bundle", help="generate, export, report and write every bundle")
    common(bun)
    training(bun)
    bun.add_argument("--out", default="bundles", help="bundle output folder (default: bundles)")
    bun.add_argument(
        "--public", default="build/public", help="public tree output (default: build/public)"
    )
    bun.add_argument(
        "--reference",
        default="reference_data",
        help="reference data output (default: reference_data)",
    )
    bun.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when a calibration report raises any flag "
        "(the bundles are still written)",
    )
    bun.set_defaults(command="bundle")

    chk = sub.add_parser(
        "check-bundle", help="open every bundle as the platforms do and score test submissions"
    )
    chk.add_argument("--preset", default="demo", help="preset name or YAML path (default: demo)")
    chk.add_argument(
        "--bundles", default="bundles", help="folder with the bundles (default: bundles)"
    )
    chk.set_defaults(command="check-bundle")

    exp = sub.add_parser("export", help="write the public tree and the reference data")
    common(exp)
    exp.add_argument("--tasks", help="comma-separated task ids (default: all)")
    exp.add_argument(
        "--public", default="build/public", help="public tree output (default: build/public)"
    )
    exp.add_argument(
        "--reference",
        default="reference_data",
        help="reference data output (default: reference_data)",
    )
    exp.set_defaults(command="export")

    stat = sub.add_parser("status", help="models finished / missing / stale per scenario")
    common(stat)
    stat.add_argument(
        "--stale", action="store_true", help="also check each finished model's config key"
    )
    stat.set_defaults(command="status")

    plan = sub.add_parser(
        "plan",
        help="σ, steps, model size, memory and measured time per model for every scenario",
    )
    plan.add_argument("--preset", default="demo", help="preset name or YAML path (default: demo)")
    plan.add_argument(
        "--data-dir", help="data directory (only a pretrained model's config.json is read there)"
    )
    plan.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the preset's)")
    plan.add_argument(
        "--steps",
        default="5",
        metavar="N",
        help="timed steps per setup, after 1 warm-up (default: 5)",
    )
    plan.add_argument(
        "--batch-models",
        default=str(DEFAULT_BATCH_MODELS),
        metavar="K",
        help=f"models per stack for the batched MLP trainer (default: {DEFAULT_BATCH_MODELS})",
    )
    plan.add_argument("--json", metavar="PATH", help="also write the plan as JSON to PATH")
    plan.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    plan.set_defaults(command="plan")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .commands import COMMANDS, USER_ERRORS
    from .writes import describe

    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as error:
        if debugging():
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an output folder that is a file, a full disk, no permission
        if debugging():
            raise
        print(f"error: {describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A second Ctrl-C would interrupt the pool's exit hooks and print their traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(
            "interrupted: finished models are kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
