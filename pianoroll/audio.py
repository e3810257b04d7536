"""Audio: MIDI rendered to WAV through FluidSynth with pretty_midi's General MIDI sound font.

FluidSynth is optional: ``pip install pyfluidsynth`` (or the ``audio`` extra) and the system
library (``apt install libfluidsynth3``, ``brew install fluid-synth``, ``conda install -c
conda-forge fluidsynth``). Without it, :func:`fluidsynth_problem` says what is missing and the
generation commands write everything but the WAV files.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Callable

import numpy as np
import pretty_midi

from pianoroll.io import atomic_path

__all__ = ["INSTALL_HINT", "audio_usable", "fluidsynth_problem", "render_wav"]

INSTALL_HINT = (
    "install FluidSynth for audio: pip install pyfluidsynth, plus the system library"
    " (apt install libfluidsynth3 / brew install fluid-synth)"
)


def fluidsynth_problem() -> str | None:
    """Why audio cannot be rendered here (one line with what to install), or None if it can."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; loads the system library on import)
    except ModuleNotFoundError as err:
        if err.name != "fluidsynth":
            raise
        return f"audio skipped: pyfluidsynth is not installed; {INSTALL_HINT}"
    except ImportError:  # pyfluidsynth raises it when find_library finds no libfluidsynth
        return f"audio skipped: the FluidSynth system library is missing; {INSTALL_HINT}"
    except OSError:
        return f"audio skipped: the FluidSynth system library cannot be loaded; {INSTALL_HINT}"
    return None


def audio_usable(wanted: bool, say: Callable[[str], object]) -> bool:
    """Whether to render audio: it is wanted and FluidSynth can render it here; when it is
    wanted but cannot be, ``say`` gets one line saying what to install."""
    if not wanted:
        return False
    problem = fluidsynth_problem()
    if problem:
        say(problem)
    return problem is None


def render_wav(
    midi: pretty_midi.PrettyMIDI, path: str | os.PathLike[str], sample_rate: int = 22050
) -> None:
    """Render a MIDI object to a 16-bit mono WAV file, atomically.

    Args:
        midi: the music.
        path: the ``.wav`` file.
        sample_rate: samples per second.

    Raises:
        ImportError or OSError: FluidSynth is missing (check :func:`fluidsynth_problem` first).
    """
    # pretty_midi uses its bundled TimGM6mb.sf2 General MIDI sound font by default.
    waveform = midi.fluidsynth(fs=int(sample_rate))
    peak = float(np.abs(waveform).max(initial=0.0))
    pcm = (np.asarray(waveform) / max(peak, 1e-9) * 0.9 * 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
