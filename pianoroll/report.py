"""Evaluation reports: ``metrics.json``, ``report.md`` and plots from :func:`compare_sets` results.

A report directory holds:

- ``metrics.json``: the title, the phrase spec and every comparison as given (NaN as null);
- ``report.md``: Markdown tables of the sets, the set-level distances and, per metric key,
  mean ± std of every set and the OA and KL of every comparison;
- ``plots/<metric>.png``: per metric, one histogram panel per track (or track pair) with every
  set overlaid as a density;
- ``samples.png``: a pianoroll grid of sample phrases, when samples are given.

Every file is written atomically (:func:`pianoroll.io.atomic_path`). The comparisons of an
evaluation (a set against a reference, and a noise floor) are its :class:`ReportParts`;
:func:`read_parts` reads them back from a ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from pianoroll.evaluation import split_metric_key
from pianoroll.io import atomic_path, write_json
from pianoroll.plot import save_grid  # also selects matplotlib's Agg backend (files only)
from pianoroll.spec import PhraseSpec

__all__ = ["ReportParts", "read_parts", "write_report"]

#: Phrases drawn in ``samples.png`` at most.
MAX_SAMPLES = 16

_SET_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

#: Ends the label of the noise-floor comparison of an evaluation report.
_FLOOR_MARK = " (noise floor)"


def _label(comparison: Mapping[str, Any]) -> str:
    """``"<a> vs <b>"`` from the set names of a :func:`pianoroll.compare.compare_sets` result."""
    return f"{comparison['sets']['a']['name']} vs {comparison['sets']['b']['name']}"


def _floor_label(comparison: Mapping[str, Any]) -> str:
    """``"<a> vs <b> (noise floor)"``: the label of a comparison that is a noise floor."""
    return _label(comparison) + _FLOOR_MARK


@dataclasses.dataclass(frozen=True)
class ReportParts:
    """The comparisons of an evaluation report, each by its part.

    A report holds them by label (:meth:`labelled`), made from the set names of each
    comparison: ``"<a> vs <b>"`` for the main comparison, ``"<floor> vs <b> (noise floor)"``
    for the noise floor.

    Attributes:
        main: The :func:`pianoroll.compare.compare_sets` result of the evaluated set ``a``
            against the reference ``b``.
        floor: The result of a second set of real phrases against ``b``, the noise floor that
            finite samples of one distribution show; None without one.
    """

    main: Mapping[str, Any]
    floor: Mapping[str, Any] | None = None

    @property
    def main_label(self) -> str:
        """The main comparison's label, ``"<a> vs <b>"``."""
        return _label(self.main)

    @property
    def floor_label(self) -> str | None:
        """The noise floor's label, ``"<floor> vs <b> (noise floor)"``; None without a floor."""
        return None if self.floor is None else _floor_label(self.floor)

    def labelled(self) -> dict[str, Mapping[str, Any]]:
        """Label -> comparison, the main one first: the ``comparisons`` of :func:`write_report`."""
        comparisons = {self.main_label: self.main}
        if self.floor is not None:
            comparisons[_floor_label(self.floor)] = self.floor
        return comparisons

    @classmethod
    def from_labelled(cls, comparisons: Mapping[str, Mapping[str, Any]]) -> ReportParts:
        """The parts of comparisons labelled as :meth:`labelled` labels them.

        Args:
            comparisons: Label -> :func:`pianoroll.compare.compare_sets` result, e.g. the
                ``"comparisons"`` of a ``metrics.json``.

        Raises:
            ValueError: not one main comparison, or more than one noise floor.
        """
        main = [c for label, c in comparisons.items() if label == _label(c)]
        floor = [c for label, c in comparisons.items() if label == _floor_label(c)]
        if len(main) != 1 or len(floor) > 1:
            raise ValueError(
                f"comparisons {list(comparisons)} are not one '<a> vs <b>' and at most one"
                f" '<floor> vs <b>{_FLOOR_MARK}'"
            )
        return cls(main[0], floor[0] if floor else None)


def read_parts(path: str | os.PathLike[str]) -> ReportParts:
    """The parts of the evaluation report in a ``metrics.json`` of :func:`write_report`.

    Raises:
        ValueError: the report's comparisons are not those of a :class:`ReportParts`.
    """
    return ReportParts.from_labelled(json.loads(Path(path).read_text())["comparisons"])


