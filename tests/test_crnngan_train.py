"""C-RNN-GAN through the shared training loop on the smoke preset: both presets leave their
artifacts, a resumed run (pretraining, freezing and feature matching on) equals an
uninterrupted one, and the command line trains, stops on SIGTERM and resumes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import checkpoint_values, read_jsonl, sigterm_after_step
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.builder import _check_decay
from gan.loop import train
from gan.options import TrainOptions
from pianoroll.errors import UserError

SHAPE = (4, 16, 84, 4)  # the chorales' phrase: 64 steps of 336 features
#: The paper's preset with its training tricks, at smoke size: 2 pretraining steps, then
#: adversarial steps with two discriminator updates each; a freeze ratio near 1 makes sure
#: that these few steps freeze something.
PAPER = [
    "model=recurrent",
    "train=crnngan",
    "train.pretrain_steps=2",
    "train.critic_steps=2",
    "train.freeze_ratio=0.99",
    "train.critic_lr=0.01",  # a critic that wins within the 3 adversarial steps: freezing happens
]


def compose_smoke(data_dir: Path, *overrides: str):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(
            "crnngan",
            overrides=[
                "+experiment=crnngan_smoke",
                f"paths.data_dir={data_dir}",
                "wandb.mode=disabled",
                *overrides,
            ],
        )


def assert_run_artifacts(run_dir: Path, step: int, generator: str) -> None:
    """What a finished run of ``step`` steps leaves in its folder."""
    checkpoints = run_dir / "checkpoints"
    assert Path(tf.train.latest_checkpoint(str(checkpoints))).name == f"ckpt-{step}"
    assert json.loads((checkpoints / "model.json").read_text())["generator"]["type"] == generator
    for method in ("threshold", "bernoulli"):
        for suffix in ("png", "mid", "npz"):
            path = run_dir / "samples" / f"step-{step:06d}-{method}.{suffix}"
            assert path.stat().st_size > 0, path
        with np.load(run_dir / "samples" / f"step-{step:06d}-{method}.npz") as f:
            assert f["phrases"].shape == (4, *SHAPE) and f["phrases"].dtype == bool
    assert (run_dir / "samples" / f"step-{step:06d}-threshold.mid").read_bytes()[:4] == b"MThd"
    lines = read_jsonl(run_dir / "metrics.jsonl")
    logged = [line["step"] for line in lines if "critic_loss" in line or "pretrain_loss" in line]
    assert logged == list(range(1, step + 1))  # log_every=1
    assert any("eval/in_scale_rate" in line for line in lines)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["step"] == step and summary["generated"] and summary["data"]
    assert "${" not in (run_dir / "config.yaml").read_text()


@pytest.mark.parametrize("hold", [False, True])
def test_the_dense_preset_trains_with_the_standard_loss(smoke_data_dir, tmp_path, hold):
    summary = train(compose_smoke(smoke_data_dir, f"model.hold={hold}"), tmp_path, progress=False)
    assert summary["step"] == 2 and summary["trace_count"] == 1
    assert set(summary["losses"]) == {"critic_loss", "generator_loss"}
    assert all(np.isfinite(v) for v in summary["losses"].values())
    assert_run_artifacts(tmp_path, 2, "DenseGenerator")
    model = json.loads((tmp_path / "checkpoints" / "model.json").read_text())
    assert model.get("hold", False) is hold


def test_the_recurrent_preset_trains_with_wgan_gp(smoke_data_dir, tmp_path):
    cfg = compose_smoke(
        smoke_data_dir,
        "model=recurrent",
        "train=wgan_gp",
        "train.critic_steps=1",
        "model.discriminator.time_pooling=mean",
    )
    summary = train(cfg, tmp_path, progress=False)
    losses = summary["losses"]
    assert set(losses) == {"critic_loss", "wasserstein", "gradient_penalty", "generator_loss"}
    assert all(np.isfinite(v) for v in losses.values())
    assert_run_artifacts(tmp_path, 2, "RecurrentGenerator")


@pytest.fixture(scope="module")
def paper_runs(smoke_data_dir, tmp_path_factory):
    """The paper's preset: ``a`` 5 steps straight (2 pretraining, 3 adversarial); ``b`` 3 steps,
    then resumed to 5; ``b3`` a copy of ``b`` at step 3. Samples only at the end of each call
    (no test reads earlier ones; writing an untrained model's MIDI is slow)."""
    root = tmp_path_factory.mktemp("paper")
    runs = {name: root / name for name in ("a", "b", "b3")}

    def config(steps: int):
        return compose_smoke(smoke_data_dir, *PAPER, "train.sample_every=0", f"train.steps={steps}")

    summaries = {
        "a": train(config(5), runs["a"], False),
        "b3": train(config(3), runs["b"], False),
    }
    shutil.copytree(runs["b"], runs["b3"])
    summaries["b"] = train(config(5), runs["b"], False)
    return runs, summaries


def test_the_paper_preset_pretrains_then_trains_adversarially(paper_runs):
    runs, summaries = paper_runs
    assert_run_artifacts(runs["a"], 5, "RecurrentGenerator")
    lines = read_jsonl(runs["a"] / "metrics.jsonl")
    pretrain = [line for line in lines if "pretrain_loss" in line]
    adversarial = [line for line in lines if "critic_loss" in line]
    assert [line["step"] for line in pretrain] == [1, 2]
    assert [line["step"] for line in adversarial] == [3, 4, 5]
    for line in adversarial:  # feature matching, with the adversarial loss beside it
        assert {
            "generator_loss",
            "generator_adversarial",
            "frozen_critic",
            "frozen_generator",
        } <= set(line)
    assert set(summaries["a"]["losses"]) >= {"critic_loss", "generator_adversarial"}
    # The optimizers counted their own updates: 2 pretraining, 3 x 2 discriminator updates
    # (a frozen network's updates are skipped), at most 3 generator updates.
    values = checkpoint_values(runs["a"] / "checkpoints" / "ckpt-5")
    iterations = {
        name.split("/")[0]: int(v)
        for name, v in values.items()
        if name.endswith("_iterations/.ATTRIBUTES/VARIABLE_VALUE")
    }
    frozen = summaries["a"]["frozen_steps"]
    assert iterations["pretrain_optimizer"] == 2
    assert iterations["critic_optimizer"] == 2 * (3 - frozen["critic"])
    assert iterations["generator_optimizer"] == 3 - frozen["generator"]
    assert frozen["critic"] + frozen["generator"] > 0  # freezing did happen in this run


def test_each_freeze_is_logged_and_leaves_the_frozen_network_unchanged(paper_runs):
    runs, _ = paper_runs
    lines = read_jsonl(runs["a"] / "metrics.jsonl")
    changes = [line for line in lines if "freeze/critic" in line]
    steps = {line["step"]: line for line in lines if "critic_loss" in line}
    assert changes, "no freeze was logged"
    state = (0.0, 0.0)
    for step in (3, 4, 5):
        now = (steps[step]["frozen_critic"], steps[step]["frozen_generator"])
        logged = [line for line in changes if line["step"] == step]
        # A change of what is frozen gets its own log line at the step it applies to.
        assert bool(logged) == (now != state), step
        if logged:
            assert (logged[0]["freeze/critic"], logged[0]["freeze/generator"]) == now
        state = now
    checked = 0
    for step in (4, 5):  # checkpoints 3, 4 and 5 are kept
        before = checkpoint_values(runs["a"] / "checkpoints" / f"ckpt-{step - 1}")
        after = checkpoint_values(runs["a"] / "checkpoints" / f"ckpt-{step}")
        for network in ("generator", "critic"):
            weights = [
                n for n in after if n.startswith(f"{network}_optimizer/_trainable_variables/")
            ]
            assert weights, network
            same = all(np.array_equal(before[n], after[n]) for n in weights)
            assert same == bool(steps[step][f"frozen_{network}"]), (step, network)
            checked += same
    assert checked > 0  # some step did freeze a network


def test_a_resumed_paper_run_ends_exactly_where_an_uninterrupted_one_does(paper_runs):
    runs, summaries = paper_runs
    a = checkpoint_values(runs["a"] / "checkpoints" / "ckpt-5")
    b = checkpoint_values(runs["b"] / "checkpoints" / "ckpt-5")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert "balance_losses/.ATTRIBUTES/VARIABLE_VALUE" in a  # the freezing state
    b3 = checkpoint_values(runs["b3"] / "checkpoints" / "ckpt-3")
    # Steps 4 and 5 changed the weights (of whichever network was not frozen).
    moved = [
        n
        for n in a
        if n.startswith(("critic_optimizer/_trainable", "generator_optimizer/_trainable"))
    ]
    assert any(not np.array_equal(a[n], b3[n]) for n in moved)
    assert summaries["a"]["losses"] == summaries["b"]["losses"]

    # The resumed half logged the same values (freezing included) as the straight run.
    def logged(run):
        return [
            {k: v for k, v in line.items() if k not in ("time", "steps_per_second")}
            for line in read_jsonl(run / "metrics.jsonl")
            if line["step"] > 3 and not any(k.startswith("eval/") for k in line)
        ]

    assert logged(runs["a"]) == logged(runs["b"])


def refused_resume(smoke_data_dir: Path, paper_runs, run_dir: Path, *overrides: str) -> str:
    """Resume a copy of the step-3 run (pretrained for 2 steps) towards step 5 with
    ``overrides``; the refusal's message, after checking that no step was trained."""
    runs, _ = paper_runs
    shutil.copytree(runs["b3"], run_dir)
    cfg = compose_smoke(smoke_data_dir, *PAPER, "train.steps=5", *overrides)
    with pytest.raises(UserError) as error:
        train(cfg, run_dir, progress=False)
    assert not (run_dir / "checkpoints" / "ckpt-4.index").exists()
    return str(error.value)


def test_resuming_with_another_pretraining_length_is_refused(smoke_data_dir, paper_runs, tmp_path):
    message = refused_resume(smoke_data_dir, paper_runs, tmp_path / "run", "train.pretrain_steps=4")
    assert message == (
        "train.pretrain_steps: this run at step 3 was set to pretrain for 2 steps; 4 would redo"
        " or skip pretraining (resume with train.pretrain_steps=2)"
    )


def test_resuming_with_another_learning_rate_is_refused(smoke_data_dir, paper_runs, tmp_path):
    """Adam restores its learning rate from the checkpoint: a new one would be ignored."""
    run_dir = tmp_path / "run"
    message = refused_resume(smoke_data_dir, paper_runs, run_dir, "train.generator_lr=0.5")
    rate = OmegaConf.load(run_dir / "config.yaml").train.generator_lr
    assert message == (
        f"train.generator_lr: this run was trained with {rate}; its checkpoint restores that"
        f" learning rate, so 0.5 would be ignored (resume with train.generator_lr={rate})"
    )
    # Pretraining is over at step 3: its rate no longer matters, and the run resumes.
    cfg = compose_smoke(smoke_data_dir, *PAPER, "train.steps=4", "train.pretrain_lr=0.5")
    train(cfg, run_dir, progress=False)
    assert (run_dir / "checkpoints" / "ckpt-4.index").exists()


def test_switching_the_learning_rate_decay_at_a_resume_is_refused(
    smoke_data_dir, paper_runs, tmp_path
):
    """A constant rate is an Adam variable in the checkpoint, a decay is not: one line, not a
    checkpoint-mismatch traceback."""
    message = refused_resume(smoke_data_dir, paper_runs, tmp_path / "run", "train.lr_decay=true")
    assert message == (
        "train.lr_decay: this run was trained with train.lr_decay=false; a constant learning"
        " rate is saved with Adam's state in the checkpoint and a decay is not, so a run cannot"
        " switch between them (resume with train.lr_decay=false)"
    )


@pytest.mark.parametrize(("saved", "now"), [(False, True), (True, False), (None, True)])
def test_the_decay_check_refuses_either_switch(saved, now):
    options = TrainOptions(0, 4, 1, 2, 1e-3, 1e-3, 0.5, 0.9, lr_decay=now)
    train_cfg = OmegaConf.create({} if saved is None else {"lr_decay": saved})
    before = str(bool(saved)).lower()  # a config from before the option: no decay
    with pytest.raises(UserError, match=rf"^train.lr_decay: .*train.lr_decay={before}\)$"):
        _check_decay(train_cfg, options)
    _check_decay(OmegaConf.create({"lr_decay": now}), options)  # no switch: accepted


# The command line ---------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crnngan.train", *args],
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "WANDB_MODE": "disabled"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_command_line_trains_the_dense_preset_by_default(smoke_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli(
        "+experiment=crnngan_smoke",
        f"paths.data_dir={smoke_data_dir}",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"run folder: {run_dir}" in done.stdout
    assert "in_scale_rate" in done.stdout
    assert_run_artifacts(run_dir, 2, "DenseGenerator")


def test_a_seq_len_that_fills_no_whole_bars_is_one_error_line(tmp_path):
    done = run_cli("model.seq_len=100", f"paths.data_dir={tmp_path}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: model.seq_len: 100 steps is not a positive whole number of 16-step bars"
    )
    assert "Traceback" not in done.stderr


def test_the_paper_preset_stops_on_sigterm_and_resumes_from_the_command_line(
    smoke_data_dir, tmp_path
):
    run_dir = tmp_path / "run"
    args = [
        "+experiment=crnngan_smoke",
        *PAPER,
        "train.critic_steps=1",  # pretraining, then adversarial steps: the two to stop and resume
        "train.steps=60",
        "train.checkpoint_every=1000",
        "train.sample_every=1000",
        "train.eval_every=1000",
        f"paths.data_dir={smoke_data_dir}",
        f"hydra.run.dir={run_dir}",
    ]
    returncode, err = sigterm_after_step(
        [sys.executable, "-m", "crnngan.train", *args], tmp_path, run_dir / "metrics.jsonl", 3
    )
    assert returncode == 143, err
    found = re.findall(
        r"interrupted at step (\d+); checkpoint (\S+); resume with resume=(\S+)", err
    )
    assert len(found) == 1, err
    step = int(found[0][0])
    assert step >= 3 and Path(found[0][1]) == run_dir / "checkpoints" / f"ckpt-{step}"
    done = run_cli(f"resume={run_dir}", f"train.steps={step + 1}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resumed {run_dir} at step {step}" in done.stderr
    lines = read_jsonl(run_dir / "metrics.jsonl")
    assert [line["step"] for line in lines if "pretrain_loss" in line] == [1, 2]
    assert [line["step"] for line in lines if "critic_loss" in line] == list(range(3, step + 2))
    assert_run_artifacts(run_dir, step + 1, "RecurrentGenerator")
