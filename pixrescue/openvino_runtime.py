"""OpenVINO for the networks whose cards allow it (the ``openvino`` extra).

Measured with ``benchmarks/speed.py`` (docs/speed.md), OpenVINO runs the
shipped networks 1.3-2x faster than PyTorch in fp32, and with its bf16 hint on
a processor with bf16 instructions 2-4x faster than PyTorch's bf16 autocast.
It is used only under ``--precision auto``, only when the package is
installed, and only for a model whose card says the benchmark found it within
the project's rule (task PSNR within 0.02 dB of PyTorch fp32, no output pixel
of a real photograph moved by more than one level): ``inference.openvino_fp32``
and ``inference.openvino_bf16``.  Anything that goes wrong in converting or
compiling falls back to PyTorch, with a one-line warning.

A network is converted from PyTorch once per weights file and kept in a cache
folder (``$PIXRESCUE_CACHE``, else ``$XDG_CACHE_HOME/pixrescue``, else
``~/.cache/pixrescue``); OpenVINO's own compiled blobs go beside it, so a later
process starts in a fraction of a second.  Inputs are padded to the multiple of
the network's stride as the network itself pads them (by reflection), because
the converted graph keeps only the branches taken when it was traced.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

_compiled: dict[tuple, Callable[..., torch.Tensor]] = {}
_failed: set[tuple] = set()


def installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def cache_folder() -> Path:
    if os.environ.get("PIXRESCUE_CACHE"):
        return Path(os.environ["PIXRESCUE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pixrescue"


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``x`` padded at the bottom and right to a multiple of ``multiple``, as the networks pad."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _fingerprint(weights: Path, module: nn.Module) -> str:
    """The cache name of ``module`` with ``weights``: the weights' bytes and the source of
    every class in it, so that changed code is converted again even with the same weights."""
    digest = hashlib.sha256(weights.read_bytes())
    for source in sorted({inspect.getsourcefile(type(part)) or "" for part in module.modules()}):
        if source and Path(source).is_relative_to(Path(__file__).parent):
            digest.update(Path(source).read_bytes())
    return f"{weights.stem}-{digest.hexdigest()[:16]}"


def _converted(core, key: str, module: nn.Module, example: tuple[torch.Tensor, ...]):
    """The OpenVINO model of ``module``, from the cache or converted and cached."""
    import openvino

    folder = cache_folder() / "openvino"
    xml = folder / f"{key}.xml"
    if xml.exists():
        try:
            return core.read_model(str(xml))
        except Exception:  # a damaged cache entry: converted again below
            pass
    shapes = [openvino.PartialShape([1, t.shape[1], -1, -1]) if t.dim() == 4 else openvino.PartialShape(list(t.shape))
              for t in example]
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches: the padding is done outside
        model = openvino.convert_model(module, example_input=example, input=shapes)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as temporary:
            openvino.save_model(model, str(Path(temporary) / "model.xml"), compress_to_fp16=False)
            os.replace(Path(temporary) / "model.bin", xml.with_suffix(".bin"))
            os.replace(Path(temporary) / "model.xml", xml)  # the .xml last: it marks the entry complete
    except OSError:
        pass  # a read-only home: this process still runs the converted model
    return model


def compiled(name: str, weights: Path, variant: str, module: nn.Module, example: tuple[torch.Tensor, ...],
             multiple: int, bf16: bool) -> Callable[..., torch.Tensor] | None:
    """A function of the same tensors as ``module`` (the first one NCHW, padded
    here to ``multiple``) computing it in OpenVINO on this process's torch
    threads, with the bf16 hint when ``bf16``; None when OpenVINO is missing or
    the conversion failed (warned once)."""
    threads = torch.get_num_threads()
    try:
        stamp = weights.stat().st_mtime_ns
    except OSError:
        return None
    key = (name, str(weights), stamp, variant, bf16, threads)
    if key in _compiled:
        return _compiled[key]
    if key in _failed or not installed():
        return None
    try:
        import openvino

        core = openvino.Core()
        model = _converted(core, f"{_fingerprint(weights, module)}-{variant}", module, example)
        blobs = cache_folder() / "openvino" / "compiled"
        try:
            blobs.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(blobs)})
        except OSError:
            pass
        network = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                    "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"})
    except Exception as exc:  # any failure of the optional runtime: PyTorch runs instead
        _failed.add(key)
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        print(f"warning: OpenVINO could not run {name} ({first}); using PyTorch", file=sys.stderr)
        return None
    local = threading.local()  # an infer request serves one thread at a time (the web page runs several)

    def call(x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        if not hasattr(local, "request"):
            local.request = network.create_infer_request()
        height, width = x.shape[-2:]
        padded = pad_to(x.float(), multiple)
        feeds = [padded.contiguous().numpy(), *(t.float().contiguous().numpy() for t in rest)]
        out = torch.from_numpy(local.request.infer(feeds)[network.output(0)])  # infer() returns a copy already
        scale = out.shape[-1] // padded.shape[-1]
        return out[..., : height * scale, : width * scale]

    _compiled[key] = call
    return call
