"""Distributed training: two replicas make the same update as one device, and two local
workers of a MultiWorkerMirroredStrategy run end with the same weights.

Both run in subprocesses: logical devices and collective ops must be configured before
TensorFlow initializes.
"""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import TWO_TRACKS, checkpoint_values

#: Builds the smoke model under a strategy, runs one training iteration and saves every
#: variable (each replica's copy), for MirroredStrategy over 2 CPU devices and the default.
REPLICA_SCRIPT = textwrap.dedent(
    """
    import json, sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np
    from hydra import compose, initialize_config_module

    from gan.options import TrainOptions
    from gan.builder import build_model, build_objective
    from gan.trainer import Trainer
    from pianoroll.pipeline import batch_stream
    from pianoroll.prepare import load_splits

    data_dir, out, step = sys.argv[1:4]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            "musegan",
            overrides=[
                "+experiment=smoke", "+mode=hybrid", f"paths.data_dir={data_dir}", *sys.argv[4:]
            ],
        )
    tf.config.experimental.enable_op_determinism()
    splits = load_splits(cfg.data, data_dir, progress=False)
    train_set = splits.train


    def one_iteration(strategy):
        keras.utils.set_random_seed(int(cfg.seed))
        with strategy.scope():
            model = build_model(cfg, splits.spec)
            objective = build_objective(cfg.train)
        trainer = Trainer(model, objective, strategy, TrainOptions.from_config(cfg.train, cfg.seed))
        variables = model.generator.weights + model.critic.weights
        variables += [v for opt in trainer.optimizers.values() for v in opt.variables]
        if trainer.average is not None:  # tf.Variables, not Keras ones
            variables += trainer.average.averages
        before = [np.array(v.numpy()) for v in variables]
        stream = batch_stream(
            train_set, trainer.global_batch, int(cfg.seed),
            drum_mask=splits.spec.drum_mask,
        )
        iterator = iter(strategy.experimental_distribute_dataset(stream))
        phase = model.phase_at(int(step)).name
        losses = trainer.iteration(iterator, tf.constant(int(step), tf.int64), phase)
        after = {}
        for i, v in enumerate(variables):
            # A MirroredVariable under MirroredStrategy: a copy per replica.
            tf_variable = v if isinstance(v, tf.Variable) else v.value
            copies = tf_variable.values if hasattr(tf_variable, "values") else [tf_variable]
            after[f"{i:04d}"] = np.stack([np.asarray(c) for c in copies])
        paths = [getattr(v, "path", v.name) for v in variables]
        return before, after, {k: float(x) for k, x in losses.items()}, trainer.trace_count, paths


    results = {}
    for name, strategy in [
        ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
        ("single", tf.distribute.get_strategy()),
    ]:
        before, after, losses, traces, paths = one_iteration(strategy)
        np.savez(f"{out}/{name}-before.npz", *before)
        np.savez(f"{out}/{name}-after.npz", **after)
        results[name] = {
            "losses": losses,
            "replicas": strategy.num_replicas_in_sync,
            "traces": traces,
            "paths": paths,
        }
    with open(f"{out}/results.json", "w") as f:
        json.dump(results, f)
    """
)


def env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "WANDB_MODE": "disabled"}


