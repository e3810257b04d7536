"""Evaluate a trained C-RNN-GAN run: ``python -m crnngan.evaluate run=<run dir>``.

Generates ``n`` phrases (default 5,000) from the newest checkpoint and compares them with the
training data, with validation vs training as the noise floor: ``metrics.json``, ``report.md``,
per-metric plots and a sample grid in ``<run>/evaluation`` (or ``out=``), also logged to Weights
& Biases. Options are in ``conf/tools/evaluate.yaml``; :mod:`gan.evaluate` does the work.
"""

from __future__ import annotations

from gan.commands import tool_main
from gan.evaluate import evaluate_run

__all__ = ["main"]

main = tool_main("evaluate", evaluate_run, "crnngan")

if __name__ == "__main__":
    main()
