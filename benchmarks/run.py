"""Every performance figure of the project in one run: a table on stdout and one JSON file.

Run from the repository root::

    python -m benchmarks.run            # the full run (about 15 minutes on 2 cores)
    python -m benchmarks.run --quick    # a smoke run of tiny sizes, seconds long (the tests')
    python -m benchmarks.run --only peak,training

Sections (``--only`` takes their names):

- ``peak``: float32 and bfloat16 matrix-product throughput (GFLOP/s), the best of a few square
  sizes, each the median of several products after a warm-up.
- ``training``: seconds per iteration (``critic_steps`` critic updates with gradient penalty and
  one generator update, batch 64) of the ``reference`` preset (``+experiment=reference``),
  through :class:`gan.trainer.Trainer` as ``train()`` builds it, in float32 and in
  ``mixed_bfloat16``; and of :mod:`benchmarks.keras_reference`, the straightforward Keras
  implementation trained with ``Model.fit``. FLOPs are counted from each traced graph
  (:mod:`benchmarks.flops`), and the achieved GFLOP/s are given as fractions of both peaks.
- ``variants``: seconds per generator step (the same iteration, float32, batch 64) of the MuseGAN
  variants on the chorales, in one run: on free rolls (the ablation's rows), the AAAI networks
  (``bach_hybrid``), with both critic streams, the v2 networks, v2 with binary neurons, and v2
  with a refiner in its second stage; on monophonic hold voices (the default data), the AAAI
  networks alone and with both streams, then with the voices' dense and time layers shared,
  with the key stream too, with the generator's weight average updated every step, and with
  the key and motion (or rhythm) streams; each also as a ratio to the AAAI networks' on free
  rolls.
- ``sampling``: 5,000 phrases of the default model (``model=musegan``, 4 bars, hybrid)
  generated and binarized as ``musegan.generate`` does it.
- ``data``: preparing the chorales from scratch into a temporary data folder with both cores,
  then loading the cache.
- ``metrics``: :mod:`benchmarks.metrics_speed` (its own JSON and table).

Every figure carries the CPU that other processes used while it was timed (``others_cores``;
the machine is shared): a figure taken while others used half a core or more is marked noisy,
and should be taken again on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import NOISY, Load, load_average, measure
from pianoroll.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUT = RESULTS / "run.json"
SECTIONS = ("peak", "training", "variants", "sampling", "data", "metrics")
#: Both critic streams.
STREAMS = "model.critic.streams=[chroma,onset_offset]"
#: Both critic streams and the key stream.
KEY_STREAMS = "model.critic.streams=[chroma,onset_offset,key]"
#: Those three and the motion stream.
MOTION_STREAMS = "model.critic.streams=[chroma,onset_offset,key,motion]"
#: Those three and the rhythm stream.
RHYTHM_STREAMS = "model.critic.streams=[chroma,onset_offset,key,rhythm]"
#: The voices' generators share their dense and time layers.
SHARED_TIME = "model.bar_generator.shared=time"
#: Every track a free binary roll (the AAAI paper's form; the data's default is voices).
FREE = "data.voices=free"
#: The variants section's presets: name -> overrides of ``+experiment=bach_hybrid +mode=hybrid``
#: (the names of experiments/ablation.py's rows).
VARIANTS = {
    "aaai": [FREE],
    "aaai_streams": [FREE, STREAMS],
    "v2": [FREE, "model=musegan_v2"],
    "v2_dbn": [FREE, "model=musegan_v2", "model.output=deterministic"],
    "v2_refiner": [
        FREE,
        "model=musegan_v2",
        "model.output=deterministic",
        "+model.refiner={schedule: two_stage, first_stage_steps: 1}",
    ],
    "voices_hold": [],
    "voices_hold_streams": [STREAMS],
    "voices_hold_streams_shared_time": [STREAMS, SHARED_TIME],
    "voices_hold_streams_shared_time_key": [KEY_STREAMS, SHARED_TIME],
    "voices_hold_streams_shared_time_ema_key": [KEY_STREAMS, SHARED_TIME, "train.ema_decay=0.99"],
    "voices_hold_streams_shared_time_key_motion": [MOTION_STREAMS, SHARED_TIME],
    "voices_hold_streams_shared_time_key_rhythm": [RHYTHM_STREAMS, SHARED_TIME],
}
#: The v2 networks at tiny sizes for --quick (in place of QUICK_MODEL's AAAI sizes).
QUICK_V2 = [
    "model.critic={private_filters: [4, 8], merged_filters: 8, shared_time: [[8, 4], [16, 2]],"
    " shared_pitch_filters: 16, merge_filters: 16, chroma_filters: [4, 8], onset_filters: [4, 4, 8]}",
    "model.generator.dense_units=32",
    "model.generator.shared=[[16,4,7],[8,2,1]]",
    "model.generator.private_filters=[8,4]",
]

#: Targets of the performance issue (seconds); the table says whether each is met.
TARGETS = {
    "iteration_seconds": 1.5,
    "sampling_seconds": 20.0,
    "prepare_seconds": 60.0,
    "cache_load_seconds": 1.0,
}

# Smaller networks and batches for --quick: the code paths of the full run, in seconds.
QUICK_MODEL = [
    "model.temporal_filters=16",
    "model.bar_generator.dense_units=64",
    "model.bar_generator.time_filters=[32,16]",
    "model.bar_generator.pitch_filters=[16]",
    "model.critic.bar_filters=[16,8]",
    "model.critic.pitch_filters=[8,8]",
    "model.critic.time_layers=[[8,2,2],[8,2,2],[16,4,2],[16,3,2]]",
    "model.critic.dense_units=32",
    "train.batch_size=8",
    "train.critic_steps=2",
]
#: The data of --quick: a dozen chorales cut to two tracks (Soprano and Bass), which halves the
#: per-track networks' layers that every traced function holds.
QUICK_DATA = [
    "data.source.limit=12",
    "data.spec.tracks=[{name: Soprano, program: 52, is_drum: false, monophonic: true},"
    " {name: Bass, program: 52, is_drum: false, monophonic: true}]",
]
#: --quick's variants take one critic update per step (their figures compare no critic work).
QUICK_VARIANTS = ["train.critic_steps=1"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compose(*overrides: str, config: str = "musegan") -> Any:
    """A config of ``conf/`` (``musegan`` by default) with overrides, composed by Hydra."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    import gan.config  # noqa: F401  (registers the config resolvers)

    with initialize_config_module(config_module="conf", version_base="1.3"):
        return hydra_compose(config, overrides=list(overrides))


