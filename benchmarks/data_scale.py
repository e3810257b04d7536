"""Memory and time of the data path at the scale of LPD-5: ``python -m benchmarks.data_scale``.

Three figures, each measured in a child process of its own so that its peak resident memory
(``ru_maxrss``) is its own:

- ``train``: load a synthetic LPD-shaped cache (100,000 phrases of 4 x 48 x 84 x 5 at LPD-5's
  density), split it, compute the evaluation reference means (by chunks) and run the first
  training iterations of ``model=paper`` (hybrid, batch 64); beside it, the same model's
  iterations on a cache of 64 phrases, the model's own memory.
- ``prepare``: prepare a synthetic MIDI collection of 5,000 files, and of 500.
- ``load``: seconds to load the cache.

``--quick`` runs tiny sizes and the smoke model in seconds (the tests run it). Results go to
``benchmarks/results/data_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "run"]

#: Share of LPD-5 cleansed cells that sound, over the 4 x 48 x 84 x 5 phrases it gives.
LPD_DENSITY = 0.011

SIZES = {
    "full": {"phrases": 100_000, "files": (500, 5_000), "iterations": 2, "preset": "paper"},
    "quick": {"phrases": 300, "files": (6, 12), "iterations": 1, "preset": "smoke"},
}


def _peak_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_synthetic_cache(path: Path, n_phrases: int, seed: int = 0) -> int:
    """A cache of ``n_phrases`` random LPD-shaped phrases at :data:`LPD_DENSITY`, written a
    chunk at a time (100 songs' worth of phrases each song); returns its size in bytes."""
    from pianoroll.dataset import CHUNK_PHRASES, pack_phrases, write_cache
    from pianoroll.spec import LPD5_TRACKS, PhraseSpec

    spec = PhraseSpec(steps_per_beat=12, tracks=LPD5_TRACKS)
    rng = np.random.default_rng(seed)

    def chunks():
        for start in range(0, n_phrases, CHUNK_PHRASES):
            count = min(CHUNK_PHRASES, n_phrases - start)
            yield pack_phrases(rng.random((count, *spec.shape), np.float32) < LPD_DENSITY)

    song_ids = np.arange(n_phrases, dtype=np.int32) // 10
    names = [f"song{k}" for k in range(int(song_ids[-1]) + 1)]
    write_cache(path, spec, chunks(), n_phrases, song_ids, names, {"synthetic": True})
    return path.stat().st_size


def _train_child(cache: str, preset: str, iterations: int) -> dict[str, Any]:
    """Load, split, reference means and the first iterations; peak RSS after each stage."""
    import tensorflow as tf
    from hydra import compose, initialize_config_module

    from gan.builder import build_model, build_objective
    from gan.options import TrainOptions
    from gan.trainer import Trainer
    from pianoroll.dataset import Dataset
    from pianoroll.evaluation import metrics_by_chunks, summarize_metrics
    from pianoroll.pipeline import batch_stream

    out: dict[str, Any] = {"start_mib": _peak_mib()}
    start = time.perf_counter()
    dataset = Dataset.load(cache)
    out["load_seconds"] = time.perf_counter() - start
    splits = dataset.splits(0.1, 0)
    out["after_load_split_mib"] = _peak_mib()
    summarize_metrics(metrics_by_chunks(splits.reference.chunks(), splits.spec))
    out["after_reference_means_mib"] = _peak_mib()
    model_overrides = ["model=paper"] if preset == "paper" else ["+experiment=smoke"]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=["+mode=hybrid", *model_overrides])
    strategy = tf.distribute.get_strategy()
    model = build_model(cfg, splits.spec)
    options = TrainOptions.from_config(cfg.train, cfg.seed)
    trainer = Trainer(model, build_objective(cfg.train), strategy, options)
    stream = batch_stream(splits.train, int(cfg.train.batch_size), int(cfg.seed))
    iterator = iter(stream)
    start = time.perf_counter()
    for step in range(iterations):
        trainer.iteration(iterator, tf.constant(step, tf.int64))
    out["iteration_seconds"] = (time.perf_counter() - start) / iterations
    out["peak_mib"] = _peak_mib()
    out["batch_size"] = int(cfg.train.batch_size)
    return out


