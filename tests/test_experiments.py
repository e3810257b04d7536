"""Experiments: every wandb sweep file expands to command lines (the first trains and logs the
sweep's metric, the others compose to their values); a Hydra multirun of
the three modes leaves three offline wandb runs; the SLURM launcher config composes."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TWO_TRACKS, read_offline_run
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)

REPO = Path(__file__).resolve().parents[1]
SWEEPS = sorted((REPO / "experiments" / "sweeps").glob("*.yaml"))


def sample(spec: dict, rng: np.random.Generator):
    """One value of a wandb sweep parameter, drawn the way an agent would."""
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return spec["values"][int(rng.integers(len(spec["values"])))]
    kind = spec.get("distribution", "uniform")
    low, high = spec["min"], spec["max"]
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "int_uniform":
        return int(rng.integers(low, high + 1))
    if kind == "log_uniform_values":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    raise AssertionError(f"distribution {kind!r} is not handled by this test")


def expand(sweep: dict, rng: np.random.Generator) -> list[dict]:
    """Every grid point of a grid sweep; one sample of a random or Bayesian one."""
    parameters = sweep["parameters"]
    if sweep["method"] == "grid":
        names = list(parameters)
        choices = [
            spec["values"] if "values" in spec else [spec["value"]] for spec in parameters.values()
        ]
        return [dict(zip(names, point, strict=True)) for point in itertools.product(*choices)]
    return [{name: sample(spec, rng) for name, spec in parameters.items()}]


def command_line(sweep: dict, point: dict) -> list[str]:
    """The agent's command for one point: ``${args_no_hyphens}`` gives ``key=value`` pairs."""
    out = []
    for token in sweep["command"]:
        if token == "${env}":
            continue
        if token == "python":
            out.append(sys.executable)
        elif token == "${program}":
            out.append(sweep["program"])
        elif token == "${args_no_hyphens}":
            out += [f"{key}={value}" for key, value in point.items()]
        else:
            assert "${" not in token, f"unhandled macro {token}"
            out.append(token)
    return out


def env() -> dict[str, str]:
    # CI=1 as on CI machines, where pyfluidsynth prints to stdout on import unless quieted.
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_sweep_expands_to_commands_that_train_and_log_its_metric(
    path, two_track_data_dir, tmp_path
):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] and sweep["metric"]["name"].startswith("eval/")
    points = expand(sweep, np.random.default_rng(0))
    for i, point in enumerate(points):
        run_dir = tmp_path / f"run{i}"
        command = [
            *command_line(sweep, point),
            "+experiment=smoke",
            f"paths.data_dir={two_track_data_dir}",
            f"hydra.run.dir={run_dir}",
            "wandb.mode=disabled",
        ]
        if i == 0:
            # Smoke sizes: two tracks, samples at the end only, one critic update unless the
            # sweep sets it.
            command += [TWO_TRACKS, "train.sample_every=0"]
            if "train.critic_steps" not in point:
                command.append("train.critic_steps=1")
            result = subprocess.run(
                command, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, (command, result.stderr[-2000:])
            lines = (run_dir / "metrics.jsonl").read_text().splitlines()
            assert any(sweep["metric"]["name"] in json.loads(line) for line in lines), command
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
        else:
            # The other points differ in their overrides only: they must compose to the values
            # (training each mode is the multirun test's job).
            program = sweep["program"].split(".")[0]
            overrides = [arg for arg in command[3:] if not arg.startswith("hydra.")]
            with initialize_config_module(config_module="conf", version_base="1.3"):
                config = OmegaConf.to_container(compose(program, overrides=overrides))
        for key, value in point.items():
            node = config
            for part in key.lstrip("+").split("."):
                node = node[part]
            if key.lstrip("+") == "mode":
                node = node["name"]
            assert node == value, (key, node, value)


def test_a_multirun_of_the_three_modes_leaves_three_separate_offline_wandb_runs(
    two_track_data_dir, tmp_path
):
    result = subprocess.run(
        [
            sys.executable, "-m", "musegan.train", "-m",
            "+experiment=smoke", "+mode=jamming,composer,hybrid",
            # Smoke sizes: two tracks, one critic update, samples at the end (step 2).
            TWO_TRACKS, "train.critic_steps=1", "train.sample_every=0",
            f"paths.data_dir={two_track_data_dir}", f"paths.runs_dir={tmp_path}",
            "wandb.mode=offline",
        ],
        cwd=tmp_path, env={**env(), "WANDB_MODE": "offline"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted((tmp_path / "multirun").glob("*/*/config.yaml"))
    assert len(jobs) == 3
    seen = {}
    for job in jobs:
        (folder,) = (job.parent / "wandb").glob("offline-run-*")
        records = read_offline_run(folder)
        mode = yaml.safe_load(job.read_text())["mode"]["name"]
        seen[mode] = records["run"]["run_id"]
        assert records["run"]["config"]["update"]["mode"]["name"] == mode
        assert records["run"]["run_group"] == "smoke"
        tags = set(records["run"].get("tags", []))
        assert {"musegan", mode, "smoke"} <= tags
        history = records["history"]
        assert any("critic_loss" in row and "steps_per_second" in row for row in history)
        assert any("eval/frechet_distance" in row for row in history)
        assert any(path.startswith("media/images/samples") for path in records["files"])
        assert any(path.startswith("media/table/eval") for path in records["files"])
        assert records["summary"]["eval/in_scale_rate"] is not None
    assert sorted(seen) == ["composer", "hybrid", "jamming"]
    assert len(set(seen.values())) == 3  # three runs, never merged


def test_the_slurm_launcher_config_composes():
    result = subprocess.run(
        [
            sys.executable, "-m", "musegan.train", "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu", "+mode=hybrid", "--cfg", "hydra",
        ],
        env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    launcher = yaml.safe_load(result.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["partition"] == "gpu" and launcher["gpus_per_node"] == 1
