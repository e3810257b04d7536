"""MuseGAN (Dong et al., AAAI 2018, arXiv:1709.06298): multitrack pianoroll generation.

This package defines networks and their configs only; training, losses and I/O live in
:mod:`gan` and :mod:`pianoroll`.
"""

import gan  # noqa: F401  (quiets TensorFlow's logging and sets oneDNN's ISA before TF runs)
