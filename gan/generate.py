"""Generation from a trained run: samples, interpolations, long pieces and accompaniment.

The model packages' ``generate`` commands (``python -m musegan.generate``, ``python -m
crnngan.generate``) call :func:`generate` with their config (``conf/tools/generate.yaml``). Every
piece is written as MIDI, a pypianoroll ``.npz``, a PNG and optionally a WAV, plus one PNG grid
of all pieces and an ``index.html`` gallery; see :func:`pianoroll.output.write_piece`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import tensorflow as tf
from omegaconf import DictConfig

from gan.conditions import condition_phrases
from gan.decoding import Decoding, DecodingOptions, VoiceDecoding
from gan.model import GANModel
from gan.noise import Stream, draw_noise, interpolation_noise, path_noise, stream_rng
from gan.run import TrainedRun, load_run
from pianoroll.audio import audio_usable
from pianoroll.errors import UserError, number_option, number_value
from pianoroll.gallery import write_gallery
from pianoroll.io import output_folder
from pianoroll.midi import BeatGrid, load_midi, midi_to_song, roll_to_instruments
from pianoroll.output import save_phrases, write_piece
from pianoroll.plot import save_grid
from pianoroll.prepare import load_splits, track_assigner
from pianoroll.spec import PhraseSpec
from pianoroll.values import to_signed
from pianoroll.voices import make_monophonic

__all__ = ["MODES", "Pieces", "accompany", "generate", "write_pieces"]


def _run_conditions(run: TrainedRun, count: int) -> np.ndarray | None:
    """Condition phrases for a conditional run: its data's reference phrases."""
    return condition_phrases(
        run.model,
        lambda: load_splits(run.cfg.data, run.cfg.paths.data_dir, progress=False).reference,
        count,
    )


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
        ``(count, bars, steps, pitches, channels)`` in [-1, 1] (model tensors).
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
    shape = model.spec.channel_shape
    return outputs.reshape(count, phrases * shape[0], *shape[1:])[:, :bars]


def accompany(
    run: TrainedRun, cfg: DictConfig, decoding: Decoding, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, pretty_midi.PrettyMIDI, str]:
    """Accompany the user's MIDI track with a track-conditional model.

    The matching instrument is found by name, then by the data config's track families, and
    else, if the file has a single melodic instrument, that one. Its notes are put on the
    model's grid from the file's first downbeat (following its tempo map), cut into phrases
    (the last one padded with silence), and the model generates the other tracks phrase by
    phrase along a smooth noise path (see :func:`gan.noise.path_noise`), decoded by
    ``decoding`` with ``rng``.

    Returns:
        The binary roll ``(bars, steps, pitches, tracks)`` covering the input (the condition
        track holds the user's notes on the grid), its onsets (the same shape, binary: where
        the voices' notes start; None without voices), the MIDI: the user's instrument(s),
        tempo map and time signatures unchanged plus the generated tracks timed by the same
        beats, and a line describing what was read.
    """
    model, spec = run.model, run.model.spec
    if decoding.voices is not VoiceDecoding.MODEL:
        raise UserError(
            f"voices={decoding.voices}: mode=accompany writes your track as given, which a"
            " skyline would change; read a free-roll run's voices with mode=sample or interpolate"
        )
    path = _accompaniment_input(run, cfg)
    index = model.condition_index
    condition = spec.tracks[index].name
    midi = load_midi(path)
    chosen = _condition_instruments(midi, run, path)
    # The user's part alone: its grid, and later the output file, keep its tempo map.
    user = copy.deepcopy(midi)
    user.instruments = [copy.deepcopy(i) for i in chosen]
    song = midi_to_song(user, path, spec, lambda *_: index)
    own = song.roll[song.first_downbeat :, :, index]  # (time_steps, 128)
    pitches = slice(spec.lowest_pitch, spec.lowest_pitch + spec.n_pitches)
    roll = own[:, pitches]
    onsets = song.onsets[song.first_downbeat :, pitches, index]
    if index in spec.voices:  # the model knows its voices one pitch at a time
        roll, onsets, _ = make_monophonic(roll, onsets)
    bars = max(1, math.ceil(len(roll) / spec.steps_per_bar))
    real = _condition_phrases_of(roll, onsets, spec, index)
    outputs = model.generate_numpy(_piece_noise(model, cfg, 1, len(real)), real)
    binary, starts = decoding(outputs, rng)
    binary = binary.reshape(-1, *spec.shape[1:])[:bars]
    if starts is not None:
        starts = starts.reshape(-1, *spec.shape[1:])[:bars]
    grid = BeatGrid.of(user, spec.steps_per_quarter)
    instruments = roll_to_instruments(binary, decoding.spec, grid, starts, song.first_downbeat)
    user.instruments.extend(i for k, i in enumerate(instruments) if k != index)
    names = ", ".join(repr(i.name or f"program {i.program}") for i in chosen)
    info = f"input: {names} as {condition!r}, {bars} bars"
    if outside := int(own.sum() - roll.sum()):
        info += f"; {outside} active steps outside the model's pitch range kept in the MIDI only"
    return binary, starts, user, info


