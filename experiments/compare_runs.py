"""Final evaluations of several runs, grouped by one config key: mean and spread per group.

    python experiments/compare_runs.py <key> <run folder> [<run folder> ...]
    python experiments/compare_runs.py train.precision runs/precision_compare/*

Each run folder's ``metrics.json`` holds the last evaluation of training (the generated
phrases' metric means, the data's, and the Fréchet distance). For every group of runs with the
same value of ``key`` in their ``config.yaml`` this prints, per metric, the mean and the
standard deviation over the group's runs (seeds, usually) of the generated value and of its
absolute distance to the data's, and writes the same as JSON to stdout's last line.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf


def group_runs(key: str, runs: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """``{value of key: [metrics.json of each run]}``; runs without metrics.json are skipped."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if not (run / "metrics.json").exists():
            print(f"{run}: no metrics.json (training did not finish), skipped", file=sys.stderr)
            continue
        value = OmegaConf.select(OmegaConf.load(run / "config.yaml"), key)
        groups[str(value)].append(json.loads((run / "metrics.json").read_text()))
    return dict(groups)


def _spread(values: np.ndarray) -> float:
    """Sample standard deviation; NaN for a single run."""
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per overall metric (no per-track keys): generated mean/std and distance-to-data mean/std."""
    out = {}
    for name in sorted(results[0]["generated"]):
        if "/" in name:
            continue
        values = np.array([r["generated"][name] for r in results], float)
        entry = {"mean": float(values.mean()), "std": _spread(values)}
        if name in results[0].get("data", {}):
            data = np.array([r["data"][name] for r in results], float)
            gap = np.abs(values - data)
            entry.update(data=float(data.mean()), gap=float(gap.mean()), gap_std=_spread(gap))
        out[name] = entry
    return out


def main(argv: list[str]) -> dict[str, Any]:
    key, runs = argv[0], [Path(a) for a in argv[1:]]
    grouped = group_runs(key, runs)
    groups = {value: summarize(results) for value, results in grouped.items()}
    counts = {value: len(results) for value, results in grouped.items()}
    names = sorted({n for g in groups.values() for n in g})
    header = f"{'metric':24s}" + "".join(f"{f'{v} ({counts[v]} runs)':>36s}" for v in groups)
    print(header)
    for name in names:
        cells = []
        for g in groups.values():
            e = g.get(name)
            if e is None:
                cells.append(f"{'':>36s}")
                continue
            gap = f"  |gap| {e['gap']:.3g}±{e['gap_std']:.2g}" if "gap" in e else ""
            cells.append(f"{e['mean']:>10.4g}±{e['std']:<8.2g}{gap:>17s}")
        print(f"{name:24s}" + "".join(cells))
    result = {"key": key, "runs": counts, "groups": groups}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
