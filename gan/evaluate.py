"""Evaluate a trained run: generate N phrases and compare them with the training and
validation data.

The model packages' ``evaluate`` commands (``python -m musegan.evaluate run=<run dir>``, ``python
-m crnngan.evaluate ...``) call :func:`evaluate_run` with ``conf/tools/evaluate.yaml``. The
report is :mod:`pianoroll.evaluate`'s: generated vs training data, with validation vs training
as the noise floor beside every number. The training and validation sets stay packed: the
comparison reads them a chunk at a time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gan.conditions import condition_phrases
from gan.decoding import Decoding, DecodingOptions, VoiceDecoding
from gan.noise import Stream, draw_noise, stream_rng
from gan.run import TrainedRun, load_run
from gan.tracking import log_evaluation
from pianoroll.dataset import Dataset
from pianoroll.errors import UserError, number_option
from pianoroll.evaluate import PhraseSet, compare_and_report
from pianoroll.io import output_folder
from pianoroll.output import save_phrases
from pianoroll.prepare import load_splits

__all__ = ["evaluate_run"]


def evaluate_run(cfg: DictConfig, package: str) -> dict[str, Any]:
    """Run an evaluation command for a model package.

    Args:
        cfg: ``run``, ``checkpoint``, ``weights``, ``n``, ``out``, ``seed``, ``binarize``,
            ``memorization``, ``threshold``, ``bins``, ``samples``, ``wandb.mode``.
        package: the model package whose runs this command reads.

    Returns:
        ``out``, ``files`` (as :func:`pianoroll.report.write_report` returns them), ``step``,
        ``seconds`` (generation and comparison) and ``wandb`` (the wandb run folder or None).

    Raises:
        UserError: a bad option, run or checkpoint.
    """
    if not cfg.get("run"):
        raise UserError(f"run is missing: python -m {package}.evaluate run=<run dir>")
    count = number_option(cfg, "n", positive=True)
    options = DecodingOptions.from_config(cfg)
    threshold = number_option(cfg, "threshold", float, 0.0, 1.0)
    bins = number_option(cfg, "bins", int, 16)
    samples = number_option(cfg, "samples", int, 0)
    seed = number_option(cfg, "seed", int, 0)
    run = load_run(cfg.run, cfg.checkpoint, package, cfg.weights)
    decoding = Decoding.of(options, run.cfg, run.model.spec, run.model.hold)
    with output_folder(
        Path(str(cfg.out)).expanduser() if cfg.get("out") else run.run_dir / "evaluation"
    ) as out:
        return _evaluate(cfg, run, decoding, out, count, seed, threshold, bins, samples)


def _evaluate(
    cfg: DictConfig,
    run: TrainedRun,
    decoding: Decoding,
    out: Path,
    count: int,
    seed: int,
    threshold: float,
    bins: int,
    samples: int,
) -> dict[str, Any]:
    """The work of :func:`evaluate_run`, its options checked and ``out`` writable."""
    spec = decoding.spec
    data_dir = run.cfg.paths.data_dir
    splits = load_splits(decoding.data, data_dir, progress=False)  # the decoded phrases' form

    def model_reference() -> Dataset:
        """The reference phrases in the model's form, for a conditional model's condition."""
        if decoding.voices is VoiceDecoding.MODEL:
            return splits.reference
        return load_splits(run.cfg.data, data_dir, progress=False).reference

    start = time.perf_counter()
    noise = draw_noise(run.model, count, seed, stream=Stream.EVALUATION)
    conditions = condition_phrases(run.model, model_reference, count)
    outputs = run.model.generate_numpy(noise, conditions)
    generated, onsets = decoding(outputs, stream_rng(seed, Stream.EVALUATION_BINARIZATION))
    generation_seconds = time.perf_counter() - start
    print(f"generated {count} phrases at step {run.step} in {generation_seconds:.1f} s")
    save_phrases(out / "generated.npz", generated, spec, onsets)

    where = f"data={run.cfg.data.name}"
    shown = "" if decoding.voices is VoiceDecoding.MODEL else f" (voices={decoding.voices})"
    sets = {
        "a": PhraseSet(
            "generated", f"{run.run_dir} step {run.step}, {run.weights_label}", generated, spec
        ),
        "b": PhraseSet("train", f"{where} train", splits.train, spec),
    }
    if len(splits.validation):
        sets["floor"] = PhraseSet("validation", f"{where} validation", splits.validation, spec)
    for role, phrase_set in sets.items():
        print(f"{role}: {len(phrase_set)} phrases from {phrase_set.source}")
    start = time.perf_counter()
    files = compare_and_report(
        sets,
        out,
        title=f"{run.run_dir.name}, step {run.step} ({run.weights_label}):"
        f" generated{shown} vs training data",
        samples=samples,
        bins=bins,
        memorization_threshold=threshold if cfg.memorization else None,
    )
    seconds = generation_seconds + time.perf_counter() - start
    wandb_cfg = OmegaConf.merge(run.cfg.get("wandb") or {}, cfg.wandb)
    wandb_dir = log_evaluation(
        run.run_dir, wandb_cfg, OmegaConf.to_container(run.cfg), files, run.step, str(run.weights)
    )
    if wandb_dir is not None:
        print(f"wandb: {wandb_dir}", file=sys.stderr)
    return {"out": out, "files": files, "step": run.step, "seconds": seconds, "wandb": wandb_dir}
