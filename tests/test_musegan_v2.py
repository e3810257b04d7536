"""MuseGAN's current networks (v2), binary outputs and BinaryMuseGAN's refiner: sizes, shapes,
phases, training in every schedule, resume in the refiner's stage, and the run tools."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import checkpoint_values, compose_smoke, read_jsonl
from hydra import compose, initialize_config_module

from gan.builder import build_model
from gan.export import export
from gan.loop import train
from gan.model import GENERATOR_PHASE
from gan.noise import draw_noise
from gan.run import load_run
from musegan.generator import BINARY_NOISE
from musegan.model import MuseGAN
from musegan.refiner import REFINER_PHASE
from pianoroll.errors import UserError
from pianoroll.prepare import make_spec
from pianoroll.spec import PhraseSpec, Track

CONF = Path(str(resources.files("conf")))
# The v2 networks at smoke size (the smoke preset's critic keys are the AAAI critic's).
V2_SMOKE = [
    "model=musegan_v2",
    "~model.critic",
    "+model.critic={private_filters: [4, 8], merged_filters: 8, shared_time: [[8, 4], [16, 2]],"
    " shared_pitch_filters: 16, merge_filters: 16, chroma_filters: [4, 8],"
    " onset_filters: [4, 4, 8]}",
    "model.generator.dense_units=32",
    "model.generator.shared=[[16,4,7],[8,2,1]]",
    "model.generator.private_filters=[8,4]",
]
SPEC = PhraseSpec.from_tracks(
    [Track(n, 52) for n in ("Soprano", "Alto", "Tenor", "Bass")],
    n_bars=4,
    steps_per_beat=4,
    n_pitches=84,
    lowest_pitch=24,
)
SMALL_AAAI = {
    "z_dim": 8,
    "temporal_filters": 16,
    "bar_generator": {"dense_units": 32, "time_filters": [16], "pitch_filters": [16]},
    "critic": {
        "bar_filters": [8, 8],
        "pitch_filters": [8, 8],
        "time_layers": [[8, 2, 2]],
        "dense_units": 16,
    },
}
SMALL_V2 = {
    "z_dim": 8,
    "temporal_filters": 16,
    "networks": "v2",
    "generator": {"dense_units": 32, "shared": [[16, 4, 7], [8, 2, 1]], "private_filters": [8, 4]},
    "critic": {
        "private_filters": [4, 8],
        "merged_filters": 8,
        "shared_time": [[8, 4], [16, 2]],
        "shared_pitch_filters": 16,
        "merge_filters": 16,
        "chroma_filters": [4, 8],
        "onset_filters": [4, 4, 8],
    },
}


def compose_model(model: str, data: str, *overrides: str):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(
            "musegan", overrides=["+mode=hybrid", f"model={model}", f"data={data}", *overrides]
        )


@pytest.mark.parametrize(
    ("model", "data", "voices", "generator", "critic"),
    [
        ("musegan_v2", "bach_chorales", "monophonic", 4_570_952, 1_296_465),
        ("musegan_v2", "bach_chorales", "free", 4_570_804, 1_117_137),
        ("musegan_v2_lpd5", "lpd5", "monophonic", 4_847_961, 1_231_249),
    ],
)
def test_the_v2_presets_have_the_sizes_their_comments_state(model, data, voices, generator, critic):
    cfg = compose_model(model, data, f"data.voices={voices}")
    built = build_model(cfg, make_spec(cfg.data))
    assert built.generator.count_params() == generator
    assert built.critic.count_params() == critic
    # The preset's comment states them.
    text = (CONF / "model" / f"{model}.yaml").read_text()
    assert f"generator {generator:,}, critic {critic:,}" in text


def phrases(model: MuseGAN, count: int = 3, real=None, phase=None, training=False):
    noise = model.sample_noise(count, tf.constant([4, 2], tf.int64))
    return np.asarray(model.generate(noise, real, training=training, phase=phase))


@pytest.mark.parametrize("mode", ["jamming", "composer", "hybrid"])
@pytest.mark.parametrize("temporal", [True, False])
def test_v2_generates_the_phrase_shape_in_every_mode(mode, temporal):
    model = MuseGAN(SPEC, {"name": mode, "temporal": temporal}, **SMALL_V2)
    out = phrases(model, training=True)
    assert out.shape == (3, *SPEC.shape)
    assert np.all(np.abs(out) <= 1.0) and len(np.unique(out)) > 2
    assert model.critic(out).shape == (3, 1)


def test_v2_refuses_track_conditional_generation_in_one_line():
    with pytest.raises(UserError, match=r"^model.condition_track: the v2 networks") as err:
        MuseGAN(SPEC, {"name": "hybrid"}, condition_track="Bass", **SMALL_V2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("networks", [SMALL_AAAI, SMALL_V2], ids=["aaai", "v2"])
@pytest.mark.parametrize("output", ["deterministic", "stochastic"])
def test_binary_outputs_are_in_minus_one_one_and_stochastic_ones_draw_from_the_noise(
    networks, output
):
    model = MuseGAN(SPEC, {"name": "hybrid"}, output=output, **networks)
    assert (BINARY_NOISE in model.noise_shapes) == (output == "stochastic")
    out = phrases(model)
    assert set(np.unique(out)) == {-1.0, 1.0}
    again = phrases(model)
    np.testing.assert_array_equal(out, again)  # a pure function of the noise
    if output == "stochastic":
        noise = model.sample_noise(3, tf.constant([4, 2], tf.int64))
        noise[BINARY_NOISE] = -noise[BINARY_NOISE]
        assert not np.array_equal(np.asarray(model.generate(noise, None, False)), out)


def test_a_binary_conditional_generator_keeps_the_condition_track():
    model = MuseGAN(
        SPEC, {"name": "hybrid"}, output="stochastic", condition_track="Bass", **SMALL_AAAI
    )
    real = np.where(np.random.default_rng(0).random((3, *SPEC.shape)) < 0.1, 1.0, -1.0)
    out = phrases(model, real=tf.constant(real, tf.float32))
    np.testing.assert_array_equal(out[..., 3], real[..., 3])


def refiner(schedule: str, steps: int = 2) -> dict:
    return {"schedule": schedule, "first_stage_steps": steps, "filters": 4}


@pytest.mark.parametrize(
    ("schedule", "phases", "second"),
    [("two_stage", 2, "refiner"), ("joint", 2, "all"), ("end_to_end", 1, "all")],
)
def test_refiner_phases_and_what_learns_in_each(schedule, phases, second):
    model = MuseGAN(
        SPEC, {"name": "hybrid"}, output="deterministic", refiner=refiner(schedule), **SMALL_AAAI
    )
    assert [p.name for p in model.phases] == [GENERATOR_PHASE, REFINER_PHASE][:phases]
    assert model.phase_at(1).name == GENERATOR_PHASE
    last = model.phase_at(2)
    refiner_vars = {v.path for v in model.refine.trainable_variables}
    base_vars = {v.path for v in model.base.trainable_variables}
    learning = {v.path for v in model.phase_variables(last)}
    assert learning == (refiner_vars if second == "refiner" else refiner_vars | base_vars)
    if phases == 2:
        assert {v.path for v in model.phase_variables(model.phases[0])} == base_vars
        first = phrases(model, phase=model.phases[0])
        assert len(np.unique(first)) > 2  # the generator's tanh output
    assert set(np.unique(phrases(model, phase=last))) == {-1.0, 1.0}
    # Inference follows the last step done.
    model.set_step(2)
    assert len(np.unique(phrases(model))) > (2 if phases == 2 else 1)
    model.set_step(3)
    assert set(np.unique(phrases(model))) == {-1.0, 1.0}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"refiner": refiner("two_stage")}, "model: model.refiner: the refiner ends in binary"),
        (
            {"output": "deterministic", "refiner": refiner("later")},
            "model: model.refiner.schedule: unknown schedule 'later'",
        ),
        (
            {"output": "deterministic", "refiner": refiner("two_stage", 0)},
            "model: model.refiner.first_stage_steps: the two_stage schedule needs",
        ),
        ({"output": "binary"}, "model: model.output: unknown output 'binary'"),
        ({"slope": {"start": 5, "end": 2}}, "model: end: must be at least start"),
        ({"networks": "v3"}, "model.networks: unknown networks 'v3'"),
    ],
)
def test_bad_variant_options_are_one_line(options, message):
    with pytest.raises(UserError) as err:
        MuseGAN(SPEC, {"name": "hybrid"}, **{**SMALL_AAAI, **options})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


REFINER_RUN = [
    "data.voices=free",  # the refiner binarizes free rolls
    "model.output=deterministic",
    "+model.refiner={schedule: two_stage, first_stage_steps: 2, filters: 4}",
    "train.critic_steps=1",
    "train.sample_every=100",
]


@pytest.fixture(scope="module")
def refiner_runs(smoke_data_dir, tmp_path_factory):
    """A two-stage refiner run of 4 steps (the refiner's stage: steps 3 and 4), and its twin
    stopped after step 3 and resumed to step 4."""
    root = tmp_path_factory.mktemp("refiner")
    runs = {"a": root / "a", "b": root / "b", "b3": root / "b3"}
    summaries = {
        "a": train(
            compose_smoke("musegan", smoke_data_dir, *REFINER_RUN, "train.steps=4"),
            runs["a"],
            progress=False,
        ),
        "b3": train(
            compose_smoke("musegan", smoke_data_dir, *REFINER_RUN, "train.steps=3"),
            runs["b"],
            progress=False,
        ),
    }
    shutil.copytree(runs["b"], runs["b3"])
    summaries["b"] = train(
        compose_smoke("musegan", smoke_data_dir, *REFINER_RUN, "train.steps=4"),
        runs["b"],
        progress=False,
    )
    return runs, summaries


def test_a_refiner_run_resumed_in_its_second_stage_equals_an_uninterrupted_one(refiner_runs):
    runs, summaries = refiner_runs
    a = checkpoint_values(runs["a"] / "checkpoints" / "ckpt-4")
    b = checkpoint_values(runs["b"] / "checkpoints" / "ckpt-4")
    assert a.keys() == b.keys()
    assert any(name.startswith("refiner_optimizer/_iterations") for name in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert summaries["a"]["losses"] == summaries["b"]["losses"]
    assert summaries["a"]["trace_count"] == 2  # one per phase


def test_each_stage_trains_only_its_networks(refiner_runs):
    runs, _ = refiner_runs
    two = checkpoint_values(runs["a"] / "checkpoints" / "ckpt-2")
    three = checkpoint_values(runs["b3"] / "checkpoints" / "ckpt-3")
    four = checkpoint_values(runs["a"] / "checkpoints" / "ckpt-4")

    def moved(before, after, part):
        names = [n for n in after if part in n and n in before]
        assert names, part
        return any(not np.array_equal(before[n], after[n]) for n in names)

    # Steps 1-2: the generator learns, the refiner (not yet used) does not; steps 3-4: the
    # refiner learns and the generator's weights stay fixed.
    weights = "_trainable_variables/"
    refiner_weights = [n for n in four if n.startswith("refiner_optimizer/" + weights)]
    generator_weights = [n for n in four if n.startswith("generator_optimizer/" + weights)]
    assert refiner_weights and generator_weights
    assert moved(two, four, "refiner_optimizer/" + weights)
    for name in generator_weights:
        np.testing.assert_array_equal(two[name], three[name], err_msg=name)
        np.testing.assert_array_equal(three[name], four[name], err_msg=name)
    losses = read_jsonl(runs["a"] / "metrics.jsonl")
    assert [r["step"] for r in losses if "critic_loss" in r] == [1, 2, 3, 4]


def test_a_refiner_runs_samples_are_binary_and_its_tools_use_the_refiner(refiner_runs, tmp_path):
    runs, _ = refiner_runs
    with np.load(runs["a"] / "samples" / "step-000004-threshold.npz") as f:
        assert set(np.unique(f["phrases"]).tolist()) <= {0, 1}
    run = load_run(runs["a"])
    assert run.model._phase.name == REFINER_PHASE
    noise = draw_noise(run.model, 2, seed=3)
    out = np.asarray(run.model.generate({k: tf.constant(v) for k, v in noise.items()}, None, False))
    assert set(np.unique(out)) == {-1.0, 1.0}
    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        cfg = compose("export", overrides=[f"run={runs['a']}", f"out={tmp_path}"])
    files = export(cfg, "musegan")
    served = tf.saved_model.load(str(files["saved_model"])).signatures["serving_default"](
        **{k: tf.constant(v) for k, v in noise.items()}
    )
    np.testing.assert_array_equal(served["pianoroll"].numpy(), out)
    early = load_run(runs["a"], checkpoint=2)  # the first stage: the generator's own output
    assert len(np.unique(early.model.generate(
        {k: tf.constant(v) for k, v in noise.items()}, None, False
    ))) > 2  # fmt: skip


@pytest.mark.parametrize(
    "overrides",
    [
        [*V2_SMOKE, "mode=composer"],
        [*V2_SMOKE, "model.output=stochastic", "model.slope={start: 0, end: 2, end_value: 3.0}",
         "+model.refiner={schedule: end_to_end, filters: 4}", "data.voices=free"],
        ["mode=jamming", "model.output=stochastic",
         "+model.refiner={schedule: joint, first_stage_steps: 1, filters: 4}", "data.voices=free"],
    ],
    ids=["v2-composer", "v2-sbn-annealed-end_to_end", "aaai-jamming-joint"],
)  # fmt: skip
def test_every_variant_trains_and_leaves_checkpoint_samples_and_logs(
    smoke_data_dir, tmp_path, overrides
):
    cfg = compose_smoke("musegan", smoke_data_dir, *overrides, "train.critic_steps=1")
    summary = train(cfg, tmp_path, progress=False)
    assert summary["step"] == 2
    assert (tmp_path / "checkpoints" / "ckpt-2.index").exists()
    assert (tmp_path / "samples" / "step-000002-threshold.png").exists()
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl") if "critic_loss" in r] == [
        1,
        2,
    ]
    saved = json.loads((tmp_path / "checkpoints" / "model.json").read_text())
    if "model.slope={start: 0, end: 2, end_value: 3.0}" in overrides:
        slopes = [
            v
            for n, v in checkpoint_values(tmp_path / "checkpoints" / "ckpt-2").items()
            if "slope" in n
        ]
        assert slopes and all(float(v) == 3.0 for v in slopes)  # annealed to step 2
        assert saved["networks"] == "v2" and saved["refiner"]["schedule"] == "end_to_end"


def test_a_refiner_run_generates_long_pieces_and_interpolations(refiner_runs, tmp_path):
    import pretty_midi

    from gan.generate import generate

    runs, _ = refiner_runs

    def run_generate(out, **options):
        with initialize_config_module(config_module="conf.tools", version_base="1.3"):
            cfg = compose(
                "generate",
                overrides=[f"run={runs['a']}", f"out={out}"]
                + [f"{k}={v}" for k, v in options.items()],
            )
        return generate(cfg, "musegan")

    long = run_generate(tmp_path / "long", n=1, bars=8, tempo=120)
    (piece,) = long["pieces"]
    midi = pretty_midi.PrettyMIDI(str(piece["mid"]))
    assert midi.instruments and midi.get_end_time() <= 8 * 2.0 + 1e-6
    interpolation = run_generate(tmp_path / "interp", mode="interpolate", steps=4, seeds="[3,4]")
    assert [p["name"] for p in interpolation["pieces"]] == [f"step-{i:02d}" for i in range(4)]
    assert np.load(interpolation["out"] / "phrases.npz")["phrases"].any()
