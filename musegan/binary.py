"""Binary neurons: generator outputs in {-1, 1} (BinaryMuseGAN, Dong and Yang, ISMIR 2018).

A binary neuron maps a pre-activation ``a`` to a probability ``p = sigmoid(slope * a)`` and
then to a binary value ``b`` in {0, 1}, returned as ``2 * b - 1`` in {-1, 1} (the tensor
contract of :mod:`pianoroll`):

- deterministic (DBN): ``b = round(p)``, that is 1 exactly where ``a > 0``;
- stochastic (SBN): ``b ~ Bernoulli(p)``, drawn as ``b = 1`` where ``u < p`` for a uniform
  ``u = Phi(noise)`` computed from standard normal noise the model draws statelessly from its
  seed (so runs are deterministic and resumable).

The gradient is the straight-through estimator of the binarization (``db / dp = 1``) times
the sigmoid's true derivative, so ``d(2b - 1) / da = 2 * slope * p * (1 - p)``: the
"not pass-through" variant that the slope annealing trick (Chung et al. 2016,
arXiv:1609.01704) needs. :class:`SlopeSchedule` anneals the slope linearly by generator step
and :func:`set_slopes` assigns it to every binary neuron of a model.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import keras
from keras import ops

from gan.draws import assign_slope, uniform_from_normal
from gan.voices import VoiceOutput
from pianoroll.errors import choice_value

__all__ = [
    "BinaryNeuron",
    "Output",
    "SlopeSchedule",
    "parse_output",
    "probability",
    "set_slopes",
]


class Output(str, enum.Enum):
    """The generator's output layer (``model.output`` in the config)."""

    TANH = "tanh"  # real-valued, in (-1, 1)
    DETERMINISTIC = "deterministic"  # deterministic binary neurons (DBN), in {-1, 1}
    STOCHASTIC = "stochastic"  # stochastic binary neurons (SBN), in {-1, 1}

    def __str__(self) -> str:
        # The config's spelling in f-strings and layer names, as enum.StrEnum (3.11+) gives.
        return self.value


def parse_output(value: str | Output) -> Output:
    """The :class:`Output` spelled ``value`` in the config.

    Raises:
        ValueError: ``value`` is none of ``tanh``, ``deterministic``, ``stochastic``.
    """
    return choice_value(Output, value, "model.output", "output")


@dataclasses.dataclass(frozen=True)
class SlopeSchedule:
    """The sigmoid's slope by generator step: 1.0, then a linear ramp, then ``end_value``.

    Attributes:
        start: the last generator step at slope 1.0; the ramp begins here.
        end: the first generator step at ``end_value``.
        end_value: the final slope, at least 1.0 (1.0: no annealing). The authors' MuseGAN
            configuration anneals to 5.0.
    """

    start: int = 0
    end: int = 0
    end_value: float = 1.0

    def check(self) -> None:
        """Raise ValueError naming the first bad field unless ``end >= start >= 0`` and
        ``end_value >= 1``."""
        if self.start < 0:
            raise ValueError(f"start: must be at least 0, got {self.start}")
        if self.end < self.start:
            raise ValueError(f"end: must be at least start ({self.start}), got {self.end}")
        if not self.end_value >= 1.0:  # also refuses NaN
            raise ValueError(f"end_value: must be at least 1.0, got {self.end_value}")

    def slope_at(self, step: int) -> float:
        """The slope at generator step ``step``.

        1.0 up to ``start``, ``end_value`` from ``end`` on, linear in between. When ``start ==
        end`` the slope jumps from 1.0 to ``end_value`` at that step.
        """
        if step >= self.end:
            return float(self.end_value)
        if step <= self.start:
            return 1.0
        fraction = (step - self.start) / (self.end - self.start)
        return 1.0 + fraction * (self.end_value - 1.0)


def probability(pre_activation: Any, slope: Any = 1.0) -> Any:
    """The firing probability ``p = sigmoid(slope * pre_activation)``, computed in float32.

    Args:
        pre_activation: a tensor of any shape and floating dtype.
        slope: a positive scalar (a Python number, tensor or variable).

    Returns:
        A float32 tensor of ``pre_activation``'s shape, in [0, 1].
    """
    a = ops.cast(pre_activation, "float32")
    return ops.sigmoid(ops.cast(slope, "float32") * a)


