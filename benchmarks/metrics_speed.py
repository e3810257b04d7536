"""Speed of :func:`pianoroll.metrics.compute_all` against a loop over pypianoroll's metrics.

Run from the repository root::

    python -m benchmarks.metrics_speed            # 5,000 phrases = 20,000 bars of LPD-5 shape
    python -m benchmarks.metrics_speed --quick    # a smoke run of a few seconds

The data is random binary phrases of shape ``(N, 4, 48, 84, 5)`` (LPD-5: 4 bars of 48 steps,
84 pitches, drums and four pitched tracks) with about 5 % of the cells active.

- **ours**: one call of ``compute_all`` on the whole batch; median of ``--repeats`` runs after a
  warm-up run on a small slice.
- **pypianoroll**: a Python loop over phrases and tracks calling every applicable function of
  ``pypianoroll.metrics`` on the track's ``(time, 128)`` roll (the 84 pitches padded to 128, the
  layout pypianoroll expects; the padding is timed too): ``empty_beat_rate``,
  ``n_pitches_used``, ``n_pitch_classes_used``, ``pitch_range``, ``qualified_note_rate`` (on
  int8 input: on bool input pypianoroll's onset/offset detection overflows), and
  ``polyphonic_rate`` on every track; ``in_scale_rate`` (one key, C major, where ours tries 24
  keys) on pitched tracks; ``drum_in_pattern_rate`` on drum tracks; ``tonal_distance`` on every
  pair of pitched tracks. Each call is wrapped so that a crash is counted, not fatal. The loop
  is slow, so it is timed on the first ``--subset`` phrases (median of ``--repeats`` runs after
  a warm-up) and scaled linearly to all phrases; the output says so.

The like-for-like figure is ``ratio_same_metrics``: ours restricted to the counterparts of the
pypianoroll functions timed (:data:`SAME_METRICS`); ``ratio`` compares all of ``compute_all``
(14 metrics per track) with the same pypianoroll loop. Our metrics run chunk-parallel on every
CPU the process may use, as a user's evaluation does.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pianoroll.evaluation import metrics_for_spec
from pianoroll.io import write_json
from pianoroll.spec import LPD5_TRACKS, PhraseSpec

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "metrics_speed.json"

#: Our counterparts of the pypianoroll functions timed (empty_beat_rate -> empty_bar_rate,
#: n_pitches_used -> used_pitches, polyphonic_rate -> polyphony_rate, ...): the like-for-like
#: comparison. Ours still does more: in_scale_rate tries 24 keys where pypianoroll's takes one.
SAME_METRICS = (
    "empty_bar_rate",
    "used_pitches",
    "used_pitch_classes",
    "pitch_range",
    "qualified_note_rate",
    "polyphony_rate",
    "in_scale_rate",
    "drum_pattern_rate",
    "tonal_distance",
)


def random_phrases(n: int, spec: PhraseSpec, density: float, seed: int) -> np.ndarray:
    """``n`` random binary phrases with about ``density`` of the cells active (chunked)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, *spec.shape), dtype=bool)
    for start in range(0, n, 256):
        stop = min(start + 256, n)
        out[start:stop] = rng.random((stop - start, *spec.shape), dtype=np.float32) < density
    return out


def pypianoroll_calls(spec: PhraseSpec) -> list[tuple[str, str, Callable[..., Any]]]:
    """``(name, scope, call)`` for every pypianoroll metric that exists in this version.

    ``scope`` is ``"all"``, ``"pitched"``, ``"drums"`` (one roll) or ``"pairs"`` (two rolls).
    """
    from pypianoroll import metrics

    resolution = spec.steps_per_beat
    candidates: list[tuple[str, str, Callable[..., Any]]] = [
        ("empty_beat_rate", "all", lambda r: metrics.empty_beat_rate(r, resolution)),
        ("n_pitches_used", "all", lambda r: metrics.n_pitches_used(r)),
        ("n_pitch_classes_used", "all", lambda r: metrics.n_pitch_classes_used(r)),
        ("pitch_range", "all", lambda r: metrics.pitch_range(r)),
        (
            "qualified_note_rate",
            "all",
            lambda r: metrics.qualified_note_rate(r.astype(np.int8)),
        ),
        ("polyphonic_rate", "all", lambda r: metrics.polyphonic_rate(r)),
        ("in_scale_rate", "pitched", lambda r: metrics.in_scale_rate(r)),
        ("drum_in_pattern_rate", "drums", lambda r: metrics.drum_in_pattern_rate(r, resolution)),
        ("tonal_distance", "pairs", lambda r, s: metrics.tonal_distance(r, s, resolution)),
    ]
    return [c for c in candidates if hasattr(metrics, c[0])]


