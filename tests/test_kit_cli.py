"""micokit's command line as a participant meets it: help text, version, progress of a long
attack, the messages of ``pack`` for predictions that do not fit the task, and
``score-train --html`` (the scorer's own detailed results page, for the train models)."""

from __future__ import annotations

import html
import io
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from micokit import __version__, cli
from micokit.errors import MicokitError, OptionError
from micokit.loading import open_task
from micokit.submission import PredictionError, load_scorer, pack, write_train_reference

from .test_kit_errors import assert_one_line

REPO = Path(__file__).resolve().parents[1]
SCORE_PY = REPO / "scoring_program" / "score.py"
EXIT_BAD_INPUT = 2
COMMANDS = ([], ["info"], ["attack"], ["validate"], ["score-train"])


def run_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def constant_predictions(task, phases=("train", "dev", "final"), value=0.5) -> dict:
    """Well-formed predictions for every model of ``phases``: no attack needed."""
    return {
        s.id: {p: {n: np.full(2 * s.m, value) for n in s.models[p]} for p in phases}
        for s in task.scenarios
    }


@pytest.fixture(scope="module")
def image_task(tiny_export):
    return open_task(tiny_export[0], "image")


# ----------------------------------------------------------------------------- help, version


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "micokit")
def test_help_is_plain_text(capsys, command):
    """Descriptions come from docstrings; their reStructuredText markup must not show."""
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: micokit")
    assert "``" not in out and ":func:" not in out and ":class:" not in out
    assert "`" not in out and not re.search(r":\w+:", out), out
    if command:
        assert len(out.split("\n\n")) >= 3, "each command has a description"  # usage, text, args


def test_plain_strips_roles_and_literals():
    text = "``micokit`` runs :func:`run_attacks` on a :class:`~micokit.loading.Task` (`x`)"
    assert cli.plain(text) == "micokit runs run_attacks on a micokit.loading.Task (x)"