@keras.saving.register_keras_serializable(package="musegan")
class BinaryNeuron(keras.layers.Layer):
    """Binary neurons with the straight-through gradient and an annealable sigmoid slope.

    The slope is a non-trainable float32 scalar weight (initially 1.0), saved with the model's
    weights and read when the layer runs, so :meth:`set_slope` between steps takes effect in
    compiled functions without retracing them.

    Args:
        kind: :attr:`Output.DETERMINISTIC` or :attr:`Output.STOCHASTIC` (or their spelling).
        **kwargs: layer arguments; ``dtype`` defaults to ``"float32"`` whatever the global
            policy, like the generator's ``tanh`` output layer.

    Call arguments:
        inputs: deterministic: the pre-activation ``(batch, ...)``; stochastic:
            ``[pre_activation, noise]``, two tensors of the same shape, ``noise`` standard
            normal. Any floating dtype; the layer computes in float32.

    Returns:
        A float32 tensor of the pre-activation's shape, in {-1, 1}. Its gradient with respect to
        the pre-activation is ``2 * slope * p * (1 - p)`` times the upstream gradient, with
        ``p = sigmoid(slope * pre_activation)``; the noise gets no gradient.

    Raises:
        ValueError: ``kind`` is :attr:`Output.TANH` or not an :class:`Output`.
    """

    def __init__(self, kind: Output | str, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.kind = parse_output(kind)
        if self.kind is Output.TANH:
            raise ValueError(
                f"BinaryNeuron: kind must be {Output.DETERMINISTIC} or {Output.STOCHASTIC}, "
                f"got {Output.TANH}"
            )
        self.slope = self.add_weight(
            shape=(),
            initializer="ones",
            dtype="float32",
            trainable=False,
            autocast=False,
            name="slope",
        )

    def set_slope(self, value: float) -> None:
        """Assign the sigmoid's slope (a finite number > 0; call it outside traced functions)."""
        assign_slope(self.name, self.slope, value)

    def _split(self, inputs: Any) -> tuple[Any, Any]:
        """``(pre_activation, noise)`` (noise None for deterministic neurons), checked."""
        pair = isinstance(inputs, list | tuple)
        if self.kind is Output.DETERMINISTIC:
            if pair:
                raise ValueError(f"{self.name}: deterministic neurons take one tensor, no noise")
            return inputs, None
        if not pair or len(inputs) != 2:
            raise ValueError(f"{self.name}: stochastic neurons take [pre_activation, noise]")
        return inputs[0], inputs[1]

    def call(self, inputs: Any) -> Any:
        pre_activation, noise = self._split(inputs)
        a = ops.cast(pre_activation, "float32")
        p = probability(a, self.slope)
        # Deterministic: round(p) is 1 where p > 1/2, that is where a > 0 (the slope is
        # positive); the comparison on `a` is exact where a float32 sigmoid of a tiny `a` rounds
        # to 1/2. Stochastic: a uniform draw below p.
        fires = a > 0.0 if noise is None else uniform_from_normal(noise) < p
        hard = 2.0 * ops.cast(fires, "float32") - 1.0
        # Straight through: the forward value is exactly `hard` (p - p is 0), the gradient is
        # that of 2 * p.
        return hard + 2.0 * (p - ops.stop_gradient(p))

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.kind is Output.STOCHASTIC:
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(kind=self.kind.value)
        return config


def set_slopes(model: keras.Model, slope: float) -> int:
    """Assign ``slope`` to every :class:`BinaryNeuron` in ``model``, nested models included,
    and to every voice output with a temperature (:class:`gan.voices.VoiceOutput` with
    ``voices=gumbel``, whose inverse temperature anneals on the same schedule).

    Args:
        model: any Keras layer or model.
        slope: the sigmoid's slope, a finite number > 0 (e.g. ``SlopeSchedule.slope_at(step)``).

    Returns:
        The number of layers set (each shared layer once).
    """
    neurons = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, BinaryNeuron)
        or (isinstance(layer, VoiceOutput) and layer.relaxation.annealed)
    ]
    for neuron in neurons:
        neuron.set_slope(slope)
    return len(neurons)
