"""The critic's chroma, onset/offset, key, motion and rhythm streams: hand-made musical features
of a phrase, each with a small network of its own, whose outputs a critic concatenates with its
main features.

As in the MuseGAN authors' current critic (Dong et al., salu133445/musegan), beside the main
convolution stack:

- **chroma**: the activity of each pitch class (C, C#, ..., B) per beat and track, from real MIDI
  pitches (index ``p`` is MIDI ``spec.lowest_pitch + p``, class ``(lowest_pitch + p) % 12``, so
  any pitch range works); a convolution over the 12 classes, then convolutions down the beats
  to one position per bar.
- **onset/offset**: per step and track, how many pitches start minus how many stop sounding
  (the difference from the previous step, summed over pitch); convolutions down the time axis
  to one position per bar.

And three that the authors' critic does not have:

- **key**: the pitch-class distribution of the whole phrase per track (each class's share of the
  track's sounding cells), through dense layers. The in-scale rate (:mod:`pianoroll.metrics`)
  asks whether a voice stays in one key over a phrase; the chroma stream's layers end at one
  position per bar, so a critic sees that only through its last dense layer, and this stream
  hands it the phrase's key profile directly.
- **motion**: per step and track, how many pitches change state (start or stop), halved; the
  same layers as onset/offset. In a monophonic voice a move from one pitch to the next starts
  one pitch and stops another, so onset/offset's signed sum is 0 there, as on a held note:
  that stream tells a note from a rest, not a moving voice from a still one. Motion is 1 at a
  move, 1/2 where a note starts from or ends in a rest, 0 on a held (or struck again) note.
- **rhythm**: per track and step of the bar, the phrase's mean over its bars of the activity
  (summed over pitch) and of the pitches that start sounding, through dense layers, as key's.
  For a voice, the roll's activity is how often it sounds at that step of the bar, its onset
  roll's how often a note starts there, repeated notes included, so the two profiles' sums give
  the phrase's mean note length, which the other streams spread over bars and positions.

The features are computed on cell *activity* ``(x + 1) / 2`` in [0, 1], so that a silent cell
counts 0 (the critic sees {-1, 1} real data and (-1, 1) generator output). Every convolution's
kernel equals its stride (non-overlapping windows; :class:`~musegan.layers.AxisConv`'s matrix
product path) and is followed by a LeakyReLU; no normalization (see :mod:`musegan.critic`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
from keras import backend, layers, ops

from musegan.layers import AxisConv, LeakyReLU, factor_strides, normal_init
from pianoroll.errors import choice_value
from pianoroll.spec import PhraseSpec

__all__ = [
    "PHRASE_STREAMS",
    "Stream",
    "chroma",
    "configured_streams",
    "key_profile",
    "motion",
    "onset_offset",
    "parse_streams",
    "rhythm_profile",
    "split_strides",
    "stream_features",
]

#: Pitch classes per octave.
N_CLASSES = 12


class Stream(str, enum.Enum):
    """The critic's optional feature streams (``model.critic.streams`` in the config)."""

    CHROMA = "chroma"  # pitch-class activity per beat
    ONSET = "onset_offset"  # note starts minus note ends per step
    KEY = "key"  # pitch-class distribution of the whole phrase
    MOTION = "motion"  # pitches that change state per step
    RHYTHM = "rhythm"  # activity and starts per step of the bar, over the phrase

    def __str__(self) -> str:
        # The config's spelling in f-strings and layer names, as enum.StrEnum (3.11+) gives.
        return self.value


def parse_streams(names: str | Iterable[str], what: str = "critic.streams") -> tuple[Stream, ...]:
    """The streams named in a config, in :class:`Stream` order (so the order they are listed
    in does not change the network).

    Args:
        names: stream names (``Stream`` values), or one name.
        what: the option's name in error messages.

    Raises:
        ValueError: an unknown or repeated name; the message names ``what`` and the choices.
    """
    names = [names] if isinstance(names, str) else list(names)
    found = set()
    for name in names:
        stream = choice_value(Stream, name, what, "stream")
        if stream in found:
            raise ValueError(f"{what}: stream {stream.value!r} is listed twice")
        found.add(stream)
    return tuple(s for s in Stream if s in found)


