"""Smoke test of the benchmarks: they run and write their JSON (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.run import VARIANTS

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
    variants = data["variants"]
    assert set(variants) == set(VARIANTS) and "voices_hold_streams_shared_time_ema_key" in VARIANTS
    assert variants["aaai"]["ratio_to_aaai"] == 1.0 and variants["v2_refiner"]["phase"] == "refiner"
    assert variants["aaai_streams"]["critic_parameters"] > variants["aaai"]["critic_parameters"]
    assert variants["aaai"]["voices"] == 0 and variants["voices_hold_streams"]["voices"] == 2
    shared, key = variants["voices_hold_streams_shared_time"], variants["voices_hold_streams_shared_time_key"]  # fmt: skip
    assert shared["generator_parameters"] < variants["voices_hold_streams"]["generator_parameters"]
    assert key["critic_parameters"] > shared["critic_parameters"]
    motion = variants["voices_hold_streams_shared_time_key_motion"]["critic_parameters"]
    assert motion > key["critic_parameters"]
    assert data["sampling"]["shape"][0] == data["sampling"]["phrases"]
    assert data["data"]["prepare"]["phrases"] > 0 and data["data"]["cache_load"]["seconds"] >= 0
    for heading in (
        "host: ",
        "matrix-product peak",
        "training iteration",
        "MuseGAN variants",
        "sampling",
        "load cache",
    ):
        assert heading in result.stdout
    host = data["machine"]["host"]
    assert host["kind"] and host["cpu"] and isinstance(host["extensions"], list)


def test_device_check_runs_every_section_on_the_cpu_and_says_no_gpu_was_found(tmp_path):
    """``python -m benchmarks.device`` without a GPU: every section at tiny sizes on the CPU
    (``--smallest``: two-track MuseGAN phrases, the same code paths with fewer layers to trace)."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.device", "--smallest", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert "no GPU found" in result.stderr
    report = json.loads((tmp_path / "device.json").read_text())
    assert report["gpu_found"] is False and report["mode"].startswith("no GPU found")
    assert report["host"]["kind"]
    assert report["mode"].endswith("two tracks") and report["training"]["shape"][-1] == 2
    runs = report["training"]["runs"]
    assert set(runs) == {"float32", "float32_xla", "mixed_bfloat16", "mixed_float16"}
    for name, run in runs.items():
        assert "error" not in run, (name, run)
        assert run["finite_losses"] and run["iterations_per_second"] > 0, name
    mirrored = report["mirrored"]
    assert mirrored["replicas"] == 2 and mirrored["same_update"], mirrored
    assert report["recurrent"]["iterations_per_second"] > 0
    assert report["recurrent"]["finite_losses"]
    assert report["sampling"]["phrases_per_second"] > 0
    table = (tmp_path / "device.md").read_text()
    assert "no GPU found" in table and "mirrored over 2 devices | same update" in table
    assert table.strip() in result.stdout
