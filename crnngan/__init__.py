"""C-RNN-GAN (Mogren 2016, arXiv:1611.09904) on multitrack pianorolls read as sequences.

A phrase's model tensor ``(bars, steps, pitches, channels)`` (the tracks, then each monophonic
voice's onsets) is a sequence of ``bars * steps`` time steps, each the vector of every
channel's pitches. Two presets (``conf/model/``): ``dense`` (a
dense generator, an LSTM discriminator) and ``recurrent`` (the paper's LSTM generator fed its
own previous output, a bidirectional LSTM discriminator deciding at every step). The training
loop, losses, checkpoints and sample output are the shared ones of :mod:`gan` and
:mod:`pianoroll`; this package only defines the networks (``generator``, ``discriminator``),
the model (``model``) and the entry point (``train``).
"""

import gan  # noqa: F401  (quiets TensorFlow's logging and sets oneDNN's ISA before TF runs)
