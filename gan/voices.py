"""A generator's output for monophonic voices: one category per step, made differentiable.

A voice (see :mod:`pianoroll.voices`) is generated from two maps of pre-activations over its
pitches at each step: pitch logits ``l`` and start logits ``s``. The categories are the
pitches plus a rest whose logit is fixed at 0, so ``softmax([l, 0])`` gives each pitch's
probability ``q_p`` and the rest's; ``sigmoid(s_p)`` is the probability that pitch ``p``, if it
sounds, starts a note. The output is the voice's two model-tensor channels in [-1, 1]:
``2 q - 1`` (the roll) and ``2 q sigmoid(s) - 1`` (the onsets), the form of real voices, where
``q`` is one-hot and the onsets mark where a note starts.

How the critic's gradient reaches the logits (``model.voices``, :class:`Relaxation`):

- ``softmax`` (the default: in the 300-step chorale screen of experiments/README.md its voices
  came closer to the data than the straight-through ones, which mostly rested): the
  probabilities themselves go to the critic (a real voice is one-hot, so the critic can tell
  soft outputs apart, and the generator learns to sharpen them).
- ``straight_through``: the forward pass is the most likely category, one-hot, and the start
  rounded; the backward pass takes the gradient of the soft probabilities as if they had been
  used (the straight-through estimator, Bengio et al. 2013, arXiv:1308.3432). The critic sees
  exactly what decoding gives.
- ``gumbel``: the Gumbel-softmax (Jang et al. 2016, arXiv:1611.01144; the concrete
  distribution of Maddison et al. 2016, arXiv:1611.00712), as Kusner and Hernández-Lobato
  (2016, arXiv:1611.04051) use it in a GAN: the critic sees a relaxed *draw* of each step's
  category, ``softmax(slope * ([l, 0] + g))`` with Gumbel noise ``g``, and of its start,
  ``sigmoid(slope * (s + h))`` with logistic noise ``h``; the temperature is ``1 / slope``,
  annealed by the generator step (``model.slope``). A softmax output is soft wherever the
  generator is unsure, and the critic tells soft rolls from real one-hot ones; a relaxed draw
  tends to one-hot as the temperature falls, whatever the probabilities, so the critic judges
  the distribution through its draws. The argmax of a draw is an exact draw from
  ``softmax([l, 0])`` (the Gumbel-max trick), so threshold decoding samples the generator's
  categorical distribution. The noise is a generator input (standard normal, mapped through
  its CDF to uniform, then to Gumbel or logistic), so a run stays a pure function of its seeds.
- ``sample``: the critic sees an exact draw, in the form of real voices: each step's category
  drawn from ``softmax([l, 0])`` (Gumbel-max, on the same noise as ``gumbel``), the drawn pitch
  started with probability ``sigmoid(s)`` (a Bernoulli draw on the start noise), or always
  where the pitch differs from the previous step's (a rest or another pitch; the first step of
  a phrase may continue a note, as in the data); straight-through gradients, as for
  ``straight_through``, of the probabilities ``2 q - 1`` and ``2 q sigmoid(s) - 1``. Unlike a
  relaxed draw, the forward value is never soft, so the critic cannot tell generated voices
  by their softness, only by what they play (the step of C-RNN-GAN's ``free_run=sample``
  applied to a whole phrase at once). The axes between batch and pitches are time, in order.

How sharp the categories are (``model.voice_scale``, :class:`VoiceHead`): the pitch logits
are multiplied by this factor (1 by default) before any of the above, so ``softmax([k l, 0])``.
A network whose output layer starts with small weights (as DCGAN-style initializations have
it) gives nearly flat logits, so a soft output is spread over many pitches and a draw rarely
lands on the likeliest one; a factor above 1 makes the same network's categories sharper from
the start without changing what it can express. The start logits are not scaled.

How a note lasts (``model.hold``, :class:`VoiceHead`):

- without hold (the form above), each step chooses its pitch afresh: a held note is the same
  choice made step after step, with a start logit saying whether it is a new note;
- with hold (DeepBach's hold symbol, Hadjeres et al. 2017, arXiv:1612.01010; MuseGAN's default
  in ``conf/model_base/musegan.yaml``, with ``softmax``: in the chorale screen of
  experiments/README.md its notes last about as long as the data's, where without hold they
  fragment), a step continues the note sounding before it with probability ``sigmoid(s_p)``
  (``p`` that note's pitch: the start logits become hold logits), or else chooses a new note or
  a rest from ``softmax([l, 0])``. The output is the same two channels, as marginals along the
  phrase: ``r_t = r_{t-1} c_t + (1 - sum(r_{t-1} c_t)) q_t`` sounds and
  ``(1 - sum(r_{t-1} c_t)) q_t`` starts (``c = sigmoid(s)``; the time axes are every axis between
  batch and pitches, in order). A sustained note is then one decision to keep holding, not the
  same pitch chosen again at every step. With ``straight_through``, the forward pass takes the
  likelier decisions (hold where ``sigmoid(s_p) > 1/2``, else the likeliest category); with
  ``sample``, it draws them, as real voices are in the data: a step holds where ``sigmoid(s_p)``
  is above a uniform draw (the start noise's first entry), else takes the category drawn from
  ``softmax([l, 0])`` by Gumbel-max (which may be the same pitch again: a repeated note). Both
  pass the gradient of the marginals straight through. The Gumbel-softmax has no hold form.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from gan.draws import assign_slope, uniform_from_normal
from pianoroll.errors import choice_value
from pianoroll.spec import PhraseSpec

__all__ = [
    "DEFAULT_HEAD",
    "ChannelOutput",
    "Relaxation",
    "VoiceHead",
    "VoiceOutput",
    "draw_channels",
    "draws_per_step",
    "parse_relaxation",
    "threshold_channels",
    "voice_channels",
    "voice_noise_channels",
]


class Relaxation(str, enum.Enum):
    """How a voice's categorical output is made differentiable (``model.voices``)."""

    SOFTMAX = "softmax"
    STRAIGHT_THROUGH = "straight_through"
    GUMBEL = "gumbel"
    SAMPLE = "sample"

    @property
    def noisy(self) -> bool:
        """The relaxation draws: its output layer takes noise (:func:`voice_noise_channels`)."""
        return self in (Relaxation.GUMBEL, Relaxation.SAMPLE)

    @property
    def annealed(self) -> bool:
        """The relaxation has a temperature, annealed by ``model.slope``."""
        return self is Relaxation.GUMBEL

    def __str__(self) -> str:
        return self.value


