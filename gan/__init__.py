"""Shared adversarial machinery: losses, objectives, the distributed training loop,
checkpoints and logging. Model packages (``musegan``, ``crnngan``) provide networks only."""

import os

# Before TensorFlow is imported anywhere below: keep its C++ start-up chatter off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pianoroll  # noqa: F401  (quiets pretty_midi's FluidSynth probe before other imports)
from gan.precision import limit_onednn_isa

limit_onednn_isa()  # before any TensorFlow kernel runs: oneDNN reads it once
