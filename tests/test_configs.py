"""Every config in conf/ composes and instantiates; every experiment preset trains a few steps."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import tensorflow as tf
from hydra import compose, initialize_config_module

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.builder import build_model, build_objective
from gan.loop import train
from pianoroll.prepare import make_source, make_spec

CONF = Path(str(resources.files("conf")))


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_musegan(*overrides: str):
    return compose_config("musegan", *overrides)


def compose_config(name: str, *overrides: str):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.mark.parametrize("data", names("data"))
def test_every_data_config_builds_its_spec_and_source(data, tmp_path):
    cfg = compose_musegan("+mode=hybrid", f"data={data}", f"paths.data_dir={tmp_path}")
    spec = make_spec(cfg.data)
    assert spec.n_pitches == 84 and spec.lowest_pitch == 24
    make_source(cfg.data)


# Each model preset with the data shape it is sized for.
MODEL_DATA = {
    "musegan": "bach_chorales",
    "musegan_v2": "bach_chorales",
    "musegan_v2_lpd5": "lpd5",
    "paper": "lpd5",
    "dense": "bach_chorales",
    "recurrent": "bach_chorales",
    "reference": "bach_chorales",  # sized for 2 bars (+experiment=reference); builds for 4 too
}
# The model and experiment presets of C-RNN-GAN (conf/crnngan.yaml); the others are MuseGAN's.
CRNNGAN_PRESETS = {"dense", "recurrent", "crnngan_smoke", "crnngan_dense", "crnngan_paper"}


def test_every_model_config_is_paired_with_data_here():
    assert set(names("model")) == set(MODEL_DATA)


@pytest.mark.parametrize("model", [m for m in names("model") if m not in CRNNGAN_PRESETS])
@pytest.mark.parametrize("mode", names("mode"))
def test_every_model_and_mode_instantiates(model, mode, tmp_path):
    cfg = compose_musegan(f"+mode={mode}", f"model={model}", f"data={MODEL_DATA[model]}")
    spec = make_spec(cfg.data)
    built = build_model(cfg, spec)
    assert tuple(built.generator.output.shape[1:]) == spec.channel_shape
    assert tuple(built.critic.output.shape[1:]) == (1,)
    build_objective(cfg.train)


@pytest.mark.parametrize("model", sorted(set(names("model")) & CRNNGAN_PRESETS))
# Every train preset but base.yaml, the skeleton whose ??? keys the others fill in.
@pytest.mark.parametrize("train_preset", [t for t in names("train") if t != "base"])
def test_every_crnngan_model_and_train_preset_instantiates(model, train_preset):
    cfg = compose_config(
        "crnngan", f"model={model}", f"train={train_preset}", f"data={MODEL_DATA[model]}"
    )
    spec = make_spec(cfg.data)
    built = build_model(cfg, spec)
    noise = built.sample_noise(1, tf.constant([0, 0], tf.int64))
    assert tuple(built.generate(noise, None, training=False).shape[1:]) == spec.channel_shape
    assert tuple(built.critic.output.shape[1:]) == (1,)
    build_objective(cfg.train)


def lpd_songs(folder: Path, make_lpd_npz) -> Path:
    """Three tiny LPD-5 songs (8 bars, every track playing), for presets of data=lpd5."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        tracks = [
            dict(name=name, program=program, is_drum=name == "Drums",
                 notes=[(bar * 96 + beat * 24, bar * 96 + beat * 24 + 12, 36 + 12 * k + i)
                        for bar in range(8) for beat in range(4)])
            for k, (name, program) in enumerate(
                [("Drums", 0), ("Piano", 0), ("Guitar", 24), ("Bass", 32), ("Strings", 48)]
            )
        ]  # fmt: skip
        make_lpd_npz(folder / f"song{i}.npz", tracks, 8 * 96)
    return folder


@pytest.mark.parametrize("experiment", names("experiment"))
def test_every_experiment_preset_trains_a_couple_of_steps(
    experiment, smoke_data_dir, tmp_path, make_lpd_npz
):
    # The presets' own sizes for two steps: on the smoke preset's 12-chorale cache, or on three
    # tiny LPD-5 songs for the LPD presets (with small batches: the paper's networks are big).
    # One critic update a step: the presets' five would each be traced on their own.
    musegan = experiment not in CRNNGAN_PRESETS
    cfg = compose_config("musegan" if musegan else "crnngan", f"+experiment={experiment}")
    overrides = ["train.critic_steps=1"]
    if musegan and "mode" not in cfg:  # the ablation and reference presets set their mode
        overrides.append("+mode=hybrid")
    if cfg.data.name == "lpd5":
        songs = lpd_songs(tmp_path / "lpd5", make_lpd_npz)
        overrides += [
            f"data.source.path={songs}",
            f"paths.data_dir={tmp_path / 'data'}",
            "data.val_fraction=0.34",
        ]
    else:
        overrides += ["data.source.limit=12", f"paths.data_dir={smoke_data_dir}"]
    cfg = compose_config(
        "musegan" if musegan else "crnngan",
        *overrides,
        f"+experiment={experiment}",
        "wandb.mode=disabled",
        "train.steps=2",
        "train.batch_size=8",  # the preset's networks at a small batch: seconds, not minutes
        "train.eval_samples=16",
        "train.n_samples=2",
    )
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["step"] == 2
    assert (tmp_path / "run" / "checkpoints" / "checkpoint").exists()
    assert cfg.experiment_name == NAMED_BY_MODE.get(experiment, experiment)


# Presets used with +mode= whose experiment_name carries the mode (trained above in hybrid).
NAMED_BY_MODE = {"paper_lpd5": "paper_lpd5_hybrid"}


@pytest.mark.parametrize("mode", names("mode"))
def test_the_paper_preset_takes_every_mode_and_names_its_runs_after_it(mode):
    cfg = compose_musegan("+experiment=paper_lpd5", f"+mode={mode}")
    assert cfg.mode.name == mode
    assert cfg.experiment_name == f"paper_lpd5_{mode}"
    assert (cfg.data.name, cfg.train.steps, cfg.train.critic_steps) == ("lpd5", 50000, 5)


def test_every_ablation_row_composes_and_builds_its_model():
    from experiments import ablation

    for row, (_, overrides) in ablation.ROWS.items():
        cfg = compose_musegan(*ablation.BASE, *overrides)
        model = build_model(cfg, make_spec(cfg.data))
        assert model.spec.voices == ((0, 1, 2, 3) if "voices" in row else ()), row