def _json_ready(x: Any) -> Any:
    """``x`` with NaN and infinities replaced by None and NumPy scalars/arrays as Python ones."""
    if isinstance(x, Mapping):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_ready(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _number(x: Any) -> str:
    """A number with 3 significant digits, or an en dash where undefined."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int):
        return str(x)
    x = float(x)
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _share(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f} %"


def _sets(comparisons: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Every set name, in order of appearance, with the (comparison, side) first showing it."""
    sets: dict[str, tuple[str, str]] = {}
    for label, comparison in comparisons.items():
        for side in ("a", "b"):
            name = str(comparison["sets"][side]["name"])
            sets.setdefault(name, (label, side))
    return sets


def _metric_keys(comparisons: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for c in comparisons.values() for key in c.get("metrics", {})))


def _markdown(
    comparisons: Mapping[str, Mapping[str, Any]], spec: PhraseSpec, title: str, plots: list[str]
) -> str:
    """The text of ``report.md``: its sections, each after an empty line."""
    sets = _sets(comparisons)
    sections = [
        _intro(spec, title),
        _sets_section(comparisons, sets),
        _distances_section(comparisons),
        _metrics_section(comparisons, sets),
        _plots_section(plots),
    ]
    lines: list[str] = []
    for section in sections:
        if section and lines:
            lines.append("")
        lines += section
    return "\n".join([*lines, ""])


def _intro(spec: PhraseSpec, title: str) -> list[str]:
    """The title, the phrase shape and what the measures mean."""
    return [
        f"# {title}",
        "",
        f"Phrases of {spec.n_bars} bars x {spec.steps_per_bar} steps x {spec.n_pitches} pitches"
        f" (from MIDI {spec.lowest_pitch}), tracks: {', '.join(spec.track_names)}.",
        "",
        "OA: overlapping area of the Gaussian KDEs of the per-sample metric values of the two"
        " sets (1 = identical, 0 = disjoint). KL: KL(a || b) of the same densities in nats"
        " (0 = identical). FD: Fréchet distance of Gaussians fitted to the vectors of all"
        " metrics, standardized by the reference (b). The reference of every comparison is its"
        " second set. See `pianoroll.compare` for the definitions.",
    ]


def _sets_section(
    comparisons: Mapping[str, Mapping[str, Any]], sets: dict[str, tuple[str, str]]
) -> list[str]:
    """A table of every set and its number of phrases."""
    lines = ["## Sets", "", "| set | phrases |", "|---|---:|"]
    for name, (label, side) in sets.items():
        lines.append(f"| {name} | {comparisons[label]['sets'][side]['n']} |")
    return lines


