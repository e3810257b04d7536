"""Mixed precision and XLA: each option trains and its losses stay finite."""

from __future__ import annotations

import math

import keras
import pytest
from conftest import compose_smoke

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.loop import train


@pytest.fixture(autouse=True)
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "options",
    [
        ["train.precision=mixed_bfloat16"],
        ["train.precision=mixed_float16"],
        # XLA with bfloat16: the combination the GPU path uses, compiled here for the CPU.
        ["train.jit_compile=true", "train.precision=mixed_bfloat16"],
    ],
    ids=["bfloat16", "float16", "xla_bfloat16"],
)
def test_precision_and_xla_options_train_with_finite_losses(options, smoke_data_dir, tmp_path):
    cfg = compose_smoke("musegan", smoke_data_dir, "train.sample_every=100", *options)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["step"] == 2
    assert summary["losses"] and all(math.isfinite(v) for v in summary["losses"].values())
    # The penalty is computed in float32 whatever the compute dtype.
    assert summary["losses"]["gradient_penalty"] >= 0.0
