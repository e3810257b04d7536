"""Generation from trained runs: files read back with pretty_midi and pypianoroll, long pieces,
interpolation, accompaniment, audio, the gallery, and one-line refusals of bad input."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pypianoroll
import pytest
from conftest import write_midi_file
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gan.generate import generate
from gan.noise import draw_noise, interpolation_noise, path_noise, slerp
from gan.run import load_run
from pianoroll.audio import fluidsynth_problem
from pianoroll.errors import UserError
from pianoroll.midi import roll_to_notes
from pianoroll.spec import PhraseSpec
from pianoroll.voices import skyline

SPEC_BARS, SPEC_STEPS = 4, 16  # the smoke runs' phrase: 4 bars of 16 steps (4/4, 4 per beat)


def compose_generate(**options):
    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        return compose("generate", overrides=[f"{k}={v}" for k, v in options.items()])


def run_generate(run: Path, out: Path, **options):
    return generate(compose_generate(run=run, out=out, **options), "musegan")


def notes_of(instrument: pretty_midi.Instrument) -> list[tuple[float, float, int]]:
    return sorted((round(n.start, 3), round(n.end, 3), n.pitch) for n in instrument.notes)


def expected_notes(roll: np.ndarray, lowest: int, seconds_per_step: float) -> list:
    """The notes a binary ``(time_steps, pitches)`` roll should become."""
    starts, ends, pitches = roll_to_notes(roll)
    return sorted(
        (round(s * seconds_per_step, 3), round(e * seconds_per_step, 3), int(p) + lowest)
        for s, e, p in zip(starts, ends, pitches, strict=True)
    )


def assert_piece_files(files: dict, spec, tempo: float) -> np.ndarray:
    """MIDI and pypianoroll files of one piece agree with each other and with the spec."""
    multitrack = pypianoroll.load(files["npz"])
    assert multitrack.resolution == spec.steps_per_beat
    assert [t.name for t in multitrack.tracks] == list(spec.track_names)
    assert [t.program for t in multitrack.tracks] == [t.program for t in spec.tracks]
    assert np.allclose(multitrack.tempo, tempo)
    roll = np.stack([t.pianoroll > 0 for t in multitrack.tracks], axis=-1)  # (T, 128, tracks)
    assert not roll[:, : spec.lowest_pitch].any()
    midi = pretty_midi.PrettyMIDI(str(files["mid"]))
    assert [(i.name, i.program, i.is_drum) for i in midi.instruments] == [
        (t.name, t.program, t.is_drum) for t in spec.tracks
    ]
    times, tempi = midi.get_tempo_changes()
    assert np.allclose(tempi, tempo) and list(times) == [0.0]
    assert [(ts.numerator, ts.denominator) for ts in midi.time_signature_changes] == [(4, 4)]
    seconds_per_step = 60.0 / tempo / spec.steps_per_beat
    for k, instrument in enumerate(midi.instruments):
        assert notes_of(instrument) == expected_notes(roll[:, :, k], 0, seconds_per_step)
    assert files["png"].stat().st_size > 0
    return roll


@pytest.fixture(scope="module")
def samples(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    return out, run_generate(trained_runs["hybrid"], out, n=3, tempo=90)


def test_samples_write_midi_npz_png_per_piece_and_a_grid_and_gallery(samples, trained_runs):
    out, result = samples
    spec = load_run(trained_runs["hybrid"]).model.spec
    assert [p["name"] for p in result["pieces"]] == ["sample-000", "sample-001", "sample-002"]
    phrases = np.load(out / "phrases.npz")["phrases"]
    assert phrases.shape == (3, SPEC_BARS, SPEC_STEPS, 84, 4)
    for piece, phrase in zip(result["pieces"], phrases, strict=True):
        roll = assert_piece_files(piece, spec, 90.0)
        flat = phrase.reshape(SPEC_BARS * SPEC_STEPS, 84, 4)
        assert np.array_equal(roll[:, spec.lowest_pitch : spec.lowest_pitch + 84], flat)
    assert (out / "grid.png").stat().st_size > 0
    page = (out / "index.html").read_text()
    for piece in result["pieces"]:
        assert f'href="{piece["name"]}.mid"' in page and f'src="{piece["name"]}.png"' in page
    assert "<audio" not in page  # no WAV was asked for


def test_generation_is_a_pure_function_of_the_seed(samples, trained_runs, tmp_path):
    out, _ = samples
    again = run_generate(trained_runs["hybrid"], tmp_path / "again", n=3, tempo=90)
    assert again["pieces"][0]["npz"].read_bytes() != b""
    assert np.array_equal(
        np.load(out / "phrases.npz")["phrases"],
        np.load(tmp_path / "again" / "phrases.npz")["phrases"],
    )
    run_generate(trained_runs["hybrid"], tmp_path / "other", n=3, seed=1)
    assert not np.array_equal(
        np.load(out / "phrases.npz")["phrases"],
        np.load(tmp_path / "other" / "phrases.npz")["phrases"],
    )


def test_bernoulli_and_truncation_options(trained_runs, tmp_path):
    run = load_run(trained_runs["hybrid"])
    noise = draw_noise(run.model, 200, seed=0, truncation=0.5)
    assert all(np.abs(v).max() <= 0.5 for v in noise.values())
    full = draw_noise(run.model, 200, seed=0)
    assert any(np.abs(v).max() > 2.0 for v in full.values())
    # Values already inside the bound are kept as drawn.
    for key in full:
        inside = np.abs(full[key]) <= 0.5
        assert np.array_equal(noise[key][inside], full[key][inside])
    threshold = run_generate(trained_runs["hybrid"], tmp_path / "t", n=4, truncation=0.5)
    bernoulli = run_generate(
        trained_runs["hybrid"], tmp_path / "b", n=4, truncation=0.5, binarize="bernoulli"
    )
    a = np.load(threshold["out"] / "phrases.npz")["phrases"]
    b = np.load(bernoulli["out"] / "phrases.npz")["phrases"]
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_own_noise_from_an_npz(trained_runs, tmp_path):
    run = load_run(trained_runs["hybrid"])
    noise = draw_noise(run.model, 2, seed=7)
    np.savez(tmp_path / "noise.npz", **noise)
    from_file = run_generate(trained_runs["hybrid"], tmp_path / "own", noise=tmp_path / "noise.npz")
    from_seed = run_generate(trained_runs["hybrid"], tmp_path / "seed", n=2, seed=7)
    assert np.array_equal(
        np.load(from_file["out"] / "phrases.npz")["phrases"],
        np.load(from_seed["out"] / "phrases.npz")["phrases"],
    )
    np.savez(tmp_path / "bad.npz", style=np.zeros((2, 3), np.float32))
    with pytest.raises(UserError, match=r"bad\.npz: has arrays \['style'\]; this model needs"):
        run_generate(trained_runs["hybrid"], tmp_path / "bad", noise=tmp_path / "bad.npz")


def test_skyline_writes_a_free_roll_runs_tracks_as_voices(trained_runs, tmp_path):
    free = run_generate(trained_runs["hybrid"], tmp_path / "free", n=2)
    voices = run_generate(trained_runs["hybrid"], tmp_path / "voices", n=2, voices="skyline")
    with (
        np.load(tmp_path / "free" / "phrases.npz") as a,
        np.load(tmp_path / "voices" / "phrases.npz") as b,
    ):
        spec = PhraseSpec.from_dict(json.loads(b["spec"].tobytes()))
        assert a["phrases"].sum(axis=3).max() > 1 and "onsets" not in a.files
        assert np.array_equal(b["phrases"], skyline(a["phrases"], spec)[0])
    for piece in voices["pieces"]:
        for instrument in pretty_midi.PrettyMIDI(str(piece["mid"])).instruments:
            spans = sorted((n.start, n.end) for n in instrument.notes)
            assert all(x[1] <= y[0] + 1e-6 for x, y in itertools.pairwise(spans))
    assert len(free["pieces"]) == len(voices["pieces"]) == 2
    assert "voices skyline" in (tmp_path / "voices" / "index.html").read_text()


def test_a_32_bar_piece_is_one_midi_file_of_32_bars(trained_runs, tmp_path):
    result = run_generate(trained_runs["hybrid"], tmp_path / "long", n=1, bars=32, tempo=120)
    (piece,) = result["pieces"]
    spec = load_run(trained_runs["hybrid"]).model.spec
    roll = assert_piece_files(piece, spec, 120.0)
    assert roll.shape[0] == 32 * SPEC_STEPS  # 8 phrases back to back, nothing inserted
    midi = pretty_midi.PrettyMIDI(str(piece["mid"]))
    bar_seconds = 4 * 60 / 120
    assert midi.get_end_time() <= 32 * bar_seconds + 1e-6
    # A 32-bar piece is made of the 4-bar phrases its noise path gives, with no gap between them.
    run = load_run(trained_runs["hybrid"])
    cfg = compose_generate(run=trained_runs["hybrid"], n=1, bars=32)
    anchors = draw_noise(run.model, 8 // cfg.spacing + 2, int(cfg.seed))
    noise = path_noise(anchors, 8, cfg.spacing, run.model.time_noise)
    phrases = run.model.generate_numpy(noise) > 0
    assert np.array_equal(
        roll[:, spec.lowest_pitch : spec.lowest_pitch + 84], phrases.reshape(-1, 84, 4)
    )


def test_a_16_step_interpolation_writes_16_midi_files_and_a_grid(trained_runs, tmp_path):
    result = run_generate(
        trained_runs["hybrid"], tmp_path / "interp", mode="interpolate", steps=16, seeds="[3,4]"
    )
    assert [p["name"] for p in result["pieces"]] == [f"step-{i:02d}" for i in range(16)]
    assert all(pretty_midi.PrettyMIDI(str(p["mid"])).instruments for p in result["pieces"])
    steps = np.load(result["out"] / "phrases.npz")["phrases"]
    ends = [run_generate(trained_runs["hybrid"], tmp_path / f"s{s}", n=1, seed=s) for s in (3, 4)]
    first, last = (np.load(e["out"] / "phrases.npz")["phrases"][0] for e in ends)
    assert np.array_equal(steps[0], first) and np.array_equal(steps[-1], last)
    assert (result["out"] / "grid.png").stat().st_size > 0


def test_interpolating_one_noise_input_keeps_the_others_fixed(trained_runs):
    run = load_run(trained_runs["hybrid"])
    a, b = draw_noise(run.model, 1, 0), draw_noise(run.model, 1, 1)
    noise = interpolation_noise(a, b, 5, vary="chords")
    for name, values in noise.items():
        if name == "chords":
            assert np.allclose(values[0], a[name][0]) and np.allclose(values[-1], b[name][0])
        else:
            assert np.array_equal(values, np.repeat(a[name], 5, axis=0))
    with pytest.raises(UserError, match=r"vary=tempo: not a noise input of this model"):
        run_generate(trained_runs["hybrid"], Path("unused"), mode="interpolate", vary="tempo")


def test_slerp_ends_norms_and_the_great_circle():
    a = np.array([[1.0, 0.0], [3.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.0], [0.0, 5.0]], np.float32)
    mid = slerp(a, b, 0.5)
    assert np.allclose(mid[0], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    assert np.isclose(np.linalg.norm(mid[1]), 4.0)  # the norm moves linearly, 3 -> 5
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    # Parallel vectors fall back to linear interpolation instead of dividing by sin(0).
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)


def test_path_noise_passes_the_anchors_and_moves_only_time_inputs():
    rng = np.random.default_rng(0)
    anchors = {"melody": rng.normal(size=(4, 8)), "style": rng.normal(size=(4, 8))}
    noise = path_noise(anchors, 6, 2, frozenset({"melody"}))
    assert np.allclose(noise["melody"][[0, 2, 4]], anchors["melody"][:3], atol=1e-5)
    assert np.array_equal(
        noise["style"], np.repeat(anchors["style"][:1], 6, axis=0).astype(np.float32)
    )
    steps = np.linalg.norm(np.diff(noise["melody"], axis=0), axis=1)
    jumps = np.linalg.norm(np.diff(anchors["melody"][:3], axis=0), axis=1)
    assert steps.max() < jumps.max()  # half-way points split each jump


def write_melody(path: Path, bars: int, name: str = "Soprano", **kwargs) -> Path:
    """One quarter note per beat rising C5..., with a pickup beat before the first downbeat."""
    notes = [(b + 0.0, b + 1.0, 72 + (b % 5)) for b in range(1, 1 + 4 * bars)]
    notes.insert(0, (0.0, 1.0, 71))  # the pickup
    return write_midi_file(
        path,
        instruments=[{"notes": notes, "program": 73, "name": name}, *kwargs.pop("more", [])],
        time_signature=[(1.0, 4, 4)],
        **kwargs,
    )


def test_accompaniment_keeps_the_users_track_and_covers_its_length(trained_runs, tmp_path):
    melody = write_melody(tmp_path / "melody.mid", bars=6, tempo=[(0.0, 90.0), (13.0, 120.0)])
    result = run_generate(
        trained_runs["conditional"],
        tmp_path / "acc",
        mode="accompany",
        input=melody,
        track="Soprano",
    )
    (piece,) = result["pieces"]
    original = pretty_midi.PrettyMIDI(str(melody))
    written = pretty_midi.PrettyMIDI(str(piece["mid"]))
    assert notes_of(written.instruments[0]) == notes_of(original.instruments[0])
    assert (written.instruments[0].name, written.instruments[0].program) == ("Soprano", 73)
    assert [i.name for i in written.instruments[1:]] == ["Alto", "Tenor", "Bass"]
    # The tempo map is the input's: generated notes follow the same beats.
    assert np.allclose(written.get_tempo_changes()[1], [90.0, 120.0])
    end = original.get_end_time()
    for instrument in written.instruments[1:]:
        assert all(n.end <= end + 1e-6 for n in instrument.notes)
    roll = pypianoroll.load(piece["npz"])
    assert roll.tracks[0].pianoroll.shape[0] == 6 * SPEC_STEPS  # 6 bars from the downbeat
    soprano = roll.tracks[0].pianoroll > 0
    assert soprano[0, 73] and soprano[SPEC_STEPS * 6 - 1, 76]  # beats 1 and 24 of the melody


def test_accompaniment_refuses_what_it_cannot_use(trained_runs, tmp_path):
    two = write_melody(
        tmp_path / "two.mid",
        bars=2,
        name="Flute",
        more=[{"notes": [(1.0, 2.0, 40)], "program": 33, "name": "Electric bass"}],
    )
    with pytest.raises(UserError, match=r"two\.mid: no instrument matches track 'Soprano'"):
        run_generate(trained_runs["conditional"], tmp_path / "a", mode="accompany", input=two)
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(UserError, match=r"corrupt\.mid: not a readable MIDI file"):
        run_generate(trained_runs["conditional"], tmp_path / "b", mode="accompany", input=corrupt)
    with pytest.raises(UserError, match=r"needs a track-conditional checkpoint"):
        run_generate(trained_runs["hybrid"], tmp_path / "c", mode="accompany", input=two)
    with pytest.raises(UserError, match=r"track=Bass: this checkpoint accompanies the 'Soprano'"):
        run_generate(
            trained_runs["conditional"], tmp_path / "d", mode="accompany", input=two, track="Bass"
        )
    with pytest.raises(UserError, match=r"^voices=skyline: mode=accompany writes your track as"):
        run_generate(
            trained_runs["conditional"], tmp_path / "e", mode="accompany", input=two,
            voices="skyline",
        )  # fmt: skip
    assert not [p for d in "abcde" for p in (tmp_path / d).glob("*")]  # nothing written


@pytest.mark.skipif(fluidsynth_problem() is not None, reason="FluidSynth is not installed")
def test_audio_writes_a_wav_per_piece_and_the_gallery_plays_it(trained_runs, tmp_path):
    result = run_generate(trained_runs["hybrid"], tmp_path / "audio", n=2, audio=True, tempo=120)
    for piece in result["pieces"]:
        with wave.open(str(piece["wav"])) as wav:
            seconds = wav.getnframes() / wav.getframerate()
            assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        # Four bars at 120 qpm are 8 s; FluidSynth adds the release tail.
        assert 7.0 < seconds < 12.0
    page = (result["out"] / "index.html").read_text()
    assert page.count("<audio") == 2 and 'src="sample-000.wav"' in page


def test_without_fluidsynth_audio_says_what_to_install_and_writes_the_rest(
    trained_runs, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # as if pyfluidsynth were not installed
    result = run_generate(trained_runs["hybrid"], tmp_path / "noaudio", n=1, audio=True)
    err = capsys.readouterr().err
    assert "audio skipped: pyfluidsynth is not installed; install FluidSynth" in err
    assert "libfluidsynth" in err
    (piece,) = result["pieces"]
    assert "wav" not in piece and piece["mid"].exists() and piece["npz"].exists()


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "musegan.generate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_the_command_line_writes_samples_and_refuses_bad_input_in_one_line(trained_runs, tmp_path):
    run = trained_runs["hybrid"]
    ok = cli(f"run={run}", "n=2", f"out={tmp_path / 'out'}", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "wrote 2 pieces to" in ok.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "grid.png", "index.html", "phrases.npz",
        "sample-000.mid", "sample-000.npz", "sample-000.png",
        "sample-001.mid", "sample-001.npz", "sample-001.png",
    ]  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    other_mode = tmp_path / "other-mode"
    other_mode.mkdir()
    (other_mode / "checkpoints").symlink_to(run / "checkpoints")
    (other_mode / "config.yaml").write_text(
        (run / "config.yaml").read_text().replace("name: hybrid", "name: jamming")
    )
    bad_train = tmp_path / "bad-train"
    bad_train.mkdir()
    (bad_train / "checkpoints").symlink_to(run / "checkpoints")
    saved = OmegaConf.load(run / "config.yaml")
    saved.train.critic_steps = 0
    OmegaConf.save(saved, bad_train / "config.yaml")
    cases = {
        "no such run folder": [f"run={tmp_path / 'nowhere'}"],
        f"{bad_train / 'config.yaml'}: train.critic_steps=0: must be": [f"run={bad_train}"],
        "not a run folder (no config.yaml)": [f"run={tmp_path}"],
        "ckpt-999: no such checkpoint (this run has ckpt-1, ckpt-2)": [
            f"run={run}",
            "checkpoint=999",
        ],
        "checkpoint is of another model (mode differ": [f"run={other_mode}"],
        "cannot write there": [f"run={run}", f"out={blocker / 'sub'}"],
        "binarize=round: choose one of threshold, bernoulli": [f"run={run}", "binarize=round"],
        # An option of another command: Hydra's composition error, in one line as well.
        "Could not override 'bins'; Key 'bins' is not in struct": [f"run={run}", "bins=8"],
    }
    for message, args in cases.items():
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (message, result.stderr)
        lines = error_lines(result)
        assert len(lines) == 1 and message in lines[0], (message, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "abc"}, "seed=abc: must be a number at least 0"),
        ({"bars": 0}, "bars=0: must be a number above 0"),
        ({"n": 0}, "n=0: must be a number above 0"),
        ({"mode": "interpolate", "steps": 1}, "steps=1: an interpolation needs at least 2 steps"),
        ({"mode": "interpolate", "seeds": "[0,abc]"}, "seeds=abc: must be a number at least 0"),
        ({"voices": "chords"}, "voices=chords: choose one of model, skyline"),
        ({"weights": "best"}, "weights=best: choose one of average, trained"),
    ],
)
def test_a_refused_option_leaves_no_output_folder(trained_runs, tmp_path, options, message):
    out = tmp_path / "new" / "out"
    with pytest.raises(UserError) as error:
        run_generate(trained_runs["hybrid"], out, **options)
    assert str(error.value) == message
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_checkpoint_is_refused_in_one_line(trained_runs, tmp_path, damage):
    run = shutil.copytree(trained_runs["hybrid"], tmp_path / "run")
    (data,) = sorted((run / "checkpoints").glob("ckpt-2.data-*"))
    size = data.stat().st_size
    if damage == "truncated":
        data.write_bytes(data.read_bytes()[: size // 2])
    else:
        data.write_bytes(np.random.default_rng(0).bytes(size))
    with pytest.raises(UserError) as error:
        load_run(run)
    message = str(error.value)
    assert message.startswith(f"{run / 'checkpoints' / 'ckpt-2'}: checkpoint cannot be read (")
    assert "\n" not in message


def test_a_checkpoint_saved_before_a_spec_field_existed_still_loads(trained_runs, tmp_path):
    """A run's ``model.json`` from before ``Track.monophonic`` existed loads as a free-roll
    model; a spec that really differs is refused naming the field."""
    import json

    run = tmp_path / "run"
    shutil.copytree(trained_runs["hybrid"], run)
    model_json = run / "checkpoints" / "model.json"
    saved = json.loads(model_json.read_text())
    for track in saved["spec"]["tracks"]:
        assert track.pop("monophonic") is False
    model_json.write_text(json.dumps(saved))
    assert load_run(run).step == 2
    saved["spec"]["tracks"][0]["monophonic"] = True
    saved["spec"]["n_bars"] = 8
    model_json.write_text(json.dumps(saved))
    with pytest.raises(UserError, match=r"\(spec differ: spec.n_bars=8, spec.tracks\)$"):
        load_run(run)