def machine() -> dict[str, Any]:
    """What the figures were measured on: the host (its kind, CPU model, vector and matrix
    extensions, GPUs with their memory) and the software."""
    import keras
    import tensorflow as tf

    from gan.precision import Hardware

    return {
        "host": Hardware.detect(memory=True).report(),
        "cores": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 Linux)"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# -- matrix-product peak ---------------------------------------------------------------------


def matmul_peak(sizes: list[int], repeats: int) -> dict[str, Any]:
    """float32 and bfloat16 GFLOP/s of square matrix products: the best size's median."""
    import tensorflow as tf

    # Reduce one row inside the function: the product is computed in full, only a scalar
    # leaves it (copying the result out would be timed otherwise).
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)[:1]))
    result: dict[str, Any] = {}
    for dtype in (tf.float32, tf.bfloat16):
        per_size = {}
        for n in sizes:
            a = tf.cast(tf.random.stateless_normal([n, n], [1, 2]), dtype)
            b = tf.cast(tf.random.stateless_normal([n, n], [3, 4]), dtype)
            timing = measure(lambda a=a, b=b: product(a, b).numpy(), repeats)
            per_size[n] = {**timing, "gflops": 2 * n**3 / timing["seconds"] / 1e9}
        best = max(per_size, key=lambda n: per_size[n]["gflops"])
        result[dtype.name] = {
            "gflops": per_size[best]["gflops"],
            "size": best,
            "others_cores": per_size[best]["others_cores"],
            "noisy": per_size[best]["noisy"],
            "by_size": {str(n): round(v["gflops"], 1) for n, v in per_size.items()},
        }
    return result


