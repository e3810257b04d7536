"""crnngan.generate, crnngan.evaluate and crnngan.export: the shared run tools on a C-RNN-GAN
run, including a long piece in one pass of the recurrent generator."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pretty_midi
import pypianoroll
import tensorflow as tf
from hydra import compose, initialize_config_module

from gan.evaluate import evaluate_run
from gan.export import SIGNATURE, export
from gan.generate import generate
from gan.run import load_run
from pianoroll.voices import decode


def tool_config(name: str, **options):
    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        return compose(name, overrides=[f"{k}={v}" for k, v in options.items()])


def test_a_long_piece_is_one_pass_of_the_recurrent_generator(crnngan_run, tmp_path):
    run = load_run(crnngan_run)
    bars = run.model.spec.n_bars * 3 + 1  # not a whole number of training sequences
    result = generate(
        tool_config("generate", run=crnngan_run, out=tmp_path, n=2, bars=bars), "crnngan"
    )
    steps = run.model.spec.steps_per_bar
    outputs = run.model.generate_bars(2, bars, tf.constant([0, 0], tf.int64))
    expected, _ = decode(outputs, run.model.spec, "threshold", np.random.default_rng(0))
    for piece, roll in zip(result["pieces"], expected, strict=True):
        multitrack = pypianoroll.load(piece["npz"])
        assert multitrack.tracks[0].pianoroll.shape[0] == bars * steps
        low = run.model.spec.lowest_pitch
        stacked = np.stack([t.pianoroll[:, low : low + 84] > 0 for t in multitrack.tracks], -1)
        assert np.array_equal(stacked, roll.reshape(bars * steps, 84, -1))
        assert [i.name for i in pretty_midi.PrettyMIDI(str(piece["mid"])).instruments] == [
            t.name for t in run.model.spec.tracks
        ]


def test_evaluate_and_export_a_crnngan_run(crnngan_run, tmp_path):
    report = evaluate_run(
        tool_config(
            "evaluate", run=crnngan_run, out=tmp_path / "eval", n=16, **{"wandb.mode": "disabled"}
        ),
        "crnngan",
    )
    assert (report["out"] / "report.md").exists()
    files = export(tool_config("export", run=crnngan_run, out=tmp_path / "export"), "crnngan")
    run = load_run(crnngan_run)
    noise = run.model.sample_noise(2, tf.constant([1, 2], tf.int64))
    expected = np.asarray(run.model.generator(noise["noise"], training=False))
    served = tf.saved_model.load(str(files["saved_model"])).signatures[SIGNATURE](**noise)
    np.testing.assert_allclose(
        served["pianoroll"].numpy(), expected.reshape(served["pianoroll"].shape), atol=1e-5
    )


def test_musegan_tools_refuse_a_crnngan_run_in_one_line(crnngan_run, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "musegan.generate", f"run={crnngan_run}"],
        cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {crnngan_run}: a crnngan run, not a musegan one; use python -m crnngan.<command>"
    ]
