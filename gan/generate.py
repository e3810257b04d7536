"""Generation from a trained run: samples, interpolations, long pieces and accompaniment.

The model packages' ``generate`` commands (``python -m musegan.generate``, ``python -m
crnngan.generate``) call :func:`generate` with their config (``conf/generate.yaml``). Every
piece is written as MIDI, a pypianoroll ``.npz``, a PNG and optionally a WAV, plus one PNG grid
of all pieces and an ``index.html`` gallery; see :func:`pianoroll.output.write_piece`.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import tensorflow as tf
from omegaconf import DictConfig

from gan.model import GANModel
from gan.noise import draw_noise, interpolation_noise, path_noise
from gan.run import TrainedRun, load_run
from pianoroll.audio import fluidsynth_problem
from pianoroll.errors import UserError, number_option, number_value
from pianoroll.gallery import write_gallery
from pianoroll.io import output_folder
from pianoroll.midi import BeatGrid, load_midi, midi_to_song, roll_to_instruments
from pianoroll.output import BINARIZATIONS, binarize, save_phrases, write_piece
from pianoroll.plot import save_grid
from pianoroll.prepare import load_or_prepare, track_assigner
from pianoroll.values import to_signed

__all__ = ["MODES", "accompany", "condition_phrases", "generate"]

MODES = ("sample", "interpolate", "accompany")


def condition_phrases(run: TrainedRun, count: int) -> np.ndarray | None:
    """Validation phrases in {-1, 1} to take a conditional model's condition track from."""
    if run.model.condition_index is None:
        return None
    dataset, _ = load_or_prepare(run.cfg.data, run.cfg.paths.data_dir, progress=False)
    train, validation = dataset.split(
        float(run.cfg.data.val_fraction), int(run.cfg.data.split_seed)
    )
    source = validation if len(validation) else train
    return to_signed(source.phrases[np.arange(count) % len(source)])


def _user_noise(run: TrainedRun, path: str) -> dict[str, np.ndarray]:
    """Noise from a user's ``.npz``: one ``(N, *shape)`` array per noise input."""
    expected = {k: tuple(v.shape[1:]) for k, v in draw_noise(run.model, 1, 0).items()}
    wanted = ", ".join(f"{k} {(None, *s)}" for k, s in expected.items())
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as archive:
            noise = {k: np.asarray(archive[k], np.float32) for k in archive.files}
    except FileNotFoundError:
        raise UserError(f"noise={path}: no such file") from None
    except Exception as err:  # zip, format and pickle refusals
        raise UserError(f"noise={path}: not a readable .npz ({str(err).splitlines()[0]})") from None
    if set(noise) != set(expected):
        raise UserError(f"noise={path}: has arrays {sorted(noise)}; this model needs {wanted}")
    counts = {len(v) for v in noise.values()}
    bad = [k for k, v in noise.items() if tuple(v.shape[1:]) != expected[k]]
    if bad or len(counts) != 1:
        raise UserError(
            f"noise={path}: shapes {[(k, v.shape) for k, v in noise.items()]}; needed {wanted}"
        )
    return noise


def _vary(run: TrainedRun, name: str | None) -> str | None:
    """The one noise input an interpolation moves, or None for all."""
    if name in (None, "", "all"):
        return None
    names = sorted(draw_noise(run.model, 1, 0))
    if name not in names:
        raise UserError(
            f"vary={name}: not a noise input of this model; choose all or one of {', '.join(names)}"
        )
    return name


def _long_pieces(run: TrainedRun, cfg: DictConfig, count: int, bars: int) -> np.ndarray:
    """``count`` pieces of ``bars`` bars: in one pass where the model can (a recurrent
    generator), else from consecutive phrases on a smooth noise path.

    Returns:
        ``(count, bars, steps, pitches, tracks)`` in (-1, 1).
    """
    model = run.model
    if model.condition_index is not None:
        raise UserError(
            "bars= needs an unconditional checkpoint; a track-conditional one follows its input"
            " in mode=accompany"
        )
    native = model.generate_bars(count, bars, tf.constant([int(cfg.seed), 0], tf.int64))
    if native is not None:
        return native
    phrases = math.ceil(bars / model.spec.n_bars)
    outputs = model.generate_numpy(_piece_noise(model, cfg, count, phrases))
    shape = model.spec.shape
    return outputs.reshape(count, phrases * shape[0], *shape[1:])[:, :bars]