# -- training ------------------------------------------------------------------------------


def _reference_config(data_dir: Path, quick: bool, precision: str, jit: bool) -> Any:
    return compose(
        "+experiment=reference",
        f"paths.data_dir={data_dir}",
        f"train.precision={precision}",
        f"train.jit_compile={str(jit).lower()}",
        "wandb.mode=disabled",
        *([*QUICK_DATA, *QUICK_MODEL] if quick else []),
    )


def _gflops(flops: Any) -> dict[str, float]:
    return {
        "matrix_gflop": flops.matrix / 1e9,
        "elementwise_gflop": flops.elementwise / 1e9,
        "total_gflop": flops.total / 1e9,
    }


def ours_training(
    data_dir: Path, quick: bool, precision: str, jit: bool, iterations: int
) -> dict[str, Any]:
    """Seconds per iteration of the reference preset through the project's Trainer."""
    import tensorflow as tf

    from benchmarks.flops import count_flops, function_flops
    from gan.builder import build_model, build_objective
    from gan.options import TrainOptions
    from gan.strategy import make_strategy, precision_policy, set_determinism
    from gan.trainer import Trainer
    from pianoroll.pipeline import batch_stream
    from pianoroll.prepare import load_or_prepare

    cfg = _reference_config(data_dir, quick, precision, jit)
    train_cfg = cfg.train
    options = TrainOptions.from_config(train_cfg, cfg.seed)
    strategy = make_strategy(options.strategy)
    set_determinism(options)
    dataset, _ = load_or_prepare(cfg.data, cfg.paths.data_dir, progress=False)
    with precision_policy(precision):
        with strategy.scope():
            model = build_model(cfg, dataset.spec)
            objective = build_objective(train_cfg)
        trainer = Trainer(model, objective, strategy, options)
        batch = int(train_cfg.batch_size)
        stream = batch_stream(dataset, batch, int(cfg.seed))
        iterator = iter(strategy.experimental_distribute_dataset(stream))
        step = [0]

        def iteration() -> dict[str, float]:
            out = trainer.iteration(iterator, tf.constant(step[0], tf.int64))
            step[0] += 1
            return {k: float(v) for k, v in out.items()}  # waits for the result

        started = time.perf_counter()
        first = iteration()
        trace_seconds = time.perf_counter() - started
        timing = measure(iteration, iterations, warmup=1)
        flops = count_flops(
            trainer.iteration.get_concrete_function(iterator, tf.constant(0, tf.int64))
        )
        real = tf.zeros([batch, *dataset.spec.shape])
        noise = model.sample_noise(batch, tf.constant([0, 0], tf.int64))
        critic = function_flops(lambda x: model.critic(x, training=True), real)
        generator = function_flops(lambda n: model.generate(n, None, training=True), noise)
    return {
        **timing,
        "implementation": "gan.trainer.Trainer (+experiment=reference)",
        "precision": precision,
        "jit_compile": jit,
        "batch_size": batch,
        "critic_steps": int(train_cfg.critic_steps),
        "shape": list(dataset.spec.shape),
        "first_iteration_seconds": trace_seconds,
        "first_iteration_losses": first,
        "flops": _gflops(flops),
        "critic_forward": _gflops(critic),
        "generator_forward": _gflops(generator),
    }