# The AAAI networks at the first step, with two critic updates and the generator's weight
# average (updated in the cross-replica context); and the v2 networks with
# stochastic binary neurons and a refiner trained jointly, in the refiner's phase (from step 1),
# with one critic update (the AAAI case checks the critic updates after the first). Both on two
# tracks (TWO_TRACKS: every per-track network, and v2's private critic branches, are still kept
# in step across replicas, in half the layers to trace; the cache is prepared beforehand by
# two_track_data_dir, as the script cannot prepare: a preparation's worker processes would run
# it again). Each: the step, the overrides, a generator weight name that must move, and the
# absolute tolerance. Adam's first update is lr * g / (|g| + eps): a weight whose gradient is
# round-off small moves by a share of lr that round-off decides, and the straight-through
# gradients of binary neurons have more of those.
VARIANTS = {
    "aaai": ("0", [TWO_TRACKS, "train.ema_decay=0.5"], "bar_generator", 5e-5),
    "v2-refiner": (
        "1",
        [
            TWO_TRACKS,
            "train.critic_steps=1",
            "model=musegan_v2",
            "~model.critic",
            "+model.critic={private_filters: [4, 8], merged_filters: 8,"
            " shared_time: [[8, 4], [16, 2]], shared_pitch_filters: 16, merge_filters: 16,"
            " chroma_filters: [4, 8], onset_filters: [4, 4, 8]}",
            "model.generator.dense_units=32",
            "model.generator.shared=[[16,4,7],[8,2,1]]",
            "model.generator.private_filters=[8,4]",
            "model.output=stochastic",
            "+model.refiner={schedule: joint, first_stage_steps: 1, filters: 4}",
        ],
        "refiner_",
        2e-4,
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_two_replicas_make_the_same_update_as_one_device(two_track_data_dir, tmp_path, variant):
    step, overrides, generator_part, atol = VARIANTS[variant]
    script = tmp_path / "replicas.py"
    script.write_text(REPLICA_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(two_track_data_dir), str(tmp_path), step, *overrides],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mirrored"]["replicas"] == 2
    assert results["single"]["replicas"] == 1
    assert results["mirrored"]["traces"] == results["single"]["traces"] == 1
    # The same variables in the same order (optimizers get numbered names: adam, adam_2, ...).
    paths = [re.sub(r"^adam(_\d+)?/", "adam/", p) for p in results["single"]["paths"]]
    assert paths == [re.sub(r"^adam(_\d+)?/", "adam/", p) for p in results["mirrored"]["paths"]]
    # The same initial weights (same seed) ...
    with (
        np.load(tmp_path / "mirrored-before.npz") as m,
        np.load(tmp_path / "single-before.npz") as s,
    ):
        assert len(m.files) == len(s.files) > 200
        for key in m.files:
            np.testing.assert_array_equal(m[key], s[key])
    # ... and after one iteration (critic updates, 1 generator update) the same weights,
    # batch-norm statistics and optimizer slots, to float tolerance. A replica that got the
    # wrong slice of the noise, or batch norm over its own half batch, is off by ~1e-2.
    with (
        np.load(tmp_path / "mirrored-after.npz") as m,
        np.load(tmp_path / "single-after.npz") as s,
        np.load(tmp_path / "single-before.npz") as before,
    ):
        assert m.files == s.files
        for key, path in zip(m.files, paths, strict=True):
            mirrored, single = m[key], s[key]
            key = f"{key} {path}"
            assert mirrored.shape[0] == 2 and single.shape[0] == 1, key
            np.testing.assert_array_equal(mirrored[0], mirrored[1], err_msg=f"replicas: {key}")
            np.testing.assert_allclose(mirrored[0], single[0], rtol=1e-4, atol=atol, err_msg=key)
        moved = [
            path
            for i, (key, path) in enumerate(zip(s.files, paths, strict=True))
            if np.abs(s[key][0] - before[f"arr_{i}"]).max(initial=0) > 5e-4
        ]
        assert any("critic" in key for key in moved)
        assert any(generator_part in key for key in moved)
        if variant == "aaai":  # the average moved too: half way to the updated weights
            assert any("average_" in key for key in moved)
    for name, value in results["single"]["losses"].items():
        assert abs(results["mirrored"]["losses"][name] - value) < 1e-4, name


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_local_workers_train_in_step_and_end_with_the_same_weights(
    two_track_data_dir, tmp_path
):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    run_dirs = [tmp_path / f"worker{i}" for i in range(2)]
    processes = []
    try:
        for index, run_dir in enumerate(run_dirs):
            stderr = (tmp_path / f"stderr{index}.txt").open("w")
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "musegan.train",
                        "+experiment=smoke",
                        "+mode=hybrid",
                        "train.strategy=multi_worker",
                        "train.steps=2",
                        "train.sample_every=2",  # the samples checked below, none before
                        TWO_TRACKS,
                        "wandb.mode=disabled",
                        f"paths.data_dir={two_track_data_dir}",
                        f"paths.runs_dir={tmp_path / 'runs'}",
                        f"hydra.run.dir={run_dir}",
                    ],
                    cwd=tmp_path,
                    env={
                        **env(),
                        "TF_CONFIG": json.dumps(
                            {"cluster": cluster, "task": {"type": "worker", "index": index}}
                        ),
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            )
            stderr.close()
        codes = [process.wait(timeout=240) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    errors = [(tmp_path / f"stderr{i}.txt").read_text()[-3000:] for i in range(2)]
    assert codes == [0, 0], errors
    # The chief (worker 0) writes into its run folder; the other worker into a folder of its
    # own inside its run folder, so that workers sharing a run folder never collide.
    chief = run_dirs[0]
    other = run_dirs[1] / "workers" / "worker-1"
    assert not (run_dirs[1] / "checkpoints").exists()
    for folder in (chief, other):
        assert (folder / "checkpoints" / "ckpt-2.index").exists(), folder
        assert (folder / "samples" / "step-000002-threshold.png").exists(), folder
    a = checkpoint_values(chief / "checkpoints" / "ckpt-2")
    b = checkpoint_values(other / "checkpoints" / "ckpt-2")
    assert a.keys() == b.keys()
    assert any(name.startswith("generator_optimizer/_trainable_variables/") for name in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    def losses(folder: Path) -> list[dict]:
        lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return [
            {k: v for k, v in line.items() if k not in ("time", "steps_per_second")}
            for line in lines
            if "critic_loss" in line
        ]

    assert [line["step"] for line in losses(chief)] == [1, 2]
    assert losses(chief) == losses(other)