def accompany(
    run: TrainedRun, cfg: DictConfig, rng: np.random.Generator
) -> tuple[np.ndarray, pretty_midi.PrettyMIDI, str]:
    """Accompany the user's MIDI track with a track-conditional model.

    The matching instrument is found by name, then by the data config's track families, and
    else, if the file has a single melodic instrument, that one. Its notes are put on the
    model's grid from the file's first downbeat (following its tempo map), cut into phrases
    (the last one padded with silence), and the model generates the other tracks phrase by
    phrase along a smooth noise path (see :func:`gan.noise.path_noise`).

    Returns:
        The binary roll ``(bars, steps, pitches, tracks)`` covering the input (the condition
        track holds the user's notes on the grid), the MIDI: the user's instrument(s), tempo
        map and time signatures unchanged plus the generated tracks timed by the same beats, and
        a line describing what was read.
    """
    model, spec = run.model, run.model.spec
    if model.condition_index is None:
        raise UserError(
            f"{run.run_dir}: mode=accompany needs a track-conditional checkpoint (trained with"
            " model.condition_track=<track name>)"
        )
    index = model.condition_index
    condition = spec.tracks[index].name
    track = str(cfg.get("track") or condition)
    if track.lower() != condition.lower():
        raise UserError(f"track={track}: this checkpoint accompanies the {condition!r} track")
    if not cfg.get("input"):
        raise UserError("input is missing: mode=accompany input=<midi file> track=<name>")
    path = Path(str(cfg.input)).expanduser()
    if not path.is_file():
        raise UserError(f"input={path}: no such file")
    midi = load_midi(path)
    assign = track_assigner(run.cfg.data, spec)
    chosen = [
        i for i in midi.instruments if i.notes and assign(i.program, i.is_drum, i.name) == index
    ]
    if not chosen:
        melodic = [i for i in midi.instruments if i.notes and not i.is_drum]
        if len(melodic) != 1:
            found = ", ".join(repr(i.name or f"program {i.program}") for i in midi.instruments)
            raise UserError(
                f"input={path}: no instrument matches track {condition!r}"
                f" (instruments: {found or 'none with notes'})"
            )
        chosen = melodic
    # The user's part alone: its grid, and later the output file, keep its tempo map.
    user = copy.deepcopy(midi)
    user.instruments = [copy.deepcopy(i) for i in chosen]
    song = midi_to_song(user, path, spec, lambda *_: index)
    grid = BeatGrid.of(user, spec.steps_per_beat)
    own = song.roll[song.first_downbeat :, :, index]  # (time_steps, 128)
    roll = own[:, spec.lowest_pitch : spec.lowest_pitch + spec.n_pitches]
    outside = int(own.sum() - roll.sum())
    bars = max(1, math.ceil(len(roll) / spec.steps_per_bar))
    phrases = math.ceil(bars / spec.n_bars)
    steps = np.zeros((phrases * spec.n_bars * spec.steps_per_bar, spec.n_pitches), bool)
    steps[: len(roll)] = roll
    real = np.full((phrases, *spec.shape), -1.0, np.float32)
    real[..., index] = to_signed(steps.reshape(phrases, *spec.shape[:3]))
    outputs = model.generate_numpy(_piece_noise(model, cfg, 1, phrases), real)
    binary = binarize(outputs, str(cfg.binarize), rng)
    binary = binary.reshape(phrases * spec.n_bars, *spec.shape[1:])[:bars]
    generated = [
        instrument
        for k, instrument in enumerate(
            roll_to_instruments(binary, spec, grid, first_step=song.first_downbeat)
        )
        if k != index
    ]
    user.instruments.extend(generated)
    names = ", ".join(repr(i.name or f"program {i.program}") for i in chosen)
    info = f"input: {names} as {condition!r}, {bars} bars"
    if outside:
        info += f"; {outside} active steps outside the model's pitch range kept in the MIDI only"
    return binary, user, info


def _piece_noise(
    model: GANModel, cfg: DictConfig, count: int, phrases: int
) -> dict[str, np.ndarray]:
    """Noise for ``count`` pieces of ``phrases`` consecutive phrases each, piece after piece:
    every piece follows its own path through anchors ``cfg.spacing`` phrases apart (see
    :func:`gan.noise.path_noise`), seeded by ``cfg.seed`` and truncated by ``cfg.truncation``."""
    spacing = number_option(cfg, "spacing", positive=True)
    n_anchors = phrases // spacing + 2
    anchors = draw_noise(model, count * n_anchors, int(cfg.seed), truncation=cfg.truncation)
    moving = model.time_noise if model.time_noise is not None else frozenset(anchors)
    parts = [
        path_noise(
            {k: v[i * n_anchors : (i + 1) * n_anchors] for k, v in anchors.items()},
            phrases,
            spacing,
            moving,
        )
        for i in range(count)
    ]
    return {k: np.concatenate([part[k] for part in parts]) for k in anchors}


