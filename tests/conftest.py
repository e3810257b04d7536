"""Shared fixtures: MIDI and LPD-format files written by the tests, specs, Hydra data configs."""

import json
import os
import zipfile

os.environ.setdefault("WANDB_MODE", "disabled")
# TensorFlow reads this once, when it is first imported (which may happen at collection time).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np
import pypianoroll
import pytest

import gan  # noqa: F401  (before any test runs a kernel: keeps oneDNN off AMX, see gan.precision)
from pianoroll.spec import LPD5_TRACKS, PhraseSpec, Track

#: A note: (start, end, MIDI pitch); start and end in beats for MIDI, in ticks for LPD tracks.
Note = tuple[float, float, int]


def write_midi_file(
    path: str | os.PathLike[str],
    notes: Sequence[Note] = (),
    program: int = 0,
    is_drum: bool = False,
    tempo: float | Sequence[tuple[float, float]] = 120.0,
    time_signature: tuple[int, int] | Sequence[tuple[float, int, int]] | None = (4, 4),
    instruments: Sequence[dict] = (),
    resolution: int = 480,
) -> Path:
    """Write a type-1 MIDI file; note times are in beats (quarter notes).

    The file is written with mido (the library pretty_midi reads and writes with), so that
    tempo changes and time signatures after time 0 land on exact ticks.

    Args:
        path: the file to write.
        notes, program, is_drum: one instrument (skipped when ``notes`` is empty).
        tempo: quarter notes per minute, or ``[(beat, bpm), ...]`` tempo changes.
        time_signature: ``(numerator, denominator)`` at beat 0, ``[(beat, num, den), ...]``,
            or None for no time signature event.
        instruments: more instruments, dicts with ``notes`` and optional ``program``,
            ``is_drum`` and ``name``.
        resolution: ticks per beat.
    """
    parts = [dict(notes=notes, program=program, is_drum=is_drum)] if len(notes) else []
    parts += [dict(part) for part in instruments]
    tempi = [(0.0, float(tempo))] if isinstance(tempo, int | float) else list(tempo)
    if time_signature is None:
        signatures = []
    elif isinstance(time_signature[0], int | np.integer):
        signatures = [(0.0, *time_signature)]
    else:
        signatures = list(time_signature)

    def tick(beat: float) -> int:
        return round(beat * resolution)

    def track_of(events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
        track = mido.MidiTrack()
        now = 0
        for at, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=at - now))
            now = at
        return track

    midi = mido.MidiFile(type=1, ticks_per_beat=resolution)
    meta = [
        (tick(b), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))) for b, bpm in tempi
    ]
    meta += [
        (tick(b), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d))
        for b, n, d in signatures
    ]
    midi.tracks.append(track_of(meta))
    melodic_channels = iter([c for c in range(16) if c != 9])
    for part in parts:
        channel = 9 if part.get("is_drum") else next(melodic_channels)
        events = []
        if part.get("name"):
            events.append((0, 0, mido.MetaMessage("track_name", name=part["name"])))
        program = part.get("program", 0)
        events.append((0, 1, mido.Message("program_change", program=program, channel=channel)))
        for start, end, pitch in part["notes"]:
            # Note-offs sort before note-ons at the same tick, so repeated notes stay separate.
            on = mido.Message("note_on", note=pitch, velocity=100, channel=channel)
            off = mido.Message("note_off", note=pitch, velocity=0, channel=channel)
            events += [(tick(start), 3, on), (tick(end), 2, off)]
        midi.tracks.append(track_of(events))
    path = Path(path)
    midi.save(str(path))
    return path


def write_song(path: str | os.PathLike[str], bars: int = 8, pitch: int = 60, **kwargs) -> Path:
    """A 4/4 song of ``bars`` bars: piano quarter notes and a bass note per bar (5 notes a bar)."""
    piano = [(b, b + 1, pitch + b % 5) for b in range(4 * bars)]
    bass = [(4 * b, 4 * b + 4, 36 + b % 3) for b in range(bars)]
    kwargs.setdefault("instruments", [dict(program=33, notes=bass)])
    return write_midi_file(path, piano, program=0, **kwargs)