def split_strides(total: int, parts: int, what: str = "streams") -> list[int]:
    """``parts`` kernel-and-stride sizes whose product is ``total``, smallest first.

    The prime factors of ``total``, largest first, each go to the group whose product is the
    smallest so far: ``split_strides(48, 3)`` is ``[3, 4, 4]`` (the authors' onset/offset
    strides for 48 steps per bar), ``split_strides(16, 3)`` is ``[2, 2, 4]`` and
    ``split_strides(4, 1)`` is ``[4]``. With fewer prime factors than parts the remaining sizes
    are 1 (a convolution over one position: a per-position dense layer).
    """
    if parts < 1:
        raise ValueError(f"{what}: at least one layer is needed, got {parts}")
    groups = [1] * parts
    for prime in sorted(factor_strides(int(total), 1, what), reverse=True):
        groups[groups.index(min(groups))] *= prime
    return sorted(groups)


def _activity(x: Any) -> Any:
    """Cell activity ``(x + 1) / 2``: [-1, 1] -> [0, 1] (a symbolic input stays symbolic)."""
    if not isinstance(x, keras.KerasTensor):
        x = ops.convert_to_tensor(x)
        if not backend.is_float_dtype(x.dtype):
            x = ops.cast(x, "float32")
    return (x + 1.0) * 0.5


def _pitch_class_matrix(spec: PhraseSpec) -> np.ndarray:
    """``(n_pitches, 12)`` 0/1 matrix: row ``p`` is one-hot at MIDI ``lowest_pitch + p`` mod 12."""
    classes = (spec.lowest_pitch + np.arange(spec.n_pitches)) % N_CLASSES
    return np.eye(N_CLASSES, dtype=np.float32)[classes]


def chroma(x: Any, spec: PhraseSpec) -> Any:
    """Pitch-class activity per beat: how many (step, pitch) cells of each class sound.

    Args:
        x: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] (``steps`` and ``pitches``
            as in ``spec``; any number of channels).
        spec: the phrase spec (steps per beat and bar, lowest pitch).

    Returns:
        ``(batch, bars, beats, 12, channels)``, ``beats = spec.beats_per_bar``: for each beat
        and class ``c`` (0 = C), the sum of the activity ``(x + 1) / 2`` over the beat's
        ``steps_per_beat`` steps and the pitches of class ``c``; in
        ``[0, steps_per_beat * k]``, ``k`` the number of pitches of that class (7 for 84
        pitches), whole numbers for real data.
    """
    a = _activity(x)
    _, bars, steps, pitches, channels = a.shape
    if (steps, pitches) != (spec.steps_per_bar, spec.n_pitches):
        raise ValueError(
            f"chroma: input of {steps} steps x {pitches} pitches does not fit the spec's"
            f" {spec.steps_per_bar} x {spec.n_pitches}"
        )
    beats, per_beat = spec.beats_per_bar, spec.steps_per_beat
    a = ops.sum(ops.reshape(a, (-1, bars, beats, per_beat, pitches, channels)), axis=3)
    fold = ops.cast(_pitch_class_matrix(spec), a.dtype)
    return ops.einsum("nbspc,pk->nbskc", a, fold)


def key_profile(x: Any, spec: PhraseSpec) -> Any:
    """Pitch-class distribution of a phrase: each class's share of the sounding cells, per
    channel.

    Args:
        x: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] (``steps`` and ``pitches``
            as in ``spec``).
        spec: the phrase spec (steps per bar, lowest pitch).

    Returns:
        ``(batch, 12, channels)`` float32 in [0, 1]: for class ``c`` (0 = C), the activity
        ``(x + 1) / 2`` summed over the phrase's cells of that class, divided by the channel's
        whole activity when that is at least 1 (one sounding cell), else by 1. So the classes
        sum to the channel's activity when it is below 1 (a silent channel of real data: all
        0), to 1 otherwise. Generator output leaves a little activity in every cell, which
        flattens its profile towards 1/12 per class; the critic sees that as well.
    """
    # The beats' chroma summed over the phrase. In float32: summed over a whole phrase, counts
    # pass the range where float16 and bfloat16 hold whole numbers exactly (LPD-5: up to
    # 16,128 cells a track).
    counts = ops.sum(chroma(ops.cast(x, "float32"), spec), axis=(1, 2))
    return counts / ops.maximum(ops.sum(counts, axis=1, keepdims=True), 1.0)


