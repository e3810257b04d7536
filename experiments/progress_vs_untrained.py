"""How far a trained C-RNN-GAN run has moved from its untrained networks toward the data.

    python experiments/progress_vs_untrained.py runs/crnngan/<run> [checkpoint] [key=value ...]

Rebuilds the run's networks from its saved ``config.yaml`` (the untrained ones, same seed),
generates the run's evaluation phrases (``train.eval_samples``, the evaluation noise of
training) before and after restoring the checkpoint (default: the latest), and prints JSON:
for threshold and Bernoulli binarization, the sounding (pitch, track) cells per time step,
the pitch range, the in-scale rate, the polyphony rate within a voice and the qualified-note
rate (:mod:`pianoroll.metrics`), next to the same values of the validation and training
phrases; how much the outputs vary with the noise and over time (a generator that gives the
same output for every noise, or at every step, shows it there); and the run's median seconds per pretraining and per adversarial step.
``key=value`` arguments override the saved config before the untrained networks are built
(``model.generator.initial_density=null``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.builder import build_model, build_objective
from gan.checkpoint import Checkpointer
from gan.noise import Stream
from gan.options import TrainOptions
from gan.strategy import set_determinism
from gan.trainer import Trainer
from pianoroll.dataset import Dataset
from pianoroll.evaluation import metrics_by_chunks, summarize_metrics
from pianoroll.prepare import load_splits
from pianoroll.voices import decode


def summary(phrases: np.ndarray | Dataset, spec: Any) -> dict[str, float]:
    """The progress figures of binary phrases ``(N, bars, steps, pitches, tracks)``, or of a
    packed dataset of them, which is read a chunk at a time rather than unpacked whole."""
    chunks = phrases.chunks() if isinstance(phrases, Dataset) else [phrases]
    tally = {"notes": 0, "steps": 0}

    def counted(parts: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        # The notes are tallied on the way through, so that a dataset is unpacked only once.
        for part in parts:
            tally["notes"] += int(part.sum())
            tally["steps"] += int(np.prod(part.shape[:3]))
            yield part

    means = summarize_metrics(metrics_by_chunks(counted(chunks), spec))
    return {
        "notes_per_step": tally["notes"] / tally["steps"] if tally["steps"] else float("nan"),
        "pitch_range": means["pitch_range"],
        "in_scale_rate": means["in_scale_rate"],
        "polyphony_rate": means["polyphony_rate"],
        "qualified_note_rate": means["qualified_note_rate"],
    }


def both(outputs: np.ndarray, spec: Any) -> dict[str, Any]:
    """Generator outputs ``(N, bars, steps, pitches, channels)`` (model tensors in [-1, 1])
    under both binarizations, and how much they depend on the noise and on time.

    ``distinct_threshold_phrases`` is the share of different phrases under the threshold (1/N:
    every phrase the same); ``spread_over_phrases`` the mean over cells of the standard
    deviation of the probability ``(x + 1) / 2`` across phrases (0: the noise changes nothing);
    ``spread_over_steps`` its mean standard deviation across a phrase's steps (0: the same
    output at every step).
    """
    rng = np.random.default_rng(0)
    threshold = decode(outputs, spec, "threshold", rng)[0]
    probability = (np.asarray(outputs, np.float64) + 1.0) / 2.0
    over_steps = probability.reshape(len(probability), -1, *probability.shape[3:]).std(axis=1)
    return {
        "threshold": summary(threshold, spec),
        "bernoulli": summary(decode(outputs, spec, "bernoulli", rng)[0], spec),
        "mean_output": float(outputs.mean()),
        "distinct_threshold_phrases": len(np.unique(threshold.reshape(len(threshold), -1), axis=0))
        / len(threshold),
        "spread_over_phrases": float(probability.std(axis=0).mean()),
        "spread_over_steps": float(over_steps.mean()),
    }


def main(argv: list[str]) -> dict[str, Any]:
    run = Path(argv[0])
    checkpoint = next((a for a in argv[1:] if "=" not in a), None)
    cfg = OmegaConf.merge(
        OmegaConf.load(run / "config.yaml"),
        OmegaConf.from_dotlist([a for a in argv[1:] if "=" in a]),
    )
    options = TrainOptions.from_config(cfg.train, cfg.seed)
    set_determinism(options)  # the noise of training regenerated as the run made it
    keras.utils.set_random_seed(int(cfg.seed))
    splits = load_splits(cfg.data, cfg.paths.data_dir, progress=False)
    train_set, val_set, spec = splits.train, splits.validation, splits.spec
    model = build_model(cfg, spec)
    trainer = Trainer(model, build_objective(cfg.train), tf.distribute.get_strategy(), options)
    count = int(cfg.train.eval_samples)
    out: dict[str, Any] = {
        "untrained": both(trainer.generate(count, Stream.TRAINING_EVALUATION), spec)
    }
    Checkpointer(run / "checkpoints", model, None, trainer.step, trainer.seed).restore(
        path=checkpoint, require=True
    )
    out[f"step {int(trainer.step.numpy())}"] = both(
        trainer.generate(count, Stream.TRAINING_EVALUATION), spec
    )
    out["data (validation)"] = summary(val_set, spec)
    out["data (training)"] = summary(train_set, spec)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # Pretraining and adversarial steps cost differently: one median each, the first logged
    # interval of each left out (it includes tracing).
    for phase, pretraining in (("pretraining", True), ("adversarial", False)):
        rates = [
            line["steps_per_second"]
            for line in lines
            if "steps_per_second" in line and ("pretrain_loss" in line) == pretraining
        ]
        out[f"seconds_per_{phase}_step_median"] = (
            float(np.median([1 / r for r in rates[1:]])) if len(rates) > 1 else None
        )
    out["phrases"] = {"generated": count, "validation": len(val_set), "training": len(train_set)}
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