def _accompaniment_input(run: TrainedRun, cfg: DictConfig) -> Path:
    """The input MIDI file of ``mode=accompany``, its options checked against the run.

    Raises:
        UserError: the run is not track-conditional, ``track`` names another track, or the
            input is missing.
    """
    if run.model.condition_index is None:
        raise UserError(
            f"{run.run_dir}: mode=accompany needs a track-conditional checkpoint (trained with"
            " model.condition_track=<track name>)"
        )
    condition = run.model.spec.tracks[run.model.condition_index].name
    track = str(cfg.get("track") or condition)
    if track.lower() != condition.lower():
        raise UserError(f"track={track}: this checkpoint accompanies the {condition!r} track")
    if not cfg.get("input"):
        raise UserError("input is missing: mode=accompany input=<midi file> track=<name>")
    path = Path(str(cfg.input)).expanduser()
    if not path.is_file():
        raise UserError(f"input={path}: no such file")
    return path


def _condition_instruments(
    midi: pretty_midi.PrettyMIDI, run: TrainedRun, path: Path
) -> list[pretty_midi.Instrument]:
    """The input's instruments that play the condition track: those the data config assigns
    to it (by name, then by track families), else its only melodic instrument.

    Raises:
        UserError: none matches and the file has no single melodic instrument.
    """
    spec, index = run.model.spec, run.model.condition_index
    assign = track_assigner(run.cfg.data, spec)
    chosen = [
        i for i in midi.instruments if i.notes and assign(i.program, i.is_drum, i.name) == index
    ]
    if chosen:
        return chosen
    melodic = [i for i in midi.instruments if i.notes and not i.is_drum]
    if len(melodic) != 1:
        found = ", ".join(repr(i.name or f"program {i.program}") for i in midi.instruments)
        raise UserError(
            f"input={path}: no instrument matches track {spec.tracks[index].name!r}"
            f" (instruments: {found or 'none with notes'})"
        )
    return melodic


def _condition_phrases_of(
    roll: np.ndarray, onsets: np.ndarray, spec: PhraseSpec, index: int
) -> np.ndarray:
    """A condition track's roll and onsets ``(time_steps, pitches)`` (binary each) cut into
    phrases, the last one padded with silence.

    Returns:
        ``(phrases, bars, steps, pitches, channels)`` in {-1, 1} (model tensors): the track
        ``index`` (and its onsets if it is a voice), every other track silent.
    """
    bars = max(1, math.ceil(len(roll) / spec.steps_per_bar))
    phrases = math.ceil(bars / spec.n_bars)
    real = np.full((phrases, *spec.channel_shape), -1.0, np.float32)
    for channel, cells in zip(spec.track_channels(index), (roll, onsets), strict=False):
        steps = np.zeros((phrases * spec.n_bars * spec.steps_per_bar, spec.n_pitches), bool)
        steps[: len(cells)] = cells
        real[..., channel] = to_signed(steps.reshape(phrases, *spec.shape[:3]))
    return real


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