def _prepare_child(folder: str, workers: int) -> dict[str, Any]:
    """Prepare a MIDI folder into a temporary cache; peak RSS and seconds."""
    from hydra import compose, initialize_config_module

    from pianoroll.prepare import prepare

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("prepare", overrides=["data=midi_dir", f"data.source.path={folder}"])
    start = time.perf_counter()
    dataset = prepare(cfg.data, workers=workers, progress=False)
    # Workers are children: their peak is reported beside this process's.
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": time.perf_counter() - start,
        "phrases": len(dataset),
        "peak_mib": _peak_mib(),
        "worker_peak_mib": children,
    }


def write_midi_collection(folder: Path, n_files: int, seed: int = 0) -> None:
    """``n_files`` 16-bar 4/4 songs of four instruments (drums, piano chords, bass, strings)."""
    import mido

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_files):
        midi = mido.MidiFile(type=1, ticks_per_beat=480)
        for channel, program, low, per_beat in (
            (9, 0, 36, 2),
            (0, 0, 60, 1),
            (1, 33, 36, 1),
            (2, 48, 55, 0.5),
        ):
            track = mido.MidiTrack()
            track.append(mido.Message("program_change", program=program, channel=channel))
            length = int(480 / per_beat)
            for _ in range(int(64 * per_beat)):
                pitch = int(low + rng.integers(0, 12))
                track.append(mido.Message("note_on", note=pitch, velocity=90, channel=channel))
                track.append(mido.Message("note_off", note=pitch, time=length, channel=channel))
            midi.tracks.append(track)
        midi.save(str(folder / f"song{k:05d}.mid"))


def _child(args: list[str]) -> dict[str, Any]:
    """Run this module's ``--child`` in a fresh process and return its JSON line."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.data_scale", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(quick: bool, workers: int = 2) -> dict[str, Any]:
    """Every figure (see the module docstring) as a JSON-serializable dict."""
    sizes = SIZES["quick" if quick else "full"]
    results: dict[str, Any] = {"sizes": sizes}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "synthetic.npz"
        results["cache_bytes"] = write_synthetic_cache(cache, sizes["phrases"])
        small = folder / "small.npz"
        write_synthetic_cache(small, 64)
        iterations = str(sizes["iterations"])
        results["train"] = _child(["train", str(cache), sizes["preset"], iterations])
        results["train_model_only"] = _child(["train", str(small), sizes["preset"], iterations])
        results["prepare"] = {}
        for n_files in sizes["files"]:
            songs = folder / f"midi-{n_files}"
            write_midi_collection(songs, n_files)
            results["prepare"][str(n_files)] = _child(["prepare", str(songs), str(workers)])
    packed_mib = results["cache_bytes"] / 2**20
    model_mib = results["train_model_only"]["peak_mib"]
    results["summary"] = {
        "packed_mib": packed_mib,
        "train_peak_mib": results["train"]["peak_mib"],
        "model_only_peak_mib": model_mib,
        "train_peak_over_model_in_packed_sizes": (results["train"]["peak_mib"] - model_mib)
        / packed_mib,
        "cache_load_seconds": results["train"]["load_seconds"],
    }
    return results


def main(argv: list[str] | None = None) -> None:
    """The command line: ``[--quick] [--workers N] [--out FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--workers", type=int, default=2, help="preparation processes")
    parser.add_argument("--out", default="benchmarks/results/data_scale.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "train":
            result = _train_child(rest[0], rest[1], int(rest[2]))
        else:
            result = _prepare_child(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    from pianoroll.io import write_json

    results = run(args.quick, args.workers)
    write_json(args.out, results)
    print(json.dumps(results["summary"], indent=2))
    for n, figures in results["prepare"].items():
        print(f"prepare {n} files: {figures['seconds']:.1f} s, peak {figures['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
