"""Smoke test of the benchmarks: they run and write their JSON (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_speed_quick_run(tmp_path):
    out = tmp_path / "metrics_speed.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.metrics_speed", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "ratio (pypianoroll/ours)" in result.stdout
    assert "scaled" in result.stdout  # says that the pypianoroll time is extrapolated
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["ours"]["seconds"] > 0 and data["pypianoroll"]["seconds_estimated"] > 0
    assert data["ours"]["metric_keys"] > 0 and data["pypianoroll"]["calls_subset"] > 0