def parse_relaxation(value: str | Relaxation) -> Relaxation:
    """The :class:`Relaxation` spelled ``value`` in the config.

    Raises:
        ValueError: an unknown spelling (naming ``model.voices`` and the choices).
    """
    return choice_value(Relaxation, value, "voices", "relaxation")


@dataclasses.dataclass(frozen=True)
class VoiceHead:
    """How a generator ends its monophonic voices (``model.voices``, ``model.hold``).

    Attributes:
        relaxation: how the categories are made differentiable.
        hold: a step holds the note before it or chooses a new one (see the module's text);
            False: every step chooses its pitch, with a start flag.
        scale: the factor on the pitch logits (see the module's text), a finite number > 0.
    """

    relaxation: Relaxation = Relaxation.SOFTMAX
    hold: bool = False
    scale: float = 1.0

    @classmethod
    def of(cls, voices: str | Relaxation, hold: bool = False, scale: float = 1.0) -> VoiceHead:
        """The head of the config's ``voices`` spelling, ``hold`` flag and ``voice_scale``.

        Raises:
            ValueError: an unknown relaxation, a ``hold`` that is not a boolean, ``hold``
                with a drawing relaxation, or a scale that is not a finite number above 0.
        """
        if not isinstance(hold, bool):
            raise ValueError(f"hold={hold!r}: must be true or false")
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not 0 < scale < math.inf
        ):
            raise ValueError(f"voice_scale={scale!r}: must be a finite number above 0")
        relaxation = parse_relaxation(voices)
        if hold and relaxation is Relaxation.GUMBEL:
            raise ValueError(
                f"hold=true: the hold form takes voices={Relaxation.SOFTMAX},"
                f" {Relaxation.STRAIGHT_THROUGH} or {Relaxation.SAMPLE}, not {relaxation}"
                " (hold=false for it)"
            )
        return cls(relaxation, hold, float(scale))


