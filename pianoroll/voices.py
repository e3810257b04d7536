"""Monophonic voices: one category per step (a pitch or a rest) plus where each note starts.

A track flagged ``monophonic`` in the phrase spec (:attr:`pianoroll.spec.Track.monophonic`) is
a *voice*. Its roll sounds at most one pitch per step, and its *onset roll* marks the cells
where a note starts, so that a repeated note (two notes of one pitch back to back) and a held
one (one note over both steps) stay different from the data to the MIDI file written.

Three views of a voice, all exact inverses of each other for a monophonic roll:

- roll and onsets: ``(time, pitches)`` binary each, onsets inside the roll;
- categories and starts (:func:`encode_voice`): ``(time,)`` category index, ``0 .. P - 1`` a
  pitch index and :func:`rest` ``(P)`` a rest, and ``(time,)`` binary, a note starts there;
- a model tensor's two channels (see :mod:`pianoroll`): the roll and the onset roll.

A step whose pitch differs from the previous step's always starts a note; the first step of a
phrase may continue a note from before it (no start).

Overlaps in source files (a chord in one voice, a note that starts before the last one ends)
are resolved by :func:`make_monophonic`, which keeps the highest sounding pitch (the skyline
rule) and counts the steps it had to resolve.
"""

from __future__ import annotations

import enum

import numpy as np

from pianoroll.spec import PhraseSpec
from pianoroll.values import binarize_bernoulli, binarize_threshold, to_probability

__all__ = [
    "Voices",
    "decode",
    "decode_voice",
    "encode_voice",
    "make_monophonic",
    "rest",
    "run_starts",
    "sample_hold_chain",
    "skyline",
    "split_channels",
    "to_channels",
]


class Voices(str, enum.Enum):
    """How a data config treats its tracks' ``monophonic`` flags (``data.voices``)."""

    MONOPHONIC = "monophonic"  # flagged tracks are voices
    FREE = "free"  # every track is a free roll (the flags are ignored)

    def __str__(self) -> str:
        return self.value


def rest(n_pitches: int) -> int:
    """The category index of a rest among ``n_pitches`` pitches (after every pitch)."""
    return int(n_pitches)


def run_starts(roll: np.ndarray, axis: int = 0) -> np.ndarray:
    """Where each run of active steps starts: active cells whose previous step is not.

    Args:
        roll: binary, time along ``axis``.
        axis: the time axis.

    Returns:
        The same shape, binary; the first step counts as a start where it is active.
    """
    roll = np.asarray(roll, bool)
    previous = np.zeros_like(roll)
    index = [slice(None)] * roll.ndim
    source = list(index)
    index[axis], source[axis] = slice(1, None), slice(None, -1)
    previous[tuple(index)] = roll[tuple(source)]
    return roll & ~previous