def run_pypianoroll(
    batch: np.ndarray, spec: PhraseSpec, crashes: collections.Counter[str] | None = None
) -> int:
    """Every applicable pypianoroll metric of every phrase and track; returns the call count."""
    calls = pypianoroll_calls(spec)
    pitched = [k for k, drum in enumerate(spec.drum_mask) if not drum]
    drums = [k for k, drum in enumerate(spec.drum_mask) if drum]
    scopes = {"all": range(spec.n_tracks), "pitched": pitched, "drums": drums}
    low, high = spec.lowest_pitch, spec.lowest_pitch + spec.n_pitches
    n_time = spec.n_bars * spec.steps_per_bar
    n_calls = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for phrase in batch:
            rolls = []
            for k in range(spec.n_tracks):
                roll = np.zeros((n_time, 128), dtype=bool)
                roll[:, low:high] = phrase[..., k].reshape(n_time, spec.n_pitches)
                rolls.append(roll)
            for name, scope, call in calls:
                if scope == "pairs":
                    arguments = [
                        (rolls[i], rolls[j]) for i, j in itertools.combinations(pitched, 2)
                    ]
                else:
                    arguments = [(rolls[k],) for k in scopes[scope]]
                for args in arguments:
                    n_calls += 1
                    try:
                        call(*args)
                    except Exception:  # a crash is a result, not the end of the benchmark
                        if crashes is not None:
                            crashes[name] += 1
    return n_calls


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return runs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--samples", type=int, default=5000, help="phrases (4 bars each)")
    parser.add_argument("--subset", type=int, default=200, help="phrases timed in pypianoroll")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--density", type=float, default=0.05, help="share of active cells")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.subset, args.repeats = min(args.samples, 100), 5, 1

    spec = PhraseSpec(n_bars=4, steps_per_beat=12, tracks=LPD5_TRACKS)
    subset = max(1, min(args.subset, args.samples))
    print(
        f"generating {args.samples} random phrases of shape {spec.shape} "
        f"({args.samples * spec.n_bars} bars) at {100 * args.density:.1f} % density",
        file=sys.stderr,
    )
    batch = random_phrases(args.samples, spec, args.density, args.seed)

    metrics_for_spec(batch[:64], spec)  # warm-up
    ours_runs = timed(lambda: metrics_for_spec(batch, spec), args.repeats)
    keys = list(metrics_for_spec(batch[:1], spec))
    same_runs = timed(lambda: metrics_for_spec(batch, spec, SAME_METRICS), args.repeats)

    crashes: collections.Counter[str] = collections.Counter()
    run_pypianoroll(batch[: min(5, subset)], spec)  # warm-up
    n_calls = run_pypianoroll(batch[:subset], spec, crashes)
    theirs_runs = timed(lambda: run_pypianoroll(batch[:subset], spec), args.repeats)
    scale = args.samples / subset
    ours = statistics.median(ours_runs)
    theirs_subset = statistics.median(theirs_runs)
    theirs = theirs_subset * scale
    functions = [name for name, _, _ in pypianoroll_calls(spec)]
    import pypianoroll

    result = {
        "quick": bool(args.quick),
        "shape": [args.samples, *spec.shape],
        "bars": args.samples * spec.n_bars,
        "density": args.density,
        "cells_active": float(batch.mean()),
        "repeats": args.repeats,
        "ours": {
            "function": "pianoroll.metrics.compute_all",
            "seconds": ours,
            "runs": ours_runs,
            "metric_keys": len(keys),
            "values": len(keys) * args.samples,
        },
        "pypianoroll": {
            "functions": functions,
            "seconds_estimated": theirs,
            "seconds_subset": theirs_subset,
            "runs_subset": theirs_runs,
            "subset": subset,
            "scale": scale,
            "calls_subset": n_calls,
            "crashes_subset": dict(crashes),
        },
        "ours_same_metrics": {
            "metrics": list(SAME_METRICS),
            "seconds": statistics.median(same_runs),
            "runs": same_runs,
        },
        "ratio": theirs / ours if ours > 0 else None,
        "ratio_same_metrics": theirs / statistics.median(same_runs),
        "notes": [
            f"pypianoroll was timed on {subset} of {args.samples} phrases and scaled linearly "
            f"(x{scale:g}).",
            "compute_all gives 14 metrics per track (including best-of-24-keys scale "
            "consistency, 3-gram repetitions and pairwise tonal distance); pypianoroll's "
            "in_scale_rate is called for one key only.",
        ],
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pypianoroll": pypianoroll.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    write_json(args.out, result)

    rows = [
        ("pianoroll compute_all", ours, f"median of {args.repeats}, all {len(keys)} keys"),
        (
            "  same metrics only",
            result["ours_same_metrics"]["seconds"],
            f"median of {args.repeats}, pypianoroll's counterparts",
        ),
        (
            "pypianoroll loop",
            theirs,
            f"estimated: {subset} phrases timed ({theirs_subset:.3f} s), scaled x{scale:g}",
        ),
    ]
    print(
        f"\nmetrics of {args.samples} phrases = {args.samples * spec.n_bars} bars, shape "
        f"{spec.shape}, {100 * result['cells_active']:.1f} % active cells"
    )
    print(f"{'':24} {'seconds':>10} {'ms/phrase':>10}")
    for name, seconds, note in rows:
        print(f"{name:24} {seconds:10.3f} {1000 * seconds / args.samples:10.3f}  {note}")
    print(f"{'ratio (pypianoroll/ours)':24} {result['ratio']:10.1f}x  all metrics")
    print(f"{'':24} {result['ratio_same_metrics']:10.1f}x  same metrics")
    if crashes:
        print(
            "pypianoroll crashes on the subset: "
            + ", ".join(f"{k} {v}" for k, v in crashes.items())
        )
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
