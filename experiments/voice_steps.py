"""What the steps of monophonic voices do: rest, start a note, or hold one.

    python experiments/voice_steps.py <generated.npz> [<generated.npz> ...] [--data]

Each voice of each phrase is read as one category per step (:func:`pianoroll.voices.encode_voice`,
the bars joined in time) and every step after a phrase's first is counted as one of:

- ``rest``: no pitch sounds;
- ``held``: the previous step's pitch sounds on, no new note;
- ``repeated``: the previous step's pitch sounds again as a new note;
- ``moved``: another pitch than the previous step's starts.

Shares are over all counted steps of all voices (rest) or over the sounding ones (the other
three, which add up to 1). ``--data`` adds the chorales' training phrases as the default data
config prepares them, with voices, so the same figures can be read side by side. Prints JSON,
one entry per file. A free-roll file (no onsets) or a voice that sounds two pitches at a step
is refused in one line: these figures are defined for monophonic voices only. Run it from the
repository's root (the data config's paths are relative to it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pianoroll.errors import UserError
from pianoroll.spec import PhraseSpec
from pianoroll.voices import encode_voice, rest

PARTS = ("rest", "held", "repeated", "moved")


def step_counts(rolls: np.ndarray, onsets: np.ndarray, voices: Iterable[int]) -> dict[str, int]:
    """Count the steps of monophonic voices by kind.

    Args:
        rolls: ``(N, bars, steps, pitches, tracks)``, binary.
        onsets: the same shape, binary: where notes start.
        voices: the track indices to read (monophonic tracks).

    Returns:
        ``{"rest", "held", "repeated", "moved", "steps"}`` counts over every step after each
        phrase's first.

    Raises:
        ValueError: a voice sounds two pitches at a step.
    """
    n, bars, steps, pitches, _ = rolls.shape
    counts = dict.fromkeys((*PARTS, "steps"), 0)
    for track in voices:
        roll = rolls[..., track].reshape(n, bars * steps, pitches)
        categories, starts = encode_voice(roll, onsets[..., track].reshape(roll.shape))
        now, before, start = categories[:, 1:], categories[:, :-1], starts[:, 1:]
        sounding = now != rest(pitches)
        same = now == before
        counts["rest"] += int((~sounding).sum())
        counts["held"] += int((sounding & same & ~start).sum())
        counts["repeated"] += int((sounding & same & start).sum())
        counts["moved"] += int((sounding & ~same).sum())
        counts["steps"] += int(now.size)
    return counts


def shares(counts: dict[str, int]) -> dict[str, float]:
    """Rest share of all steps; held, repeated and moved shares of the sounding steps (NaN
    when there is no such step)."""
    sounding = counts["steps"] - counts["rest"]
    out = {"rest": counts["rest"] / counts["steps"] if counts["steps"] else float("nan")}
    for part in PARTS[1:]:
        out[part] = counts[part] / sounding if sounding else float("nan")
    return out


def _file_figures(path: Path) -> dict[str, float]:
    try:
        data = np.load(path)
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: not a phrases file ({error})") from None
    if not hasattr(data, "files"):  # a .npy: one array
        raise UserError(f"{path}: not a phrases file (one array, not an .npz)")
    with data:
        if not {"phrases", "spec"} <= set(data.files):
            raise UserError(f"{path}: no 'phrases' and 'spec' arrays (not a phrases file)")
        if "onsets" not in data.files:
            raise UserError(f"{path}: no onsets saved (free rolls have no voices to read)")
        rolls, onsets = data["phrases"], data["onsets"]
        spec = PhraseSpec.from_dict(json.loads(data["spec"].tobytes()))
    if not spec.voices:
        raise UserError(f"{path}: its spec has no monophonic voice")
    try:
        return shares(step_counts(rolls, onsets, spec.voices))
    except ValueError as error:
        raise UserError(f"{path}: {error}") from None


def _data_figures() -> dict[str, float]:
    from hydra import compose, initialize_config_module

    from pianoroll.prepare import load_splits
    from pianoroll.voices import split_channels

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=["data.voices=monophonic"])
    splits = load_splits(cfg.data, cfg.paths.data_dir, progress=False)
    train, spec = splits.train, splits.spec
    rolls, onsets = split_channels(train.channels_at(slice(None)), spec)
    return shares(step_counts(rolls, onsets, spec.voices))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="generated.npz of a report")
    parser.add_argument("--data", action="store_true", help="add the training phrases")
    args = parser.parse_args(argv)
    out = {}
    try:
        for path in args.files:
            out[str(path)] = _file_figures(path)
        if args.data:
            out["training data"] = _data_figures()
    except (UserError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
