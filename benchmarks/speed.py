"""Which runtime runs each network fastest on this machine, whether bf16
keeps its quality, and how many photographs a second ``index`` catalogues.

    python benchmarks/speed.py [--data ../shared/data/dev] [--images 4] [--models NAME ...] [--update-cards]
                               [--tables speed bf16 index] [--index-images 100]

Protocol:

- speed: each network alone (the weights loaded, one warm-up call) on one
  input of 512x512 RGB (upscalers: 256x256, at their largest scale), best of
  3 calls, in megapixels of output per second, with one thread and with all
  of this process's cores (``--threads``), for:
  PyTorch fp32 (channels-last where the task uses it), PyTorch with bf16
  autocast (fp32 weights; only on a CPU with bf16 instructions: elsewhere it
  is emulated and many times slower), and, where they are installed,
  ONNX Runtime and OpenVINO (fp32, and OpenVINO's bf16 hint on a bf16 CPU)
  on the graph from ``torch.onnx.export``.  A DnCNN-style reference (20
  full-resolution 3x3 layers of 64 channels, random weights) is timed the
  same way so that the figures read as ratios on any machine.
- quality of each alternative against PyTorch fp32 (PyTorch bf16; OpenVINO
  fp32 and bf16, through ``pixrescue``'s own OpenVINO path), through the
  task the network serves, on the first ``--images`` pictures: JPEG removal
  on Kodak24 (colour models) or BSD68 (grayscale models) at qualities 10 and
  30, PSNR against the clean picture; deblurring of a Gaussian blur (sigma
  1.5) on Kodak24; upscaling of the bicubically reduced Set5 + Set14 at each
  of the model's scales, PSNR on RGB; for the side-information refiners
  (PyTorch bf16 only), Kodak24 written by ``pixrescue compress`` at
  qualities 10 and 30 and restored with its side information.  The change
  of the mean PSNR, and the largest change of any pixel of the network's
  output (levels of 255; before the quantization projection, which is the
  same function of either output) on a 256x256 crop of scikit-image's
  astronaut.
- index: ``--index-images`` photographs (default 100: Kodak24 then CBSD68,
  portraits turned, the first ones again mirrored when more are asked for)
  resized to 1500x1000 and saved as JPEG quality 85 in a temporary folder,
  catalogued from nothing: in a process (``catalog.update``, the networks
  loaded beforehand: the rate of the loop itself), and as the command
  ``pixrescue index FOLDER --rebuild`` (start-up, imports and model loading
  included), with the networks on one thread (index's default) and on all
  of this process's cores (``--threads N``); best of 2, images per second.
  Both run in processes of their own with ``OMP_WAIT_POLICY=PASSIVE``, which
  ``pixrescue index`` sets before torch loads.
- ``--update-cards`` writes ``inference.bf16``, ``inference.openvino_fp32``
  and ``inference.openvino_bf16`` into each card: ``allowed`` only where the
  mean PSNR moved by at most 0.02 dB and no pixel of the astronaut by more
  than one level.  ``pixrescue`` (``--precision auto``) then runs each model
  in OpenVINO where it is installed and allowed (its bf16 hint on a CPU with
  bf16 instructions, where allowed), else in PyTorch with bf16 autocast where
  allowed and the CPU has bf16 instructions, else in PyTorch fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageFilter
from skimage import data as skdata

from pixrescue import cards, runner, zoo
from pixrescue.imaging.jpeg import round_trip
from pixrescue.runner import set_precision
from pixrescue.tasks.deblur import deblur_frame
from pixrescue.tasks.restore import conditioning, restore_frame
from pixrescue.tasks.upscale import enlarge_with_model
from pixrescue.training.evaluate import load_set
from pixrescue.training.machine import cpu_has_bf16, cpu_model, usable_cores
from pixrescue.training.metrics import psnr

TOLERANCE_DB = 0.02
TOLERANCE_LEVELS = 1
TASKS = ("jpeg", "deblur", "upscale")
# The side-information refiners are judged in the bf16 table only, for PyTorch's bf16 autocast (their
# networks take a picture, the blind model's output and the codes: neither timed alone here nor converted).
SIDE_TASK = "side-info"


def shipped_models(chosen: list[str] | None) -> list[str]:
    names = [name for task in TASKS for name in zoo.models_for(task)
             if zoo.weights_path(name).exists()]
    return [name for name in names if chosen is None or name in chosen]


# --- the network alone -------------------------------------------------------------------------------

def network_call(name: str) -> tuple[torch.nn.Module, tuple, float]:
    """The network, an input to time it on, and the output megapixels of one call."""
    spec = zoo.get_spec(name)
    network = zoo.load_model(name)
    channels = 1 if spec.colour in ("gray", "y") else 3
    if spec.task == "upscale":
        scale = max(spec.scales)
        side = 256 * scale if spec.enlarged_input else 256
        x = torch.rand(1, channels, side, side).contiguous(memory_format=torch.channels_last)

        class Fixed(torch.nn.Module):  # the scale baked in, for the exporters
            def __init__(self) -> None:
                super().__init__()
                self.net = network

            def forward(self, t):
                return self.net(t, scale)

        return Fixed().eval(), (x,), (256 * scale) ** 2 / 1e6
    x = torch.rand(1, channels, 512, 512).contiguous(memory_format=torch.channels_last)
    if spec.conditioned:
        picture = Image.fromarray(skdata.astronaut())
        tables = torch.from_numpy(conditioning(name, round_trip(picture, 30)[0]).tables)[None]
        return network, (x, tables), 512 * 512 / 1e6
    return network, (x,), 512 * 512 / 1e6


def best_of(call: Callable[[], object], repeats: int = 3) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def runtimes(network: torch.nn.Module, inputs: tuple, threads: int, onnx_path: Path | None) -> dict[str, float]:
    """Seconds per call for each runtime available here."""
    torch.set_num_threads(threads)
    network = network.to(memory_format=torch.channels_last)
    seconds = {}
    with torch.inference_mode():
        seconds["PyTorch fp32"] = best_of(lambda: network(*inputs))
        if cpu_has_bf16():
            def bf16():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return network(*inputs)
            seconds["PyTorch bf16"] = best_of(bf16)
    if onnx_path is None:
        return seconds
    feeds = [t.contiguous().numpy() for t in inputs]
    with contextlib.suppress(ImportError):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        seconds["ONNX Runtime fp32"] = best_of(lambda: session.run(None, dict(zip(names, feeds))))
    with contextlib.suppress(ImportError):
        import openvino

        core = openvino.Core()
        for hint in ("f32", "bf16") if cpu_has_bf16() else ("f32",):
            compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU",
                                          {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint})
            request = compiled.create_infer_request()
            label = "OpenVINO " + ("fp32" if hint == "f32" else "bf16")
            seconds[label] = best_of(lambda request=request: request.infer(feeds))
    return seconds


def export(network: torch.nn.Module, inputs: tuple, folder: Path) -> Path | None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        return None
    path = folder / "model.onnx"
    try:
        with torch.inference_mode(), warnings_quiet():
            torch.onnx.export(network, inputs, str(path), opset_version=17, dynamo=False)
    except Exception as exc:  # a graph the exporter cannot trace: the row says so
        print(f"  (not exported: {str(exc).splitlines()[0][:100]})")
        return None
    return path


@contextlib.contextmanager
def warnings_quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def dncnn_reference() -> tuple[torch.nn.Module, tuple, float]:
    from jpeg import dncnn_network  # benchmarks/jpeg.py: the same reference as its speed table

    x = torch.rand(1, 3, 512, 512).contiguous(memory_format=torch.channels_last)
    return dncnn_network(), (x,), 512 * 512 / 1e6


def available_runtimes() -> list[str]:
    import importlib.util

    found = ["PyTorch fp32"] + (["PyTorch bf16"] if cpu_has_bf16() else [])
    exporter = importlib.util.find_spec("onnx") is not None
    if exporter and importlib.util.find_spec("onnxruntime") is not None:
        found.append("ONNX Runtime fp32")
    if exporter and importlib.util.find_spec("openvino") is not None:
        found += ["OpenVINO fp32"] + (["OpenVINO bf16"] if cpu_has_bf16() else [])
    return found


def speed_table(models: list[str], thread_counts: list[int]) -> dict[str, dict]:
    counts = " / ".join(str(n) for n in thread_counts)
    print(f"\n### Networks alone: output MP/s ({counts} thread{'s' if thread_counts != [1] else ''})\n")
    print(f"Machine: {cpu_model()}, {usable_cores()} cores, bf16 instructions: "
          f"{'yes' if cpu_has_bf16() else 'no'}.\n")
    labels = available_runtimes()
    print("| network | " + " | ".join(labels) + " | fastest |")
    print("|---|" + "---|" * (len(labels) + 1), flush=True)
    rows: dict[str, dict] = {}
    entries = [("DnCNN-style reference", dncnn_reference)] + [(name, lambda name=name: network_call(name))
                                                             for name in models]
    for label, make in entries:
        network, inputs, megapixels = make()
        with tempfile.TemporaryDirectory() as folder:
            onnx_path = export(network, inputs, Path(folder))
            timed = [runtimes(network, inputs, n, onnx_path) for n in thread_counts]
        speeds = {runtime: [megapixels / seconds[runtime] for seconds in timed] for runtime in timed[0]}
        rows[label] = speeds
        cells = [" / ".join(f"{v:.2f}" for v in speeds[r]) if r in speeds else "-" for r in labels]
        fastest = max(speeds, key=lambda r: max(speeds[r]))
        print(f"| {label} | " + " | ".join(cells) + f" | {fastest} |", flush=True)
    return rows


# --- index: images per second on a folder of photographs ---------------------------------------------

INDEX_SIZE = (1500, 1000)
INDEX_QUALITY = 85


def index_folder(data: Path, folder: Path, count: int) -> None:
    """``count`` photographs of INDEX_SIZE as JPEG files in ``folder`` (see the protocol)."""
    from PIL import ImageOps

    from pixrescue.imaging.io import find_images

    sources = find_images([data / "Kodak24"]) + find_images([data / "CBSD68"])
    for i in range(count):
        picture = Image.open(sources[i % len(sources)]).convert("RGB")
        if picture.height > picture.width:
            picture = picture.transpose(Image.Transpose.ROTATE_90)
        if i >= len(sources):
            picture = ImageOps.mirror(picture)
        picture.resize(INDEX_SIZE, Image.BICUBIC).save(folder / f"{i:04d}.jpg", quality=INDEX_QUALITY)


def index_loop(root: Path, db: Path, threads: int, count: int) -> float:
    """Seconds ``catalog.update`` takes to catalogue ``root`` from nothing, the networks
    loaded beforehand, best of 2 (run in a process of its own: see ``index_table``)."""
    from pixrescue.collection import catalog, fingerprints

    torch.set_num_threads(threads)
    fingerprints.embed(torch.zeros(1, 1, fingerprints.THUMBNAIL, fingerprints.THUMBNAIL))  # networks loaded
    times = []
    for _ in range(2):
        catalog.rebuild(db)
        started = time.perf_counter()
        report = catalog.update(root, db)
        times.append(time.perf_counter() - started)
        assert report.added == count and not report.failed, report
    return min(times)


def index_table(args) -> dict[int, tuple[float, float]]:
    import subprocess

    cores = usable_cores()
    print(f"\n### index: {args.index_images} JPEGs of {INDEX_SIZE[0]}x{INDEX_SIZE[1]} (quality {INDEX_QUALITY}), "
          "catalogued from nothing\n")
    print(f"Machine: {cpu_model()}, {cores} cores.\n")
    print("| network threads | images | in process (s) | images/s | command, start-up included (s) | images/s |")
    print("|---|---|---|---|---|---|")
    found = {}
    n = args.index_images
    # Both in processes of their own, with the OpenMP setting `pixrescue index` makes before torch loads.
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "photos"
        root.mkdir()
        index_folder(args.data, root, n)
        db = Path(folder) / "catalogue.db"
        for threads in sorted({1, cores}):
            loop = subprocess.run([sys.executable, __file__, "--index-loop", str(root), str(db), str(threads), str(n)],
                                  check=True, capture_output=True, text=True, env=env)
            inside = float(loop.stdout.split()[-1])
            whole = []
            for _ in range(2):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pixrescue", "index", str(root), "--db", str(db), "--rebuild",
                                "--threads", str(threads)], check=True, capture_output=True)
                whole.append(time.perf_counter() - started)
            found[threads] = (n / inside, n / min(whole))
            print(f"| {threads} | {n} | {inside:.2f} | {n / inside:.1f} | {min(whole):.2f} | {n / min(whole):.1f} |",
                  flush=True)
    return found


# --- bf16 against fp32, through the task -------------------------------------------------------------

def task_outputs(name: str, args) -> tuple[list[tuple[np.ndarray, object]], Callable, Callable]:
    """(clean reference, degraded input) pairs for the model's task, the task's
    function, and the network's own output (for JPEG removal: before the
    projection, whose colour round trip can turn a one-level change into two)."""
    spec = zoo.get_spec(name)
    if spec.task == SIDE_TASK:
        return side_info_outputs(name, args)
    pairs = []
    if spec.task == "jpeg":
        gray = spec.colour == "gray"
        for clean in load_set(args.data / ("BSD68" if gray else "Kodak24"), gray)[: args.images]:
            for quality in (10, 30):
                degraded, info = round_trip(clean, quality)
                pairs.append((np.asarray(clean), (degraded, info)))
        return (pairs, lambda item: restore_frame(item[0], name, jpeg=item[1]),
                lambda item: restore_frame(item[0], name, jpeg=item[1], project=False))
    if spec.task == "deblur":
        for clean in load_set(args.data / "Kodak24", False)[: args.images]:
            pairs.append((np.asarray(clean), clean.filter(ImageFilter.GaussianBlur(1.5))))
        return pairs, lambda item: deblur_frame(item, name), lambda item: deblur_frame(item, name)
    for scale in spec.scales:
        for clean in (load_set(args.data / "Set5", False) + load_set(args.data / "Set14", False))[: args.images * 2]:
            w, h = clean.width - clean.width % scale, clean.height - clean.height % scale
            hr = clean.crop((0, 0, w, h))
            pairs.append((np.asarray(hr), (hr.resize((w // scale, h // scale), Image.BICUBIC), scale)))
    job = lambda item: enlarge_with_model(item[0], item[1], name)  # noqa: E731
    return pairs, job, job


def side_info_outputs(name: str, args) -> tuple[list[tuple[np.ndarray, object]], Callable, Callable]:
    """task_outputs for a side-information model: Kodak24 pictures written by ``compress`` at
    quality 10 and 30 with its rate point, restored with their side information.  The blind
    model's output is computed once, as ``fix`` computes it, so that only the refiner's runtime
    changes between rows."""
    pairs = [(np.asarray(clean), side_info_file(name, clean, quality))
             for clean in load_set(args.data / "Kodak24", False)[: args.images] for quality in (10, 30)]
    return pairs, side_refine, side_refine


def side_info_file(name: str, clean: Image.Image, quality: int) -> tuple:
    """(record, decoded frame, blind output) of ``clean`` compressed by ``name``'s rate point."""
    import io

    from pixrescue.imaging import Picture
    from pixrescue.imaging import side_info as container
    from pixrescue.imaging.jpeg import read_info
    from pixrescue.tasks.side_info import RATES, blind_pixels, compress, model_for

    rate = next(r for r in RATES if model_for(r) == name)
    data = compress(Picture(frames=[clean]), quality, rate)[0]
    record = container.parse(container.side_info_datas(data))
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        frame, info = opened.convert("RGB"), read_info(opened)
    return record, frame, blind_pixels(zoo.get_spec(name).base, frame, info.quantization)