@dataclasses.dataclass
class Pieces:
    """What a generation mode made, for :func:`write_pieces` to save.

    Attributes:
        rolls: ``(N, bars, steps, pitches, tracks)``, binary.
        onsets: where the voices' notes start, the rolls' shape, binary; None without voices.
        names: a file stem per piece.
        details: lines describing what was made, for the gallery.
        midis: a MIDI per piece to write instead of the roll's own (accompaniment keeps the
            user's track and tempo map), or None.
        phrase_shaped: the pieces are phrases of the model's length (then ``phrases.npz`` is
            written for ``pianoroll.evaluate`` and the grid has 4 columns).
    """

    rolls: np.ndarray
    onsets: np.ndarray | None
    names: list[str]
    details: list[str]
    midis: list[pretty_midi.PrettyMIDI] | None = None
    phrase_shaped: bool = True


def _sample(
    run: TrainedRun, cfg: DictConfig, decoding: Decoding, rng: np.random.Generator
) -> Pieces:
    """``n`` phrases (or the user's noise), or with ``bars`` long pieces."""
    noise = _user_noise(run, str(cfg.noise)) if cfg.get("noise") else None
    count = len(next(iter(noise.values()))) if noise else number_option(cfg, "n", positive=True)
    if cfg.get("bars") is not None:
        if noise is not None:
            raise UserError(
                "noise= and bars= cannot be combined: a long piece draws its own noise path"
            )
        bars = number_option(cfg, "bars", positive=True)
        rolls, onsets = decoding(_long_pieces(run, cfg, count, bars), rng)
        names = [f"piece-{i:03d}" for i in range(count)]
        details = [f"{count} pieces of {bars} bars"]
        return Pieces(rolls, onsets, names, details, phrase_shaped=bars == run.model.spec.n_bars)
    if noise is None:
        noise = draw_noise(run.model, count, int(cfg.seed), truncation=cfg.truncation)
    outputs = run.model.generate_numpy(noise, _run_conditions(run, count))
    rolls, onsets = decoding(outputs, rng)
    return Pieces(rolls, onsets, [f"sample-{i:03d}" for i in range(count)], [])


def _interpolate(
    run: TrainedRun, cfg: DictConfig, decoding: Decoding, rng: np.random.Generator
) -> Pieces:
    """``steps`` pieces on the spherical path from seed ``a``'s noise to seed ``b``'s."""
    seeds = list(cfg.seeds)
    if len(seeds) != 2:
        raise UserError(f"seeds={seeds}: give two seeds, seeds=[a,b]")
    seeds = [number_value("seeds", seed) for seed in seeds]
    count = number_option(cfg, "steps", positive=True)
    if count < 2:
        raise UserError(f"steps={count}: an interpolation needs at least 2 steps")
    vary = _vary(run, cfg.vary)
    start, end = (draw_noise(run.model, 1, s, truncation=cfg.truncation) for s in seeds)
    noise = interpolation_noise(start, end, count, vary)
    conditions = _run_conditions(run, 1)
    if conditions is not None:
        conditions = np.repeat(conditions, count, axis=0)
    rolls, onsets = decoding(run.model.generate_numpy(noise, conditions), rng)
    detail = f"interpolation of {vary or 'all noise'} from seed {seeds[0]} to seed {seeds[1]}"
    return Pieces(rolls, onsets, [f"step-{i:02d}" for i in range(count)], [detail])


def _accompany(
    run: TrainedRun, cfg: DictConfig, decoding: Decoding, rng: np.random.Generator
) -> Pieces:
    """The user's MIDI track with the generated tracks around it (see :func:`accompany`)."""
    roll, onsets, midi, info = accompany(run, cfg, decoding, rng)
    print(info, file=sys.stderr)
    onsets = None if onsets is None else onsets[None]
    return Pieces(roll[None], onsets, ["accompaniment"], [info], [midi], phrase_shaped=False)


#: Generation modes (the ``mode`` option): each makes :class:`Pieces` from a run.
MODES: dict[str, Callable[[TrainedRun, DictConfig, Decoding, np.random.Generator], Pieces]] = {
    "sample": _sample,
    "interpolate": _interpolate,
    "accompany": _accompany,
}


