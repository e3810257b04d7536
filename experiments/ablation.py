"""The MuseGAN ablation on the bundled chorales: the AAAI baseline, its critic streams, the
current networks, binary neurons and the refiner, and monophonic voices, each trained for the
same steps and batch.

    python experiments/ablation.py run aaai aaai_onset --steps 300   # train (or resume), evaluate
    python experiments/ablation.py table                              # the tables of every row

Every row is ``+experiment=bach_hybrid +mode=hybrid`` (batch 64, WGAN-GP, 5 critic updates per
generator update, seed 0) in float32 on free rolls (``data.voices=free``: every track a
binary roll, as the AAAI paper has them), plus the row's overrides. ``run`` trains a row into
``runs/ablation/<row>`` up to ``--steps`` generator steps (resuming a run that stopped or has
fewer steps), then evaluates the checkpoint of that step with 5,000 phrases against the training
data, with the validation phrases as the noise floor: with the hard threshold at 0, and for
rows whose output is real-valued also with Bernoulli sampling, into
``experiments/reports/ablation/<row>-<steps>[-bernoulli]``. A free-roll row's phrases are
also read as voices (``voices=skyline``: each voice keeps its highest sounding pitch at each
step, see :func:`pianoroll.voices.skyline`) and compared with the voice form of the data, into
``<report>-skyline``. ``table`` writes ``experiments/reports/ablation/table.md`` from the
reports found: each metric's mean over tracks (or track pairs), for the generated phrases, the
training data and the validation phrases; and ``distance.md``: each metric's mean over tracks of
the distance between a track's generated mean and the same track's data mean, where a track
above the data and another below it do not cancel.

    python experiments/ablation.py skyline aaai-1300 aaai-1300-bernoulli   # from saved reports
    python experiments/ablation.py run voices_hold --steps 300 --seed 1    # another seed

``--seed N`` (N > 0) trains a row again from seed ``N`` into ``runs/ablation/<row>-seed<N>``
(reports ``<row>-seed<N>-<steps>...``), with ``train.graph_optimizer=false``, so that the run
is a pure function of its seed and can be reproduced bit for bit; the seed-0 rows are the
first runs of each row, trained before that option existed.

``fork`` starts a row from another row's checkpoint, for a row whose options change nothing
before that step (a weight average or a learning-rate decay that starts later): its run folder
gets the source's checkpoint of that step and log up to it, and the source's saved config with
the row's extra options; ``run`` then continues it.

    python experiments/ablation.py fork voices_hold_streams_shared_time_ema \
        --source voices_hold_streams_shared_time --step 1000 --total 1300

``skyline`` reads a report's saved ``generated.npz``: the same phrases as ``musegan.evaluate
voices=skyline`` at the same checkpoint and seed (``tests/test_evaluate_run.py`` checks that
equality), so rows whose runs are gone can still be read as voices.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gan.options import TrainOptions
from pianoroll.io import write_json
from pianoroll.output import save_phrases
from pianoroll.prepare import make_spec
from pianoroll.report import ReportParts, read_parts
from pianoroll.voices import Voices, skyline

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "ablation"
REPORTS = ROOT / "experiments" / "reports" / "ablation"
BASE = ["+experiment=bach_hybrid", "+mode=hybrid", "train.precision=float32", "data.voices=free"]
REFINER = "+model.refiner={schedule: two_stage, first_stage_steps: 200}"
VOICES = f"data.voices={Voices.MONOPHONIC}"  # a voice row's data
NO_HOLD = "model.hold=false"  # every step chooses its pitch (MuseGAN's default holds)
STREAMS = "model.critic.streams=[chroma,onset_offset]"  # both critic streams
#: Hold voices (softmax), the base of the stream rows below.
HOLD = [VOICES, "model.voices=softmax", "model.hold=true"]
#: Hold voices with both critic streams: the best configuration, and the base of rows that
#: change one thing in it.
HOLD_STREAMS = [*HOLD, STREAMS]
#: Both critic streams and the key stream (the phrase's pitch-class distribution per track).
HOLD_KEY_STREAMS = [*HOLD, "model.critic.streams=[chroma,onset_offset,key]"]
#: Those three and the motion stream (pitches that start or stop per step).
HOLD_MOTION_STREAMS = [*HOLD, "model.critic.streams=[chroma,onset_offset,key,motion]"]
#: Those three and the rhythm stream (activity and note starts per step of the bar).
HOLD_RHYTHM_STREAMS = [*HOLD, "model.critic.streams=[chroma,onset_offset,key,rhythm]"]
#: Reports of voice rows trained before commit 3d7da6b, whose generators carried each voice's
#: onsets in its roll channel too (never a held note): listed apart, marked.
ONSET_BUG = REPORTS / "onset-bug"
#: Report-name suffixes: Bernoulli sampling, and free rolls read as voices.
BERNOULLI, SKYLINE = "-bernoulli", "-skyline"
#: Between a row and its seed in a run's folder name (seed 0: no suffix).
SEED = "-seed"

#: Row name -> (what it is, its overrides), in the table's order.
ROWS: dict[str, tuple[str, list[str]]] = {
    "aaai": ("AAAI 2018 networks (baseline)", []),
    "aaai_onset": ("+ onset/offset stream", ["model.critic.streams=[onset_offset]"]),
    "aaai_chroma": ("+ chroma stream", ["model.critic.streams=[chroma]"]),
    "aaai_streams": ("+ both streams", [STREAMS]),
    "v2": ("current networks (both streams)", ["model=musegan_v2"]),
    "v2_dbn": ("current + deterministic binary neurons", ["model=musegan_v2", "model.output=deterministic"]),
    "v2_sbn": ("current + stochastic binary neurons", ["model=musegan_v2", "model.output=stochastic"]),
    "v2_refiner": ("current + refiner (two stages: 200 + 100, DBN)", ["model=musegan_v2", "model.output=deterministic", REFINER]),
    "voices": ("AAAI networks, monophonic voices (straight-through)", [VOICES, NO_HOLD, "model.voices=straight_through"]),
    "voices_softmax": ("AAAI networks, monophonic voices (softmax)", [VOICES, NO_HOLD, "model.voices=softmax"]),
    "voices_hold": ("AAAI networks, monophonic voices (softmax, hold)", [VOICES, "model.voices=softmax", "model.hold=true"]),
    "voices_gumbel": ("AAAI networks, monophonic voices (Gumbel-softmax, temperature 1 to 0.2 over 300 steps)", [VOICES, NO_HOLD, "model.voices=gumbel", "model.slope={start: 0, end: 300, end_value: 5.0}"]),
    "voices_hold_st": ("AAAI networks, monophonic voices (straight-through, hold)", [VOICES, "model.voices=straight_through", "model.hold=true"]),
    "voices_hold_sample": ("AAAI networks, monophonic voices (exact draws, hold)", [VOICES, "model.voices=sample", "model.hold=true"]),
    "voices_hold_streams": ("AAAI networks + both streams, monophonic voices (softmax, hold)", HOLD_STREAMS),
    "voices_hold_streams_decay": ("AAAI networks + both streams, monophonic voices (softmax, hold), learning rates decayed linearly to 0", [*HOLD_STREAMS, "train.lr_decay=true"]),
    "voices_hold_streams_late_decay": ("AAAI networks + both streams, monophonic voices (softmax, hold), learning rates decayed linearly to 0 over the last tenth", [*HOLD_STREAMS, "train.lr_decay=true", "train.lr_decay_start=0.9"]),
    "voices_hold_streams_composer": ("AAAI networks + both streams, monophonic voices (softmax, hold), composer mode (one generator for all voices)", [*HOLD_STREAMS, "mode=composer"]),
    "voices_hold_streams_chroma128": ("AAAI networks + both streams, monophonic voices (softmax, hold), chroma stream of 128 + 128 filters", [*HOLD_STREAMS, "model.critic.chroma_filters=[128,128]"]),
    "voices_hold_streams_shared_time": ("AAAI networks + both streams, monophonic voices (softmax, hold), dense and time layers shared by the voices' generators", [*HOLD_STREAMS, "model.bar_generator.shared=time"]),
    "voices_hold_streams_shared_pitch": ("AAAI networks + both streams, monophonic voices (softmax, hold), every hidden layer shared by the voices' generators", [*HOLD_STREAMS, "model.bar_generator.shared=pitch"]),
    "voices_hold_streams_shared_time_ema": ("AAAI networks + both streams, monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.99 per step) from step 1,000", [*HOLD_STREAMS, "model.bar_generator.shared=time", "train.ema_decay=0.99", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_ema_key": ("AAAI networks + both streams + key stream, monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.99 per step) from step 1,000", [*HOLD_KEY_STREAMS, "model.bar_generator.shared=time", "train.ema_decay=0.99", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_ema_key_motion": ("AAAI networks + both streams + key and motion streams, monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.99 per step) from step 1,000", [*HOLD_MOTION_STREAMS, "model.bar_generator.shared=time", "train.ema_decay=0.99", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_ema_key_rhythm": ("AAAI networks + both streams + key and rhythm streams, monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.99 per step) from step 1,000", [*HOLD_RHYTHM_STREAMS, "model.bar_generator.shared=time", "train.ema_decay=0.99", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_ema_key_rhythm_ema995": ("AAAI networks + both streams + key and rhythm streams, monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.995 per step) from step 1,000", [*HOLD_RHYTHM_STREAMS, "model.bar_generator.shared=time", "train.ema_decay=0.995", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_ema_key_rhythm16": ("AAAI networks + both streams + key and rhythm streams (one rhythm layer of 16 units), monophonic voices (softmax, hold), dense and time layers shared, generator weights averaged (decay 0.99 per step) from step 1,000", [*HOLD_RHYTHM_STREAMS, "model.critic.rhythm_units=[16]", "model.bar_generator.shared=time", "train.ema_decay=0.99", "train.ema_start=1000"]),
    "voices_hold_streams_shared_time_key_decay": ("AAAI networks + both streams + key stream, monophonic voices (softmax, hold), dense and time layers shared, learning rates decayed linearly to 0", [*HOLD_KEY_STREAMS, "model.bar_generator.shared=time", "train.lr_decay=true"]),
    "voices_hold_streams_shared_time_late_decay": ("AAAI networks + both streams, monophonic voices (softmax, hold), dense and time layers shared, learning rates decayed linearly to 0 over the last tenth", [*HOLD_STREAMS, "model.bar_generator.shared=time", "train.lr_decay=true", "train.lr_decay_start=0.9"]),
    "v2_voices_hold": ("current networks (both streams), monophonic voices (softmax, hold)", ["model=musegan_v2", *HOLD_STREAMS]),
    "voices_sample": ("AAAI networks, monophonic voices (exact draws, straight-through)", [VOICES, NO_HOLD, "model.voices=sample"]),
    "voices_sample_x10": ("AAAI networks, monophonic voices (exact draws, pitch logits x 10)", [VOICES, NO_HOLD, "model.voices=sample", "model.voice_scale=10"]),
    "voices_sample_x10_repeat": ("AAAI networks, monophonic voices (exact draws, pitch logits x 10, repeat-upsampled time)", [VOICES, NO_HOLD, "model.voices=sample", "model.voice_scale=10", "model.bar_generator.time_upsample=repeat"]),
}  # fmt: skip
#: Rows evaluated with the threshold only: exact outputs (binary neurons, one-hot voices), where
#: Bernoulli sampling would give the threshold's phrases again (the straight-through hold
#: form's too); and drawing voices (Gumbel, sample), whose outputs are draws already (their
#: argmax samples the categories). The softmax hold form's Bernoulli row follows its chain.
THRESHOLD_ONLY = {"v2_dbn", "v2_sbn", "v2_refiner", "voices", "voices_hold_st", "voices_gumbel", "voices_hold_sample", "voices_sample", "voices_sample_x10", "voices_sample_x10_repeat"}  # fmt: skip

METRICS = (
    "empty_bar_rate",
    "used_pitch_classes",
    "used_pitches",
    "pitch_range",
    "notes_per_bar",
    "polyphony_rate",
    "onset_polyphony",
    "qualified_note_rate",
    "mean_note_length",
    "in_scale_rate",
    "pitch_class_entropy",
    "repetitions_3gram",
    "tonal_distance",
)


def _python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def _last_step(run: Path) -> int:
    steps = [int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("ckpt-*.index")]
    return max(steps, default=0)


def _name(row: str, seed: int) -> str:
    """A run's folder name (and its reports' prefix): the row, and the seed unless 0."""
    return f"{row}{SEED}{seed}" if seed else row


def run_row(row: str, steps: int, seed: int = 0) -> None:
    """Train ``row`` from ``seed`` to ``steps`` generator steps (resuming), then evaluate that
    step."""
    run = RUNS / _name(row, seed)
    if _last_step(run) < steps:
        if (run / "config.yaml").exists():
            _python("-m", "musegan.train", f"resume={run}", f"train.steps={steps}")
        else:
            exact = [f"seed={seed}", "train.graph_optimizer=false"] if seed else []
            overrides = [*BASE, *ROWS[row][1], *exact, f"train.steps={steps}", f"hydra.run.dir={run}"]  # fmt: skip
            _python("-m", "musegan.train", *overrides)
    binarizations = ["threshold"] if row in THRESHOLD_ONLY else ["threshold", "bernoulli"]
    for binarize in binarizations:
        suffix = "" if binarize == "threshold" else BERNOULLI
        out = REPORTS / f"{run.name}-{steps}{suffix}"
        if not (out / "metrics.json").exists():
            _python(
                "-m",
                "musegan.evaluate",
                f"run={run}",
                f"checkpoint={steps}",
                f"binarize={binarize}",
                f"out={out}",
                "wandb.mode=disabled",
            )
        if not _voice_row(row):
            skyline_report(out)


def _options(overrides: list[str], total: int) -> TrainOptions:
    """The training options of a row's overrides, for a run of ``total`` steps."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=[*BASE, *overrides, f"train.steps={total}"])
    return TrainOptions.from_config(cfg.train, cfg.seed)