def write_lpd_npz(
    path: str | os.PathLike[str],
    tracks: Sequence[dict],
    n_steps: int,
    resolution: int = 24,
    first_downbeat: int | None = 0,
    beats_per_bar: int = 4,
) -> Path:
    """Write a Lakh Pianoroll Dataset file with pypianoroll.

    Args:
        path: the ``.npz`` to write.
        tracks: dicts with ``name``, ``notes`` (``(start_tick, end_tick, pitch)`` at
            ``resolution``) and optional ``program`` and ``is_drum``.
        n_steps: length of every track in ticks.
        resolution: ticks per beat (24 in LPD).
        first_downbeat: tick of the first downbeat (then one every bar); None: no downbeat array.
    """
    binary_tracks = []
    for spec in tracks:
        roll = np.zeros((n_steps, 128), bool)
        for start, end, pitch in spec["notes"]:
            roll[int(start) : int(end), pitch] = True
        binary_tracks.append(
            pypianoroll.BinaryTrack(
                name=spec["name"],
                program=spec.get("program", 0),
                is_drum=spec.get("is_drum", False),
                pianoroll=roll,
            )
        )
    downbeat = None
    if first_downbeat is not None:
        downbeat = np.zeros(n_steps, bool)
        downbeat[first_downbeat :: beats_per_bar * resolution] = True
    multitrack = pypianoroll.Multitrack(
        name=Path(path).stem,
        resolution=resolution,
        tempo=np.full(n_steps, 120.0),
        downbeat=downbeat,
        tracks=binary_tracks,
    )
    pypianoroll.save(str(path), multitrack)
    return Path(path)


def rewrite_info(path: str | os.PathLike[str], edit) -> None:
    """Rewrite the ``info.json`` member of a pypianoroll file through ``edit(info_dict)``."""
    with zipfile.ZipFile(path) as old:
        members = {name: old.read(name) for name in old.namelist()}
    info = json.loads(members["info.json"])
    edit(info)
    members["info.json"] = json.dumps(info).encode()
    with zipfile.ZipFile(path, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)


class _MakesDirectoryWhenUnpickled:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, target: os.PathLike[str]) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def write_pickle_npz(path: str | os.PathLike[str], sentinel: os.PathLike[str]) -> Path:
    """A pypianoroll-looking ``.npz`` whose piano roll data is a pickled object array.

    Loading that array with ``allow_pickle=True`` creates the directory ``sentinel``.
    """
    np.savez(
        path,
        pianoroll_0_csc_data=np.array([_MakesDirectoryWhenUnpickled(sentinel)], dtype=object),
        pianoroll_0_csc_indices=np.array([0]),
        pianoroll_0_csc_indptr=np.array([0, 1]),
        pianoroll_0_csc_shape=np.array([1, 128]),
    )
    info = {"resolution": 24, "name": "x", "0": {"program": 0, "is_drum": False, "name": "Piano"}}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("info.json", json.dumps(info))
    return Path(path)


@pytest.fixture
def make_midi():
    """``make_midi(path, notes, program, is_drum, tempo, time_signature, instruments)``."""
    return write_midi_file


@pytest.fixture
def make_song():
    """``make_song(path, bars=8, pitch=60, **make_midi_kwargs)``: a usable 4/4 song."""
    return write_song


@pytest.fixture
def make_lpd_npz():
    """``make_lpd_npz(path, tracks, n_steps, resolution=24, first_downbeat=0)``."""
    return write_lpd_npz


@pytest.fixture
def rewrite_npz_info():
    """``rewrite_npz_info(path, edit)``: edit the ``info.json`` of a pypianoroll file."""
    return rewrite_info


@pytest.fixture
def make_pickle_npz():
    """``make_pickle_npz(path, sentinel)``: an ``.npz`` whose unpickling creates ``sentinel``."""
    return write_pickle_npz


