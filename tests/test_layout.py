"""The layout module is the one definition of every phase, format tag and file name.

A name spelled out anywhere else can drift from it — and the bundle's ground-truth check
(``GROUND_TRUTH_FILES``) would silently stop covering a file renamed in one place only.
"""

from __future__ import annotations

import ast
import io
import sys
import zipfile
from pathlib import Path

import pytest
from micokit import layout

ROOT = Path(__file__).resolve().parent.parent
# Code that must take its names from micokit.layout; the scorer is standalone (see below).
CHECKED = sorted(
    p
    for folder in ("generator", "starting_kit/micokit")
    for p in (ROOT / folder).rglob("*.py")
    if p.name != "layout.py"
)
# Every file name and format tag the layout defines (WEIGHTS_DIR and DATA_DIR, "model" and
# "data", are also metadata keys and words of the pages, so an equal literal proves nothing).
FILE_NAMES = {
    value
    for key, value in vars(layout).items()
    if key.endswith(("_FILE", "_FORMAT", "_SUMS", "_SYNONYM")) and isinstance(value, str)
} | set(layout.SEED_FILES.values())
PHASE_TUPLES = {layout.PHASES, layout.SECRET_PHASES}


def literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every layout name or phase tuple written as a literal in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and node.value in FILE_NAMES:
            found.append((node.lineno, repr(node.value)))
        elif isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
            if tuple(e.value for e in node.elts) in PHASE_TUPLES:
                found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_store_or_archive_name_is_spelled_outside_the_layout_module(path):
    assert literals(path) == [], f"use micokit.layout's names in {path.relative_to(ROOT)}"


def test_the_literal_finder_sees_names_and_phase_tuples(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('A = "solution.csv"\nB = ("dev", "final")\nC = "solution"\n')
    assert literals(sample) == [(1, "'solution.csv'"), (2, "('dev', 'final')")]


def test_the_scorers_copies_equal_the_layout():
    """The scoring program runs alone on the platforms' workers, so it keeps its own copies."""
    sys.path.insert(0, str(ROOT / "scoring_program"))
    try:
        import scorer_inputs
    finally:
        sys.path.remove(str(ROOT / "scoring_program"))
    assert scorer_inputs.MANIFEST_NAME == layout.MANIFEST_FILE
    assert scorer_inputs.REFERENCE_FORMAT == layout.REFERENCE_FORMAT
    assert scorer_inputs.SOLUTION_NAME == layout.SOLUTION_FILE
    assert scorer_inputs.PREDICTION_NAMES == (layout.PREDICTION_FILE, layout.PREDICTION_SYNONYM)


def test_dev_and_final_archives_copy_no_ground_truth():
    for phase in layout.SECRET_PHASES:
        public = {*layout.PUBLIC_FILES[phase], *layout.DISCLOSED_TRAINING_FILES}
        assert not public & set(layout.GROUND_TRUTH_FILES)
    assert set(layout.GROUND_TRUTH_FILES) <= set(layout.MODEL_FILES)
    assert layout.MODEL_FILES[-1] == layout.METADATA_FILE  # its presence means "complete"


def test_a_model_id_names_its_folder_and_sorts_by_identity():
    model = layout.ModelId("image", "image_inf", "dev", 3)
    assert str(model) == "image/image_inf/dev/model_3"
    assert model.path(Path("/s")) == Path("/s/image/image_inf/dev/model_3")
    assert sorted([model, layout.ModelId("image", "image_inf", "dev", 1)])[0].index == 1


def test_zips_are_reproducible_whatever_the_entry_order(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"from a file")
    entries = [("b.txt", tmp_path / "b.txt"), ("a/x.csv", b"0\n1\n")]
    first, second = io.BytesIO(), io.BytesIO()
    layout.write_zip_entries(first, entries)
    layout.write_zip_entries(second, entries[::-1])
    assert first.getvalue() == second.getvalue()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["a/x.csv", "b.txt"]
        info = archive.getinfo("b.txt")
        assert info.date_time == layout.FIXED_DATE and info.external_attr >> 16 == 0o644
        assert archive.read("b.txt") == b"from a file"


def test_index_files_round_trip():
    assert layout.parse_indices("3\n1\n2\n").tolist() == [3, 1, 2]
    with pytest.raises(ValueError):
        layout.parse_indices("3\nx\n")