def _schedules(options: TrainOptions, total: int) -> dict[str, tuple[int, float] | None]:
    """What of a run's training changes with the step, each as ``(first step, setting)``, or
    None where it is off: the weight average (its decay) and the learning-rate decay (the
    step it reaches 0)."""
    return {
        "weight average": (options.averaging_start, options.ema_decay)
        if options.ema_decay
        else None,
        "learning-rate decay": (int(options.lr_decay_start * total), total)
        if options.lr_decay
        else None,
    }


def fork_row(row: str, source: str, step: int, total: int, seed: int = 0) -> None:
    """Start ``row``'s run from ``source``'s checkpoint of ``step``, for a run of ``total``
    steps.

    The row must be the source plus options of the form ``section.key=value``, some of which
    may give one of the source's options another value (the same key); they are merged into
    the source's saved config. A weight average or learning-rate decay that differs between
    the two must start at ``step`` or later in both, and a decay cannot be switched on or
    off; whether the other options change nothing before ``step`` is the caller's claim: the
    row's results are then those of a run trained from the start, up to the nondeterminism of
    a seed-0 run (see ``--seed``). The source's metrics log is copied up to ``step``, and
    ``forked.json`` records the source, the step and the options.
    """
    new, old = RUNS / _name(row, seed), RUNS / _name(source, seed)
    checkpoint = old / "checkpoints" / f"ckpt-{step}"
    extra = [o for o in ROWS[row][1] if o not in ROWS[source][1]]
    dropped = [o for o in ROWS[source][1] if o not in ROWS[row][1]]
    if new.exists():
        sys.exit(f"error: {new}: exists already")
    if not Path(f"{checkpoint}.index").exists():
        sys.exit(f"error: {checkpoint}: no such checkpoint")
    if not (old / "checkpoints" / "model.json").exists():
        sys.exit(f"error: {old}: no checkpoints/model.json (not a finished run folder)")
    if any(o.startswith(("+", "~")) or "." not in o.partition("=")[0] for o in extra):
        sys.exit(f"error: {row}: only section.key=value options can be merged into a saved run")
    changed = {o.partition("=")[0] for o in extra}
    if not extra or any(o.partition("=")[0] not in changed for o in dropped):
        sys.exit(f"error: {row}: not {source} plus options (or with other values of its options)")
    before = OmegaConf.load(old / "config.yaml")
    mine = _schedules(_options(ROWS[row][1], total), total)
    theirs = _schedules(_options(ROWS[source][1], before.train.steps), before.train.steps)
    if (mine["learning-rate decay"] is None) != (theirs["learning-rate decay"] is None):
        # A constant rate is an Adam variable of its own, a decaying one is not: the
        # optimizers' slots would not restore into the row's.
        sys.exit(f"error: {row}: a fork cannot switch the learning-rate decay on or off")
    for what, schedule in mine.items():
        starts = [s[0] for s in (schedule, theirs[what]) if s is not None]
        if schedule != theirs[what] and min(starts) < step:
            sys.exit(f"error: {row}: its {what} differs from {source}'s before step {step}")
    # The run's length too: a learning-rate decay is a function of it.
    changes = OmegaConf.from_dotlist([*extra, f"train.steps={total}"])
    saved = OmegaConf.merge(before, changes)
    part = new.with_name(f"{new.name}.part")
    shutil.rmtree(part, ignore_errors=True)
    (part / "checkpoints").mkdir(parents=True)
    for path in old.glob(f"checkpoints/ckpt-{step}.*"):
        shutil.copy2(path, part / "checkpoints" / path.name)
    shutil.copy2(old / "checkpoints" / "model.json", part / "checkpoints" / "model.json")
    (part / "checkpoints" / "checkpoint").write_text(
        f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n'
    )
    lines = (old / "metrics.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    (part / "metrics.jsonl").write_text("".join(f"{line}\n" for line in kept))
    OmegaConf.save(saved, part / "config.yaml")
    write_json(part / "forked.json", {"source": old.name, "step": step, "options": extra})
    part.rename(new)
    print(f"{new}: {source} at step {step} with {' '.join(extra)}")


def _voice_row(row: str) -> bool:
    """Whether a row trains monophonic voices (else free rolls)."""
    return VOICES in ROWS.get(row, ("", []))[1]


def _parse(name: str) -> tuple[str, int, int, bool, bool]:
    """A report folder's name as ``(row, seed, steps, bernoulli, skyline)``."""
    skyline_voices = name.endswith(SKYLINE)
    name = name.removesuffix(SKYLINE)
    bernoulli = name.endswith(BERNOULLI)
    run, steps = name.removesuffix(BERNOULLI).rsplit("-", 1)
    row, _, seed = run.partition(SEED)
    return row, int(seed or 0), int(steps), bernoulli, skyline_voices


def skyline_report(report: Path) -> Path:
    """Read a free-roll report's generated phrases as voices and compare them with the voice
    form of the training data (validation as the floor), into ``<report>-skyline``."""
    out = report.parent / f"{report.name}{SKYLINE}"
    if (out / "metrics.json").exists():
        return out
    if not (report / "generated.npz").exists():
        sys.exit(f"error: {report}: no generated.npz (evaluate the row first)")
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=[*BASE, VOICES])
    spec = make_spec(cfg.data)
    with np.load(report / "generated.npz") as saved:
        if "onsets" in saved.files:
            sys.exit(f"error: {report}: its phrases are voices already")
        if saved["phrases"].shape[1:] != spec.shape:
            sys.exit(
                f"error: {report}: phrases of shape {saved['phrases'].shape[1:]}, not {spec.shape}"
            )
        rolls, onsets = skyline(saved["phrases"], spec)
    out.mkdir(parents=True, exist_ok=True)
    save_phrases(out / "generated.npz", rolls, spec, onsets)
    _python(
        "-m",
        "pianoroll.evaluate",
        f"a={out / 'generated.npz'}",
        "b=data:train",
        "floor=data:validation",
        VOICES,
        f"out={out}",
    )
    return out


