"""The shared training loop on the smoke preset: every mode, resuming, interrupts, NaN stops and
the command line. Real TensorFlow on a dozen chorales; a few seconds of tracing per run."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import checkpoint_values, read_jsonl, sigterm_after_step
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gan.averaging import CHECKPOINT_NAME as AVERAGE
from gan.builder import build_model, build_objective
from gan.checkpoint import Checkpointer
from gan.loop import train
from gan.options import Intervals, TrainOptions, intervals
from gan.run import Weights, load_run
from gan.tracking import RunTracker, run_labels
from gan.trainer import Trainer, TrainingDiverged
from musegan.model import MuseGAN
from pianoroll.dataset import Dataset
from pianoroll.errors import UserError
from pianoroll.prepare import load_or_prepare, make_spec

LOSSES = ("critic_loss", "wasserstein", "gradient_penalty", "generator_loss")


def compose_train(data_dir: Path, *overrides: str):
    """The training config of the smoke preset, composed with Hydra's API."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(
            "musegan",
            overrides=[
                "+experiment=smoke",
                f"paths.data_dir={data_dir}",
                "wandb.mode=disabled",
                *overrides,
            ],
        )


def assert_run_artifacts(run_dir: Path, step: int, mode: str, spec_shape: tuple) -> None:
    """What a finished run of ``step`` steps leaves in its folder."""
    checkpoints = run_dir / "checkpoints"
    assert Path(tf.train.latest_checkpoint(str(checkpoints))).name == f"ckpt-{step}"
    assert json.loads((checkpoints / "model.json").read_text())["mode"] == mode
    for method in ("threshold", "bernoulli"):
        for suffix in ("png", "mid", "npz"):
            path = run_dir / "samples" / f"step-{step:06d}-{method}.{suffix}"
            assert path.stat().st_size > 0, path
        with np.load(run_dir / "samples" / f"step-{step:06d}-{method}.npz") as f:
            assert f["phrases"].shape == (4, *spec_shape)  # n_samples phrases
            assert f["phrases"].dtype == bool
    assert (run_dir / "samples" / f"step-{step:06d}-threshold.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "samples" / f"step-{step:06d}-threshold.mid").read_bytes()[:4] == b"MThd"
    lines = read_jsonl(run_dir / "metrics.jsonl")
    loss_lines = [line for line in lines if "critic_loss" in line]
    assert [line["step"] for line in loss_lines] == list(range(1, step + 1))  # log_every=1
    for line in loss_lines:
        for key in LOSSES:
            assert np.isfinite(line[key]), (key, line)
    assert any("eval/polyphony_rate" in line for line in lines)
    assert any("eval/frechet_distance" in line for line in lines)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["step"] == step
    assert set(LOSSES) <= set(summary["losses"])
    assert summary["generated"] and summary["data"]
    text = (run_dir / "config.yaml").read_text()
    assert "${" not in text
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.mode.name == mode
    assert saved.model.mode.name == mode
    # wandb groups runs by experiment preset and tags them with package, mode and preset.
    assert run_labels(saved) == ("smoke", ("musegan", mode, "smoke"))


@pytest.fixture(scope="module")
def dataset(smoke_data_dir) -> Dataset:
    cfg = compose_train(smoke_data_dir, "+mode=hybrid")
    return load_or_prepare(cfg.data, smoke_data_dir, progress=False)[0]


@pytest.fixture(scope="module")
def hybrid_runs(smoke_data_dir, tmp_path_factory):
    """Hybrid runs: ``a`` 4 steps straight; ``b`` 2 steps, then resumed to 4; ``b2`` a copy of
    ``b`` at step 2."""
    root = tmp_path_factory.mktemp("hybrid")
    runs = {"a": root / "a", "b": root / "b", "b2": root / "b2"}
    summaries = {
        "a": train(
            compose_train(smoke_data_dir, "+mode=hybrid", "train.steps=4"),
            runs["a"],
            progress=False,
        ),
        "b2": train(
            compose_train(smoke_data_dir, "+mode=hybrid", "train.steps=2"),
            runs["b"],
            progress=False,
        ),
    }
    shutil.copytree(runs["b"], runs["b2"])
    summaries["b"] = train(
        compose_train(smoke_data_dir, "+mode=hybrid", "train.steps=4"), runs["b"], progress=False
    )
    return runs, summaries


@pytest.mark.parametrize(
    ("mode", "overrides"),
    [
        ("jamming", ["+mode=jamming"]),
        ("composer", ["+mode=composer"]),
        ("hybrid", ["+mode=hybrid", "mode.temporal=false"]),
        ("hybrid", ["+mode=hybrid", "model.condition_track=Bass"]),
    ],
    ids=["jamming", "composer", "hybrid-per_bar", "hybrid-conditional"],
)
def test_every_mode_trains_and_leaves_its_artifacts(
    smoke_data_dir, dataset, tmp_path, mode, overrides
):
    # One critic step per generator step and samples only at the end: half the tracing.
    cfg = compose_train(
        smoke_data_dir, *overrides, "train.critic_steps=1", "train.sample_every=100"
    )
    summary = train(cfg, tmp_path, progress=False)
    assert summary["step"] == 2
    assert summary["trace_count"] == 1
    assert_run_artifacts(tmp_path, 2, mode, dataset.spec.shape)
    saved = OmegaConf.load(tmp_path / "config.yaml")
    if "mode.temporal=false" in overrides:
        assert saved.model.mode.temporal is False
    if "model.condition_track=Bass" in overrides:
        # The samples carry the validation phrases' bass line unchanged.
        train_set, val_set = dataset.split(
            float(saved.data.val_fraction), int(saved.data.split_seed)
        )
        source = val_set if len(val_set) else train_set
        with np.load(tmp_path / "samples" / "step-000002-threshold.npz") as f:
            phrases = f["phrases"]
        bass = dataset.spec.track_index("Bass")
        index = np.arange(len(phrases)) % len(source)
        np.testing.assert_array_equal(phrases[..., bass], source.phrases_at(index)[..., bass])
        assert (
            json.loads((tmp_path / "checkpoints" / "model.json").read_text())["condition_track"]
            == "Bass"
        )


def test_hybrid_run_and_its_resumed_twin_leave_the_same_artifacts(hybrid_runs, dataset):
    runs, _ = hybrid_runs
    assert_run_artifacts(runs["b2"], 2, "hybrid", dataset.spec.shape)
    assert_run_artifacts(runs["a"], 4, "hybrid", dataset.spec.shape)
    assert_run_artifacts(runs["b"], 4, "hybrid", dataset.spec.shape)  # one log line per step
    for step in (1, 2, 3):  # sample_every=1
        assert (runs["a"] / "samples" / f"step-{step:06d}-bernoulli.npz").exists()
    assert (runs["a"] / "samples" / "step-000004-bernoulli.npz").exists()
    # keep_checkpoints=3 of ckpt-1..4.
    assert sorted(p.name for p in (runs["a"] / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-2.index",
        "ckpt-3.index",
        "ckpt-4.index",
    ]


def test_no_retracing_over_the_steps_of_a_run(hybrid_runs):
    _, summaries = hybrid_runs
    assert summaries["a"]["trace_count"] == 1  # 4 steps
    assert summaries["b"]["trace_count"] == 1  # resumed for steps 3 and 4


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(hybrid_runs):
    runs, summaries = hybrid_runs
    a = checkpoint_values(str(runs["a"] / "checkpoints" / "ckpt-4"))
    b = checkpoint_values(str(runs["b"] / "checkpoints" / "ckpt-4"))
    assert a.keys() == b.keys()
    # The weights are saved under the optimizers that train them (the shortest path to them in
    # the checkpoint's object graph), batch-norm statistics under the generator.
    for part in (
        "generator_optimizer/_trainable_variables/",  # generator weights
        "critic_optimizer/_trainable_variables/",  # critic weights
        "generator_optimizer/_variables/",  # Adam slots
        "critic_optimizer/_variables/",
        "generator_optimizer/_iterations",
        "generator/",  # moving means and variances
        "step/",
    ):
        assert any(name.startswith(part) for name in a), part
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert int(a["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 4
    assert int(a["critic_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == 8
    # And every kind of value moved between step 2 and step 4: the comparison is not vacuous.
    b2 = checkpoint_values(str(runs["b2"] / "checkpoints" / "ckpt-2"))
    for part in (
        "generator_optimizer/_trainable_variables/",
        "critic_optimizer/_trainable_variables/",
        "critic_optimizer/_variables/",
        "generator/",
    ):
        assert any(not np.array_equal(a[n], b2[n]) for n in a if n.startswith(part)), part
    assert summaries["a"]["losses"] == summaries["b"]["losses"]


#: A short hybrid run whose periodic work is the checkpoint alone.
QUIET = ("+mode=hybrid", "train.critic_steps=1", "train.sample_every=0", "train.eval_every=0")


def rewind(run: Path, step: int) -> None:
    """Make checkpoint ``step`` a run's newest, as if it had been killed right after it."""
    for path in (run / "checkpoints").glob("ckpt-*.*"):
        if int(path.name.split(".")[0].split("-")[1]) > step:
            path.unlink()
    (run / "checkpoints" / "checkpoint").write_text(
        f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n'
    )


def averages(values: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The weight average of a checkpoint's values, in the generator's weight order."""
    names = [n for n in values if n.startswith(f"{AVERAGE}/averages/")]
    return [values[n] for n in sorted(names, key=lambda n: int(n.split("/")[2]))]


def raw_generator(run: Path, cfg) -> list[np.ndarray]:
    """The generator's own weights in a run's newest checkpoint (not the average)."""
    model = build_model(cfg, make_spec(cfg.data))
    counters = [tf.Variable(0, dtype=tf.int64) for _ in range(2)]
    Checkpointer(run / "checkpoints", model, None, *counters).restore(require=True)
    return [np.asarray(tf.convert_to_tensor(w)) for w in model.generator.weights]


def resumed_twin(data_dir: Path, root: Path, overrides: tuple, killed_at: int, steps: int):
    """Train run ``a`` for ``steps`` steps, and its twin ``b``: a copy of ``a`` rewound to its
    checkpoint at ``killed_at`` (as if killed there) and resumed. Asserts that both end with
    the same checkpoint values; returns ``a``'s folder and those values."""
    a, b = root / "a", root / "b"
    train(compose_train(data_dir, *overrides), a, progress=False)
    shutil.copytree(a, b)
    rewind(b, killed_at)
    train(compose_train(data_dir, *overrides), b, progress=False)
    first = checkpoint_values(str(a / "checkpoints" / f"ckpt-{steps}"))
    second = checkpoint_values(str(b / "checkpoints" / f"ckpt-{steps}"))
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    return a, first


def test_a_run_resumed_while_its_learning_rates_decay_ends_where_an_uninterrupted_one_does(
    smoke_data_dir, tmp_path
):
    """The decay is a function of the total steps, so the twin is the same 4-step run, rewound
    to its checkpoint at step 3 (as if killed there, after the first decayed update: update 2,
    counted from 0, with the rate held through update 1) and resumed."""
    overrides = (
        "+mode=hybrid",
        "train.steps=4",
        "train.critic_steps=1",
        "train.lr_decay=true",
        "train.lr_decay_start=0.25",
        "train.checkpoint_every=3",
        "train.sample_every=0",
        "train.eval_every=0",
    )
    a, first = resumed_twin(smoke_data_dir, tmp_path, overrides, killed_at=3, steps=4)
    three = checkpoint_values(str(a / "checkpoints" / "ckpt-3"))
    weights = [n for n in first if n.startswith("generator_optimizer/_trainable_variables/")]
    assert any(not np.array_equal(first[n], three[n]) for n in weights)  # step 4 trained


def test_a_run_averaging_its_generator_resumes_exactly_and_samples_from_the_average(
    smoke_data_dir, tmp_path
):
    """The average is training state: killed at step 3 and resumed, the run ends where an
    uninterrupted one does. At step 4 it is half the step-3 average plus half the step-4
    weights (decay 0.5), and a loaded run's generator holds it, not the raw weights."""
    overrides = (
        *QUIET,
        "train.steps=4",
        "train.ema_decay=0.5",
        "train.ema_start=1",
        "train.checkpoint_every=1",
    )
    a, first = resumed_twin(smoke_data_dir, tmp_path, overrides, killed_at=3, steps=4)
    cfg = compose_train(smoke_data_dir, *overrides)
    now, before = averages(first), averages(checkpoint_values(str(a / "checkpoints" / "ckpt-3")))
    weights = raw_generator(a, cfg)
    assert len(now) == len(weights) > 20
    for mean, previous, weight in zip(now, before, weights, strict=True):
        np.testing.assert_allclose(mean, 0.5 * previous + 0.5 * weight, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(m, w) for m, w in zip(now, weights, strict=True))
    loaded = load_run(a, package="musegan")
    assert loaded.averaged and loaded.weights_label == "weight average"
    for weight, mean in zip(loaded.model.generator.weights, now, strict=True):
        np.testing.assert_array_equal(np.asarray(tf.convert_to_tensor(weight)), mean)
    # Asked for, the trained weights instead (what the tools' weights=trained reads).
    trained = load_run(a, package="musegan", weights=Weights.TRAINED)
    assert not trained.averaged and trained.weights_label == "trained weights"
    for weight, own in zip(trained.model.generator.weights, weights, strict=True):
        np.testing.assert_array_equal(np.asarray(tf.convert_to_tensor(weight)), own)


def test_averaging_switched_on_at_a_resume_starts_from_the_weights_never_after_its_start(
    smoke_data_dir, tmp_path
):
    run = tmp_path / "run"
    train(compose_train(smoke_data_dir, *QUIET, "train.steps=2"), run, progress=False)
    averaged = ("train.steps=3", "train.ema_decay=0.5")
    with pytest.raises(UserError) as error:  # the average should have started at step 0
        train(compose_train(smoke_data_dir, *QUIET, *averaged), run, progress=False)
    assert str(error.value) == (
        f"{run / 'checkpoints' / 'ckpt-2'}: saved without a weight average at step 2;"
        " averaging can start at that step or later (train.ema_start=2)"
    )
    assert not (run / "checkpoints" / "ckpt-3.index").exists()
    assert OmegaConf.load(run / "config.yaml").train.ema_decay == 0.0  # a refusal writes nothing
    cfg = compose_train(smoke_data_dir, *QUIET, *averaged, "train.ema_start=2")
    train(cfg, run, progress=False)
    values = checkpoint_values(str(run / "checkpoints" / "ckpt-3"))
    # The run's config now records the averaging, and a resume must keep it.
    assert OmegaConf.load(run / "config.yaml").train.ema_decay == 0.5
    assert OmegaConf.load(run / "config.yaml").train.ema_start == 2
    for changed in (["train.ema_decay=0"], ["train.ema_decay=0.5", "train.ema_start=3"]):
        other = compose_train(smoke_data_dir, *QUIET, "train.steps=4", *changed)
        with pytest.raises(UserError) as error:
            train(other, run, progress=False)
        assert str(error.value) == (
            "train.ema_decay, train.ema_start: this run averages its generator with 0.5, 2;"
            " resume with train.ema_decay=0.5 train.ema_start=2"
        )
    # At step 2 the average was the weights; step 3 moved it half way to the new ones.
    weights = raw_generator(run, cfg)
    rewind(run, 2)
    two = raw_generator(run, cfg)
    for mean, start, weight in zip(averages(values), two, weights, strict=True):
        np.testing.assert_allclose(mean, 0.5 * start + 0.5 * weight, rtol=1e-6, atol=1e-7)
    # A checkpoint saved without an average samples from its own weights.
    loaded = load_run(run, 2, package="musegan")
    assert not loaded.averaged
    for weight, own in zip(loaded.model.generator.weights, two, strict=True):
        np.testing.assert_array_equal(np.asarray(tf.convert_to_tensor(weight)), own)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    smoke_data_dir, hybrid_runs, tmp_path
):
    runs, _ = hybrid_runs
    run_dir = tmp_path / "run"
    shutil.copytree(runs["b2"], run_dir)  # a run with ckpt-2
    good = checkpoint_values(str(run_dir / "checkpoints" / "ckpt-2"))
    cfg = compose_train(
        smoke_data_dir,
        "+mode=hybrid",
        "train.steps=4",
        "train.critic_steps=1",
        "train.objective.penalty_weight=nan",
    )
    with pytest.raises(TrainingDiverged) as info:
        train(cfg, run_dir, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("training stopped at step 3: ")
    assert "critic_loss=nan" in message
    assert message.endswith(f"the last good checkpoint is {run_dir / 'checkpoints' / 'ckpt-2'}")
    assert isinstance(info.value, UserError)  # the command line prints it as one error line
    assert Path(tf.train.latest_checkpoint(str(run_dir / "checkpoints"))).name == "ckpt-2"
    assert not list((run_dir / "checkpoints").glob("ckpt-3*"))
    assert not (run_dir / "samples" / "step-000003-threshold.png").exists()
    after = checkpoint_values(str(run_dir / "checkpoints" / "ckpt-2"))
    for name in good:
        np.testing.assert_array_equal(after[name], good[name], err_msg=name)
    # It loads into a fresh model, with finite weights.
    cfg = compose_train(smoke_data_dir, "+mode=hybrid", "train.steps=4")
    model, trainer = fresh_model(cfg)
    checkpointer = Checkpointer(
        run_dir / "checkpoints", model, trainer.optimizers, trainer.step, trainer.seed
    )
    assert checkpointer.restore(require=True)
    assert int(trainer.step.numpy()) == 2
    for weight in model.generator.weights + model.critic.weights:
        assert np.all(np.isfinite(weight.numpy())), weight.path


def test_an_objective_that_cannot_be_built_is_a_one_line_user_error(smoke_data_dir, tmp_path):
    # YAML's .nan is a string to Hydra's command-line grammar (which spells it nan).
    cfg = compose_train(smoke_data_dir, "+mode=hybrid", "train.objective.penalty_weight=.nan")
    with pytest.raises(UserError) as info:
        train(cfg, tmp_path, progress=False)
    assert str(info.value) == (
        "train.objective: cannot be built (could not convert string to float: '.nan')"
    )
    assert not (tmp_path / "checkpoints").exists()


def fresh_model(cfg, **model_overrides) -> tuple[MuseGAN, Trainer]:
    """A model and trainer as ``train`` builds them (nothing traced)."""
    dataset, _ = load_or_prepare(cfg.data, cfg.paths.data_dir, progress=False)
    for key, value in model_overrides.items():
        OmegaConf.update(cfg, key, value)
    model = build_model(cfg, dataset.spec)
    options = TrainOptions.from_config(cfg.train, cfg.seed)
    trainer = Trainer(model, build_objective(cfg.train), tf.distribute.get_strategy(), options)
    return model, trainer


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"mode": {"name": "jamming", "temporal": True}}, "mode differ: mode='hybrid'"),
        ({"model.z_dim": 4}, "z_dim differ: z_dim=8"),
        ({"model.condition_track": "Bass"}, "condition_track differ: condition_track=None"),
    ],
    ids=["mode", "z_dim", "condition"],
)
def test_a_checkpoint_of_another_model_is_refused_in_one_line(
    smoke_data_dir, hybrid_runs, overrides, expected
):
    runs, _ = hybrid_runs
    cfg = compose_train(smoke_data_dir, "+mode=hybrid")
    model, trainer = fresh_model(cfg, **overrides)
    checkpointer = Checkpointer(
        runs["a"] / "checkpoints", model, trainer.optimizers, trainer.step, trainer.seed
    )
    with pytest.raises(UserError) as info:
        checkpointer.restore()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{runs['a'] / 'checkpoints' / 'ckpt-4'}: checkpoint is of another")
    assert expected in message


def test_a_checkpoint_without_model_json_that_does_not_fit_is_refused_in_one_line(
    smoke_data_dir, hybrid_runs, tmp_path
):
    runs, _ = hybrid_runs
    shutil.copytree(runs["a"] / "checkpoints", tmp_path / "checkpoints")
    (tmp_path / "checkpoints" / "model.json").unlink()
    cfg = compose_train(smoke_data_dir, "+mode=jamming")
    model, trainer = fresh_model(cfg)
    checkpointer = Checkpointer(
        tmp_path / "checkpoints", model, trainer.optimizers, trainer.step, trainer.seed
    )
    with pytest.raises(UserError, match="checkpoint does not fit this model") as info:
        checkpointer.restore()
    assert "\n" not in str(info.value)


# The command line ---------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "musegan.train", *args]


def cli_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "WANDB_MODE": "disabled"}


def run_cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli(*args),
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sigterm_checkpoints_and_exits_143_then_resume_continues(smoke_data_dir, tmp_path):
    """Also: without +mode the command line trains hybrid and says so."""
    run_dir = tmp_path / "run"
    args = [
        "+experiment=smoke",
        "train.steps=50",
        # One critic update, and no samples or evaluations before the end: nothing here reads them.
        "train.critic_steps=1",
        "train.sample_every=1000",
        "train.eval_every=1000",
        "train.checkpoint_every=1000",
        f"paths.data_dir={smoke_data_dir}",
        f"paths.runs_dir={tmp_path / 'runs'}",
        f"hydra.run.dir={run_dir}",
        "wandb.mode=disabled",
    ]
    returncode, err = sigterm_after_step(cli(*args), tmp_path, run_dir / "metrics.jsonl", 2)
    assert returncode == 128 + signal.SIGTERM == 143, err
    assert "no +mode given: training hybrid" in err
    found = re.findall(
        r"interrupted at step (\d+); checkpoint (\S+); resume with resume=(\S+)", err
    )
    assert len(found) == 1, err
    step, prefix, resume = int(found[0][0]), found[0][1], found[0][2]
    assert step >= 2
    assert Path(prefix) == run_dir / "checkpoints" / f"ckpt-{step}"
    assert Path(resume) == run_dir
    assert Path(tf.train.latest_checkpoint(str(run_dir / "checkpoints"))).name == f"ckpt-{step}"
    values = checkpoint_values(prefix)
    assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) == step
    assert json.loads((run_dir / "checkpoints" / "model.json").read_text())["mode"] == "hybrid"
    assert OmegaConf.load(run_dir / "config.yaml").mode.name == "hybrid"
    # Resume for one more step: the saved config, with the new step count on top.
    done = run_cli(f"resume={run_dir}", f"train.steps={step + 1}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resumed {run_dir} at step {step}" in done.stderr
    assert "no +mode given" not in done.stderr
    assert f"run folder: {run_dir}" in done.stdout
    assert (run_dir / "checkpoints" / f"ckpt-{step + 1}.index").exists()
    steps = [
        line["step"] for line in read_jsonl(run_dir / "metrics.jsonl") if "critic_loss" in line
    ]
    assert steps == list(range(1, step + 2))
    assert json.loads((run_dir / "metrics.json").read_text())["step"] == step + 1
    # The run's config records what it last trained with: a later resume continues from it.
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.train.steps == step + 1 and saved.mode.name == "hybrid" and saved.resume is None


def test_an_unknown_config_key_is_one_hydra_error(tmp_path):
    done = run_cli("+experiment=smoke", "train.nope=1", cwd=tmp_path, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Could not override 'train.nope'" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_resuming_a_folder_that_is_no_run_exits_2_with_one_error_line(tmp_path):
    missing = tmp_path / "does" / "not" / "exist"
    done = run_cli(f"resume={missing}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {missing}: not a run folder (no config.yaml)"]
    assert "Traceback" not in done.stderr


def test_resuming_with_another_mode_is_refused(smoke_data_dir, hybrid_runs, tmp_path):
    runs, _ = hybrid_runs
    run_dir = tmp_path / "run"
    shutil.copytree(runs["b2"], run_dir)
    done = run_cli(f"resume={run_dir}", "+mode=jamming", "train.steps=3", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {run_dir / 'checkpoints' / 'ckpt-2'}: checkpoint is of another model"
        " (mode differ: mode='hybrid')"
    ]
    assert not list((run_dir / "checkpoints").glob("ckpt-3*"))


def test_intervals_take_zero_or_null_as_only_at_the_end_and_refuse_the_rest():
    cfg = OmegaConf.create(
        {"log_every": 10, "checkpoint_every": 0, "sample_every": None, "eval_every": 7}
    )
    assert intervals(cfg) == Intervals(
        log_every=10, checkpoint_every=0, sample_every=0, eval_every=7
    )
    for bad, shown in ((-1, "-1"), (2.5, "2.5"), ("often", "'often'"), (True, "True")):
        cfg.eval_every = bad
        with pytest.raises(UserError) as error:
            intervals(cfg)
        message = str(error.value)
        assert message == (
            f"train.eval_every: {shown} is not a whole number of generator steps"
            " (0 or null: only at the end)"
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=abc", "seed=abc: must be a number at least 0"),
        ("train.steps=0", "train.steps=0: must be a number at least 1"),
        ("train.steps=2.5", "train.steps=2.5: must be a number at least 1"),
        ("train.batch_size=0", "train.batch_size=0: must be a number at least 1"),
        ("train.critic_steps=0", "train.critic_steps=0: must be a number at least 1"),
        ("train.generator_lr=-1", "train.generator_lr=-1: must be a number above 0"),
        ("train.critic_lr=0", "train.critic_lr=0: must be a number above 0"),
        ("train.critic_lr=nan", "train.critic_lr=nan: must be a number above 0"),
        ("train.generator_lr=inf", "train.generator_lr=inf: must be a number above 0"),
        ("train.beta_1=true", "train.beta_1=True: must be a number in [0.0, 1.0]"),
        ("train.pretrain_steps=-3", "train.pretrain_steps=-3: must be a number at least 0"),
        ("train.pretrain_lr=0", "train.pretrain_lr=0: must be a number above 0"),
        ("train.ema_decay=-0.5", "train.ema_decay=-0.5: must be a number at least 0.0"),
        ("train.ema_decay=1", "train.ema_decay: 1.0 is not in [0, 1) (0: off)"),
        ("train.ema_start=5", "train.ema_start: 5 does nothing without train.ema_decay > 0"),
        ("data.val_fraction=1.5", "data.val_fraction=1.5: must be a number in [0, 1.0]"),
    ],
)
def test_nonsense_numbers_are_refused_in_one_line_before_the_run_folder_exists(
    smoke_data_dir, tmp_path, override, message
):
    cfg = compose_train(smoke_data_dir, "+mode=hybrid", "train.steps=2", override)
    with pytest.raises(UserError) as error:
        train(cfg, tmp_path / "run", progress=False)
    assert str(error.value) == message
    assert not (tmp_path / "run").exists()


def test_a_resumed_log_drops_what_the_killed_run_logged_after_its_checkpoint(tmp_path):
    log = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": step, "loss": step / 10}) for step in (10, 20, 30, 40)]
    log.write_text("\n".join(lines) + '\n{"step": 50, "lo')  # killed mid-line
    wandb_cfg = OmegaConf.create({"mode": "disabled"})
    tracker = RunTracker(tmp_path, {}, wandb_cfg, 100, 20, progress=False)
    tracker.log(30, {"loss": 3.5})
    tracker.close()
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [10, 20, 30]
    assert json.loads(log.read_text().splitlines()[-1])["loss"] == 3.5


#: Builds a smoke run with the default ``train.graph_optimizer`` and then with it off, in a fresh
#: process, printing whether Grappler is off before and after each.
GRAPPLER_STATES = """
import json, sys
import tensorflow as tf
from hydra import compose, initialize_config_module
from gan.builder import build_run

def off():
    return tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)

data_dir, root = sys.argv[1:3]
states = [off()]
for extra in ([], ["train.graph_optimizer=false"]):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=[
            "+experiment=smoke", "+mode=hybrid", f"paths.data_dir={data_dir}",
            "wandb.mode=disabled", *extra,
        ])
    build_run(cfg, f"{root}/run{len(states)}", progress=False)
    states.append(off())
print(json.dumps(states))
"""


def grappler_states(script: str, *args: object) -> list[bool]:
    """Run one of the ``GRAPPLER_*`` scripts in a fresh process; the states it printed."""
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_graph_optimizer_false_runs_the_traced_graph_as_traced(smoke_data_dir, tmp_path):
    """Grappler's rewrites differ from trace to trace, so two processes training the same run
    drift apart; ``train.graph_optimizer=false`` switches it off, and only then."""
    assert grappler_states(GRAPPLER_STATES, smoke_data_dir, tmp_path) == [False, False, True]


#: Loads the saved runs named on the command line, one after the other, in a fresh process,
#: printing whether Grappler is off before and after each.
GRAPPLER_AFTER_LOADING = """
import json, sys
import tensorflow as tf
from gan.run import load_run

def off():
    return tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)

states = [off()]
for run in sys.argv[1:]:
    load_run(run)
    states.append(off())
print(json.dumps(states))
"""


def test_a_run_trained_without_grappler_generates_without_it(trained_runs, tmp_path):
    """Generation from a saved run follows the run's own determinism policy: a run trained with
    ``train.graph_optimizer=false`` loads with Grappler off, a default one (loaded first: the
    setting cannot be undone in a process) leaves it on."""
    exact = shutil.copytree(trained_runs["hybrid"], tmp_path / "exact")
    cfg = OmegaConf.load(exact / "config.yaml")
    cfg.train.graph_optimizer = False
    OmegaConf.save(cfg, exact / "config.yaml")
    states = grappler_states(GRAPPLER_AFTER_LOADING, trained_runs["hybrid"], exact)
    assert states == [False, False, True]


#: A training command that kills itself (SIGKILL: no handler, no clean-up) at one point.
KILLED_RUN = """
import os, signal, sys
from gan.checkpoint import Checkpointer
from gan.tracking import RunTracker

def die():
    os.kill(os.getpid(), signal.SIGKILL)

log, save = RunTracker.log, Checkpointer.save

def log_then_die(self, step, metrics):
    log(self, step, metrics)
    if {point!r} == "evaluation" and step == {step} and "eval/frechet_distance" in metrics:
        die()

def save_then_die(self, step):
    path = save(self, step)
    if {point!r} == "checkpoint" and step == {step}:
        die()
    return path

RunTracker.log, Checkpointer.save = log_then_die, save_then_die
sys.argv = ["musegan.train", *{args!r}]
from musegan.train import main
main()
"""


@pytest.mark.parametrize("point", ["evaluation", "checkpoint"])
def test_a_run_killed_after_its_final_evaluation_resumes_without_logging_it_twice(
    smoke_data_dir, hybrid_runs, tmp_path, point
):
    """Killed right after the final evaluation is logged, or after the final checkpoint (the
    evaluation logged before it), a resumed run's log equals the uninterrupted run's."""
    runs, _ = hybrid_runs
    run_dir = tmp_path / "run"
    args = [
        "+experiment=smoke",
        "+mode=hybrid",
        "train.steps=4",
        # Samples at the end only: they are no part of the log and summary compared below.
        "train.sample_every=0",
        f"paths.data_dir={smoke_data_dir}",
        f"hydra.run.dir={run_dir}",
        "wandb.mode=disabled",
    ]
    script = KILLED_RUN.format(point=point, step=4, args=args)
    killed = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=cli_env(), capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run_dir / "metrics.json").exists()
    logged = [
        line["step"]
        for line in read_jsonl(run_dir / "metrics.jsonl")
        if "eval/frechet_distance" in line
    ]
    assert logged == [2, 4]
    done = run_cli(f"resume={run_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    def entries(path: Path) -> list[dict]:
        return [
            {k: v for k, v in line.items() if k not in ("time", "steps_per_second")}
            for line in read_jsonl(path)
        ]

    assert entries(run_dir / "metrics.jsonl") == entries(runs["a"] / "metrics.jsonl")
    finished = json.loads((run_dir / "metrics.json").read_text())
    uninterrupted = json.loads((runs["a"] / "metrics.json").read_text())
    assert finished["generated"] == uninterrupted["generated"]