def rhythm_profile(x: Any, spec: PhraseSpec) -> Any:
    """Activity and note starts per step of the bar, averaged over the phrase's bars.

    Args:
        x: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] (``steps`` as in ``spec``).
        spec: the phrase spec (steps per bar).

    Returns:
        ``(batch, steps, 2, channels)`` float32: at step ``s`` of the bar, the mean over the
        bars of (0) the activity ``a = (x + 1) / 2`` summed over pitch and (1) the pitches that
        start sounding, ``sum max(a[t] - a[t - 1], 0)`` over pitch (steps compared as in
        :func:`onset_offset`). For a voice's roll: how often it sounds there, and how often it
        moves to a pitch (from a rest or another pitch); for its onset roll: how often a note
        starts there (repeated notes included). Each in ``[0, pitches]``.
    """
    a = _activity(ops.cast(x, "float32"))
    steps = a.shape[2]
    if steps != spec.steps_per_bar:
        raise ValueError(
            f"rhythm: input of {steps} steps a bar does not fit the spec's {spec.steps_per_bar}"
        )
    starts = ops.sum(ops.relu(_change(a)), axis=3)
    sound = ops.sum(a, axis=3)
    return ops.mean(ops.stack([sound, starts], axis=3), axis=1)


#: The streams with one feature vector for the whole phrase (the others have one per bar), and
#: the profile each reads.
_PHRASE_PROFILES = {Stream.KEY: key_profile, Stream.RHYTHM: rhythm_profile}
PHRASE_STREAMS = tuple(_PHRASE_PROFILES)


def onset_offset(x: Any) -> Any:
    """Note starts minus note ends per step: the activity's change from the previous step,
    summed over pitch.

    The previous step runs across bar lines (the first step of bar ``b`` compares with the last
    step of bar ``b - 1``); the phrase's first step compares with silence.

    Args:
        x: ``(batch, bars, steps, pitches, channels)`` in [-1, 1].

    Returns:
        ``(batch, bars, steps, 1, channels)`` in ``[-pitches, pitches]``: the sum over pitch of
        ``a[t] - a[t - 1]``, ``a = (x + 1) / 2``; positive where onsets outnumber offsets.
        For real data, the number of pitches that start minus the number that stop at ``t``
        (a pitch that sounds on both steps counts neither).
    """
    return _step_change(x, signed=True)


def motion(x: Any) -> Any:
    """How many pitches change state per step, halved: the absolute change of the activity from
    the previous step, summed over pitch, over 2 (steps compared as in :func:`onset_offset`).

    Args:
        x: ``(batch, bars, steps, pitches, channels)`` in [-1, 1].

    Returns:
        ``(batch, bars, steps, 1, channels)`` in ``[0, pitches / 2]``: ``sum |a[t] - a[t - 1]|
        / 2``, ``a = (x + 1) / 2``. For a monophonic voice's roll: 1 where it moves to another
        pitch, 1/2 where a note starts after a rest or ends in one, 0 on a held note.
    """
    return _step_change(x, signed=False)


def _change(a: Any) -> Any:
    """``(batch, bars, steps, pitches, channels)`` activity's change from the previous step,
    same shape (across bar lines; the phrase's first step from silence)."""
    _, bars, steps, pitches, channels = a.shape
    flat = ops.reshape(a, (-1, bars * steps, pitches, channels))
    previous = ops.pad(flat[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])
    return ops.reshape(flat - previous, (-1, bars, steps, pitches, channels))


def _step_change(x: Any, signed: bool) -> Any:
    """The activity's change from the previous step summed over pitch: signed, or its absolute
    value halved (:func:`onset_offset`, :func:`motion`)."""
    delta = _change(_activity(x))
    change = ops.sum(delta if signed else ops.abs(delta), axis=3, keepdims=True)
    return change if signed else 0.5 * change  # halved once summed: pitches-fold fewer products