def test_version_is_printed(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"micokit {__version__}"
    run = subprocess.run(
        [sys.executable, "-m", "micokit", "--version"], capture_output=True, text=True
    )
    assert (run.returncode, run.stdout.strip()) == (0, f"micokit {__version__}")


# ----------------------------------------------------------------------------- progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(progress: cli.Progress, clock: Clock, scenarios: dict[str, int], step: float) -> None:
    """Messages as compute_signals sends them, one model every ``step`` seconds."""
    for scenario, count in scenarios.items():
        for i in range(1, count + 1):
            progress(f"{scenario}: model {i}/{count} (train/model_{i - 1})")
            clock.now += step


def test_progress_on_a_terminal_is_redrawn_in_place_with_an_eta():
    stream, clock = Terminal(), Clock()
    progress = cli.Progress(stream, scenarios=["a", "b"], clock=clock)
    feed(progress, clock, {"a": 5, "b": 3}, step=30.0)
    drawn = stream.getvalue()
    assert "\n" not in drawn and drawn.count("\r") == 8
    frames = [frame.rstrip() for frame in drawn.split("\r")[1:]]
    assert frames[0] == "  [1/2] a: model 1/5 (train/model_0)  0:00 elapsed"  # no rate yet
    assert frames[3] == "  [1/2] a: model 4/5 (train/model_3)  1:30 elapsed, ETA 1:00"
    assert frames[5] == "  [2/2] b: model 1/3 (train/model_0)  0:00 elapsed"  # a new scenario
    assert frames[7] == "  [2/2] b: model 3/3 (train/model_2)  1:00 elapsed, ETA 0:30"
    raw = drawn.split("\r")
    assert len(raw[6]) == len(raw[5]) > len(frames[5])  # a shorter frame pads over a longer
    progress.close()
    assert stream.getvalue() == drawn + "\r" + " " * len(raw[-1]) + "\r"


def test_progress_in_a_log_is_plain_lines_at_most_every_ten_seconds():
    stream, clock = io.StringIO(), Clock()
    progress = cli.Progress(stream, scenarios=["a", "b"], clock=clock)
    feed(progress, clock, {"a": 12, "b": 2}, step=3.0)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # first line at once, then at most one per 10 s, and the last model of each scenario
    assert [line.split(" (")[0] for line in lines] == [
        "  [1/2] a: model 1/12",
        "  [1/2] a: model 5/12",
        "  [1/2] a: model 9/12",
        "  [1/2] a: model 12/12",
        "  [2/2] b: model 2/2",
    ]
    assert lines[3].endswith("0:33 elapsed, ETA 0:03")
    progress.close()
    assert stream.getvalue().splitlines() == lines


def test_progress_shows_hours_and_other_messages():
    stream, clock = io.StringIO(), Clock()
    progress = cli.Progress(stream, clock=clock)
    progress("x: model 1/3 (dev/model_0)")
    clock.now += 4000
    progress("x: model 2/3 (dev/model_1)")
    progress("loading the dataset")  # within 10 s of the last line: not written
    clock.now += 10
    progress("loading the dataset")
    assert stream.getvalue().splitlines() == [
        "  x: model 1/3 (dev/model_0)  0:00 elapsed",
        "  x: model 2/3 (dev/model_1)  1:06:40 elapsed, ETA 2:13:20",
        "  loading the dataset  1:06:50 elapsed",
    ]


def fake_attack(messages: list[str]):
    """A run_attack that reports progress, then stops with an error (no model is loaded)."""

    def run(task, name, progress=None, **options):
        for message in messages:
            if progress is not None:
                progress(message)
        raise OptionError("stopped by the test")

    return run


@pytest.mark.parametrize("quiet", [False, True])
def test_attack_progress_goes_to_stderr_unless_quiet(
    image_task, tiny_export, tmp_path, capsys, monkeypatch, quiet
):
    import micokit.attacks

    messages = [f"image_inf: model {i}/3 (train/model_{i - 1})" for i in (1, 2, 3)]
    monkeypatch.setattr(micokit.attacks, "run_attack", fake_attack(messages))
    args = ["attack", "loss", "--data", tiny_export[0], "--task", "image", "--device", "cpu"]
    args += ["--out", tmp_path / "s.zip", *(["--quiet"] if quiet else [])]
    status, _, err = run_cli(capsys, *args)
    assert status == EXIT_BAD_INPUT
    lines = err.splitlines()
    assert lines[-1] == "error: stopped by the test"
    if quiet:
        assert len(lines) == 1
    else:  # not a terminal: plain lines, the first and the last model
        assert [line.split(" (")[0] for line in lines[:-1]] == [
            "  [1/3] image_inf: model 1/3",
            "  [1/3] image_inf: model 3/3",
        ]


def test_attack_progress_on_a_terminal_is_cleared_before_the_next_line(
    image_task, tiny_export, tmp_path, monkeypatch
):
    import micokit.attacks

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(micokit.attacks, "run_attack", fake_attack(["image_hi: model 1/3 (x)"]))
    args = ["attack", "loss", "--data", tiny_export[0], "--task", "image", "--device", "cpu"]
    assert cli.main([*map(str, args), "--out", str(tmp_path / "s.zip")]) == EXIT_BAD_INPUT
    text = terminal.getvalue()
    frame = "  [2/3] image_hi: model 1/3 (x)  0:00 elapsed"
    assert text == f"\r{frame}\r{' ' * len(frame)}\rerror: stopped by the test\n"


# ----------------------------------------------------------------------------- pack


def test_pack_names_a_misspelled_scenario_and_the_expected_ones(image_task, tmp_path):
    predictions = constant_predictions(image_task)
    predictions["scenari01"] = predictions.pop("image_hi")
    with pytest.raises(PredictionError) as caught:
        pack(image_task, predictions, tmp_path / "s.zip")
    assert str(caught.value) == (
        "predictions: unknown scenario 'scenari01'; task 'image' has scenarios "
        "image_inf, image_hi, image_lo (missing: image_hi)"
    )
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, MicokitError)
    del predictions["scenari01"]
    with pytest.raises(
        PredictionError, match=r"^predictions: task 'image' has .*missing: image_hi"
    ):
        pack(image_task, predictions, tmp_path / "s.zip")
    assert not (tmp_path / "s.zip").exists()