def variant_step(
    data_dir: Path, quick: bool, overrides: list[str], iterations: int
) -> dict[str, Any]:
    """Seconds per generator step of one MuseGAN variant (float32), in its last phase."""
    import tensorflow as tf

    from gan.builder import build_model, build_objective
    from gan.options import TrainOptions
    from gan.strategy import precision_policy, set_determinism
    from gan.trainer import Trainer
    from pianoroll.pipeline import batch_stream
    from pianoroll.prepare import load_or_prepare

    v2 = "model=musegan_v2" in overrides
    aaai_sizes = ("model.bar_generator", "model.critic")
    quick_sizes = [o for o in QUICK_MODEL if not (v2 and o.startswith(aaai_sizes))]
    quick_sizes += QUICK_V2 if v2 else []
    if any(o.startswith("+model.refiner") for o in overrides):
        quick_sizes.append("+model.refiner.filters=4")
    cfg = compose(
        "+experiment=bach_hybrid",
        "+mode=hybrid",
        f"paths.data_dir={data_dir}",
        "train.precision=float32",
        "wandb.mode=disabled",
        *overrides,
        *([*QUICK_DATA, *quick_sizes, *QUICK_VARIANTS] if quick else []),
    )
    options = TrainOptions.from_config(cfg.train, 0)
    set_determinism(options)  # as training runs it, whichever sections ran before
    dataset, _ = load_or_prepare(cfg.data, cfg.paths.data_dir, progress=False)
    strategy = tf.distribute.get_strategy()
    with precision_policy("float32"):
        model = build_model(cfg, dataset.spec)
        trainer = Trainer(model, build_objective(cfg.train), strategy, options)
        iterator = iter(batch_stream(dataset, int(cfg.train.batch_size), 0))
        phase = model.phases[-1]
        model.set_step(phase.start)

        def iteration() -> None:
            out = trainer.iteration(iterator, tf.constant(phase.start, tf.int64), phase.name)
            float(next(iter(out.values())))  # waits for the result

        timing = measure(iteration, iterations, warmup=1)
    return {
        **timing,
        "overrides": overrides,
        "phase": phase.name,
        "batch_size": int(cfg.train.batch_size),
        "voices": len(dataset.spec.voices),
        "generator_parameters": model.generator.count_params(),
        "critic_parameters": model.critic.count_params(),
    }


def variants(data_dir: Path, quick: bool, iterations: int) -> dict[str, Any]:
    """Every entry of :data:`VARIANTS`, timed one after the other, with its ratio to ``aaai``."""
    out = {
        name: variant_step(data_dir, quick, overrides, iterations)
        for name, overrides in VARIANTS.items()
    }
    for entry in out.values():
        entry["ratio_to_aaai"] = entry["seconds"] / out["aaai"]["seconds"]
    return out


def straightforward_training(data_dir: Path, quick: bool, iterations: int) -> dict[str, Any]:
    """Seconds per iteration of the straightforward Keras MuseGAN under ``Model.fit``."""
    import keras
    import tensorflow as tf
    from omegaconf import OmegaConf

    from benchmarks.flops import function_flops
    from benchmarks.keras_reference import StraightforwardMuseGAN, make_dataset
    from pianoroll.prepare import load_or_prepare

    cfg = _reference_config(data_dir, quick, "float32", False)
    dataset, _ = load_or_prepare(cfg.data, cfg.paths.data_dir, progress=False)
    sizes = OmegaConf.to_container(cfg.model, resolve=True)
    train_cfg = cfg.train
    gan = StraightforwardMuseGAN(
        dataset.spec,
        z_dim=sizes["z_dim"],
        temporal_filters=sizes["temporal_filters"],
        bar_generator=sizes["bar_generator"],
        critic=sizes["critic"],
        critic_steps=int(train_cfg.critic_steps),
        penalty_weight=float(train_cfg.objective.penalty_weight),
        seed=int(cfg.seed),
    )

    def adam(lr: float) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(lr, beta_1=train_cfg.beta_1, beta_2=train_cfg.beta_2)

    gan.compile(adam(train_cfg.generator_lr), adam(train_cfg.critic_lr))
    batch = int(train_cfg.batch_size)
    runs: list[float] = []
    others: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, index, logs=None):
            self.load = Load().__enter__()
            self.start = time.perf_counter()

        def on_train_batch_end(self, index, logs=None):
            {k: float(v) for k, v in (logs or {}).items()}  # waits for the result
            runs.append(time.perf_counter() - self.start)
            self.load.__exit__()
            others.append(self.load.others or 0.0)

    gan.fit(
        make_dataset(dataset.phrases_at(slice(None)), batch, int(cfg.seed)),
        steps_per_epoch=iterations + 2,
        epochs=1,
        verbose=0,
        callbacks=[Clock()],
    )
    flops = function_flops(gan.train_step, tf.zeros([batch, *dataset.spec.shape]))
    timed, loads = runs[2:], others[2:]  # the first traces, the second warms up
    mean_others = statistics.fmean(loads) if loads else 0.0
    return {
        "seconds": statistics.median(timed),
        "runs": [round(r, 4) for r in timed],
        "others_cores": round(mean_others, 2),
        "load_average": load_average(),
        "noisy": mean_others >= NOISY,
        "implementation": "benchmarks.keras_reference (Model.fit, per-bar per-track calls)",
        "precision": "float32",
        "jit_compile": bool(gan.jit_compile),
        "batch_size": batch,
        "first_iteration_seconds": runs[0],
        "flops": _gflops(flops),
    }