@pytest.fixture
def lpd5_spec() -> PhraseSpec:
    """The LPD-5 spec of ``conf/data/lpd5.yaml``: 4 bars of 48 steps, 84 pitches, 5 tracks."""
    return PhraseSpec(n_bars=4, steps_per_beat=12, tracks=LPD5_TRACKS)


@pytest.fixture(scope="session", autouse=True)
def quiet_tensorflow():
    """Silence TensorFlow's C++ logging (also set above, for imports at collection time)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


@pytest.fixture
def compose_prepare(tmp_path):
    """``compose_prepare(overrides)``: the ``prepare`` config composed with Hydra's API.

    ``paths.data_dir`` points into the test's temporary directory unless overridden.
    """
    from hydra import compose, initialize_config_module

    def compose_config(overrides: Sequence[str] = ()):
        overrides = list(overrides)
        if not any(o.startswith("paths.data_dir=") for o in overrides):
            overrides.append(f"paths.data_dir={tmp_path / 'data'}")
        with initialize_config_module(config_module="conf", version_base="1.3"):
            return compose("prepare", overrides=overrides)

    return compose_config


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory) -> Path:
    """A data folder holding the smoke preset's chorale cache (12 chorales), prepared once.

    Pass it as ``paths.data_dir`` to training configs and command lines: they find the cache.
    """
    from hydra import compose, initialize_config_module

    from pianoroll.prepare import load_or_prepare

    data_dir = tmp_path_factory.mktemp("smoke-data")
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=["+experiment=smoke", f"paths.data_dir={data_dir}"])
    load_or_prepare(cfg.data, data_dir, progress=False)
    return data_dir


#: Cuts the chorales to two of their four tracks (Soprano and Bass): with
#: :func:`two_track_data_dir`, for tests whose point needs per-track networks but not four of
#: them (the per-track layers are most of what tracing a training iteration goes through).
TWO_TRACKS = (
    "data.spec.tracks=[{name: Soprano, program: 52, is_drum: false},"
    " {name: Bass, program: 52, is_drum: false}]"
)


@pytest.fixture(scope="session")
def two_track_data_dir(smoke_data_dir) -> Path:
    """:func:`smoke_data_dir` with the two-track cache (:data:`TWO_TRACKS`) prepared too.

    Pass ``TWO_TRACKS`` with it to the smoke preset's configs and command lines.
    """
    from hydra import compose, initialize_config_module

    from pianoroll.prepare import load_or_prepare

    overrides = ["+experiment=smoke", f"paths.data_dir={smoke_data_dir}", TWO_TRACKS]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=overrides)
    load_or_prepare(cfg.data, smoke_data_dir, progress=False)
    return smoke_data_dir


#: A small two-track spec for evaluation tests: 2 bars of 16 steps, 24 pitches from MIDI 48.
TWO_TRACK_SPEC = PhraseSpec(
    n_bars=2,
    steps_per_beat=4,
    n_pitches=24,
    lowest_pitch=48,
    tracks=(Track("Piano", 0), Track("Bass", 32)),
)


def cells(roll: np.ndarray) -> set[tuple[int, int, int]]:
    """The active (step, pitch, track) cells of a song roll."""
    return {tuple(int(i) for i in cell) for cell in np.argwhere(roll)}


def note_cells(start: int, end: int, pitch: int, track: int) -> set[tuple[int, int, int]]:
    """The cells of one note from ``start`` up to (not including) ``end``."""
    return {(step, pitch, track) for step in range(start, end)}


@pytest.fixture(scope="session")
def trained_runs(smoke_data_dir, tmp_path_factory) -> dict[str, Path]:
    """Two finished smoke-sized MuseGAN runs (2 steps each): ``hybrid`` and ``conditional``
    (hybrid, accompanying the Soprano track). The tests read their checkpoints (``ckpt-1`` and
    ``ckpt-2``), configs and logs: one critic update a step and samples at the end suffice."""
    from gan.loop import train

    root = tmp_path_factory.mktemp("trained")
    runs = {}
    # Free rolls: the run tools' own tests; tests/test_voices.py has runs with voices.
    cheap = ["train.critic_steps=1", "train.sample_every=0", "data.voices=free"]
    for name, extra in (("hybrid", []), ("conditional", ["model.condition_track=Soprano"])):
        cfg = compose_smoke("musegan", smoke_data_dir, *cheap, *extra)
        runs[name] = root / name
        train(cfg, runs[name], progress=False)
    return runs


def read_offline_run(run_folder: str | os.PathLike[str]) -> dict:
    """The records of an offline wandb run folder (``.../offline-run-<time>-<id>``), read with
    ``wandb leet inspect --json``: its ``run`` record (config, group, job type, name), the merged
    ``summary``, the ``history`` rows and the logged ``files``."""
    import subprocess
    import sys

    (log,) = Path(run_folder).glob("run-*.wandb")
    wandb_cli = Path(sys.executable).with_name("wandb")
    lines = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(log)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    out: dict = {"run": None, "summary": {}, "history": [], "files": []}
    for line in lines:
        record = json.loads(line)
        kind = record.get("type")
        if kind == "run":
            out["run"] = record["run"]
        elif kind == "summary":
            out["summary"].update(record["summary"].get("update", {}))
        elif kind == "history":
            out["history"].append(record["history"]["item"])
        elif kind == "files":
            out["files"] += [f["path"] for f in record["files"]["files"]]
    return out


def read_jsonl(path: str | os.PathLike[str]) -> list[dict]:
    """The records of a JSON-lines file (a run's ``metrics.jsonl``)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def checkpoint_values(prefix: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every saved value of a TensorFlow checkpoint by key, but the save counter."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {
        name: reader.get_tensor(name)
        for name, _ in tf.train.list_variables(str(prefix))
        if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))
    }