def test_pack_refuses_a_phase_the_task_does_not_have(image_task, tmp_path):
    predictions = constant_predictions(image_task)
    predictions["image_lo"]["test"] = predictions["image_lo"]["dev"]
    with pytest.raises(PredictionError) as caught:
        pack(image_task, predictions, tmp_path / "s.zip")
    assert str(caught.value) == (
        "predictions['image_lo']: unknown phase 'test'; scenario 'image_lo' has phases "
        "train, dev, final"
    )
    with pytest.raises(
        PredictionError,
        match="^phases: unknown phase 'test'; task 'image' has phases train, dev, final$",
    ):
        pack(image_task, constant_predictions(image_task), tmp_path / "s.zip", phases=["test"])
    assert not (tmp_path / "s.zip").exists()


def test_pack_accepts_phases_it_does_not_pack_and_names_missing_ones(image_task, tmp_path):
    """train predictions in a dev/final zip are fine (run_attacks returns them); a packed
    phase that is absent is named as such."""
    assert pack(image_task, constant_predictions(image_task), tmp_path / "s.zip").is_file()
    only_dev = constant_predictions(image_task, phases=("dev",))
    with pytest.raises(
        PredictionError, match=r"^predictions\['image_inf'\]: no 'final' predictions"
    ):
        pack(image_task, only_dev, tmp_path / "t.zip")


def test_pack_names_an_unknown_model(image_task, tmp_path):
    predictions = constant_predictions(image_task)
    dev = predictions["image_inf"]["dev"]
    dev["model_9"] = dev.pop("model_1")
    with pytest.raises(PredictionError) as caught:
        pack(image_task, predictions, tmp_path / "s.zip")
    assert str(caught.value) == (
        "predictions['image_inf']['dev']: unknown model 'model_9'; dev models are "
        "model_0, model_1 (missing: model_1)"
    )


@pytest.mark.parametrize(
    "value,shown",
    [(1.5, "1.5"), (-0.25, "-0.25"), (np.float32(2.0), "2.0"), (np.nan, "nan"), (np.inf, "inf")],
)
def test_pack_shows_bad_scores_as_plain_numbers(image_task, tmp_path, value, shown):
    predictions = constant_predictions(image_task)
    scores = np.full(40, 0.5, dtype=np.asarray(value).dtype)
    scores[3] = value
    predictions["image_hi"]["final"]["model_0"] = scores
    with pytest.raises(PredictionError) as caught:
        pack(image_task, predictions, tmp_path / "s.zip")
    assert str(caught.value) == (
        f"image_hi/final/model_0: score #4 is {shown}; scores must be finite and in [0, 1]"
    )
    assert "np." not in str(caught.value)


def test_pack_names_scores_that_are_not_numbers(image_task, tmp_path):
    predictions = constant_predictions(image_task)
    predictions["image_hi"]["dev"]["model_1"] = ["0.5"] * 39 + ["high"]
    with pytest.raises(PredictionError, match=r"^image_hi/dev/model_1: the scores are not numbers"):
        pack(image_task, predictions, tmp_path / "s.zip")
    predictions["image_hi"]["dev"]["model_1"] = np.full(39, 0.5)
    with pytest.raises(PredictionError, match="39 scores, expected 40"):
        pack(image_task, predictions, tmp_path / "s.zip")


def test_a_pack_error_in_the_attack_command_is_one_line(
    image_task, tiny_export, tmp_path, capsys, monkeypatch
):
    """Whatever the attack returns, a prediction that does not fit is bad input (exit 2),
    said in one line, not an internal error; no zip is written."""
    import micokit.attacks

    scorer = load_scorer(data_root=tiny_export[0])
    predictions = constant_predictions(image_task)
    predictions["image_inf"]["dev"]["model_0"] = np.full(40, 1.5)
    metrics = {key: 0.5 for key, _ in cli.TABLE_METRICS}
    result = SimpleNamespace(
        predictions=predictions,
        train_scores={scorer.RANKING_KEY: 0.5},
        train_metrics={s.id: metrics for s in image_task.scenarios},
    )
    monkeypatch.setattr(micokit.attacks, "run_attack", lambda task, name, **options: result)
    args = ["attack", "loss", "--data", tiny_export[0], "--task", "image", "--device", "cpu"]
    status, _, err = run_cli(capsys, *args, "--out", tmp_path / "s.zip", "--quiet")
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, "error: image_inf/dev/model_0: score #1 is 1.5; scores must be finite")
    assert not (tmp_path / "s.zip").exists()