#: The default :class:`VoiceHead`: softmax, no hold.
DEFAULT_HEAD = VoiceHead()


def _with_rest(logits: Any) -> Any:
    """``(..., pitches)`` pitch logits with the rest's logit, fixed at 0, appended:
    ``(..., pitches + 1)``."""
    return ops.concatenate([logits, ops.zeros_like(logits[..., :1])], axis=-1)


def _categories(logits: Any) -> Any:
    """``softmax([l, 0])``: each pitch's probability, then the rest's, ``(..., pitches + 1)``."""
    return ops.softmax(_with_rest(logits), axis=-1)


def _straight_through(soft: Any, hard: Any) -> Any:
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass (the
    straight-through estimator, Bengio et al. 2013, arXiv:1308.3432)."""
    return soft + ops.stop_gradient(hard - soft)


def _hold_channels(
    logits: Any, start_logits: Any, relaxation: Relaxation, noise: Any = None
) -> tuple[Any, Any]:
    """The hold form's ``(r, n)``, each shaped like ``logits``, float32 in [0, 1]: the
    marginal probabilities that each pitch sounds and that it starts (see the module's text),
    or, straight-through, the decisions in the forward pass: the likeliest ones
    (``straight_through``) or draws on ``noise`` (``sample``, see :func:`voice_channels`)."""
    shape = tf.shape(logits)
    n_pitches = logits.shape[-1]
    batch = shape[0]

    def time_major(x: Any, trailing: list[int]) -> Any:
        x = tf.reshape(x, [batch, -1, *trailing])
        return tf.transpose(x, [1, 0, *range(2, 2 + len(trailing))])

    flat = [time_major(x, [n_pitches]) for x in (logits, start_logits)]
    categories = _categories(flat[0])
    keep = tf.sigmoid(flat[1])
    if relaxation is Relaxation.SAMPLE:
        u = time_major(_uniform(noise), [n_pitches + 1, 2])
        chosen = tf.argmax(_with_rest(flat[0]) + _gumbel(u[..., 0]), axis=-1)
        thresholds = u[:, :, :1, 1]  # a note holds where its hold probability is above a draw
    else:
        chosen = tf.argmax(categories, axis=-1)
        thresholds = tf.fill(tf.shape(categories[..., :1]), 0.5)
    chosen = tf.one_hot(chosen, n_pitches + 1)[..., :-1]
    hard = relaxation in (Relaxation.STRAIGHT_THROUGH, Relaxation.SAMPLE)

    def step(previous, elements):
        sounding, _ = previous  # (batch, pitches); one-hot or zero in a straight-through forward
        q, c, new_pitch, threshold = elements
        held = sounding * c
        new = (1.0 - tf.reduce_sum(held, axis=-1, keepdims=True)) * q[:, :-1]
        if not hard:
            return held + new, new
        # The previous step's forward value is one-hot or zero, so this sum is its pitch's
        # hold probability, or 0 after a rest.
        holds = tf.cast(threshold < tf.reduce_sum(held, axis=-1, keepdims=True), tf.float32)
        started = new_pitch * (1.0 - holds)
        return (
            _straight_through(held + new, holds * sounding + started),
            _straight_through(new, started),
        )

    zeros = tf.zeros_like(flat[0][0])
    elements = (categories, keep, chosen, thresholds)
    sound, start = tf.scan(step, elements, initializer=(zeros, zeros))
    return tuple(tf.reshape(tf.transpose(x, [1, 0, 2]), shape) for x in (sound, start))


#: Uniform draws are kept this far from 0 and 1, where Gumbel and logistic noise are infinite.
_UNIFORM_MARGIN = 1e-6


def _uniform(normal: Any) -> Any:
    """Standard normal noise mapped through its CDF to uniform (0, 1), float32."""
    return ops.clip(uniform_from_normal(normal), _UNIFORM_MARGIN, 1.0 - _UNIFORM_MARGIN)


def _gumbel(u: Any) -> Any:
    """Gumbel noise from uniform (0, 1) numbers: ``-log(-log(u))``."""
    return -ops.log(-ops.log(u))


def voice_noise_channels(n_pitches: int) -> tuple[int, int]:
    """The shape of one voice's noise for a drawing relaxation, after the time axes:
    ``(pitches + 1, 2)``, channel 0 the Gumbel noise of the categories (the pitches, then the
    rest), channel 1 the logistic noise of the starts (the first ``pitches`` entries), both
    standard normal as the generator receives them."""
    return n_pitches + 1, 2


def _gumbel_channels(logits: Any, start_logits: Any, noise: Any, slope: Any) -> tuple[Any, Any]:
    """The relaxed draws ``(q, n)`` of the ``gumbel`` relaxation, float32 in [0, 1] each shaped
    like ``logits``: the categories' pitches and the starts (see the module's text)."""
    u = _uniform(noise)
    gumbel = _gumbel(u[..., 0])
    logistic = ops.log(u[..., :-1, 1]) - ops.log(1.0 - u[..., :-1, 1])
    slope = ops.cast(slope, "float32")
    categories = ops.softmax(slope * (_with_rest(logits) + gumbel), axis=-1)
    return categories[..., :-1], ops.sigmoid(slope * (start_logits + logistic))


def _previous_step(chosen: Any) -> Any:
    """``(batch, ...)`` categories shifted one step along the time axes (every axis after
    batch, in order), the first step paired with itself."""
    flat = tf.reshape(chosen, [tf.shape(chosen)[0], -1])
    return tf.reshape(tf.concat([flat[:, :1], flat[:, :-1]], axis=1), tf.shape(chosen))


def _sample_channels(logits: Any, start_logits: Any, noise: Any) -> tuple[Any, Any]:
    """The ``sample`` relaxation's draws ``(q, n)``, float32 each shaped like ``logits``: one-hot
    pitches (all 0 for a rest) and starts, in {0, 1} forward, with straight-through gradients
    (see the module's text)."""
    u = _uniform(noise)
    chosen = tf.argmax(_with_rest(logits) + _gumbel(u[..., 0]), axis=-1)
    hard = tf.one_hot(chosen, logits.shape[-1] + 1)[..., :-1]
    soft = _categories(logits)[..., :-1]
    start = tf.sigmoid(start_logits)
    changed = tf.cast(tf.not_equal(chosen, _previous_step(chosen)), tf.float32)[..., None]
    starts = hard * tf.maximum(tf.cast(u[..., :-1, 1] < start, tf.float32), changed)
    return _straight_through(soft, hard), _straight_through(soft * start, starts)


def voice_channels(
    logits: Any,
    start_logits: Any,
    relaxation: Relaxation,
    hold: bool = False,
    noise: Any = None,
    slope: Any = 1.0,
) -> tuple[Any, Any]:
    """A voice's roll and onset channels from its pitch and start logits (see
    :class:`VoiceOutput`, which calls it).

    Args:
        logits: ``(batch, ..., pitches)`` pitch logits, unbounded.
        start_logits: the same shape: start (or, with ``hold``, hold) logits.
        relaxation: how the categories are made differentiable.
        hold: the hold form.
        noise: ``(batch, ..., pitches + 1, 2)`` standard normal, for a drawing relaxation
            (:func:`voice_noise_channels`; the hold form's draws use channel 0 for the
            categories and entry 0 of channel 1 for the hold); else unused.
        slope: the ``gumbel`` relaxation's inverse temperature; else unused.

    Returns:
        ``(roll, onsets)``, each shaped like ``logits``, float32 in [-1, 1].
    """
    logits, start_logits = ops.cast(logits, "float32"), ops.cast(start_logits, "float32")
    if hold:
        sound, start = _hold_channels(logits, start_logits, relaxation, noise)
        return 2.0 * sound - 1.0, 2.0 * start - 1.0
    if relaxation is Relaxation.SAMPLE:
        pitch, start = _sample_channels(logits, start_logits, noise)
        return 2.0 * pitch - 1.0, 2.0 * start - 1.0
    if relaxation is Relaxation.GUMBEL:
        pitch, start = _gumbel_channels(logits, start_logits, noise, slope)
        return 2.0 * pitch - 1.0, 2.0 * pitch * start - 1.0
    categories = _categories(logits)
    start = ops.sigmoid(start_logits)
    if relaxation is Relaxation.STRAIGHT_THROUGH:
        hard = ops.one_hot(ops.argmax(categories, axis=-1), categories.shape[-1])
        categories = _straight_through(categories, hard)
        start = _straight_through(start, ops.cast(start > 0.5, "float32"))
    pitch = categories[..., :-1]
    return 2.0 * pitch - 1.0, 2.0 * pitch * start - 1.0


@keras.saving.register_keras_serializable(package="gan")
class VoiceOutput(keras.layers.Layer):
    """Pitch and start (or hold) logits of voices to their roll and onset channels.

    Args:
        relaxation: a :class:`Relaxation` (or its spelling).
        hold: the hold form (see the module's text): the start logits are hold logits, and
            the axes between batch and pitches are time.
        scale: the factor on the pitch logits (see the module's text).
        **kwargs: layer arguments; ``dtype`` defaults to ``"float32"`` whatever the global
            policy, like the other output layers.

    Call arguments:
        inputs: ``[pitch_logits, start_logits]``, each ``(batch, ..., pitches)`` unbounded, any
            floating dtype (computed in float32); a drawing relaxation (``gumbel``, ``sample``)
            adds its noise, ``(batch, ..., pitches + 1, 2)`` standard normal
            (:func:`voice_noise_channels`); with ``sample``, the axes between batch and pitches
            are time.

    Returns:
        ``(roll, onsets)``, each ``(batch, ..., pitches)`` float32 in [-1, 1]: ``2 r - 1`` and
        ``2 n - 1``, ``r`` the probability that each pitch sounds and ``n`` that it starts a
        note (soft, or one-hot in the forward pass of the straight-through relaxation; all -1
        for a rest). Without hold, ``r = q`` and ``n = q sigmoid(s)``; with ``gumbel``, the
        relaxed draws of the module's text; with ``sample``, exact draws.

    The ``gumbel`` layer has a non-trainable float32 ``slope`` weight (the inverse
    temperature, initially 1.0), saved with the model and set between steps by
    :meth:`set_slope`, as binary neurons' slopes are.
    """

    def __init__(
        self, relaxation: Relaxation | str, hold: bool = False, scale: float = 1.0, **kwargs: Any
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        head = VoiceHead.of(relaxation, bool(hold), scale)
        self.relaxation, self.hold, self.scale = head.relaxation, head.hold, head.scale
        self.slope = None
        if self.relaxation.annealed:
            self.slope = self.add_weight(
                shape=(),
                initializer="ones",
                trainable=False,
                dtype="float32",
                name="slope",
            )

    def set_slope(self, value: float) -> None:
        """Assign the inverse temperature of the ``gumbel`` relaxation (a finite number > 0;
        call it outside traced functions)."""
        if self.slope is None:
            raise ValueError(f"{self.name}: voices={self.relaxation} has no temperature")
        assign_slope(self.name, self.slope, value)

    @classmethod
    def of(cls, head: VoiceHead, name: str) -> VoiceOutput:
        """The layer ending voices as ``head`` says."""
        return cls(head.relaxation, head.hold, head.scale, name=name)

    def call(self, inputs: Any) -> tuple[Any, Any]:
        logits = ops.cast(inputs[0], "float32") * self.scale
        if self.relaxation.noisy:
            if len(inputs) != 3:
                raise ValueError(f"{self.name}: voices={self.relaxation} takes its noise")
            return voice_channels(
                logits, inputs[1], self.relaxation, self.hold, inputs[2], self.slope
            )
        return voice_channels(logits, inputs[1], self.relaxation, self.hold)

    def compute_output_spec(self, inputs: Any) -> tuple[Any, Any]:
        # Two objects: a functional model tells its tensors apart by identity, so one object
        # returned twice would carry the onsets in the roll's place as well.
        return tuple(keras.KerasTensor(inputs[0].shape, dtype="float32") for _ in range(2))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "relaxation": self.relaxation.value,
            "hold": self.hold,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package="gan")
class ChannelOutput(keras.layers.Layer):
    """Pre-activations of every model-tensor channel to a generator's output: ``tanh`` for the
    free tracks, :func:`voice_channels` for each voice (its roll channel holds the pitch logits,
    its onset channel the start logits).

    Args:
        n_tracks: tracks of the spec (the first ``n_tracks`` channels are their rolls).
        voices: the voices' track indices, in order (their onset channels follow the rolls).
        relaxation: a :class:`Relaxation` (or its spelling).
        hold: the hold form (see the module's text): each voice's onset channel holds hold
            logits, and the axes between batch and pitches are time.
        **kwargs: layer arguments; ``dtype`` defaults to ``"float32"``.

    Call arguments:
        inputs: ``(batch, ..., pitches, channels)`` pre-activations, any floating dtype.

    Returns:
        The same shape, ``float32`` in [-1, 1] (a model tensor).
    """

    def __init__(
        self,
        n_tracks: int,
        voices: tuple[int, ...] | list[int] = (),
        relaxation: Relaxation | str = Relaxation.SOFTMAX,
        hold: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.n_tracks, self.voices = int(n_tracks), tuple(int(k) for k in voices)
        self.relaxation = parse_relaxation(relaxation)
        self.hold = bool(hold)
        if self.relaxation.noisy:
            raise ValueError(f"{self.name}: voices={self.relaxation} needs noise it does not take")

    def call(self, inputs: Any) -> Any:
        a = ops.cast(inputs, "float32")
        if not self.voices:
            return ops.tanh(a)
        channels = [ops.tanh(a[..., k]) for k in range(self.n_tracks)]
        onsets = []
        for j, k in enumerate(self.voices):
            channels[k], onset = voice_channels(
                a[..., k], a[..., self.n_tracks + j], self.relaxation, self.hold
            )
            onsets.append(onset)
        return ops.stack(channels + onsets, axis=-1)

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_tracks": self.n_tracks,
            "voices": list(self.voices),
            "relaxation": self.relaxation.value,
            "hold": self.hold,
        }


def draws_per_step(n_pitches: int, n_tracks: int, voices: tuple[int, ...] | list[int] = ()) -> int:
    """How many uniform numbers :func:`draw_channels` takes per step: two per voice (its
    category and its start), one per cell of each free track."""
    return 2 * len(voices) + n_pitches * (int(n_tracks) - len(voices))


def draw_channels(
    preactivations: tf.Tensor,
    uniform: tf.Tensor,
    previous: tf.Tensor,
    n_tracks: int,
    voices: tuple[int, ...] | list[int] = (),
) -> tf.Tensor:
    """One step drawn from a generator's distributions, with straight-through gradients.

    Each free track's cell sounds with probability ``(tanh(a) + 1) / 2`` (a Bernoulli draw);
    each voice draws one category from ``softmax([l, 0])`` (by inverse CDF: its first uniform
    number) and starts the drawn pitch with probability ``sigmoid(s)`` (its second), or always
    when the pitch is not the one sounding at the previous step, so that a draw is a voice in
    the form of real data. The forward value is the draw; the backward pass takes the gradient
    of the probabilities (``2 q - 1`` and ``2 q sigmoid(s) - 1``, see :func:`voice_channels`)
    as if they had been used (the straight-through estimator, Bengio et al. 2013,
    arXiv:1308.3432).

    Args:
        preactivations: ``(batch, pitches, channels)`` one step's pre-activations (the
            channels as :class:`ChannelOutput` reads them), any floating dtype.
        uniform: ``(batch, draws)`` uniform (0, 1) (:func:`draws_per_step`): the voices'
            pairs first, in order, then the free tracks' cells, track-major.
        previous: ``(batch, pitches, channels)`` in [-1, 1]: the previous step's draw (all -1
            before the first step).
        n_tracks: tracks of the spec (the first ``n_tracks`` channels are their rolls).
        voices: the voices' track indices, in order (their onset channels follow the rolls).

    Returns:
        ``(batch, pitches, channels)`` float32, in {-1, 1} in the forward pass.
    """
    a = tf.cast(preactivations, tf.float32)
    uniform = tf.cast(uniform, tf.float32)
    n_pitches = a.shape[-2]
    free = [k for k in range(n_tracks) if k not in voices]
    channels: list[tf.Tensor | None] = [None] * n_tracks
    onsets = []
    for j, k in enumerate(voices):
        categories = _categories(a[..., k])
        below = tf.math.cumsum(categories, axis=-1) < uniform[:, 2 * j : 2 * j + 1]
        chosen = tf.minimum(tf.reduce_sum(tf.cast(below, tf.int32), axis=-1), n_pitches)
        hard = tf.one_hot(chosen, n_pitches + 1)[:, :-1]
        soft = categories[:, :-1]
        start = tf.sigmoid(a[..., n_tracks + j])
        held = tf.reduce_sum(hard * (tf.cast(previous[..., k], tf.float32) + 1.0) / 2.0, -1)
        starts = tf.cast(uniform[:, 2 * j + 1 : 2 * j + 2] < start, tf.float32)
        starts = tf.maximum(starts, 1.0 - tf.round(held)[:, None])
        channels[k] = _straight_through(soft, hard)
        onsets.append(_straight_through(soft * start, hard * starts))
    offset = 2 * len(voices)
    for i, k in enumerate(free):
        probability = (tf.tanh(a[..., k]) + 1.0) / 2.0
        cells = uniform[:, offset + i * n_pitches : offset + (i + 1) * n_pitches]
        hard = tf.cast(cells < probability, tf.float32)
        channels[k] = _straight_through(probability, hard)
    return 2.0 * tf.stack(channels + onsets, axis=-1) - 1.0


def threshold_channels(outputs: tf.Tensor, spec: PhraseSpec) -> tf.Tensor:
    """The hard decoding of generator outputs in TensorFlow (an exported model's ``binary``).

    Free tracks are thresholded at 0; a voice takes its likeliest category (a rest: no pitch),
    and its onset where the start probability of the chosen pitch is over one half (a change of
    pitch starts a note whatever it says; see :func:`pianoroll.voices.decode`, the NumPy twin).

    Args:
        outputs: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] (model tensors).
        spec: the phrase spec.

    Returns:
        The same shape, ``bool``.
    """
    if not spec.voices:
        return outputs > 0
    probability = (tf.cast(outputs, tf.float32) + 1.0) / 2.0
    channels = [outputs[..., k] > 0 for k in range(spec.n_tracks)]
    onsets = []
    for j, k in enumerate(spec.voices):
        pitch = probability[..., k]
        rest = 1.0 - tf.reduce_sum(pitch, axis=-1, keepdims=True)
        chosen = tf.argmax(tf.concat([pitch, rest], axis=-1), axis=-1)
        channels[k] = tf.one_hot(chosen, spec.n_pitches + 1)[..., :-1] > 0.5
        start = probability[..., spec.n_tracks + j]
        onsets.append(channels[k] & (start > 0.5 * pitch))
    return tf.stack(channels + onsets, axis=-1)