def generate(cfg: DictConfig, package: str) -> dict[str, Any]:
    """Run a generation command (``conf/generate.yaml``) for a model package.

    Args:
        cfg: the generate config: ``run``, ``checkpoint``, ``mode``, ``n``, ``out``, ``seed``,
            ``binarize``, ``truncation``, ``tempo``, ``audio``, ``bars``, ``spacing``,
            ``steps``, ``seeds``, ``vary``, ``input``, ``track``, ``noise``.
        package: the model package whose runs this command reads.

    Returns:
        ``out`` (the folder), ``pieces`` (per piece, kind -> path), ``grid``, ``gallery``.

    Raises:
        UserError: a bad option, run, checkpoint, input file or output folder.
    """
    mode = str(cfg.mode)
    if mode not in MODES:
        raise UserError(f"mode={mode}: choose one of {', '.join(MODES)}")
    if str(cfg.binarize) not in BINARIZATIONS:
        raise UserError(f"binarize={cfg.binarize}: choose one of {', '.join(BINARIZATIONS)}")
    if cfg.truncation is not None:
        number_option(cfg, "truncation", float, positive=True)
    tempo = number_option(cfg, "tempo", float, positive=True)
    if not cfg.get("run"):
        raise UserError(f"run is missing: python -m {package}.generate run=<run dir>")
    number_option(cfg, "seed", int, 0)
    run = load_run(cfg.run, cfg.checkpoint, package)
    model, spec = run.model, run.model.spec
    with output_folder(
        Path(str(cfg.out)).expanduser() if cfg.get("out") else run.run_dir / "generated" / mode
    ) as out:
        audio = bool(cfg.audio)
        if audio and (problem := fluidsynth_problem()):
            print(problem, file=sys.stderr)
            audio = False
        rng = np.random.default_rng([int(cfg.seed), 1])
        details = [f"run {run.run_dir}, checkpoint {Path(run.checkpoint).name} (step {run.step})"]
        midis: list[pretty_midi.PrettyMIDI | None] = []
        phrase_shaped = True
        if mode == "accompany":
            roll, midi, info = accompany(run, cfg, rng)
            print(info, file=sys.stderr)
            details.append(info)
            rolls, names, midis, phrase_shaped = roll[None], ["accompaniment"], [midi], False
        elif mode == "interpolate":
            seeds = list(cfg.seeds)
            if len(seeds) != 2:
                raise UserError(f"seeds={seeds}: give two seeds, seeds=[a,b]")
            seeds = [number_value("seeds", seed) for seed in seeds]
            count = number_option(cfg, "steps", positive=True)
            if count < 2:
                raise UserError(f"steps={count}: an interpolation needs at least 2 steps")
            vary = _vary(run, cfg.vary)
            start, end = (draw_noise(model, 1, s, truncation=cfg.truncation) for s in seeds)
            noise = interpolation_noise(start, end, count, vary)
            conditions = condition_phrases(run, 1)
            if conditions is not None:
                conditions = np.repeat(conditions, count, axis=0)
            rolls = binarize(model.generate_numpy(noise, conditions), str(cfg.binarize), rng)
            names = [f"step-{i:02d}" for i in range(count)]
            details.append(
                f"interpolation of {vary or 'all noise'} from seed {seeds[0]} to seed {seeds[1]}"
            )
        else:
            if cfg.get("noise"):
                noise = _user_noise(run, str(cfg.noise))
                count = len(next(iter(noise.values())))
            else:
                count = number_option(cfg, "n", positive=True)
                noise = None
            if cfg.get("bars") is not None:
                if noise is not None:
                    raise UserError(
                        "noise= and bars= cannot be combined: a long piece draws its own noise path"
                    )
                bars = number_option(cfg, "bars", positive=True)
                rolls = binarize(_long_pieces(run, cfg, count, bars), str(cfg.binarize), rng)
                names = [f"piece-{i:03d}" for i in range(count)]
                phrase_shaped = bars == spec.n_bars
                details.append(f"{count} pieces of {bars} bars")
            else:
                if noise is None:
                    noise = draw_noise(model, count, int(cfg.seed), truncation=cfg.truncation)
                outputs = model.generate_numpy(noise, condition_phrases(run, count))
                rolls = binarize(outputs, str(cfg.binarize), rng)
                names = [f"sample-{i:03d}" for i in range(count)]
        details.append(
            f"seed {cfg.seed}, binarization {cfg.binarize}, truncation {cfg.truncation},"
            f" tempo {tempo:g} qpm"
        )
        pieces = []
        for i, (name, roll) in enumerate(zip(names, rolls, strict=True)):
            midi = midis[i] if midis else None
            files = write_piece(out, name, roll, spec, tempo, audio, midi, int(cfg.sample_rate))
            pieces.append({"name": name, **files})
        grid = out / "grid.png"
        save_grid(
            grid,
            rolls,
            spec.with_bars(rolls.shape[1]),
            columns=4 if phrase_shaped else 1,
            titles=names,
        )
        if phrase_shaped:
            save_phrases(out / "phrases.npz", rolls, spec)
        gallery = write_gallery(out, pieces, f"{package}: {mode}", details, grid)
        print(
            f"wrote {len(pieces)} {'piece' if len(pieces) == 1 else 'pieces'} to {out} (open {gallery.name})"
        )
        return {"out": out, "pieces": pieces, "grid": grid, "gallery": gallery}
