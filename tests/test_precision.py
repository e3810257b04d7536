"""Mixed precision and XLA: each option trains and its losses stay finite."""

from __future__ import annotations

import math
import os

import keras
import pytest
from conftest import compose_smoke
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.loop import train
from gan.precision import Gpu, Hardware, PrecisionChoice, amx_flags, choose_precision
from pianoroll.errors import UserError


@pytest.fixture(autouse=True)
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "options",
    [
        ["train.precision=mixed_bfloat16"],
        ["train.precision=mixed_float16"],
        # XLA with bfloat16: the combination the GPU path uses, compiled here for the CPU.
        ["train.jit_compile=true", "train.precision=mixed_bfloat16"],
    ],
    ids=["bfloat16", "float16", "xla_bfloat16"],
)
def test_precision_and_xla_options_train_with_finite_losses(options, smoke_data_dir, tmp_path):
    # One critic update per step: with XLA each critic update of an iteration is compiled on
    # its own (it is traced with its index), so two would compile the critic twice.
    cfg = compose_smoke(
        "musegan", smoke_data_dir, "train.sample_every=100", "train.critic_steps=1", *options
    )
    keras.mixed_precision.set_global_policy("float32")
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["step"] == 2
    assert summary["losses"] and all(math.isfinite(v) for v in summary["losses"].values())
    # The penalty is computed in float32 whatever the compute dtype.
    assert summary["losses"]["gradient_penalty"] >= 0.0
    # The run's precision ended with it: the global dtype policy is as the run found it.
    assert keras.mixed_precision.global_policy().name == "float32"


# precision=auto ---------------------------------------------------------------------------

AVX2 = Hardware("AMD EPYC (AVX2)", frozenset({"avx", "avx2", "fma"}))
AVX512_BF16 = Hardware(
    "Intel Xeon (Sapphire Rapids)", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
)
AMX_ONLY = Hardware("a CPU with AMX", frozenset({"avx2", "amx_bf16", "amx_tile"}))


@pytest.mark.parametrize(
    ("hardware", "expected", "why"),
    [
        (AVX2, "float32", "the CPU has no native bfloat16"),
        (AVX512_BF16, "mixed_bfloat16", "natively (avx512_bf16, amx_bf16)"),
        (AMX_ONLY, "mixed_bfloat16", "natively (amx_bf16)"),
        (Hardware(gpus=(Gpu("A100", (8, 0)),)), "mixed_bfloat16", "compute capability 8.0"),
        (Hardware(gpus=(Gpu("L4", (8, 9)), Gpu("L4", (8, 9)))), "mixed_bfloat16", "8.9"),
        (Hardware(gpus=(Gpu("T4", (7, 5)),)), "mixed_float16", "loss scaling"),
        (Hardware(gpus=(Gpu("A100", (8, 0)), Gpu("V100", (7, 0)))), "mixed_float16", "7.0"),
        (Hardware(gpus=(Gpu("unknown"),)), "mixed_float16", "capability 0.0"),
        # A GPU decides, whatever the CPU has.
        (Hardware(cpu_flags=AVX2.cpu_flags, gpus=(Gpu("H100", (9, 0)),)), "mixed_bfloat16", ""),
    ],
    ids=[
        "avx2",
        "avx512_bf16",
        "amx",
        "a100",
        "two_l4",
        "t4",
        "mixed_gpus",
        "no_capability",
        "gpu_first",
    ],
)
def test_auto_precision_follows_the_hardware(hardware, expected, why):
    choice = choose_precision("auto", hardware)
    assert choice.precision == expected
    assert choice.reason.startswith(f"auto: {expected}")
    assert why in choice.reason
    assert choice.warning is None


def test_an_explicit_precision_is_kept_and_a_slow_bfloat16_is_said_once():
    slow = choose_precision("mixed_bfloat16", AVX2)
    assert slow.precision == "mixed_bfloat16"
    assert slow.warning is not None and "\n" not in slow.warning
    assert "slower than train.precision=float32" in slow.warning
    assert choose_precision("mixed_bfloat16", AVX512_BF16).warning is None
    assert choose_precision("mixed_bfloat16", Hardware(gpus=(Gpu("A100", (8, 0)),))).warning is None
    for name in ("float32", "mixed_float16"):
        assert choose_precision(name, AVX2) == PrecisionChoice(name, f"{name} as configured")
    with pytest.raises(
        UserError, match=r"train.precision: unknown precision 'half'; choose one of auto, float32"
    ):
        choose_precision("half", AVX2)


def test_the_host_report_names_its_kind_and_extensions():
    assert AVX2.kind == "CPU with AVX2 only, no native bfloat16"
    assert AVX512_BF16.kind.startswith("CPU with AVX-512 and native bfloat16")
    report = AVX512_BF16.report()
    assert report["extensions"] == ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]
    assert Hardware(gpus=(Gpu("T4", (7, 5), 16 * 2**30),)).report()["gpus"] == [
        {"name": "T4", "compute_capability": (7, 5), "memory_bytes": 16 * 2**30}
    ]
    detected = Hardware.detect()  # this machine: whatever it is, it has a kind
    assert detected.kind and detected.report()["kind"] == detected.kind
    # Reports say whether oneDNN was kept off AMX (importing gan caps it on AMX hosts).
    amx = bool(amx_flags(detected.cpu_flags))
    assert (detected.report()["onednn_max_cpu_isa"] is not None) == (
        amx or "ONEDNN_MAX_CPU_ISA" in os.environ
    )


def test_a_run_records_the_precision_auto_chose_and_says_why(smoke_data_dir, tmp_path, capsys):
    cfg = compose_smoke(
        "musegan", smoke_data_dir, "train.steps=1", "train.critic_steps=1", "train.precision=auto"
    )
    train(cfg, tmp_path / "run", progress=False)
    choice = choose_precision("auto", Hardware.detect())
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert saved.train.precision == choice.precision
    assert capsys.readouterr().err.count(choice.reason) == 1


def test_explicit_bfloat16_on_a_cpu_without_it_trains_and_says_so(
    smoke_data_dir, tmp_path, capsys, monkeypatch
):
    # The hardware is stubbed: an AVX2-only CPU cannot be had on every test machine.
    monkeypatch.setattr(Hardware, "detect", classmethod(lambda cls: AVX2))
    cfg = compose_smoke(
        "musegan",
        smoke_data_dir,
        "train.steps=1",
        "train.critic_steps=1",
        "train.precision=mixed_bfloat16",
    )
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["step"] == 1
    err = capsys.readouterr().err
    assert err.count("train.precision=mixed_bfloat16: this CPU has no native bfloat16") == 1
    assert "auto:" not in err
    assert OmegaConf.load(tmp_path / "run" / "config.yaml").train.precision == "mixed_bfloat16"


def test_onednn_is_kept_off_amx_unless_the_user_chose_its_instruction_set():
    from gan.precision import limit_onednn_isa

    amx = frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    environ: dict[str, str] = {}
    assert limit_onednn_isa(amx, environ) == "AVX512_CORE_BF16"
    assert environ == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}
    environ = {}
    assert limit_onednn_isa(amx | {"avx512_fp16"}, environ) == "AVX512_CORE_FP16"
    assert environ == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_FP16"}
    chosen = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}
    assert (
        limit_onednn_isa(amx, chosen) is None and chosen["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE_AMX"
    )
    untouched: dict[str, str] = {}
    assert limit_onednn_isa(frozenset({"avx2", "avx512_bf16"}), untouched) is None
    assert untouched == {}