def _check_options(cfg: DictConfig, package: str) -> tuple[float, DecodingOptions]:
    """Refuse bad options before a run is read or a folder written; returns the tempo and
    the decoding options."""
    if str(cfg.mode) not in MODES:
        raise UserError(f"mode={cfg.mode}: choose one of {', '.join(MODES)}")
    decoding = DecodingOptions.from_config(cfg)
    if cfg.truncation is not None:
        number_option(cfg, "truncation", float, positive=True)
    tempo = number_option(cfg, "tempo", float, positive=True)
    if not cfg.get("run"):
        raise UserError(f"run is missing: python -m {package}.generate run=<run dir>")
    number_option(cfg, "seed", int, 0)
    return tempo, decoding


def generate(cfg: DictConfig, package: str) -> dict[str, Any]:
    """Run a generation command (``conf/tools/generate.yaml``) for a model package.

    Args:
        cfg: the generate config: ``run``, ``checkpoint``, ``weights``, ``mode``, ``n``,
            ``out``, ``seed``, ``binarize``, ``temperature``, ``voices``, ``truncation``,
            ``tempo``, ``audio``, ``bars``, ``spacing``, ``steps``, ``seeds``, ``vary``,
            ``input``, ``track``, ``noise``.
        package: the model package whose runs this command reads.

    Returns:
        ``out`` (the folder), ``pieces`` (per piece, kind -> path), ``grid``, ``gallery``.

    Raises:
        UserError: a bad option, run, checkpoint, input file or output folder.
    """
    tempo, options = _check_options(cfg, package)
    mode = str(cfg.mode)
    run = load_run(cfg.run, cfg.checkpoint, package, cfg.weights)
    decoding = Decoding.of(options, run.cfg, run.model.spec, run.model.hold)
    default_out = run.run_dir / "generated" / mode
    with output_folder(Path(str(cfg.out)).expanduser() if cfg.get("out") else default_out) as out:
        audio = audio_usable(bool(cfg.audio), lambda line: print(line, file=sys.stderr))
        rng = stream_rng(int(cfg.seed), Stream.GENERATE_BINARIZATION)
        pieces = MODES[mode](run, cfg, decoding, rng)
        pieces.details[:0] = [
            f"run {run.run_dir}, checkpoint {Path(run.checkpoint).name} (step {run.step}),"
            f" {run.weights_label}"
        ]
        pieces.details.append(
            f"seed {cfg.seed}, {decoding.describe()}, truncation {cfg.truncation},"
            f" tempo {tempo:g} qpm"
        )
        return write_pieces(out, pieces, decoding.spec, cfg, tempo, audio, f"{package}: {mode}")


def write_pieces(
    out: Path,
    pieces: Pieces,
    spec: PhraseSpec,
    cfg: DictConfig,
    tempo: float,
    audio: bool,
    title: str,
) -> dict[str, Any]:
    """Write every piece (MIDI, ``.npz``, PNG, optionally WAV), the grid of all of them,
    ``phrases.npz`` for phrase-shaped pieces, and the gallery.

    Returns:
        ``out``, ``pieces`` (per piece, its name and kind -> path), ``grid``, ``gallery``.
    """
    written = []
    for i, (name, roll) in enumerate(zip(pieces.names, pieces.rolls, strict=True)):
        midi = pieces.midis[i] if pieces.midis else None
        onsets = None if pieces.onsets is None else pieces.onsets[i]
        files = write_piece(out, name, roll, spec, tempo, audio, midi, int(cfg.sample_rate), onsets)
        written.append({"name": name, **files})
    grid = out / "grid.png"
    columns = 4 if pieces.phrase_shaped else 1
    bars = spec.with_bars(pieces.rolls.shape[1])
    save_grid(grid, pieces.rolls, bars, columns=columns, titles=pieces.names)
    if pieces.phrase_shaped:
        save_phrases(out / "phrases.npz", pieces.rolls, spec, pieces.onsets)
    gallery = write_gallery(out, written, title, pieces.details, grid)
    noun = "piece" if len(written) == 1 else "pieces"
    print(f"wrote {len(written)} {noun} to {out} (open {gallery.name})")
    return {"out": out, "pieces": written, "grid": grid, "gallery": gallery}