def training(
    data_dir: Path, quick: bool, iterations: int, peak: dict[str, Any] | None
) -> dict[str, Any]:
    """The reference preset in float32 and mixed_bfloat16, and the straightforward Keras one."""
    import tensorflow as tf

    runs: dict[str, Any] = {}
    runs["ours_float32"] = ours_training(data_dir, quick, "float32", False, iterations)
    runs["ours_mixed_bfloat16"] = ours_training(
        data_dir, quick, "mixed_bfloat16", False, iterations
    )
    if tf.config.list_physical_devices("GPU"):
        runs["ours_mixed_bfloat16_xla"] = ours_training(
            data_dir, quick, "mixed_bfloat16", True, iterations
        )
    runs["keras_straightforward"] = straightforward_training(data_dir, quick, iterations)
    baseline = runs["keras_straightforward"]["seconds"]
    for run in runs.values():
        run["iterations_per_hour"] = 3600.0 / run["seconds"]
        run["speedup_vs_straightforward"] = baseline / run["seconds"]
        run["achieved_gflops"] = run["flops"]["matrix_gflop"] / run["seconds"]
        if peak:
            for dtype, value in peak.items():
                run[f"fraction_of_{dtype}_peak"] = run["achieved_gflops"] / value["gflops"]
    return runs


# -- sampling and data ---------------------------------------------------------------------


def sampling(data_dir: Path, quick: bool, count: int, repeats: int) -> dict[str, Any]:
    """Generate and binarize ``count`` phrases of the default model as musegan.generate does."""
    from gan.builder import build_model
    from gan.noise import draw_noise
    from pianoroll.output import binarize
    from pianoroll.prepare import make_spec

    cfg = compose("+mode=hybrid", f"paths.data_dir={data_dir}")
    if quick:
        cfg = compose("+mode=hybrid", "+experiment=smoke", f"paths.data_dir={data_dir}")
    model = build_model(cfg, make_spec(cfg.data))
    seed = [0]

    def sample() -> np.ndarray:
        seed[0] += 1  # fresh noise each run, as a user's new seed
        noise = draw_noise(model, count, seed[0])
        outputs = model.generate_numpy(noise)
        return binarize(outputs, "threshold", np.random.default_rng(seed[0]))

    timing = measure(sample, repeats)
    shape = sample().shape
    return {**timing, "phrases": count, "shape": list(shape), "model": "musegan (hybrid)"}