def side_refine(item: tuple) -> Image.Image:
    from pixrescue.tasks.side_info import refine

    return refine(*item)


def astronaut_input(name: str):
    spec = zoo.get_spec(name)
    if spec.task == SIDE_TASK:
        return side_info_file(name, Image.fromarray(skdata.astronaut()).crop((0, 0, 256, 256)), 20)
    picture = Image.fromarray(skdata.astronaut()).crop((0, 0, 256, 256))
    if spec.colour == "gray":
        picture = picture.convert("L")
    if spec.task == "jpeg":
        return round_trip(picture, 20)
    if spec.task == "deblur":
        return picture.filter(ImageFilter.GaussianBlur(1.5))
    return (picture.resize((128, 128), Image.BICUBIC), min(spec.scales))


# Each alternative to PyTorch fp32: (card key, how to choose it).
ALTERNATIVES = {
    "PyTorch bf16": ("bf16", "bf16", None),
    "OpenVINO fp32": ("openvino_fp32", "auto", False),
    "OpenVINO bf16": ("openvino_bf16", "auto", True),
}


@contextlib.contextmanager
def running(precision: str, openvino: bool | None):
    """The tasks run with ``precision``; under ``auto``, OpenVINO with the bf16
    hint (True), fp32 (False), or not at all (None), whatever the card says."""
    real = runner.openvino_choice
    set_precision(precision)
    runner.openvino_choice = lambda model: openvino
    try:
        yield
    finally:
        runner.openvino_choice = real
        set_precision("auto")


