"""The accelerator check: does every device path run here, and how fast?

Run from the repository root, with no dataset (the phrases are synthetic)::

    python -m benchmarks.device                    # writes benchmarks/results/device.{json,md}
    python -m benchmarks.device --out /tmp/check   # elsewhere
    python -m benchmarks.device --smallest         # no GPU: two-track phrases (the tests')

Sections:

- ``training``: the training iteration (``critic_steps`` critic updates with gradient penalty
  and one generator update) in float32, ``mixed_bfloat16`` and ``mixed_float16``, each with and
  without XLA (on a CPU, XLA with float32 only), in iterations per second; the first
  iteration (tracing, compiling) is timed apart.
- ``mirrored``: one iteration under ``MirroredStrategy`` over every visible GPU (two logical CPU
  devices without a GPU) against the same iteration on one device, from the same weights and
  batches: the replicas must make the same update.
- ``recurrent``: C-RNN-GAN's recurrent model (``model=recurrent``; on a GPU its LSTMs run on the
  cuDNN kernel), iterations per second.
- ``sampling``: phrases generated and binarized per second.

With a GPU, the sizes are the paper's: ``model=paper`` on LPD-5 shaped phrases (4 bars x 48 steps
x 84 pitches x 5 tracks) at batch 64, C-RNN-GAN at its preset sizes, 5,000 sampled phrases.
Without one, the same sections run at the test presets' tiny sizes on the CPU (batch 4, one
critic update per iteration) and the report says that no GPU was found: that mode checks the
code paths, not speeds. ``--smallest`` cuts its MuseGAN phrases to two tracks (the smoke preset
has four): the same code paths with about half the layers to trace, as the tests run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import compose
from benchmarks.timing import measure
from gan.precision import PRECISIONS
from pianoroll.io import atomic_path, write_json

__all__ = ["main", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
#: Share of cells sounding in the synthetic phrases (LPD-5's order of magnitude).
DENSITY = 0.02
#: The CPU check's training settings: the smallest batch two replicas split, one critic update.
TINY = ("train.batch_size=4", "train.critic_steps=1")
#: ``--smallest`` without a GPU: two of the chorales' four tracks (the per-track networks are
#: most of the layers that tracing the training iteration goes through).
TWO_TRACKS = (
    "data.spec.tracks=[{name: Soprano, program: 52, is_drum: false},"
    " {name: Bass, program: 52, is_drum: false}]",
)
#: Largest relative difference between the replicas' update and one device's.
REPLICA_TOLERANCE = 1e-4


def _size(gpu: bool, smallest: bool = False) -> dict[str, Any]:
    """The configs and counts of a GPU check (the paper's sizes) or a CPU one (tiny; with
    ``smallest``, two-track MuseGAN phrases)."""
    if gpu:
        return {
            "musegan": ["+experiment=paper_lpd5", "+mode=hybrid", "train.batch_size=64"],
            "crnngan": ["model=recurrent", "train=crnngan", "train.batch_size=64"],
            "samples": 5000,
            "iterations": 5,
            "xla": PRECISIONS,
        }
    return {
        "musegan": ["+experiment=smoke", "+mode=hybrid", *TINY, *(TWO_TRACKS if smallest else ())],
        "crnngan": ["model=recurrent", "+experiment=crnngan_smoke", *TINY],
        "samples": 64,
        "iterations": 2,
        # XLA compiles for most of a minute per precision on a CPU; one checks the path.
        "xla": ("float32",),
    }


def _compose(config: str, overrides: list[str]) -> Any:
    return compose(*overrides, "wandb.mode=disabled", config=config)


def _phrases(spec: Any, count: int, seed: int = 0) -> np.ndarray:
    """``(count, bars, steps, pitches, channels)`` random binary model tensors of
    :data:`DENSITY` (monophonic voices' rolls are not one-hot: the timing is all they are for)."""
    return np.random.default_rng(seed).random((count, *spec.channel_shape)) < DENSITY


def _trainer(cfg: Any, strategy: Any, jit: bool = False) -> Any:
    """A model and its trainer as the run builder makes them, for the config's spec."""
    import keras

    from gan.builder import build_model, build_objective
    from gan.options import TrainOptions
    from gan.trainer import Trainer
    from pianoroll.prepare import make_spec

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(cfg, make_spec(cfg.data))
        objective = build_objective(cfg.train)
    options = TrainOptions.from_config(cfg.train, cfg.seed)
    return Trainer(model, objective, strategy, dataclasses.replace(options, jit_compile=jit))


def _iterations(trainer: Any, phrases: np.ndarray, strategy: Any) -> Any:
    """A function running the next training iteration (waiting for its losses)."""
    import tensorflow as tf

    from pianoroll.pipeline import batch_stream

    stream = batch_stream(phrases, trainer.global_batch, 0)
    batches = iter(strategy.experimental_distribute_dataset(stream))
    step = [0]

    def iteration() -> dict[str, float]:
        out = trainer.iteration(batches, tf.constant(step[0], tf.int64))
        step[0] += 1
        return {k: float(v) for k, v in out.items()}

    return iteration


def _timed(iteration: Any, iterations: int) -> dict[str, Any]:
    started = time.perf_counter()
    first = iteration()
    first_seconds = time.perf_counter() - started
    timing = measure(iteration, iterations, warmup=0)
    finite = all(np.isfinite(v) for v in first.values())
    return {
        "iterations_per_second": 1.0 / timing["seconds"],
        "seconds": timing["seconds"],
        "first_iteration_seconds": first_seconds,
        "finite_losses": bool(finite),
        "others_cores": timing["others_cores"],
    }


def training(gpu: bool, smallest: bool = False) -> dict[str, Any]:
    """The training iteration in every precision, with and without XLA."""
    import tensorflow as tf

    from gan.strategy import precision_policy
    from pianoroll.prepare import make_spec

    size = _size(gpu, smallest)
    cfg = _compose("musegan", size["musegan"])
    strategy = tf.distribute.get_strategy()
    results = {}
    for precision in PRECISIONS:
        for jit in (False, True) if precision in size["xla"] else (False,):
            name = f"{precision}{'_xla' if jit else ''}"
            with precision_policy(precision):
                try:
                    trainer = _trainer(cfg, strategy, jit)
                    phrases = _phrases(trainer.model.spec, 4 * trainer.global_batch)
                    iteration = _iterations(trainer, phrases, strategy)
                    results[name] = _timed(iteration, size["iterations"])
                except Exception as err:  # a path that fails here is the finding
                    results[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
    spec = make_spec(cfg.data)
    return {"batch_size": int(cfg.train.batch_size), "shape": list(spec.shape), "runs": results}


def _weights(trainer: Any) -> list[np.ndarray]:
    variables = trainer.model.generator.weights + trainer.model.critic.weights
    return [np.asarray(v.numpy()) for v in variables]


def mirrored(gpu: bool, smallest: bool = False) -> dict[str, Any]:
    """One iteration on every replica against one device: the same update."""
    import tensorflow as tf

    cfg = _compose("musegan", _size(gpu, smallest)["musegan"])
    devices = [d.name for d in tf.config.list_logical_devices("GPU" if gpu else "CPU")]
    updates = {}
    for name, strategy in (
        ("replicas", tf.distribute.MirroredStrategy(devices)),
        ("one_device", tf.distribute.get_strategy()),
    ):
        trainer = _trainer(cfg, strategy)
        phrases = _phrases(trainer.model.spec, 4 * trainer.global_batch)
        before = _weights(trainer)
        _iterations(trainer, phrases, strategy)()
        updates[name] = [a - b for a, b in zip(_weights(trainer), before, strict=True)]
    scale = max(float(np.max(np.abs(u))) for u in updates["one_device"])
    difference = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(updates["replicas"], updates["one_device"], strict=True)
    )
    relative = difference / max(scale, 1e-30)
    return {
        "devices": devices,
        "replicas": len(devices),
        "largest_update": scale,
        "relative_difference": relative,
        "tolerance": REPLICA_TOLERANCE,
        "same_update": relative <= REPLICA_TOLERANCE,
    }


def recurrent(gpu: bool, smallest: bool = False) -> dict[str, Any]:
    """C-RNN-GAN's recurrent model: one training iteration at a time."""
    import tensorflow as tf

    size = _size(gpu, smallest)
    cfg = _compose("crnngan", size["crnngan"])
    strategy = tf.distribute.get_strategy()
    trainer = _trainer(cfg, strategy)
    phrases = _phrases(trainer.model.spec, 4 * trainer.global_batch)
    result = _timed(_iterations(trainer, phrases, strategy), size["iterations"])
    return {
        **result,
        "kernel": "cuDNN" if gpu else "CPU (no GPU)",
        "batch_size": trainer.global_batch,
    }


def sampling(gpu: bool, smallest: bool = False) -> dict[str, Any]:
    """Phrases generated and binarized per second, as ``musegan.generate`` makes them."""
    import tensorflow as tf

    from gan.noise import draw_noise
    from pianoroll.voices import decode

    size = _size(gpu, smallest)
    trainer = _trainer(_compose("musegan", size["musegan"]), tf.distribute.get_strategy())
    count, seed = size["samples"], [0]

    def sample() -> np.ndarray:
        seed[0] += 1
        outputs = trainer.model.generate_numpy(draw_noise(trainer.model, count, seed[0]))
        return decode(outputs, trainer.model.spec, "threshold", np.random.default_rng(0))[0]

    timing = measure(sample, 2, warmup=1)
    return {"phrases": count, "phrases_per_second": count / timing["seconds"], **timing}


SECTIONS = {
    "training": training,
    "mirrored": mirrored,
    "recurrent": recurrent,
    "sampling": sampling,
}


def run(out: Path, smallest: bool = False) -> dict[str, Any]:
    """Every section on this machine's accelerators (or its CPU); writes ``device.json`` and
    ``device.md`` to ``out``. ``smallest``: without a GPU, two-track MuseGAN phrases."""
    import tensorflow as tf

    from gan.precision import Hardware

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        # Two logical CPU devices stand in for two GPUs (before TensorFlow initializes them).
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    started = time.perf_counter()
    smallest = smallest and not gpus
    mode = "no GPU found: tiny sizes on the CPU" + (", two tracks" if smallest else "")
    report: dict[str, Any] = {
        "host": Hardware.detect(memory=True).report(),
        "gpu_found": bool(gpus),
        "mode": "GPU, the paper's sizes" if gpus else mode,
        "tensorflow": tf.__version__,
    }
    for name, section in SECTIONS.items():
        report[name] = section(bool(gpus), smallest)
    report["seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "device.json", report)
    with atomic_path(out / "device.md") as tmp:
        tmp.write_text(table(report) + "\n")
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    host = report["host"]
    lines = [
        f"Host: {host['kind']} ({host['cpu']}); {report['mode']}; {report['seconds']:.0f} s in all.",
        "",
        "| section | figure |",
        "| --- | --- |",
    ]
    training_ = report["training"]
    for name, result in training_["runs"].items():
        figure = (
            result["error"]
            if "error" in result
            else f"{result['iterations_per_second']:.2f} it/s (first {result['first_iteration_seconds']:.1f} s)"
        )
        lines.append(f"| training, {name}, batch {training_['batch_size']} | {figure} |")
    mirror = report["mirrored"]
    verdict = "same update" if mirror["same_update"] else "DIFFERENT update"
    lines.append(
        f"| mirrored over {mirror['replicas']} devices | {verdict}"
        f" ({mirror['relative_difference']:.1e} of the largest change) |"
    )
    rec = report["recurrent"]
    lines.append(
        f"| C-RNN-GAN recurrent ({rec['kernel']}), batch {rec['batch_size']}"
        f" | {rec['iterations_per_second']:.2f} it/s |"
    )
    sample = report["sampling"]
    lines.append(
        f"| sampling {sample['phrases']} phrases | {sample['phrases_per_second']:.0f} phrases/s |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for device.json/.md")
    parser.add_argument(
        "--smallest",
        action="store_true",
        help="without a GPU: two-track MuseGAN phrases (the same code paths, faster to trace)",
    )
    args = parser.parse_args(argv)
    report = run(args.out, args.smallest)
    print(table(report))
    if not report["gpu_found"]:
        print("no GPU found: the sections ran at tiny sizes on the CPU", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
