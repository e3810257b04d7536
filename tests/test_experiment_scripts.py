"""The scripts of experiments/: compare_runs on hand-built run folders with known answers,
progress_vs_untrained on a trained smoke run, voice_steps on a hand-built voice."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf

from experiments import ablation, compare_runs, progress_vs_untrained, voice_steps
from pianoroll.output import save_phrases
from pianoroll.spec import PhraseSpec, Track


def write_run(folder, precision, generated, data, finished=True):
    folder.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"train": {"precision": precision}}), folder / "config.yaml")
    if finished:
        (folder / "metrics.json").write_text(json.dumps({"generated": generated, "data": data}))
    return folder


def test_compare_runs_groups_by_the_key_with_means_spreads_and_gaps(tmp_path, capsys):
    data = {"pitch_range": 12.0, "in_scale_rate": 0.9}
    runs = [
        write_run(tmp_path / "a", "float32", {"pitch_range": 10.0, "in_scale_rate": 0.8}, data),
        write_run(tmp_path / "b", "float32", {"pitch_range": 16.0, "in_scale_rate": 0.7}, data),
        write_run(
            tmp_path / "c",
            "mixed_bfloat16",
            {"pitch_range": 13.0, "in_scale_rate": 1.0, "pitch_range/Soprano": 5.0},
            data,
        ),
        write_run(tmp_path / "d", "mixed_bfloat16", {}, data, finished=False),
    ]
    result = compare_runs.main(["train.precision", *map(str, runs)])
    assert result["runs"] == {"float32": 2, "mixed_bfloat16": 1}
    f32 = result["groups"]["float32"]["pitch_range"]
    assert f32["mean"] == 13.0 and f32["std"] == pytest.approx(math.sqrt(18.0))
    assert (
        f32["data"] == 12.0
        and f32["gap"] == 3.0
        and f32["gap_std"] == pytest.approx(math.sqrt(2.0))
    )
    scale = result["groups"]["float32"]["in_scale_rate"]
    assert scale["mean"] == pytest.approx(0.75) and scale["gap"] == pytest.approx(0.15)
    bf16 = result["groups"]["mixed_bfloat16"]
    assert set(bf16) == {"pitch_range", "in_scale_rate"}  # per-track keys are left out
    assert math.isnan(bf16["pitch_range"]["std"])  # one run: no spread
    out, err = capsys.readouterr()
    assert "no metrics.json (training did not finish), skipped" in err and str(runs[3]) in err
    assert json.loads(out.strip().splitlines()[-1]) == json.loads(json.dumps(result))


def test_progress_vs_untrained_compares_the_checkpoint_with_the_same_untrained_networks(
    crnngan_run,
):
    result = progress_vs_untrained.main([str(crnngan_run)])
    trained = next(key for key in result if key.startswith("step "))
    assert trained == "step 2"
    for key in ("untrained", trained):
        for binarization in ("threshold", "bernoulli"):
            figures = result[key][binarization]
            assert figures["notes_per_step"] >= 0.0
    # The checkpoint was restored: the outputs moved. (Not the mean alone: with voices the mean
    # output is set by the rests' and starts' probabilities, which two steps may leave within
    # float32 round-off.)
    moved = ("mean_output", "spread_over_phrases", "spread_over_steps")
    assert [result["untrained"][k] for k in moved] != [result[trained][k] for k in moved]
    # Rebuilt from the same seed: the untrained figures come out the same twice.
    again = progress_vs_untrained.main([str(crnngan_run)])
    assert again["untrained"] == result["untrained"]
    assert result["data (validation)"]["notes_per_step"] > 0.0
    phrases = result["phrases"]
    assert phrases["generated"] > 0 and phrases["validation"] > 0 and phrases["training"] > 0
    lines = [json.loads(line) for line in (crnngan_run / "metrics.jsonl").read_text().splitlines()]
    adversarial = [1 / line["steps_per_second"] for line in lines if "steps_per_second" in line]
    expected = float(np.median(adversarial[1:])) if len(adversarial) > 1 else None
    assert result["seconds_per_adversarial_step_median"] == expected
    assert result["seconds_per_pretraining_step_median"] is None  # this run did not pretrain


def test_progress_figures_of_outputs_that_ignore_the_noise_and_time():
    from pianoroll.spec import PhraseSpec, Track

    spec = PhraseSpec(n_bars=1, steps_per_beat=1, beats_per_bar=2, n_pitches=3, lowest_pitch=60,
                      tracks=(Track("A"),))  # fmt: skip
    same = -np.ones((4, 1, 2, 3, 1), np.float32)
    same[..., 1, 0] = 0.6  # every phrase and step: pitch 1 at probability 0.8
    figures = progress_vs_untrained.both(same, spec)
    assert figures["distinct_threshold_phrases"] == 0.25
    assert figures["spread_over_phrases"] == 0.0 and figures["spread_over_steps"] == 0.0
    varied = same.copy()
    varied[0, 0, 0, 1, 0] = -1.0  # one phrase's first step silent: probability 0 there
    figures = progress_vs_untrained.both(varied, spec)
    assert figures["distinct_threshold_phrases"] == 0.5
    # One cell of six differs: across phrases its std is sqrt(3) * 0.8 / 4 ...
    np.testing.assert_allclose(figures["spread_over_phrases"], np.sqrt(3) * 0.8 / 4 / 6)
    # ... and across phrase 0's two steps 0.4: one (phrase, cell) pair of twelve.
    np.testing.assert_allclose(figures["spread_over_steps"], 0.4 / 12)


def test_voice_steps_counts_rests_held_repeated_and_moved_steps(tmp_path, capsys):
    # One voice, one bar of 8 steps (2 steps per beat): C held, C struck again, a rest, D held,
    # then E. After the first step: held at 1, 2, 6; repeated at 3; rest at 4; moved at 5, 7.
    spec = PhraseSpec(
        n_bars=1,
        steps_per_beat=2,
        n_pitches=3,
        lowest_pitch=60,
        tracks=(Track("Soprano", 52, False, True), Track("Piano", 0, False)),
    )
    pitches = [0, 0, 0, 0, None, 1, 1, 2]
    starts = [0, 3, 5, 7]
    rolls = np.zeros((1, 1, 8, 3, 2), bool)
    onsets = np.zeros_like(rolls)
    for t, p in enumerate(pitches):
        if p is not None:
            rolls[0, 0, t, p, 0] = True
            onsets[0, 0, t, p, 0] = t in starts
    rolls[0, 0, :, :, 1] = True  # a free track's chord is not read
    counts = voice_steps.step_counts(rolls, onsets, spec.voices)
    assert counts == {"rest": 1, "held": 3, "repeated": 1, "moved": 2, "steps": 7}
    assert voice_steps.shares(counts) == pytest.approx(
        {"rest": 1 / 7, "held": 3 / 6, "repeated": 1 / 6, "moved": 2 / 6}
    )
    path = tmp_path / "generated.npz"
    save_phrases(path, rolls, spec, onsets)
    assert voice_steps.main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out)[str(path)]["held"] == pytest.approx(0.5)
    free = tmp_path / "free.npz"
    save_phrases(free, rolls, spec)
    assert voice_steps.main([str(free)]) == 2
    assert "free.npz: no onsets saved" in capsys.readouterr().err
    np.save(tmp_path / "one.npy", rolls)
    (tmp_path / "text.npz").write_text("not an archive")
    for bad in ("one.npy", "text.npz"):
        assert voice_steps.main([str(tmp_path / bad)]) == 2
        assert f"{bad}: not a phrases file" in capsys.readouterr().err
    assert math.isnan(voice_steps.shares(dict(counts, rest=7))["held"])  # no sounding step


@pytest.mark.parametrize(
    ("row", "seed", "report", "parsed"),
    [
        ("aaai_streams", 0, "aaai_streams-1300-bernoulli-skyline", (1300, True, True)),
        ("voices_hold", 2, "voices_hold-seed2-300", (300, False, False)),
        ("voices_hold", 1, "voices_hold-seed1-300-bernoulli", (300, True, False)),
    ],
)
def test_ablation_report_names_carry_the_row_and_the_seed(row, seed, report, parsed):
    assert report.startswith(f"{ablation._name(row, seed)}-")
    assert ablation._parse(report) == (row, seed, *parsed)


def comparison(metrics, a="generated"):
    """A report's comparison of set ``a`` with the training set, of hand-picked per-track
    means: key -> (mean a, mean b)."""
    return {
        "sets": {"a": {"name": a}, "b": {"name": "train"}},
        "frechet_distance": 1.0,
        "memorization": {"exact_share": 0.0, "near_share": 0.0},
        "metrics": {k: {"a": {"mean": a}, "b": {"mean": b}} for k, (a, b) in metrics.items()},
    }


def test_ablation_track_distances_do_not_let_tracks_cancel(tmp_path, monkeypatch):
    generated = comparison(
        {
            "in_scale_rate/Soprano": (0.95, 0.98),  # 0.03 below the data
            "in_scale_rate/Tenor": (0.97, 0.94),  # 0.03 above it
            "in_scale_rate/Bass": (None, 0.9),  # no note generated: left out
            "pitch_range/Soprano": (12.0, 10.0),
        }
    )
    means, data = ablation._means(generated, "a"), ablation._means(generated, "b")
    assert means["in_scale_rate"] == pytest.approx(0.96)  # the mean over tracks hides both gaps
    assert data["in_scale_rate"] == pytest.approx((0.98 + 0.94 + 0.9) / 3)
    gaps = ablation.track_distances(generated)
    assert gaps["in_scale_rate"] == pytest.approx(0.03)
    assert gaps["pitch_range"] == pytest.approx(2.0)
    assert math.isnan(gaps["tonal_distance"])  # no value on either side
    floor = comparison({"in_scale_rate/Soprano": (0.97, 0.98)}, "validation")
    report = tmp_path / "aaai-1300"
    report.mkdir()
    parts = {"generated vs train": generated, "validation vs train (noise floor)": floor}
    (report / "metrics.json").write_text(json.dumps({"comparisons": parts}))
    monkeypatch.setattr(ablation, "REPORTS", tmp_path)
    monkeypatch.setattr(ablation, "ONSET_BUG", tmp_path / "onset-bug")
    lines = ablation.distance_table(ablation.reports()).splitlines()
    column = 3 + ablation.METRICS.index("in_scale_rate")
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0][column] == "in_scale_rate" and len(cells) == 4
    assert cells[2][:3] == ["aaai (AAAI 2018 networks (baseline))", "1300", "threshold"]
    assert cells[2][column] == "0.03"
    assert cells[3][0] == "validation data (free rolls; floor)" and cells[3][column] == "0.01"


def test_ablation_fork_gives_a_row_the_source_checkpoint_its_log_and_the_extra_options(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(ablation, "RUNS", tmp_path)
    source, row = "voices_hold_streams_shared_time", "voices_hold_streams_shared_time_ema"
    old = tmp_path / source
    (old / "checkpoints").mkdir(parents=True)
    for step in (1000, 1250):
        for suffix in ("index", "data-00000-of-00001"):
            (old / "checkpoints" / f"ckpt-{step}.{suffix}").write_text(f"{step}")
    (old / "checkpoints" / "model.json").write_text("{}")
    (old / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": s / 10}) + "\n" for s in (990, 1000, 1010))
    )
    OmegaConf.save(OmegaConf.create({"train": {"steps": 300}, "seed": 0}), old / "config.yaml")
    refusals = [
        (
            [row, "--source", source, "--step", "1250"],
            f"its weight average differs from {source}'s",
        ),
        ([row, "--source", source, "--step", "500"], "ckpt-500: no such checkpoint"),
        (["voices_hold_streams", "--source", source, "--step", "1000"], "not " + source),
        (
            ["voices_hold_streams_shared_time_late_decay", "--source", source, "--step", "1000"],
            "a fork cannot switch the learning-rate decay on or off",
        ),
    ]
    for args, message in refusals:
        with pytest.raises(SystemExit) as stop:
            ablation.main(["fork", *args, "--total", "1300"])
        assert message in str(stop.value)
    ablation.main(["fork", row, "--source", source, "--step", "1000", "--total", "1300"])
    new = tmp_path / row
    assert sorted(p.name for p in (new / "checkpoints").iterdir()) == [
        "checkpoint",
        "ckpt-1000.data-00000-of-00001",
        "ckpt-1000.index",
        "model.json",
    ]
    assert '"ckpt-1000"' in (new / "checkpoints" / "checkpoint").read_text()
    assert [
        json.loads(line)["step"] for line in (new / "metrics.jsonl").read_text().splitlines()
    ] == [990, 1000]
    saved = OmegaConf.load(new / "config.yaml")
    assert saved.train == {"steps": 1300, "ema_decay": 0.99, "ema_start": 1000}
    assert json.loads((new / "forked.json").read_text()) == {
        "source": source,
        "step": 1000,
        "options": ["train.ema_decay=0.99", "train.ema_start=1000"],
    }
    assert "with train.ema_decay=0.99 train.ema_start=1000" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        ablation.main(["fork", row, "--source", source, "--step", "1000", "--total", "1300"])
    assert f"{new}: exists already" in str(stop.value)
    assert not list(tmp_path.glob("*.part"))
    # A row may give a source's option another value: the averaging's decay here, where
    # both averages start at the checkpoint, not after it (the source's has begun at 1250).
    rhythm = "voices_hold_streams_shared_time_ema_key_rhythm"
    shutil.copytree(new, tmp_path / rhythm)
    for suffix in ("index", "data-00000-of-00001"):
        (tmp_path / rhythm / "checkpoints" / f"ckpt-1250.{suffix}").write_text("1250")
    shutil.copytree(old, tmp_path / "voices_hold_streams")
    refusals = [
        ([f"{rhythm}_ema995", "--source", rhythm, "--step", "1250"], "weight average differs"),
        (["voices_hold_streams_shared_pitch", "--source", row, "--step", "1000"], "not " + row),
        (
            ["voices_hold_streams_composer", "--source", "voices_hold_streams", "--step", "1000"],
            "only section.key=value options",
        ),
    ]
    for args, message in refusals:
        with pytest.raises(SystemExit) as stop:
            ablation.main(["fork", *args, "--total", "1300"])
        assert message in str(stop.value)
    ablation.main(
        ["fork", f"{rhythm}_ema995", "--source", rhythm, "--step", "1000", "--total", "1300"]
    )
    saved = OmegaConf.load(tmp_path / f"{rhythm}_ema995" / "config.yaml")
    assert saved.train == {"steps": 1300, "ema_decay": 0.995, "ema_start": 1000}
