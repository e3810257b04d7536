"""Multitrack pianoroll phrases: the data type shared by every model in this project.

Tensor contract
---------------
A *phrase* is an array of shape ``(bars, steps, pitches, tracks)``:

- ``bars``: bars per phrase (``PhraseSpec.n_bars``, 4 for the chorales and LPD-5).
- ``steps``: time steps per bar, ``steps_per_beat * beats_per_bar`` (16 for the chorales at
  4 steps per beat in 4/4, 48 for LPD-5 at 12 steps per beat).
- ``pitches``: ``n_pitches`` consecutive MIDI pitches starting at ``lowest_pitch``; index ``p``
  is MIDI pitch ``lowest_pitch + p`` (84 pitches from MIDI 24, C1 to B7, by default).
- ``tracks``: one channel per instrument family, in ``PhraseSpec.tracks`` order.

A batch puts the phrase axis first: ``(N, bars, steps, pitches, tracks)``.

Value ranges, and the one place each is used:

- **binary** (``bool``): datasets, caches, metrics and file output. ``True`` means the pitch
  sounds during that step.
- **{-1, 1}** (``float32``): what a critic sees as real data (``to_signed``).
- **(-1, 1)** (``float32``): generator output, a ``tanh``. ``binarize_threshold`` maps it to
  binary at 0; ``to_probability`` maps it to a probability in (0, 1) for Bernoulli sampling.
  A generator with binary neurons (``model.output``) outputs values in {-1, 1}, which both
  binarizations map to the same binary roll.
"""

import contextlib
import io

# pyfluidsynth (imported by pretty_midi when present) prints where it found the FluidSynth
# library whenever the CI variable is set; commands' stdout carries output such as ``--cfg job``
# and their stderr one-line errors, so that debugging line is dropped.
with contextlib.redirect_stdout(io.StringIO()):
    import pretty_midi  # noqa: F401

from pianoroll.spec import LPD5_TRACKS, PhraseSpec, Track

__all__ = ["LPD5_TRACKS", "PhraseSpec", "Track"]
