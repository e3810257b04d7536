"""C-RNN-GAN (Mogren 2016, arXiv:1611.09904) on multitrack pianorolls read as sequences.

A phrase ``(bars, steps, pitches, tracks)`` is a sequence of ``bars * steps`` time steps, each
the multi-hot vector of every track's pitches. Two presets (``conf/model/``): ``dense`` (a
dense generator, an LSTM discriminator) and ``recurrent`` (the paper's LSTM generator fed its
own previous output, a bidirectional LSTM discriminator deciding at every step). The training
loop, losses, checkpoints and sample output are the shared ones of :mod:`gan` and
:mod:`pianoroll`; this package only defines the networks (``generator``, ``discriminator``),
the model (``model``) and the entry point (``train``).
"""

import gan  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)