def alternatives_here() -> list[str]:
    found = [a for a in ALTERNATIVES if "bf16" not in a or cpu_has_bf16()]
    from pixrescue import openvino_runtime

    return [a for a in found if "OpenVINO" not in a or openvino_runtime.installed()]


def bf16_table(models: list[str], args) -> dict[str, dict]:
    """For each model and each alternative runtime here: the verdict of the rule."""
    chosen = alternatives_here()
    print("\n### Runtimes against PyTorch fp32: mean PSNR of the task (dB) and the largest pixel change\n")
    print("| model | pictures | PyTorch fp32 | " + " | ".join(f"{a}: change (dB), largest change (levels)"
                                                    for a in chosen) + " |")
    print("|---|---|---|" + "---|" * len(chosen))
    found: dict[str, dict] = {}
    for name in models:
        pairs, job, network_only = task_outputs(name, args)
        sample = astronaut_input(name)
        results = {}
        side = zoo.get_spec(name).task == SIDE_TASK
        for label in ["PyTorch fp32", *(a for a in chosen if not side or a == "PyTorch bf16")]:
            precision, openvino = ("fp32", None) if label == "PyTorch fp32" else ALTERNATIVES[label][1:]
            with running(precision, openvino):
                mean = float(np.mean([psnr(ref, np.asarray(job(item))) for ref, item in pairs]))
                pixels = np.asarray(network_only(sample)).astype(int)
            results[label] = (mean, pixels)
        base_mean, base_pixels = results["PyTorch fp32"]
        cells = []
        for label in chosen:
            if label not in results:
                cells.append("-")
                continue
            mean, pixels = results[label]
            change, levels = mean - base_mean, int(np.abs(pixels - base_pixels).max())
            allowed = abs(change) <= TOLERANCE_DB and levels <= TOLERANCE_LEVELS
            found.setdefault(name, {})[ALTERNATIVES[label][0]] = {
                "allowed": allowed, "psnr_change_db": round(change, 4), "max_level_change": levels}
            cells.append(f"{change:+.4f}, {levels} {'(yes)' if allowed else '(no)'}")
        print(f"| {name} | {len(pairs)} | {base_mean:.3f} | " + " | ".join(cells) + " |", flush=True)
    return found


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--index-loop"]:  # index_table's own process
        root, db, threads, count = argv[1:]
        print(index_loop(Path(root), Path(db), int(threads), int(count)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--images", type=int, default=4, help="pictures per set in the bf16 table")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--tables", nargs="+", default=["speed", "bf16", "index"], choices=["speed", "bf16", "index"])
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help="thread counts of the speed table (default: 1 and every core)")
    parser.add_argument("--index-images", type=int, default=100, help="photographs in the index table's folder")
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args(argv)
    models = shipped_models(args.models)
    thread_counts = args.threads or sorted({1, usable_cores()})
    speeds = speed_table(models, thread_counts) if "speed" in args.tables else {}
    side_models = [name for name in zoo.models_for(SIDE_TASK) if zoo.weights_path(name).exists()
                   and (args.models is None or name in args.models)]
    verdicts = bf16_table(models + side_models, args) if "bf16" in args.tables else {}
    if "index" in args.tables:
        index_table(args)
    if not args.update_cards:
        return
    machine = f"{cpu_model()}, {usable_cores()} cores"
    for name in models + side_models:
        def change(card, name=name):
            block = card.setdefault("inference", {})
            for key, verdict in verdicts.get(name, {}).items():
                block[key] = {**verdict, "machine": machine,
                              "rule": f"allowed when the task's mean PSNR moved by at most {TOLERANCE_DB} dB and "
                                      f"no pixel by more than {TOLERANCE_LEVELS} level, against PyTorch fp32",
                              "command": "python benchmarks/speed.py --tables bf16 --update-cards"}
            if name in speeds:
                block["speed_output_mp_per_s"] = {
                    "machine": machine, "threads": thread_counts,
                    **{runtime: [round(v, 2) for v in values] for runtime, values in speeds[name].items()}}
        cards.update(cards.card_path(name), change)


if __name__ == "__main__":
    os.environ.setdefault("KMP_WARNINGS", "0")
    main()
