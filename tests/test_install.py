"""A non-editable install carries the Hydra configs, found from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_plain_install_finds_configs_from_elsewhere(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "conf" / "musegan.yaml").is_file()
    assert (target / "conf" / "data" / "bach_chorales.yaml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import conf, musegan; print(conf.__file__); print(musegan.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(line.startswith(str(target)) for line in probe.stdout.split()), probe.stdout

    def job_config(module: str, *overrides: str) -> str:
        """The composed job config of ``python -m <module>``, run from ``elsewhere``."""
        shown = subprocess.run(
            [sys.executable, "-m", module, "--cfg", "job", *overrides],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    train = job_config("musegan.train", "+mode=composer")
    assert "_target_: musegan.model.MuseGAN" in train
    assert "name: composer" in train
    assert "steps_per_beat: 12" in job_config("pianoroll.prepare", "data=lpd5")
    assert "mode: interpolate" in job_config("musegan.generate", "mode=interpolate")