def _track_pairs(comparison: dict) -> Iterator[tuple[str, float | None, float | None]]:
    """``(metric, mean a, mean b)`` for each track (or track pair) of each metric of
    :data:`METRICS` in a comparison, in the report's key order; a mean is None where its set
    has no value (no note)."""
    for key, v in comparison["metrics"].items():
        name = key.split("/")[0]
        if name in METRICS:
            yield name, v["a"]["mean"], v["b"]["mean"]


def _mean_by_metric(pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """``(metric, value)`` pairs -> each metric's mean; NaN for a metric with no value."""
    values: dict[str, list[float]] = {name: [] for name in METRICS}
    for name, value in pairs:
        values[name].append(value)
    return {name: sum(v) / len(v) if v else float("nan") for name, v in values.items()}


def _means(comparison: dict, side: str) -> dict[str, float]:
    """Metric name -> its mean over tracks (or track pairs) for set ``side`` (a or b); a
    track with no value is left out."""
    index = "ab".index(side) + 1
    return _mean_by_metric(
        (t[0], t[index]) for t in _track_pairs(comparison) if t[index] is not None
    )


def track_distances(comparison: dict) -> dict[str, float]:
    """Metric name -> the mean over tracks (or track pairs) of ``|mean a - mean b|``: how far
    each track of set a lies from the same track of set b, so that one track above the data
    and another below do not cancel as they do in the difference of :func:`_means`.

    A track without a value on either side (a generated voice with no note in any phrase) is
    left out, as :func:`_means` leaves it out; NaN where no track has a value on both sides.
    """
    return _mean_by_metric(
        (name, abs(a - b)) for name, a, b in _track_pairs(comparison) if None not in (a, b)
    )


def _cell(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def reports() -> list[tuple[Path, ReportParts]]:
    """Every report's metrics.json and its parts, in table order (:func:`_order`): what
    :func:`table` and :func:`distance_table` read, loaded once for both."""
    reports = [*REPORTS.glob("*/metrics.json"), *ONSET_BUG.glob("*/metrics.json")]
    return [(path, read_parts(path)) for path in sorted(reports, key=_order)]


def _row_label(report: Path) -> list[str]:
    """The row, steps and binarization cells of a report."""
    row, seed, steps, bernoulli, read_as_voices = _parse(report.parent.name)
    return [
        (f"{row} ({ROWS[row][0]})" if row in ROWS else row)
        + (f" seed {seed}" if seed else "")
        + (" [onset bug]" if _before_fix(report) else ""),
        str(steps),
        ("Bernoulli" if bernoulli else "threshold")
        + (", skyline voices" if read_as_voices else ""),
    ]


def _data_kind(report: Path) -> str:
    """The data a report compares with: the voice rows train on the voices' data (overlaps
    resolved), with their own training-data and floor rows; a free-roll row read as voices is
    compared with it too."""
    row, _, _, _, read_as_voices = _parse(report.parent.name)
    return "voices" if _voice_row(row) or read_as_voices else "free rolls"


def _markdown(rows: list[list[str]]) -> str:
    """A markdown table: the header row, then the others."""
    rows = [rows[0], ["---"] * len(rows[0]), *rows[1:]]
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows) + "\n"


def table(found: list[tuple[Path, ReportParts]]) -> str:
    """The markdown table of the evaluated rows ``found`` (:func:`reports`), and the data's
    and the floor's values."""
    header = ["row", "steps", "binarization", "Fréchet distance", "exact / near copies"]
    lines, data, floor = [], {}, {}
    for report, parts in found:
        main, kind = parts.main, _data_kind(report)
        memo = main["memorization"]
        values = _means(main, "a")
        data[kind] = _means(main, "b")
        if parts.floor is not None:
            floor[kind] = (_means(parts.floor, "a"), parts.floor["frechet_distance"])
        cells = [
            *_row_label(report),
            _cell(main["frechet_distance"]),
            f"{memo['exact_share']:.1%} / {memo['near_share']:.1%}",
            *(_cell(values[m]) for m in METRICS),
        ]
        lines.append(cells)
    for kind, means in data.items():
        lines.append(
            [f"training data ({kind})", "", "", "0", "", *(_cell(means[m]) for m in METRICS)]
        )
        if kind in floor:
            values, distance = floor[kind]
            lines.append(
                [f"validation data ({kind}; floor)", "", "", _cell(distance), "", *(_cell(values[m]) for m in METRICS)]
            )  # fmt: skip
    return _markdown([header + list(METRICS), *lines])


def distance_table(found: list[tuple[Path, ReportParts]]) -> str:
    """The markdown table of the evaluated rows' (``found``, :func:`reports`) per-track distance
    from their data (:func:`track_distances`), and the validation phrases' (the floor) for
    each kind of data."""
    lines, floors = [], {}
    for report, parts in found:
        gaps = track_distances(parts.main)
        lines.append([*_row_label(report), *(_cell(gaps[m]) for m in METRICS)])
        if parts.floor is not None:
            floors[_data_kind(report)] = track_distances(parts.floor)
    for kind, gaps in floors.items():
        lines.append(
            [f"validation data ({kind}; floor)", "", "", *(_cell(gaps[m]) for m in METRICS)]
        )
    return _markdown([["row", "steps", "binarization", *METRICS], *lines])


def _order(path: Path) -> tuple[int, bool, int, int, bool, bool, str]:
    """Rows in :data:`ROWS` order, runs before the onset fix after the others, then by steps
    and seed; threshold before Bernoulli, and the phrases as generated before the same phrases
    read as voices."""
    row, seed, steps, bernoulli, skyline_voices = _parse(path.parent.name)
    place = list(ROWS).index(row) if row in ROWS else len(ROWS)
    return (place, _before_fix(path), steps, seed, skyline_voices, bernoulli, row)


def _before_fix(path: Path) -> bool:
    """A report file (``<report>/metrics.json``) measured before the onset fix."""
    return path.parent.parent == ONSET_BUG


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train (or resume) and evaluate rows")
    run.add_argument("rows", nargs="+", choices=list(ROWS))
    run.add_argument("--steps", type=int, default=300, help="generator steps")
    run.add_argument(
        "--seed", type=int, default=0, help="another seed (> 0): an exact rerun of each row"
    )
    fork = sub.add_parser("fork", help="start a row from another row's checkpoint")
    fork.add_argument("row", choices=list(ROWS))
    fork.add_argument("--source", required=True, choices=list(ROWS), help="the row to fork")
    fork.add_argument("--step", type=int, required=True, help="the source's checkpoint")
    fork.add_argument("--total", type=int, required=True, help="the row's generator steps")
    fork.add_argument("--seed", type=int, default=0, help="the seed of both runs")
    sky = sub.add_parser("skyline", help="read saved free-roll reports' phrases as voices")
    sky.add_argument("reports", nargs="+", help="report names, e.g. aaai-1300-bernoulli")
    sub.add_parser("table", help="write table.md and distance.md of every evaluated row")
    args = parser.parse_args(argv)
    if args.command == "run":
        for row in args.rows:
            run_row(row, args.steps, args.seed)
    elif args.command == "fork":
        fork_row(args.row, args.source, args.step, args.total, args.seed)
    elif args.command == "skyline":
        for name in args.reports:
            skyline_report(REPORTS / name)
    else:
        REPORTS.mkdir(parents=True, exist_ok=True)
        found = reports()
        (REPORTS / "table.md").write_text(table(found))
        (REPORTS / "distance.md").write_text(distance_table(found))
        print((REPORTS / "table.md").read_text())
        print(f"per-track distances: {REPORTS / 'distance.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
