"""Evaluate a trained MuseGAN run: ``python -m musegan.evaluate run=<run dir>``.

Generates ``n`` phrases (default 5,000) from the newest checkpoint and compares them with the
training data, with validation vs training as the noise floor: ``metrics.json``, ``report.md``,
per-metric plots and a sample grid in ``<run>/evaluation`` (or ``out=``), also logged to Weights
& Biases. Options are in ``conf/tools/evaluate.yaml``; :mod:`gan.evaluate` does the work.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gan.evaluate import evaluate_run
from pianoroll.errors import exit_on_user_error

__all__ = ["main"]


@hydra.main(config_path="pkg://conf.tools", config_name="evaluate", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Write the evaluation report of a run."""
    evaluate_run(cfg, "musegan")


if __name__ == "__main__":
    main()