def make_monophonic(roll: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep one pitch per step of one track: the highest that sounds (the skyline rule).

    A note that re-emerges under a higher one that ended starts again where it re-emerges (the
    pitch changed there).

    Args:
        roll: ``(time, pitches)``, binary.
        onsets: ``(time, pitches)``, binary: where notes start (cells outside the roll are
            ignored).

    Returns:
        ``(roll, onsets, overlaps)``: the monophonic roll and its onsets (``(time, pitches)``,
        binary each), and the number of steps that sounded more than one pitch.
    """
    roll = np.asarray(roll, bool)
    overlaps = int((roll.sum(axis=1) > 1).sum())
    categories = _highest(roll)
    sounding = categories != rest(roll.shape[1])
    at = np.minimum(categories, roll.shape[1] - 1)
    starts = np.asarray(onsets, bool)[np.arange(len(roll)), at]
    return (*decode_voice(categories, starts & sounding, roll.shape[1]), overlaps)


def _highest(roll: np.ndarray) -> np.ndarray:
    """The skyline rule: ``(..., pitches)`` binary to each step's highest sounding pitch index,
    or :func:`rest` where none sounds (``(...)`` ``int64``)."""
    n_pitches = roll.shape[-1]
    highest = n_pitches - 1 - np.argmax(roll[..., ::-1], axis=-1)
    return np.where(roll.any(axis=-1), highest, rest(n_pitches))


def skyline(rolls: np.ndarray, spec: PhraseSpec) -> tuple[np.ndarray, np.ndarray]:
    """Free rolls read as the voices of ``spec``: each voice keeps its highest sounding pitch
    at every step (the rule :func:`make_monophonic` applies to the data), and every run of a
    kept pitch is one note (a free roll cannot tell a repeated note from a held one).

    This decodes a model trained on free rolls (``data.voices=free``) as monophonic voices.

    Args:
        rolls: ``(N, bars, steps, pitches, tracks)`` binary free rolls; a phrase's bars are
            read in order as one time line.
        spec: the spec whose monophonic tracks become voices; the other tracks are kept.

    Returns:
        ``(rolls, onsets)``: the same shape, binary each; the voices' rolls monophonic, and
        ``onsets`` marking where their notes start (zero on the other tracks).

    Raises:
        ValueError: ``rolls`` is not five-dimensional.
    """
    rolls = np.array(rolls, bool)
    if rolls.ndim != 5:
        raise ValueError(f"rolls must be (N, bars, steps, pitches, tracks), got {rolls.shape}")
    onsets = np.zeros_like(rolls)
    n_pitches = rolls.shape[-2]
    for k in spec.voices:
        roll = rolls[..., k]
        flat = _highest(roll).reshape(len(roll), -1)
        first = np.zeros(flat.shape, bool)
        first[..., 0] = True  # a run that starts the phrase is a note; later ones start by change
        voice, starts = decode_voice(flat, first, n_pitches)
        rolls[..., k] = voice.reshape(roll.shape)
        onsets[..., k] = starts.reshape(roll.shape)
    return rolls, onsets


def encode_voice(roll: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A monophonic roll as one category per step and where notes start.

    Args:
        roll: ``(..., time, pitches)``, binary, at most one active pitch per step.
        onsets: ``(..., time, pitches)``, binary.

    Returns:
        ``(categories, starts)``: ``(..., time)`` ``int64`` category indices (a pitch index, or
        :func:`rest`) and ``(..., time)`` binary: a note starts there (where ``onsets`` says,
        and wherever the pitch differs from the previous step's).

    Raises:
        ValueError: a step sounds more than one pitch.
    """
    roll = np.asarray(roll, bool)
    if (roll.sum(axis=-1) > 1).any():
        raise ValueError("a monophonic voice sounds more than one pitch at a step")
    n_pitches = roll.shape[-1]
    categories = np.where(roll.any(axis=-1), np.argmax(roll, axis=-1), rest(n_pitches))
    starts = (np.asarray(onsets, bool) & roll).any(axis=-1)
    return categories, starts | _changes(categories, n_pitches)


def _changes(categories: np.ndarray, n_pitches: int) -> np.ndarray:
    """``(..., time)`` binary: a pitch that differs from the previous step's category (never
    the first step, which may continue a note from before the phrase)."""
    changed = np.zeros(categories.shape, bool)
    changed[..., 1:] = categories[..., 1:] != categories[..., :-1]
    return changed & (categories != rest(n_pitches))


def decode_voice(
    categories: np.ndarray, starts: np.ndarray, n_pitches: int
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`encode_voice`.

    Args:
        categories: ``(..., time)`` category indices (a pitch index, or :func:`rest`).
        starts: ``(..., time)`` binary; a start on a rest is ignored, and a pitch that differs
            from the previous step's starts a note whatever ``starts`` says.
        n_pitches: pitches of the roll.

    Returns:
        ``(roll, onsets)``: ``(..., time, pitches)`` binary each.
    """
    categories = np.asarray(categories, np.int64)
    roll = categories[..., None] == np.arange(n_pitches)
    starts = (np.asarray(starts, bool) | _changes(categories, n_pitches)) & (
        categories != rest(n_pitches)
    )
    return roll, roll & starts[..., None]


def to_channels(rolls: np.ndarray, onsets: np.ndarray | None, spec: PhraseSpec) -> np.ndarray:
    """Phrases as binary model tensors: the rolls, then each voice's onset roll.

    Args:
        rolls: ``(N, bars, steps, pitches, tracks)``, binary.
        onsets: the same shape, binary (only the voices' tracks are read); None: every run of
            active steps is one note.
        spec: the phrase spec.

    Returns:
        ``(N, bars, steps, pitches, channels)``, binary (:attr:`PhraseSpec.channel_shape`).
    """
    rolls = np.asarray(rolls, bool)
    voices = list(spec.voices)
    if not voices:
        return rolls
    if onsets is None:
        flat = rolls.reshape(len(rolls), -1, *rolls.shape[3:])
        onsets = run_starts(flat, axis=1).reshape(rolls.shape)
    return np.concatenate([rolls, np.asarray(onsets, bool)[..., voices] & rolls[..., voices]], -1)


def split_channels(phrases: np.ndarray, spec: PhraseSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """The inverse of :func:`to_channels`.

    Args:
        phrases: ``(..., pitches, channels)`` binary model tensors.
        spec: the phrase spec.

    Returns:
        ``(rolls, onsets)``: ``(..., pitches, tracks)`` binary each; ``onsets`` is zero on the
        tracks that are not voices, and None when the spec has no voice.
    """
    phrases = np.asarray(phrases, bool)
    rolls = phrases[..., : spec.n_tracks]
    if not spec.voices:
        return rolls, None
    onsets = np.zeros_like(rolls)
    onsets[..., list(spec.voices)] = phrases[..., spec.n_tracks :]
    return rolls, onsets


def decode(
    outputs: np.ndarray,
    spec: PhraseSpec,
    method: str,
    rng: np.random.Generator,
    temperature: float = 1.0,
    hold: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Generator outputs (model tensors) to binary rolls and onsets.

    The free tracks are binarized as before: at 0 (``threshold``) or by Bernoulli sampling of
    :func:`pianoroll.values.to_probability` (``bernoulli``). A voice's step is the most likely
    category (``threshold``) or a draw from the categories (``bernoulli``): its pitches'
    probabilities, and the rest's, one minus their sum. Its note starts where the onset channel
    over the roll channel at the chosen pitch (the probability that a sounding pitch starts)
    is above one half, or with that probability, and wherever the pitch changes.

    With ``hold`` (the voices' channels are the marginals of a chain that holds the sounding
    note or chooses anew, see :func:`sample_hold_chain`), ``bernoulli`` follows that chain
    instead of drawing each step on its own; ``threshold`` is the same either way.

    Args:
        outputs: ``(N, bars, steps, pitches, channels)`` in [-1, 1].
        spec: the phrase spec.
        method: ``threshold`` or ``bernoulli``.
        rng: for ``bernoulli``.
        temperature: divides the logits before sampling (``bernoulli`` only): below 1 sharper,
            above 1 flatter.
        hold: the voices' channels are hold-chain marginals.

    Returns:
        ``(rolls, onsets)``: ``(N, bars, steps, pitches, tracks)`` binary each; ``onsets`` is
        None when the spec has no voice, and zero on the tracks that are not voices.

    Raises:
        ValueError: an unknown method, a temperature that is not positive, or outputs whose
            channels are not the spec's.
    """
    if method not in ("threshold", "bernoulli"):
        raise ValueError(f"unknown binarization {method!r}; choose threshold or bernoulli")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    outputs = np.asarray(outputs, np.float32)
    if outputs.shape[-1] != spec.n_channels:
        raise ValueError(
            f"outputs have {outputs.shape[-1]} channels, the spec {spec.n_channels}"
            f" ({spec.n_tracks} tracks, {len(spec.voices)} voices)"
        )
    free = outputs[..., : spec.n_tracks]
    if method == "threshold":
        rolls = binarize_threshold(free)
    else:
        if temperature != 1.0:
            free = 2.0 * _sharpen(to_probability(free), temperature) - 1.0
        rolls = binarize_bernoulli(free, rng)
    onsets = None if not spec.voices else np.zeros_like(rolls)
    for j, k in enumerate(spec.voices):
        pitch = to_probability(outputs[..., k])
        start = to_probability(outputs[..., spec.n_tracks + j])
        rolls[..., k], onsets[..., k] = _decode_voice_output(
            pitch, start, method, rng, temperature, hold
        )
    return rolls, onsets


#: Below this, a marginal probability counts as zero when the chain's parts are recovered
#: from it (model tensors are float32: ``(x + 1) / 2`` keeps about 7 digits).
_TINY = 1e-6


def sample_hold_chain(
    sound: np.ndarray, start: np.ndarray, rng: np.random.Generator, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw voices from the marginals of their hold chain, step after step.

    A hold-form voice (DeepBach's hold symbol, Hadjeres et al. 2017, arXiv:1612.01010; built by
    ``gan.voices`` with ``model.hold``) is a chain: at step ``t`` the sounding pitch ``p`` holds
    with probability ``c_t[p]``, or else the step takes a category from ``q_t`` (a pitch, which
    starts a note, maybe the same pitch again, or a rest). The generator outputs its marginals:
    ``r_t = r_{t-1} c_t + (1 - sum(r_{t-1} c_t)) q_t`` sounds and ``n_t = (1 - sum(r_{t-1}
    c_t)) q_t`` starts (``r_{-1} = 0``). Both parts come back from them: the held mass
    ``h_t = r_t - n_t = r_{t-1} c_t`` gives ``c_t = h_t / r_{t-1}``, and ``q_t = n_t / (1 -
    sum(h_t))`` (the rest taking what the pitches leave). Drawing each step from its marginal
    alone, as plain Bernoulli decoding does, would break held notes into pieces; following the
    chain gives whole notes with the model's own hold probabilities.

    With ``temperature``, the hold's logit and the categories' log-probabilities are divided by
    it (toward 0: the likelier decision every step, what the straight-through hold form makes
    in its forward pass). Where a pitch's marginal at the previous step is below ``1e-6`` its
    hold probability counts as 0, and where the step's holds leave no mass to a new choice
    (``q_t`` cannot be recovered) a new choice follows the step's marginal ``r_t`` instead.

    Args:
        sound: ``(N, time, pitches)`` probabilities ``r`` that each pitch sounds.
        start: ``(N, time, pitches)`` probabilities ``n`` that each pitch starts a note.
        rng: the draws' generator.
        temperature: positive; 1 draws from the chain as it is.

    Returns:
        ``(categories, starts)``: ``(N, time)`` ``int64`` category indices (a pitch, or
        :func:`rest`) and ``(N, time)`` binary, where a note starts (see
        :func:`decode_voice`).
    """
    sound = np.clip(np.asarray(sound, np.float64), 0.0, 1.0)
    start = np.clip(np.asarray(start, np.float64), 0.0, 1.0)
    n, time, n_pitches = sound.shape
    held = np.clip(sound - start, 0.0, 1.0)
    rows = np.arange(n)
    categories = np.empty((n, time), np.int64)
    starts = np.zeros((n, time), bool)
    previous = np.full(n, rest(n_pitches))
    before = np.zeros((n, n_pitches))  # r_{t-1}
    for t in range(time):
        free = 1.0 - held[:, t].sum(-1, keepdims=True)
        fresh = np.where(free > _TINY, start[:, t] / np.maximum(free, _TINY), sound[:, t])
        fresh = np.concatenate([fresh, np.clip(1.0 - fresh.sum(-1, keepdims=True), 0, 1)], -1)
        logits = np.log(np.maximum(fresh, 1e-12)) / temperature
        drawn = np.argmax(logits + _gumbel(rng, logits.shape), axis=-1)
        at = np.minimum(previous, n_pitches - 1)
        mass = before[rows, at]
        keep = np.where(
            (previous < n_pitches) & (mass > _TINY),
            held[rows, t, at] / np.maximum(mass, _TINY),
            0.0,
        )
        holds = rng.random(n) < _sharpen(np.clip(keep, 0.0, 1.0), temperature)
        categories[:, t] = np.where(holds, previous, drawn)
        starts[:, t] = ~holds & (categories[:, t] < n_pitches)
        previous, before = categories[:, t], sound[:, t]
    return categories, starts


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel noise: added to log-probabilities, its argmax is a draw (Gumbel-max)."""
    return -np.log(-np.log(rng.random(shape).clip(1e-12, 1 - 1e-12)))


def _sharpen(probability: np.ndarray, temperature: float) -> np.ndarray:
    """Bernoulli probabilities with their logits divided by ``temperature``."""
    if temperature == 1.0:
        return probability
    p = np.clip(probability, 1e-7, 1 - 1e-7)
    return 0.5 * (1.0 + np.tanh(np.log(p / (1 - p)) / (2.0 * temperature)))  # no overflow


def _decode_voice_output(
    pitch: np.ndarray,
    start: np.ndarray,
    method: str,
    rng: np.random.Generator,
    temperature: float,
    hold: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One voice of ``(N, bars, steps, pitches)`` outputs (pitch and start probabilities) to
    its roll and onsets: drawn along the hold chain (``hold`` with ``bernoulli``), else each
    step on its own (:func:`_choose_each_step`)."""
    n, bars, steps, n_pitches = pitch.shape
    pitch = pitch.reshape(n, bars * steps, n_pitches)
    start = start.reshape(pitch.shape)
    if hold and method == "bernoulli":
        chosen, starts = sample_hold_chain(pitch, start, rng, temperature)
    else:
        chosen, starts = _choose_each_step(pitch, start, method, rng, temperature)
    roll, onsets = decode_voice(chosen, starts, n_pitches)
    return roll.reshape(n, bars, steps, n_pitches), onsets.reshape(n, bars, steps, n_pitches)


def _choose_each_step(
    pitch: np.ndarray, start: np.ndarray, method: str, rng: np.random.Generator, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, time, pitches)`` pitch and start probabilities to ``(N, time)`` categories and
    starts, each step chosen on its own (see :func:`decode`)."""
    n_pitches = pitch.shape[-1]
    pitch = np.clip(pitch, 0.0, 1.0)
    categories = np.concatenate([pitch, np.clip(1.0 - pitch.sum(-1, keepdims=True), 0, 1)], -1)
    if method == "threshold":
        chosen = np.argmax(categories, axis=-1)
    else:
        logits = np.log(np.maximum(categories, 1e-12)) / temperature
        chosen = np.argmax(logits + _gumbel(rng, logits.shape), axis=-1)
    at = np.minimum(chosen, n_pitches - 1)[..., None]
    sounds = np.take_along_axis(pitch, at, -1)[..., 0]
    both = np.take_along_axis(np.clip(start, 0, 1), at, -1)[..., 0]
    conditional = np.where(sounds > 0, both / np.maximum(sounds, 1e-12), 0.0)
    if method == "threshold":
        starts = conditional > 0.5
    else:
        starts = rng.random(conditional.shape) < _sharpen(np.clip(conditional, 0, 1), temperature)
    return chosen, starts
