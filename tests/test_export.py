"""Export: the SavedModel's serving signature and the .keras file reproduce the generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from hydra import compose, initialize_config_module

from gan.export import SIGNATURE, export, serving_inputs
from gan.noise import draw_noise
from gan.run import load_run
from pianoroll.errors import UserError


def compose_export(**options):
    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        return compose("export", overrides=[f"{k}={v}" for k, v in options.items()])


@pytest.mark.parametrize("kind", ["hybrid", "conditional"])
def test_both_exports_reload_and_match_the_generator(trained_runs, tmp_path, kind):
    files = export(compose_export(run=trained_runs[kind], out=tmp_path), "musegan")
    run = load_run(trained_runs[kind])
    noise = draw_noise(run.model, 3, seed=5)
    feed = {k: tf.constant(v) for k, v in noise.items()}
    if kind == "conditional":
        condition = np.where(np.random.default_rng(0).random((3, 4, 16, 84)) < 0.05, 1.0, -1.0)
        feed["condition"] = tf.constant(condition, tf.float32)
    expected = np.asarray(run.model.generator(feed, training=False))

    loaded = tf.saved_model.load(str(files["saved_model"]))
    signature = loaded.signatures[SIGNATURE]
    assert set(signature.structured_input_signature[1]) == set(serving_inputs(run))
    served = signature(**feed)
    assert served["pianoroll"].shape == (3, 4, 16, 84, 4)
    np.testing.assert_allclose(served["pianoroll"].numpy(), expected, atol=1e-5)
    assert np.array_equal(served["binary"].numpy(), expected > 0)
    if kind == "conditional":  # the condition passes through to its track
        np.testing.assert_array_equal(served["pianoroll"].numpy()[..., 0], condition)

    reloaded = keras.saving.load_model(files["keras"])
    np.testing.assert_allclose(np.asarray(reloaded(feed, training=False)), expected, atol=1e-5)

    info = json.loads(files["info"].read_text())
    assert info["signature"] == SIGNATURE and info["step"] == 2
    assert info["weights"] == "trained"  # the smoke runs keep no weight average
    assert info["inputs"] == {k: [None, *v.shape[1:]] for k, v in serving_inputs(run).items()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_exporting_again_replaces_the_previous_export(trained_runs, tmp_path):
    cfg = compose_export(run=trained_runs["hybrid"], out=tmp_path, checkpoint=1)
    export(cfg, "musegan")
    files = export(compose_export(run=trained_runs["hybrid"], out=tmp_path), "musegan")
    assert json.loads(files["info"].read_text())["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "export.json",
        "generator.keras",
        "saved_model",
    ]


def test_the_export_command_reports_and_refuses_in_one_line(trained_runs, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "musegan.export", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    ok = cli(f"run={trained_runs['hybrid']}", f"out={tmp_path / 'x'}")
    assert ok.returncode == 0, ok.stderr
    assert "largest output difference" in ok.stdout
    missing = cli(f"run={tmp_path / 'nowhere'}")
    assert missing.returncode == 2
    assert [line for line in missing.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'nowhere'}: no such run folder"
    ]
    with pytest.raises(UserError, match="run is missing"):
        export(compose_export(), "musegan")