def data_preparation(quick: bool, repeats: int) -> dict[str, Any]:
    """Prepare the chorales from scratch (both cores), then load the cache."""
    from pianoroll.dataset import Dataset
    from pianoroll.prepare import cache_path, prepare

    cfg = compose(*(["data.source.limit=12"] if quick else []))
    workers = os.cpu_count() or 1
    prepared: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="benchmark-data-") as tmp:

        def prepare_cold() -> None:
            prepared[:] = [prepare(cfg.data, workers=workers, progress=False)]

        prepare_timing = measure(prepare_cold, repeats, warmup=0)
        dataset = prepared[0]
        path = cache_path(cfg.data, tmp)
        dataset.save(path)
        load_timing = measure(lambda: Dataset.load(path), max(repeats, 5))
        size = path.stat().st_size
    return {
        "prepare": {
            **prepare_timing,
            "workers": workers,
            "songs_read": dataset.summary.get("songs_read"),
            "phrases": len(dataset),
            "shape": list(dataset.shape),
            "note": "from scratch each run: the source read and cut, no cache",
        },
        "cache_load": {**load_timing, "bytes": size},
    }


def metrics(quick: bool, out_dir: Path) -> dict[str, Any]:
    """The metrics benchmark (its own JSON beside this one)."""
    from benchmarks import metrics_speed

    with Load() as load:
        result = metrics_speed.main(
            [*(["--quick"] if quick else []), "--out", str(out_dir / "metrics_speed.json")]
        )
    return {
        "seconds": result["ours"]["seconds"],
        "pypianoroll_seconds_estimated": result["pypianoroll"]["seconds_estimated"],
        "ratio": result["ratio"],
        "phrases": result["shape"][0],
        "others_cores": None if load.others is None else round(load.others, 2),
        "noisy": load.others is not None and load.others >= NOISY,
    }


# -- report --------------------------------------------------------------------------------


def _load_note(entry: dict[str, Any]) -> str:
    others = entry.get("others_cores")
    note = "load ?" if others is None else f"others {others:.2f} cores"
    return note + (" NOISY" if entry.get("noisy") else "")


def _target(value: float, target: float, quick: bool) -> str:
    if quick:
        return f"(target <= {target:g} s at full size)"
    return f"{'met' if value <= target else 'MISSED'} (<= {target:g} s)"