def sigterm_after_step(
    command: Sequence[str], cwd: Path, metrics: Path, step: int, timeout: float = 180
) -> tuple[int, str]:
    """Run a training command, send it SIGTERM once ``metrics`` logs losses of ``step``.

    Returns:
        The exit status and the command's standard error.
    """
    import signal
    import subprocess
    import time

    stderr_path = cwd / f"stderr-{os.getpid()}-{time.monotonic_ns()}.txt"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "WANDB_MODE": "disabled"}
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            deadline = time.monotonic() + timeout
            while not (
                metrics.exists()
                and any(r.get("step", 0) >= step for r in read_jsonl(metrics) if "critic_loss" in r)
            ):
                assert process.poll() is None, "training ended before it could be interrupted"
                assert time.monotonic() < deadline, f"no step {step} in {metrics} after {timeout} s"
                time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return returncode, stderr_path.read_text()


@pytest.fixture(scope="session")
def crnngan_run(smoke_data_dir, tmp_path_factory) -> Path:
    """A finished smoke-sized C-RNN-GAN run of the recurrent model (2 steps; samples at the end:
    the tests read its checkpoints, config and log)."""
    from gan.loop import train

    cfg = compose_smoke("crnngan", smoke_data_dir, "model=recurrent", "train.sample_every=0")
    run = tmp_path_factory.mktemp("crnngan") / "recurrent"
    train(cfg, run, progress=False)
    return run


def compose_smoke(package: str, data_dir: str | os.PathLike[str], *overrides: str):
    """A smoke-sized training config of ``musegan`` (hybrid) or ``crnngan`` on the smoke data,
    wandb disabled, plus ``overrides``."""
    from hydra import compose, initialize_config_module

    preset = (
        ["+experiment=smoke", "+mode=hybrid"]
        if package == "musegan"
        else ["+experiment=crnngan_smoke"]
    )
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(
            package,
            overrides=[*preset, f"paths.data_dir={data_dir}", "wandb.mode=disabled", *overrides],
        )


def musegan_model_config(model: str = "musegan"):
    """The ``model`` node of a MuseGAN model preset as Hydra composes it (with the shared base
    of ``conf/model_base/``), unresolved: ``mode: ${mode}`` reads the config it is put in."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=["+mode=hybrid", f"model={model}"])
    return OmegaConf.create(OmegaConf.to_container(cfg.model, resolve=False))
