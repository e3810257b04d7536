"""musegan.evaluate: a run's checkpoint generates N phrases, compared with the training data and
the validation noise floor; report files and an offline wandb run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import read_offline_run
from hydra import compose, initialize_config_module

from gan.evaluate import evaluate_run
from pianoroll.errors import UserError
from pianoroll.spec import PhraseSpec
from pianoroll.voices import skyline


def compose_evaluate(**options):
    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        return compose("evaluate", overrides=[f"{k}={v}" for k, v in options.items()])


@pytest.fixture(scope="module")
def evaluation(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    cfg = compose_evaluate(run=trained_runs["hybrid"], n=64, out=out, **{"wandb.mode": "offline"})
    return evaluate_run(cfg, "musegan")


def test_the_report_compares_generated_with_train_and_the_validation_floor(evaluation):
    out = evaluation["out"]
    report = json.loads((out / "metrics.json").read_text())
    labels = list(report["comparisons"])
    assert labels == ["generated vs train", "validation vs train (noise floor)"]
    main = report["comparisons"]["generated vs train"]
    assert main["sets"]["a"] == {"name": "generated", "n": 64}
    assert main["floor_frechet_distance"] is not None
    entry = main["metrics"]["in_scale_rate/Soprano"]
    assert set(entry) >= {"a", "b", "overlapping_area", "kl_divergence", "floor", "histogram"}
    assert main["memorization"]["exact_share"] == 0.0  # an untrained model copies nothing
    text = (out / "report.md").read_text()
    assert "generated vs train" in text and "noise floor" in text
    # The title says which weights sampled: this run keeps no average.
    assert report["title"].endswith("step 2 (trained weights): generated vs training data")
    assert (out / "samples.png").stat().st_size > 0
    assert (out / "plots" / "in_scale_rate.png").stat().st_size > 0
    generated = np.load(out / "generated.npz")["phrases"]
    assert generated.shape == (64, 4, 16, 84, 4) and generated.dtype == bool
    assert evaluation["step"] == 2


def test_the_evaluation_is_logged_to_its_own_offline_wandb_run(evaluation, trained_runs):
    folder = evaluation["wandb"]
    assert folder.parent == trained_runs["hybrid"] / "wandb"
    records = read_offline_run(folder)
    assert records["run"]["job_type"] == "evaluation"
    assert records["run"]["run_group"] == "smoke"  # the training run's experiment preset
    tags = set(records["run"]["tags"])
    assert {"musegan", "hybrid", "smoke", "evaluation", "weights=trained"} <= tags
    assert records["run"]["display_name"] == "hybrid-evaluation"
    summary = records["summary"]
    assert summary["evaluation/step"] == 2
    assert summary["evaluation/weights"] == "trained"  # this run keeps no weight average
    assert summary["evaluation/frechet_distance"] == pytest.approx(
        json.loads((evaluation["out"] / "metrics.json").read_text())["comparisons"][
            "generated vs train"
        ]["frechet_distance"]
    )
    assert any(path.startswith("media/table/evaluation/metrics") for path in records["files"])
    assert any(path.startswith("media/images/evaluation/samples") for path in records["files"])


def test_evaluation_is_deterministic_and_serves_conditional_runs(trained_runs, tmp_path):
    cfg = dict(n=16, samples=0, **{"wandb.mode": "disabled"})
    first = evaluate_run(
        compose_evaluate(run=trained_runs["conditional"], out=tmp_path / "a", **cfg), "musegan"
    )
    again = evaluate_run(
        compose_evaluate(run=trained_runs["conditional"], out=tmp_path / "b", **cfg), "musegan"
    )
    a = np.load(first["out"] / "generated.npz")["phrases"]
    assert np.array_equal(a, np.load(again["out"] / "generated.npz")["phrases"])
    assert first["wandb"] is None and not (tmp_path / "a" / "samples.png").exists()
    # The condition track is real data (validation phrases): not what the generator makes.
    assert a[..., 0].any()


def test_skyline_reads_a_free_roll_run_as_voices_and_compares_it_with_the_voices(
    evaluation, trained_runs, tmp_path
):
    options = {"n": 64, "samples": 0, "voices": "skyline", "wandb.mode": "disabled"}
    cfg = compose_evaluate(run=trained_runs["hybrid"], out=tmp_path, **options)
    evaluate_run(cfg, "musegan")
    with (
        np.load(tmp_path / "generated.npz") as voices,
        np.load(evaluation["out"] / "generated.npz") as free,
    ):
        spec = PhraseSpec.from_dict(json.loads(voices["spec"].tobytes()))
        assert spec.voices == (0, 1, 2, 3)
        assert free["phrases"].sum(axis=3).max() > 1  # the free rolls have chords to resolve
        # The same noise and binarization as the free-roll evaluation, then the skyline.
        rolls, onsets = skyline(free["phrases"], spec)
        assert np.array_equal(voices["phrases"], rolls)
        assert np.array_equal(voices["onsets"], onsets)
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["title"].endswith("generated (voices=skyline) vs training data")
    compared = report["comparisons"]["generated vs train"]["metrics"]
    assert compared["polyphony_rate/Soprano"]["a"]["mean"] == 0.0


def test_bad_options_and_runs_are_one_line_errors(trained_runs, tmp_path):
    with pytest.raises(UserError, match=r"^voices=chords: choose one of model, skyline$"):
        evaluate_run(compose_evaluate(run=trained_runs["hybrid"], voices="chords"), "musegan")
    with pytest.raises(UserError, match=r"n=0: must be a number above 0"):
        evaluate_run(compose_evaluate(run=trained_runs["hybrid"], n=0), "musegan")
    with pytest.raises(UserError, match=r"^seed=abc: must be a number at least 0$"):
        evaluate_run(compose_evaluate(run=trained_runs["hybrid"], seed="abc"), "musegan")
    # An output folder that cannot be made is refused before 5,000 phrases are generated.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserError, match=r"a-file/out: cannot write there"):
        evaluate_run(compose_evaluate(run=trained_runs["hybrid"], out=blocker / "out"), "musegan")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "musegan.evaluate", f"run={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path}: not a run folder (no config.yaml)"]
