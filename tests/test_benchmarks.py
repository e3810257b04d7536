"""Smoke test of the benchmarks: they run and write their JSON (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_quick(module: str, out: Path) -> subprocess.CompletedProcess:
    """``python -m benchmarks.<module> --quick --out <out>`` from the repository root."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_metrics_speed_quick_run(tmp_path):
    out = tmp_path / "metrics_speed.json"
    result = run_quick("metrics_speed", out)
    assert "ratio (pypianoroll/ours)" in result.stdout
    assert "scaled" in result.stdout  # says that the pypianoroll time is extrapolated
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["ours"]["seconds"] > 0 and data["pypianoroll"]["seconds_estimated"] > 0
    assert data["ours"]["metric_keys"] > 0 and data["pypianoroll"]["calls_subset"] > 0


def test_benchmark_run_quick_writes_every_section(tmp_path):
    out = tmp_path / "run.json"
    result = run_quick("run", out)
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert (tmp_path / "metrics_speed.json").exists()  # the metrics benchmark, routed in
    assert set(data["peak"]) == {"float32", "bfloat16"}
    runs = data["training"]
    assert {"ours_float32", "ours_mixed_bfloat16", "keras_straightforward"} <= set(runs)
    for run in runs.values():
        assert run["seconds"] > 0 and run["flops"]["matrix_gflop"] > 0
        assert "others_cores" in run and "fraction_of_bfloat16_peak" in run
    # The same networks: the straightforward implementation does the same matrix work plus the
    # zero path of TensorFlow's LeakyReLU (see musegan.layers.leaky_relu): the interpolated
    # batch's forward pass run backwards at every critic step, a kernel and an input gradient
    # per critic layer but no input gradient for the first, so between one and two critic
    # forward passes (1.97 of them at full size, where the first layer is small).
    ours, keras_run = runs["ours_float32"], runs["keras_straightforward"]
    zero_path = keras_run["flops"]["matrix_gflop"] - ours["flops"]["matrix_gflop"]
    forward = ours["critic_steps"] * ours["critic_forward"]["matrix_gflop"]
    assert 1.0 < zero_path / forward <= 2.0 + 1e-6
    assert data["sampling"]["shape"][0] == data["sampling"]["phrases"]
    assert data["data"]["prepare"]["phrases"] > 0 and data["data"]["cache_load"]["seconds"] >= 0
    for heading in ("matrix-product peak", "training iteration", "sampling", "load cache"):
        assert heading in result.stdout