# ----------------------------------------------------------------------------- score-train --html


def printed_table(out: str, task) -> dict[str, list[str]]:
    """scenario id -> the four numbers score-train printed for it, and the ranking line."""
    rows = {}
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in {s.id for s in task.scenarios}:
            rows[words[0]] = words[1:]
    return rows


def test_score_train_html_is_the_scorers_detailed_results_page(
    image_task, tiny_export, tmp_path, capsys
):
    public = tiny_export[0]
    rng = np.random.default_rng(7)
    predictions = {
        s.id: {"train": {n: rng.random(2 * s.m) for n in s.models["train"]}}
        for s in image_task.scenarios
    }
    train = pack(image_task, predictions, tmp_path / "train.zip", phases=["train"])
    page = tmp_path / "results.html"
    status, out, err = run_cli(
        capsys, "score-train", train, "--data", public, "--task", "image", "--html", page
    )
    assert status == 0, err
    assert f"wrote {page}" in out
    text = page.read_text(encoding="utf-8")
    assert "Detailed results: task image, phase train" in text
    assert text.count("<svg") == len(image_task.scenarios)  # a ROC figure per scenario
    rows = printed_table(out, image_task)
    for scenario in image_task.scenarios:
        k = scenario.position
        assert f"<code>{html.escape(scenario.id)}</code>" in text
        assert f"scenario {k}: {scenario.label} ({scenario.id})" in html.unescape(text)
        shown = [
            re.search(rf'<td title="scenario{k}_{key}">([^<]*)</td>', text)[1]
            for key, _ in cli.TABLE_METRICS
        ]
        assert shown == rows[scenario.id]
        models = re.search(
            rf"<td>{k}</td><td class=\"name\">.*?</td>(?:<td>[^<]*</td>){{2}}<td>(\d+)</td>", text
        )
        assert int(models[1]) == len(scenario.models["train"])  # the train models, no others
    ranking = re.search(r"<strong>([0-9.]+)</strong>", text)[1]
    assert f": {ranking}" in out.splitlines()[-2]  # "average_TPR_FPR_1000: 0.1234"

    # the very page score.py writes for the same zip and the train solutions
    reference = write_train_reference(image_task, tmp_path / "reference")
    command = [sys.executable, SCORE_PY, "--submission", train, "--reference", reference]
    command += ["--output", tmp_path / "scored"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "scored" / "detailed_results.html").read_text(encoding="utf-8") == text


def test_score_train_html_path_is_checked_first(tiny_export, tmp_path, capsys):
    """A bad --html path is refused before anything is scored (the zip does not even exist)."""
    args = ["score-train", tmp_path / "absent.zip", "--data", tiny_export[0], "--task", "image"]
    status, _, err = run_cli(capsys, *args, "--html", tmp_path / "no" / "r.html")
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, f"error: --html {tmp_path}/no/r.html: folder {tmp_path}/no does not exist")
    status, _, err = run_cli(
        capsys, *args, "--html", tmp_path / "r.json", "--json", tmp_path / "r.json"
    )
    assert status == EXIT_BAD_INPUT
    assert_one_line(err, "--json and --html name the same file")


def test_score_train_html_is_not_written_for_an_invalid_zip(
    image_task, tiny_export, tmp_path, capsys
):
    predictions = constant_predictions(image_task)
    dev_only = pack(image_task, predictions, tmp_path / "dev.zip")  # no train predictions
    page = tmp_path / "results.html"
    args = ["score-train", dev_only, "--data", tiny_export[0], "--task", "image", "--html", page]
    status, out, err = run_cli(capsys, *args)
    assert status == 1 and "Traceback" not in err and err.strip()
    assert not page.exists()