def stream_features(
    x: Any,
    spec: PhraseSpec,
    streams: Sequence[str],
    *,
    chroma_filters: Sequence[int] = (32, 64),
    onset_filters: Sequence[int] = (16, 32, 64),
    key_units: Sequence[int] = (64, 64),
    rhythm_units: Sequence[int] = (64, 64),
    leak: float = 0.2,
    name: str = "critic",
) -> list[Any]:
    """Build the streams' layers on a critic's input; one flattened feature tensor per stream.

    - chroma: ``chroma(x)`` ``(bars, beats, 12, channels)``; a convolution over the 12 classes
      (kernel = stride 12, ``chroma_filters[0]`` filters) -> ``(bars, beats, 1, f)``; then one
      per further entry down the beats (kernels = strides from :func:`split_strides` of the
      beats per bar: ``[4]`` in 4/4) -> ``(bars, 1, 1, chroma_filters[-1])``.
    - onset_offset: ``onset_offset(x)`` ``(bars, steps, 1, channels)``; one convolution per
      ``onset_filters`` entry down the time axis (kernels = strides from :func:`split_strides`
      of the steps per bar: ``[2, 2, 4]`` for 16 steps, ``[3, 4, 4]`` for 48) ->
      ``(bars, 1, 1, onset_filters[-1])``.
    - key: ``key_profile(x)`` ``(12, channels)`` flattened; one dense layer per ``key_units``
      entry -> ``(key_units[-1],)`` for the whole phrase.
    - motion: ``motion(x)``, through layers shaped as onset_offset's (``onset_filters``).
    - rhythm: ``rhythm_profile(x)`` ``(steps, 2, channels)`` flattened; one dense layer per
      ``rhythm_units`` entry -> ``(rhythm_units[-1],)`` for the whole phrase.

    Layers are named ``{name}_chroma{i}``, ``{name}_onset{i}``, ``{name}_key{i}`` (after
    ``{name}_key_profile``, which flattens the profile), ``{name}_motion{i}`` and
    ``{name}_rhythm{i}`` (after ``{name}_rhythm_profile``); each is followed by a LeakyReLU of
    slope ``leak``.

    Args:
        x: a symbolic input ``(batch, bars, steps, pitches, channels)`` in [-1, 1].
        spec: the phrase spec.
        streams: :class:`Stream` values; built in :class:`Stream` order.
        chroma_filters: filters of the pitch-class layer, then of each layer down the beats
            (at least two entries, so that each bar ends at one position).
        onset_filters: filters of each layer down the time axis (at least one).
        key_units: units of each dense layer over the key profile (at least one).
        rhythm_units: units of each dense layer over the rhythm profile (at least one).
        leak: LeakyReLU slope.
        name: prefix of the layer names.

    Returns:
        One tensor per stream, in :class:`Stream` order: ``(batch, bars * filters)`` for the
        per-bar streams (chroma, onset/offset, motion: bar by bar), ``(batch, units[-1])``
        for the phrase streams (key, rhythm: :data:`PHRASE_STREAMS`; their own units).
    """
    out = []
    for stream in parse_streams(streams):
        if stream is Stream.CHROMA:
            if len(chroma_filters) < 2:
                raise ValueError(
                    "critic: chroma_filters needs at least two entries (pitch classes, then beats)"
                )
            h = chroma(x, spec)
            h = AxisConv(
                chroma_filters[0], 3, N_CLASSES, N_CLASSES, leak=leak, name=f"{name}_chroma0"
            )(h)
            strides = split_strides(spec.beats_per_bar, len(chroma_filters) - 1, "chroma")
            for i, (filters, stride) in enumerate(zip(chroma_filters[1:], strides, strict=True)):
                h = AxisConv(filters, 2, stride, stride, leak=leak, name=f"{name}_chroma{i + 1}")(h)
        elif stream in PHRASE_STREAMS:
            sizes = {Stream.KEY: key_units, Stream.RHYTHM: rhythm_units}[stream]
            if len(sizes) < 1:
                raise ValueError(f"critic: {stream}_units needs at least one entry")
            h = layers.Flatten(name=f"{name}_{stream}_profile")(_PHRASE_PROFILES[stream](x, spec))
            for i, units in enumerate(sizes):
                h = layers.Dense(
                    int(units), kernel_initializer=normal_init(), name=f"{name}_{stream}{i}"
                )(h)
                h = LeakyReLU(leak)(h)
        else:  # a change per step: onset/offset or motion, down the time axis
            if len(onset_filters) < 1:
                raise ValueError("critic: onset_filters needs at least one entry")
            onset = stream is Stream.ONSET
            h, prefix = (onset_offset(x), "onset") if onset else (motion(x), "motion")
            strides = split_strides(spec.steps_per_bar, len(onset_filters), str(stream))
            for i, (filters, stride) in enumerate(zip(onset_filters, strides, strict=True)):
                h = AxisConv(filters, 2, stride, stride, leak=leak, name=f"{name}_{prefix}{i}")(h)
        out.append(layers.Flatten(name=f"{name}_{stream}_flatten")(h))
    return out


def configured_streams(x: Any, spec: PhraseSpec, cfg: Any, name: str) -> list[Any]:
    """:func:`stream_features` with the sizes of a critic config (``streams``,
    ``chroma_filters``, ``onset_filters``, ``key_units``, ``rhythm_units``, ``leak``: both
    MuseGAN critics' configs have them)."""
    return stream_features(
        x,
        spec,
        cfg.streams,
        chroma_filters=cfg.chroma_filters,
        onset_filters=cfg.onset_filters,
        key_units=cfg.key_units,
        rhythm_units=cfg.rhythm_units,
        leak=cfg.leak,
        name=name,
    )
