"""What the training runs on: the processor (its model name and whether it has
bf16 instructions), the cores this process may use, the GPU, and the choices
made from them (device, precision, threads, sample workers).

bf16 autocast pays only where the hardware has bf16 arithmetic: Intel's AMX
(``amx_bf16``) or AVX-512 BF16 (``avx512_bf16``) on a CPU, a CUDA GPU that
supports it.  Elsewhere torch emulates it, about 12 times slower than fp32 on
the AVX2 processor the shipped models were trained on.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache


BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's entry of /proc/cpuinfo (empty elsewhere)."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return {}
    entry: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if entry:
                break
            continue
        key, _, value = line.partition(":")
        entry.setdefault(key.strip(), value.strip())
    return entry


def cpu_model() -> str:
    """The processor's model name ("AMD EPYC 7B13", "Intel(R) Xeon(R) ..."), not only its architecture."""
    info = _cpuinfo()
    name = info.get("model name") or info.get("Model") or info.get("cpu model") or platform.processor()
    return name or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    """The processor's feature flags as Linux lists them (empty where unknown)."""
    info = _cpuinfo()
    return set((info.get("flags") or info.get("Features") or "").split())


def cpu_has_bf16() -> bool:
    """Whether the CPU computes in bf16 natively (AMX or AVX-512 BF16): from
    /proc/cpuinfo's flags, or where there are none, from what torch detects."""
    flags = cpu_flags()
    if flags:
        return any(flag in flags for flag in BF16_FLAGS)
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(probe() for probe in probes if probe is not None)
    except Exception:  # a torch without the probes, or one that cannot run them
        return False


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA GPU")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r} (auto, cpu or cuda)")
    return device


def has_bf16(device: str) -> bool:
    if device == "cuda":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def resolve_precision(precision: str, device: str) -> str:
    """``auto``: ``bf16`` (autocast, fp32 master weights) where the device has bf16
    arithmetic, else ``fp32``."""
    if precision == "auto":
        return "bf16" if has_bf16(device) else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r} (auto, fp32 or bf16)")
    return precision


def default_workers(device: str, cores: int) -> int | None:
    """Sample workers when none are asked for: on a GPU as many as the cores
    leave beside the main process; on a CPU ``None``, meaning that the run
    measures whether a worker pays (``train.py``: a worker takes a core from
    the training steps, which is worth it only where making a batch costs
    about as much as a step)."""
    if device == "cuda":
        return max(1, cores - 1)
    return None if cores > 1 else 0


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def describe_cpu() -> str:
    """One line: "AMD EPYC 7B13 (x86_64, 2 cores, AVX2, no bf16 instructions)"."""
    flags = cpu_flags()
    found = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    bf16 = "bf16 instructions" if cpu_has_bf16() else "no bf16 instructions"
    listed = ", ".join(f.upper() if f in ("avx2", "avx512f") else f for f in found)
    cores = usable_cores()
    return (f"{cpu_model()} ({platform.machine()}, {cores} core{'s' if cores != 1 else ''}"
            f"{', ' + listed if listed else ''}, {bf16})")


def describe(device: str, precision: str, threads: int, workers: int) -> str:
    """What a run ran on, for its log and its card."""
    samples = f"{workers} sample worker{'s' if workers != 1 else ''}" if workers else "samples made in-line"
    if device == "cuda":
        tf32 = ", TF32 convolutions" if precision == "fp32" else ""
        return f"{gpu_name()} GPU, {precision}{tf32}; CPU {describe_cpu()}, {samples}"
    return f"CPU {describe_cpu()}, {threads} thread{'s' if threads != 1 else ''}, {precision}, {samples}"
