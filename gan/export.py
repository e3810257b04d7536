"""Export a trained generator: a TensorFlow SavedModel with a serving signature and a ``.keras`` file.

The SavedModel serves without this package installed (TensorFlow Serving, ``tf.saved_model.load``
in any program); the ``.keras`` file reloads as a Keras model with ``keras.saving.load_model``
(with this package importable, for its custom layers).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from gan.noise import draw_noise
from gan.run import TrainedRun, load_run
from gan.voices import threshold_channels
from pianoroll.errors import UserError
from pianoroll.io import atomic_path, write_json

__all__ = ["SIGNATURE", "export", "export_generator", "serving_inputs", "verify_export"]

#: The serving signature's name: noise (and condition) in, pianoroll out.
SIGNATURE = "serving_default"


def serving_inputs(run: TrainedRun) -> dict[str, tf.TensorSpec]:
    """The generator's inputs with a free batch axis: each noise input, plus ``condition``
    ``(batch, bars, steps, pitches)`` in {-1, 1} for a track-conditional model (and
    ``condition_onsets``, the same shape, when its condition track is a voice)."""
    shapes = {k: v.shape[1:] for k, v in draw_noise(run.model, 1, 0).items()}
    spec, index = run.model.spec, run.model.condition_index
    if index is not None:
        shapes["condition"] = spec.shape[:3]
        if index in spec.voices:
            shapes["condition_onsets"] = spec.shape[:3]
    return {k: tf.TensorSpec((None, *shape), tf.float32, name=k) for k, shape in shapes.items()}


def _replace_dir(built: Path, target: Path) -> None:
    """Move a finished directory into place; an old one is removed only after the move."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_generator(run: TrainedRun, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``saved_model/``, ``generator.keras`` and ``export.json`` into ``out``.

    The SavedModel's ``serving_default`` signature takes the inputs of :func:`serving_inputs`
    and returns ``pianoroll``: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] (model
    tensors: the tracks, then each monophonic voice's onsets), and ``binary``: the same
    decoded (``bool``; :func:`gan.voices.threshold_channels`: free tracks thresholded at 0, a
    voice's likeliest pitch or rest). ``generator.keras`` is the bare network
    (C-RNN-GAN's takes the ``noise`` tensor and returns ``(batch, time, pitches * tracks)``
    sequences). ``export.json`` records the inputs'
    shapes, the phrase spec and the run and checkpoint the weights come from.

    Raises:
        UserError: ``out`` cannot be written.
    """
    out = Path(out).expanduser()
    generator = run.model.generator
    inputs = serving_inputs(run)

    model = run.model

    def serve(**kwargs: tf.Tensor) -> dict[str, tf.Tensor]:
        output = generator(model.generator_feed(kwargs), training=False)
        pianoroll = tf.cast(model.phrases_from_generator(output), tf.float32)
        return {"pianoroll": pianoroll, "binary": threshold_channels(pianoroll, model.spec)}

    function = tf.function(serve).get_concrete_function(**inputs)
    files = {
        "saved_model": out / "saved_model",
        "keras": out / "generator.keras",
        "info": out / "export.json",
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".saved_model.", dir=out))
    except OSError as err:
        raise UserError(f"{out}: cannot write there ({err.strerror or err})") from None
    try:
        module = tf.Module()
        module.generator = generator  # tracked, so the signature's weights are saved
        tf.saved_model.save(module, str(building), signatures={SIGNATURE: function})
        _replace_dir(building, files["saved_model"])
    finally:
        shutil.rmtree(building, ignore_errors=True)
    with atomic_path(files["keras"]) as tmp:
        generator.save(tmp)
    info: dict[str, Any] = {
        "run": str(run.run_dir),
        "checkpoint": run.checkpoint,
        "step": run.step,
        "weights": run.weights.value,
        "signature": SIGNATURE,
        "inputs": {k: [None, *map(int, v.shape[1:])] for k, v in inputs.items()},
        "outputs": {
            "pianoroll": "(batch, bars, steps, pitches, channels) float32 in [-1, 1]",
            "binary": "(batch, bars, steps, pitches, channels) bool",
        },
        "spec": run.model.spec.to_dict(),
        "noise": "standard normal per input; see the model's sample_noise",
    }
    write_json(files["info"], info)
    return files


def verify_export(files: dict[str, Path], run: TrainedRun) -> float:
    """Reload both exported models and return the largest difference between their outputs and
    the generator's on a few noise samples."""
    noise = draw_noise(run.model, 4, 0)
    feed = {k: tf.constant(v) for k, v in noise.items()}
    for name, shape in serving_inputs(run).items():
        if name not in feed:  # the condition (and a voice condition's onsets): silence
            feed[name] = -tf.ones((4, *shape.shape[1:]))
    raw = run.model.generator(run.model.generator_feed(feed), training=False)
    expected = np.asarray(run.model.phrases_from_generator(raw))
    served = tf.saved_model.load(str(files["saved_model"])).signatures[SIGNATURE](**feed)
    reloaded = keras.saving.load_model(files["keras"])(
        run.model.generator_feed(feed), training=False
    )
    return float(
        max(
            np.abs(np.asarray(served["pianoroll"]) - expected).max(),
            np.abs(np.asarray(reloaded) - np.asarray(raw)).max(),
        )
    )


def export(cfg: DictConfig, package: str) -> dict[str, Path]:
    """The export command (``conf/tools/export.yaml``) of a model package: export the generator
    of ``cfg.run`` and check that both files reload to the same outputs."""
    if not cfg.get("run"):
        raise UserError(f"run is missing: python -m {package}.export run=<run dir> out=<dir>")
    run = load_run(cfg.run, cfg.checkpoint, package, cfg.weights)
    out = Path(str(cfg.out)).expanduser() if cfg.get("out") else run.run_dir / "export"
    files = export_generator(run, out)
    difference = verify_export(files, run)
    print(f"exported step {run.step} of {run.run_dir} ({run.weights_label}) to {out}")
    for kind, path in files.items():
        print(f"  {kind:<12}{path}")
    print(f"reloaded both: largest output difference {difference:.2e}")
    return files