def _distances_section(comparisons: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A table of the set-level distances of every comparison (with memorization, if any)."""
    has_memorization = any("memorization" in c for c in comparisons.values())
    header = "| comparison | a | b (reference) | FD |"
    rule = "|---|---|---|---:|"
    if has_memorization:
        header += " exact copies | near copies | median nearest distance |"
        rule += "---:|---:|---:|"
    lines = ["## Set distances", "", header, rule]
    for label, comparison in comparisons.items():
        row = (
            f"| {label} | {comparison['sets']['a']['name']} | {comparison['sets']['b']['name']}"
            f" | {_number(comparison.get('frechet_distance'))} |"
        )
        if has_memorization:
            row += _memorization_cells(comparison.get("memorization"))
        lines.append(row)
    if has_memorization:
        lines += [
            "",
            "Exact copies: share of a's phrases equal to a phrase of b. Near copies: share"
            " with a phrase of b differing in at most the given share of the active cells."
            " Nearest distance: differing cells to the closest phrase of b.",
        ]
    return lines


def _memorization_cells(memo: Mapping[str, Any] | None) -> str:
    """The memorization cells of a row of the distances table; dashes without a check."""
    if not memo:
        return " – | – | – |"
    return (
        f" {_share(memo.get('exact_share'))} |"
        f" {_share(memo.get('near_share'))} (≤ {100 * memo['threshold']:g} %) |"
        f" {_number(memo.get('nearest_distance', {}).get('median'))} |"
    )


def _metrics_section(
    comparisons: Mapping[str, Mapping[str, Any]], sets: dict[str, tuple[str, str]]
) -> list[str]:
    """A table of every metric key: every set's mean ± std, every comparison's OA and KL."""
    labels = list(comparisons)
    header = "| metric | " + " | ".join(sets)
    header += "".join(f" | OA {label} | KL {label}" for label in labels) + " |"
    lines = ["## Metrics", "", "Mean ± std over the phrases where the metric is defined.", ""]
    lines += [header, "|---|" + "---:|" * (len(sets) + 2 * len(labels))]
    for key in _metric_keys(comparisons):
        cells = [key]
        for label, side in sets.values():
            summary = comparisons[label].get("metrics", {}).get(key, {}).get(side, {})
            mean, std = summary.get("mean"), summary.get("std")
            cells.append("–" if mean is None else f"{_number(mean)} ± {_number(std)}")
        for label in labels:
            entry = comparisons[label].get("metrics", {}).get(key, {})
            cells += [_number(entry.get("overlapping_area")), _number(entry.get("kl_divergence"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _plots_section(plots: list[str]) -> list[str]:
    """The plots as images, or nothing without plots."""
    if not plots:
        return []
    return ["## Plots", "", *(f"![{Path(p).stem}]({p})" for p in plots)]


def _save_figure(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def _plot_metric(
    path: Path, metric: str, keys: list[str], comparisons: Mapping[str, Mapping[str, Any]]
) -> None:
    """One figure for a metric: a panel per key, every set's histogram as a density."""
    sets = _sets(comparisons)
    columns = min(len(keys), 3)
    rows = -(-len(keys) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        _draw_densities(ax, key, comparisons, sets)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    _finish_figure(fig, metric, axes.flat[0])
    _save_figure(fig, path)


def _draw_densities(
    ax: Any,
    key: str,
    comparisons: Mapping[str, Mapping[str, Any]],
    sets: dict[str, tuple[str, str]],
) -> None:
    """One panel: the histogram of a metric key in every set, as a density, titled by track."""
    for k, (name, (label, side)) in enumerate(sets.items()):
        histogram = comparisons[label].get("metrics", {}).get(key, {}).get("histogram")
        if not histogram or not histogram.get("edges"):
            continue
        edges = np.asarray(histogram["edges"], dtype=np.float64)
        counts = np.asarray(histogram[side], dtype=np.float64)
        if counts.sum() <= 0:
            continue
        density = counts / (counts.sum() * np.diff(edges))
        ax.stairs(
            density,
            edges,
            label=name,
            color=_SET_COLORS[k % len(_SET_COLORS)],
            linewidth=1.4,
            fill=k == 0,
            alpha=0.35 if k == 0 else 1.0,
        )
    name, track = split_metric_key(key)
    ax.set_title(name if track is None else track, fontsize=9)
    ax.tick_params(labelsize=7)


def _finish_figure(fig: Any, metric: str, first: Any) -> None:
    """The legend of the sets drawn in the ``first`` panel, the title and the margins."""
    handles, names = first.get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(metric, fontsize=11)
    # Fixed margins in inches: much faster than tight_layout, which measures every label.
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=0.45 / width,
        right=1 - 0.15 / width,
        bottom=(0.75 if handles else 0.35) / height,
        top=1 - 0.55 / height,
        wspace=0.25,
        hspace=0.55,
    )


def write_report(
    directory: str | os.PathLike[str],
    comparisons: Mapping[str, Mapping[str, Any]],
    spec: PhraseSpec,
    samples: np.ndarray | None = None,
    title: str = "Evaluation",
) -> dict[str, Path]:
    """Write an evaluation report of one or more set comparisons.

    Args:
        directory: The report folder (created if needed; existing report files are replaced).
        comparisons: Label -> result of :func:`pianoroll.compare.compare_sets`, e.g.
            ``{"generated vs train": ..., "validation vs train (noise floor)": ...}`` (an
            evaluation's, as :meth:`ReportParts.labelled` gives them). Sets
            are identified by their names (``result["sets"][side]["name"]``): a set in several
            comparisons (the training set above) gets one column and one curve, from the first
            comparison that has it.
        spec: The phrase spec of the sets.
        samples: Optional ``(N, bars, steps, pitches, tracks)`` binary phrases; the first
            :data:`MAX_SAMPLES` are drawn in ``samples.png``.
        title: The report's title.

    Returns:
        ``"metrics.json"``, ``"report.md"``, ``"samples.png"`` and ``"plots/<metric>.png"`` ->
        the path of each file written.

    Raises:
        UserError: the directory cannot be written.
    """
    directory = Path(directory)
    written: dict[str, Path] = {}
    comparisons = _json_ready(dict(comparisons))

    write_json(
        directory / "metrics.json",
        {"title": title, "spec": spec.to_dict(), "comparisons": comparisons},
    )
    written["metrics.json"] = directory / "metrics.json"

    groups: dict[str, list[str]] = {}
    for key in _metric_keys(comparisons):
        groups.setdefault(split_metric_key(key)[0], []).append(key)
    plots = []
    for metric, keys in groups.items():
        relative = f"plots/{metric}.png"
        _plot_metric(directory / relative, metric, keys, comparisons)
        written[relative] = directory / relative
        plots.append(relative)

    if samples is not None and len(samples):
        save_grid(directory / "samples.png", np.asarray(samples, bool)[:MAX_SAMPLES], spec)
        written["samples.png"] = directory / "samples.png"
        plots.append("samples.png")

    with atomic_path(directory / "report.md") as tmp:
        tmp.write_text(_markdown(comparisons, spec, title, plots), encoding="utf-8")
    written["report.md"] = directory / "report.md"
    return written
