"""Numeric precision chosen by the hardware: ``train.precision=auto`` and its warnings.

bfloat16 halves the cost of matrix products only where the hardware computes it natively: CPUs
with AVX512_BF16 or AMX, GPUs of compute capability 8.0 or more. Elsewhere a CPU emulates it
and it is slower than float32; older GPUs compute float16 natively, which needs loss scaling
(``mixed_float16`` wraps the optimizers in a loss-scale optimizer). :func:`choose_precision`
applies this to the :class:`Hardware` it is given, so that every hardware case is testable on
any machine; :meth:`Hardware.detect` reads the machine it runs on.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from pianoroll.errors import UserError

__all__ = [
    "AUTO",
    "NATIVE_BFLOAT16_FLAGS",
    "PRECISIONS",
    "Gpu",
    "Hardware",
    "PrecisionChoice",
    "amx_flags",
    "choose_precision",
    "limit_onednn_isa",
]

#: Keras dtype policies a run can train in.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
#: The precision option that lets the hardware choose.
AUTO = "auto"
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
#: CPU flags worth naming in a host report: vector and matrix extensions.
REPORTED_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
#: The first GPU generation (compute capability) with native bfloat16 (NVIDIA Ampere).
BFLOAT16_COMPUTE_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class Gpu:
    """A GPU as TensorFlow sees it.

    Attributes:
        name: the device's name (``NVIDIA A100-SXM4-40GB``).
        compute_capability: (major, minor), or None where TensorFlow does not say.
        memory_bytes: the device's memory, or None where unknown.
    """

    name: str
    compute_capability: tuple[int, int] | None = None
    memory_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What decides the precision: the CPU's flags and the visible GPUs.

    Attributes:
        cpu: the CPU model's name.
        cpu_flags: the CPU's feature flags (lower case, as ``/proc/cpuinfo`` spells them).
        gpus: the GPUs TensorFlow can use.
    """

    cpu: str = ""
    cpu_flags: frozenset[str] = frozenset()
    gpus: tuple[Gpu, ...] = ()

    @classmethod
    def detect(cls, memory: bool = False) -> Hardware:
        """The hardware of this machine (TensorFlow lists the GPUs).

        Args:
            memory: also read each GPU's memory (from ``nvidia-smi``; for reports).
        """
        import tensorflow as tf

        cpu, flags = _read_cpuinfo()
        gpus = []
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            capability = details.get("compute_capability")
            gpus.append(
                Gpu(
                    details.get("device_name", device.name),
                    tuple(capability) if capability else None,
                    _gpu_memory(device.name) if memory else None,
                )
            )
        return cls(cpu or platform.processor(), flags, tuple(gpus))

    @property
    def native_bfloat16_flags(self) -> list[str]:
        """The CPU flags that give it native bfloat16 arithmetic (empty: emulated)."""
        return [flag for flag in NATIVE_BFLOAT16_FLAGS if flag in self.cpu_flags]

    @property
    def kind(self) -> str:
        """A short description of the host for reports (GPUs, else the CPU's vector units)."""
        if self.gpus:
            names = ", ".join(sorted({gpu.name for gpu in self.gpus}))
            return f"{len(self.gpus)} GPU(s): {names}"
        if self.native_bfloat16_flags:
            return f"CPU with AVX-512 and native bfloat16 ({', '.join(self.native_bfloat16_flags)})"
        if "avx512f" in self.cpu_flags:
            return "CPU with AVX-512, without native bfloat16"
        if "avx2" in self.cpu_flags:
            return "CPU with AVX2 only, no native bfloat16"
        return "CPU without AVX2"

    def report(self) -> dict[str, object]:
        """The host as JSON-ready values: CPU model, its vector and matrix extensions, the cap
        on oneDNN's instruction set (None: none; see :func:`limit_onednn_isa`), GPUs."""
        return {
            "onednn_max_cpu_isa": os.environ.get(ONEDNN_ISA_VARIABLE),
            "kind": self.kind,
            "cpu": self.cpu,
            "extensions": [flag for flag in REPORTED_FLAGS if flag in self.cpu_flags]
            + sorted(flag for flag in amx_flags(self.cpu_flags) if flag not in REPORTED_FLAGS),
            "gpus": [dataclasses.asdict(gpu) for gpu in self.gpus],
        }


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in, and why.

    Attributes:
        precision: one of :data:`PRECISIONS`.
        reason: one line saying why (printed by the run).
        warning: one line when an explicit choice will be slow on this hardware, else None.
    """

    precision: str
    reason: str
    warning: str | None = None


def choose_precision(requested: str, hardware: Hardware) -> PrecisionChoice:
    """Resolve ``train.precision`` on some hardware.

    ``auto``: ``mixed_bfloat16`` on GPUs that all compute bfloat16 natively (compute capability
    8.0 or more), ``mixed_float16`` (with loss scaling) on older GPUs; without a GPU,
    ``mixed_bfloat16`` on a CPU with AVX512_BF16 or AMX, else ``float32``. An explicit choice is
    kept; ``mixed_bfloat16`` on a CPU-only host without native bfloat16 gets a warning.

    Raises:
        UserError: ``requested`` is not ``auto`` or one of :data:`PRECISIONS`.
    """
    if requested == AUTO:
        return _automatic(hardware)
    if requested not in PRECISIONS:
        choices = ", ".join((AUTO, *PRECISIONS))
        raise UserError(
            f"train.precision: unknown precision {requested!r}; choose one of {choices}"
        )
    warning = None
    if requested == "mixed_bfloat16" and not hardware.gpus and not hardware.native_bfloat16_flags:
        warning = (
            "train.precision=mixed_bfloat16: this CPU has no native bfloat16 (no AVX512_BF16 or"
            " AMX), so it emulates it and trains slower than train.precision=float32"
        )
    return PrecisionChoice(requested, f"{requested} as configured", warning)


def _automatic(hardware: Hardware) -> PrecisionChoice:
    if hardware.gpus:
        capabilities = [gpu.compute_capability or (0, 0) for gpu in hardware.gpus]
        lowest = min(capabilities)
        shown = ".".join(str(part) for part in lowest)
        if lowest >= BFLOAT16_COMPUTE_CAPABILITY:
            return PrecisionChoice(
                "mixed_bfloat16",
                f"auto: mixed_bfloat16, the GPUs compute bfloat16 natively (compute capability {shown})",
            )
        return PrecisionChoice(
            "mixed_float16",
            f"auto: mixed_float16 with loss scaling, the GPUs predate native bfloat16"
            f" (compute capability {shown})",
        )
    if native := hardware.native_bfloat16_flags:
        return PrecisionChoice(
            "mixed_bfloat16",
            f"auto: mixed_bfloat16, the CPU computes bfloat16 natively ({', '.join(native)})",
        )
    return PrecisionChoice(
        "float32", "auto: float32, the CPU has no native bfloat16 (no AVX512_BF16 or AMX)"
    )


#: The environment variable that caps the instruction set oneDNN (TensorFlow's CPU kernels)
#: dispatches to.
ONEDNN_ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
#: The caps :func:`limit_onednn_isa` sets on AMX hosts, the highest below AMX: with the CPU's
#: AVX512_FP16, or without it where it has none.
BELOW_AMX_WITH_FP16 = "AVX512_CORE_FP16"
BELOW_AMX = "AVX512_CORE_BF16"


def limit_onednn_isa(
    flags: frozenset[str] | None = None, environ: MutableMapping[str, str] = os.environ
) -> str | None:
    """Keep oneDNN off AMX, unless the user chose its instruction set.

    oneDNN's AMX kernels broke a bfloat16 training step of the paper's LPD-5 networks
    (README.md, precision: what was seen and on which TensorFlow); below AMX the step is
    finite, and ``tests/test_configs.py`` trains that preset. The cap keeps the CPU's
    AVX512_FP16 where it has one, because capping such a CPU lower broke float16 steps
    (``tests/test_precision.py``). Below AMX, AVX512_BF16 still computes bfloat16 natively,
    so ``auto`` keeps choosing it. oneDNN reads the variable when it first dispatches, so this
    runs when :mod:`gan` is imported, before any model exists.

    Args:
        flags: the CPU's flags (None: read ``/proc/cpuinfo``).
        environ: the environment to set the variable in.

    Returns:
        The cap set, or None (no AMX, or the variable set already).
    """
    if ONEDNN_ISA_VARIABLE in environ:
        return None
    if flags is None:
        flags = _read_cpuinfo()[1]
    if not amx_flags(flags):
        return None
    cap = BELOW_AMX_WITH_FP16 if "avx512_fp16" in flags else BELOW_AMX
    environ[ONEDNN_ISA_VARIABLE] = cap
    return cap


def amx_flags(flags: Iterable[str]) -> list[str]:
    """The CPU flags of Intel AMX (``amx_tile``, ``amx_bf16``, ...) among ``flags``."""
    return [flag for flag in flags if flag.startswith("amx")]


def _read_cpuinfo() -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags from ``/proc/cpuinfo`` (empty elsewhere)."""
    model, flags = "", frozenset()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return model, flags
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


def _gpu_memory(name: str) -> int | None:
    """A GPU's total memory in bytes, from ``nvidia-smi`` (TensorFlow does not report it);
    None where that tool is missing or silent."""
    index = name.rsplit(":", 1)[-1]
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                f"--id={index}",
                "--query-gpu=memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return int(float(out.strip().splitlines()[0]) * 2**20)  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