def table(result: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    lines = []
    host = result.get("machine", {}).get("host")
    if host:
        extensions = ", ".join(host["extensions"]) or "none"
        cap = host.get("onednn_max_cpu_isa")  # absent from reports of older versions
        capped = f"; oneDNN capped at {cap}" if cap else ""
        lines.append(f"host: {host['kind']}; {host['cpu']}; extensions: {extensions}{capped}")
    quick = bool(result.get("quick"))
    peak = result.get("peak")
    if peak:
        lines.append("matrix-product peak (best square size, median)")
        for dtype, v in peak.items():
            lines.append(
                f"  {dtype:<10} {v['gflops']:8.1f} GFLOP/s  at n={v['size']}  {_load_note(v)}"
            )
    runs = result.get("training")
    if runs:
        lines.append("training iteration (reference preset)")
        header = f"  {'':30} {'s/iter':>8} {'it/hour':>8} {'GFLOP':>7} {'GFLOP/s':>8}"
        header += "".join(f" {'%' + d:>9}" for d in (peak or {})) + f" {'vs Keras':>9}"
        lines.append(header)
        for name, run in runs.items():
            row = (
                f"  {name:<30} {run['seconds']:8.3f} {run['iterations_per_hour']:8.0f}"
                f" {run['flops']['matrix_gflop']:7.1f} {run['achieved_gflops']:8.1f}"
            )
            row += "".join(
                f" {100 * run.get(f'fraction_of_{d}_peak', math.nan):8.1f}%" for d in (peak or {})
            )
            row += f" {run['speedup_vs_straightforward']:8.2f}x  {_load_note(run)}"
            lines.append(row)
        ours = runs.get("ours_float32")
        if ours:
            lines.append(
                f"  forward GFLOP at batch {ours['batch_size']}: critic"
                f" {ours['critic_forward']['total_gflop']:.2f}, generator"
                f" {ours['generator_forward']['total_gflop']:.2f} (matrix + element-wise)"
            )
            best = min(v["seconds"] for k, v in runs.items() if k.startswith("ours"))
            lines.append(
                f"  target: {_target(best, TARGETS['iteration_seconds'], quick)} with the fastest of ours"
            )
    found = result.get("variants")
    if found:
        lines.append("MuseGAN variants, one generator step (float32, bach_hybrid, hybrid)")
        width = max(map(len, found))
        lines.append(
            f"  {'':{width}} {'s/step':>8} {'x aaai':>7} {'G params':>11} {'D params':>11}"
        )
        for name, v in found.items():
            lines.append(
                f"  {name:<{width}} {v['seconds']:8.3f} {v['ratio_to_aaai']:7.2f}"
                f" {v['generator_parameters']:11,} {v['critic_parameters']:11,}  {_load_note(v)}"
            )
    s = result.get("sampling")
    if s:
        lines.append(
            f"sampling {s['phrases']} phrases (generate + binarize): {s['seconds']:.2f} s"
            f"  {_target(s['seconds'], TARGETS['sampling_seconds'], quick)}  {_load_note(s)}"
        )
    d = result.get("data")
    if d:
        p, c = d["prepare"], d["cache_load"]
        lines.append(
            f"prepare chorales ({p['songs_read']} songs, {p['workers']} workers):"
            f" {p['seconds']:.2f} s  {_target(p['seconds'], TARGETS['prepare_seconds'], quick)}"
            f"  {_load_note(p)}"
        )
        lines.append(
            f"load cache ({c['bytes'] / 2**20:.1f} MiB): {c['seconds']:.3f} s"
            f"  {_target(c['seconds'], TARGETS['cache_load_seconds'], quick)}  {_load_note(c)}"
        )
    m = result.get("metrics")
    if m:
        lines.append(
            f"metrics of {m['phrases']} phrases: {m['seconds']:.2f} s, pypianoroll loop"
            f" ~{m['pypianoroll_seconds_estimated']:.1f} s (x{m['ratio']:.0f})  {_load_note(m)}"
        )
    if result.get("quick"):
        lines.append("(--quick: tiny sizes; not the figures of the targets)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--iterations", type=int, default=7, help="timed training iterations")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the other figures")
    parser.add_argument("--samples", type=int, default=5000, help="phrases to sample")
    parser.add_argument("--data-dir", type=Path, default=None, help="data folder (training)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    if args.quick:
        args.iterations, args.repeats, args.samples = 2, 1, min(args.samples, 64)

    result: dict[str, Any] = {"quick": bool(args.quick), "started": time.strftime("%F %T")}
    result["machine"] = machine()
    result["load_average_at_start"] = load_average()
    data_dir = args.data_dir
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        if "peak" in only:
            _log("matrix-product peak ...")
            sizes = [256, 512] if args.quick else [1024, 2048, 4096]
            result["peak"] = matmul_peak(sizes, max(args.repeats, 5))
        if "training" in only:
            _log("training iterations (ours float32, ours mixed_bfloat16, straightforward) ...")
            result["training"] = training(data_dir, args.quick, args.iterations, result.get("peak"))
        if "variants" in only:
            _log("MuseGAN variants, one generator step each ...")
            result["variants"] = variants(data_dir, args.quick, args.iterations)
        if "sampling" in only:
            _log(f"sampling {args.samples} phrases ...")
            result["sampling"] = sampling(data_dir, args.quick, args.samples, args.repeats)
        if "data" in only:
            _log("preparing the chorales from scratch and loading the cache ...")
            result["data"] = data_preparation(args.quick, args.repeats)
        if "metrics" in only:
            _log("metrics benchmark ...")
            result["metrics"] = metrics(args.quick, args.out.parent)
    result["load_average_at_end"] = load_average()
    result["targets"] = TARGETS
    write_json(args.out, json.loads(json.dumps(result, default=float)))
    print(table(result))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
