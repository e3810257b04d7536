"""Freezing the stronger network: C-RNN-GAN's way of keeping the two players balanced."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Freeze", "freeze_decision"]


@dataclasses.dataclass(frozen=True)
class Freeze:
    """Which networks skip their next update.

    Attributes:
        critic: the critic (discriminator) is frozen.
        generator: the generator is frozen.
        reason: one line saying what is frozen and why (not compared: two decisions are equal
            when they freeze the same networks).
    """

    critic: bool = False
    generator: bool = False
    reason: str = dataclasses.field(default="nothing frozen", compare=False)


def freeze_decision(
    critic_loss: float, generator_loss: float, ratio: float, chance: float = math.log(2)
) -> Freeze:
    """Which network to freeze for the next step (Mogren 2016, arXiv:1611.09904).

    A network whose loss is below ``ratio`` times the other's is winning too easily: it skips
    its next update, so that the other can catch up. The discriminator is frozen when
    ``critic_loss < ratio * generator_loss``, the generator when
    ``generator_loss < ratio * critic_loss``; with positive losses and ``ratio < 1`` at most one
    of the two. A network is only frozen while it beats chance (its loss is below ``chance``):
    a discriminator that calls everything generated (loss per term 1.3, the generator's 2.6 on
    untrained chorale networks) is not strong but wrong, and frozen it would never learn, since
    the feature-matching generator does not move those losses. Losses that are not finite (no
    step yet) freeze nothing.

    Args:
        critic_loss: the discriminator's last loss on the generator's scale (a cross-entropy).
        generator_loss: the generator's last adversarial loss (a cross-entropy, at least 0).
        ratio: in (0, 1); C-RNN-GAN uses 0.7.
        chance: the loss of a network that guesses: ``log 2`` for a binary cross-entropy.

    Returns:
        The decision.

    Raises:
        ValueError: ``ratio`` is not in (0, 1).
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"freeze ratio must be in (0, 1), got {ratio}")
    if not (math.isfinite(critic_loss) and math.isfinite(generator_loss)):
        return Freeze()
    losses = f"discriminator loss {critic_loss:.4g}, generator loss {generator_loss:.4g}"
    if critic_loss < min(ratio * generator_loss, chance):
        return Freeze(critic=True, reason=f"discriminator frozen ({losses}; ratio {ratio:g})")
    if generator_loss < min(ratio * critic_loss, chance):
        return Freeze(generator=True, reason=f"generator frozen ({losses}; ratio {ratio:g})")
    return Freeze(reason=f"nothing frozen ({losses}; ratio {ratio:g})")
