"""Tests of pianoroll.report: the files of a report exist, parse and show every set."""

from __future__ import annotations

import json
import math

import matplotlib.image
import numpy as np
import pytest
from conftest import TWO_TRACK_SPEC as SPEC

from pianoroll.compare import compare_sets
from pianoroll.errors import UserError
from pianoroll.report import write_report
from pianoroll.spec import PhraseSpec


def phrases(n: int, seed: int, density: float = 0.08) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SPEC.shape)) < density


def strict_json(path):
    """Parse a JSON file, refusing NaN and Infinity (not JSON)."""

    def refuse(constant):
        raise ValueError(f"{constant} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def comparisons() -> dict:
    train, validation, generated = phrases(40, 0), phrases(25, 1), phrases(20, 2, 0.15)
    floor = compare_sets(validation, train, SPEC, names=("validation", "train"))
    return {
        "generated vs train": compare_sets(
            generated, train, SPEC, floor, names=("generated", "train"), memorization_threshold=0.05
        ),
        "validation vs train (noise floor)": floor,
    }


def test_report_files_exist_and_parse(tmp_path, comparisons):
    samples = phrases(5, 3)
    samples0 = samples.copy()
    written = write_report(tmp_path / "report", comparisons, SPEC, samples, "Test report")
    directory = tmp_path / "report"
    np.testing.assert_array_equal(samples, samples0)

    data = strict_json(directory / "metrics.json")
    assert data["title"] == "Test report"
    assert PhraseSpec.from_dict(data["spec"]) == SPEC
    assert set(data["comparisons"]) == set(comparisons)
    key = "pitch_range/Piano"
    assert data["comparisons"]["generated vs train"]["metrics"][key]["overlapping_area"] == (
        pytest.approx(comparisons["generated vs train"]["metrics"][key]["overlapping_area"])
    )

    markdown = (directory / "report.md").read_text()
    assert markdown.startswith("# Test report")
    header = next(line for line in markdown.splitlines() if line.startswith("| metric |"))
    assert header == (
        "| metric | generated | train | validation | OA generated vs train |"
        " KL generated vs train | OA validation vs train (noise floor) |"
        " KL validation vs train (noise floor) |"
    )
    for key in comparisons["generated vs train"]["metrics"]:
        assert f"| {key} |" in markdown
    assert "| comparison | a | b (reference) | FD |" in markdown
    assert " ± " in markdown

    metric_names = {key.split("/")[0] for key in comparisons["generated vs train"]["metrics"]}
    plots = sorted(p.stem for p in (directory / "plots").glob("*.png"))
    assert plots == sorted(metric_names)
    for png in [*(directory / "plots").glob("*.png"), directory / "samples.png"]:
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
        assert f"]({png.relative_to(directory).as_posix()})" in markdown
    assert set(written) == {"metrics.json", "report.md", "samples.png"} | {
        f"plots/{name}.png" for name in metric_names
    }
    # Atomic writes leave no temporary files behind.
    assert not [p for p in directory.rglob(".*")]


def test_report_without_samples_and_with_nan(tmp_path, comparisons):
    raw = json.loads(json.dumps(comparisons["generated vs train"]))
    raw["frechet_distance"] = float("nan")
    raw["metrics"]["pitch_range/Piano"]["kl_divergence"] = np.float64("inf")
    written = write_report(tmp_path, {"only": raw}, SPEC, None, "No samples")
    assert "samples.png" not in written and not (tmp_path / "samples.png").exists()
    data = strict_json(tmp_path / "metrics.json")
    assert data["comparisons"]["only"]["frechet_distance"] is None
    assert data["comparisons"]["only"]["metrics"]["pitch_range/Piano"]["kl_divergence"] is None
    markdown = (tmp_path / "report.md").read_text()
    assert "| only | generated | train | – |" in markdown  # undefined FD shown as a dash
    assert not math.isnan(raw["metrics"]["pitch_range/Piano"]["a"]["mean"])


def test_report_replaces_an_old_report(tmp_path, comparisons):
    write_report(tmp_path, comparisons, SPEC, None, "First")
    write_report(tmp_path, comparisons, SPEC, None, "Second")
    assert (tmp_path / "report.md").read_text().startswith("# Second")
    assert strict_json(tmp_path / "metrics.json")["title"] == "Second"


def test_unwritable_directory_is_a_user_error(tmp_path, comparisons):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match="cannot write"):
        write_report(blocker / "report", comparisons, SPEC, None, "x")
