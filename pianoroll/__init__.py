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

Monophonic voices
-----------------
A track flagged ``monophonic`` (a voice: the chorales' four parts) sounds at most one pitch
per step, and its notes' starts are kept, so a repeated note and a held one stay different.
Such a track is one category per step, a pitch or a rest, plus a flag for a new note
(:mod:`pianoroll.voices`). Models see every phrase as a *model tensor*
``(bars, steps, pitches, channels)`` (``PhraseSpec.channel_shape``): the tracks' rolls, then
one *onset roll* per voice (the cells where a note starts), in {-1, 1} as real data. A
generator outputs a voice as the probabilities of its pitches (a rest is none of them), and
its onset channel as the probability that the pitch sounds and starts there, both mapped to
[-1, 1]; :func:`pianoroll.voices.decode` turns outputs into binary rolls and onsets. Without
voices the model tensor is the phrase itself.
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
