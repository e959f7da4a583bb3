"""Training speed: patches and pixels per second of each trainable model's
training step, today's loop against the loop that uses the machine.

    python benchmarks/train_speed.py [--data ../shared/data/train/T91] [--steps 10] [--warmup 2]
                                     [--threads 1,all] [--models qgunet.jpeg-blind ...] [--device auto]

Protocol: for each model, with its usual patch and batch (``MODELS`` below),
a recipe is built from ``--data`` (when the folder is missing, from eight
scikit-image pictures, which the table then says); each row starts the same
freshly initialised network, runs ``--warmup`` steps, then times ``--steps``
steps, wall clock, the making of their batches included (in-line, or the
wait for worker processes that make them while the steps run): on a CPU the
median step (other processes on a shared machine come in bursts), on a GPU
the mean of the steps timed together.  Rows:

- today's loop: the loop before this change: each batch made in-line, fp32,
  1 thread, contiguous tensors (on the same batches as the other rows: its one
  sequential generator would draw others, and EDSR's steps cost twice as much
  at x2 as at x4);
- fp32 and bf16 autocast (bf16 only where the CPU or GPU computes in bf16:
  elsewhere torch emulates it, about 12 times slower), each with 1 thread and
  with all the cores, the samples in-line and made by workers (on a CPU one
  worker, its core taken from the threads; on a GPU the cores less one);
  channels-last tensors where a timed pass is faster with them
  (``train.prefer_channels_last``), as ``pixrescue train`` decides.

Pixels per second count the target's full-size pixels (patch x patch x batch
per step).  Validation, checkpoints and logging are not timed.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pixrescue import zoo
from pixrescue.training import machine, recipes
from pixrescue.training.data import SampleStream, batch_rng
from pixrescue.training.train import TrainConfig, _set_layout, _to_device, prefer_channels_last, train_step

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "train" / "T91"
# name: (patch, batch, max_side): the recipes of docs/training.md's tables.
MODELS = {
    "qgunet.jpeg-blind": (96, 16, 360),
    "edsr.sr-x234": (120, 16, 0),
    "irn.x4": (128, 4, 0),
    "srcnn.jpeg-q10-gray": (64, 16, 320),
}


def sample_folder() -> Path:
    """Eight scikit-image pictures in a temporary folder (when ``--data`` is missing)."""
    from PIL import Image
    from skimage import data

    folder = Path(tempfile.mkdtemp(prefix="train-speed-"))
    for name in ("astronaut", "camera", "chelsea", "coffee", "coins", "moon", "page", "rocket"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    return folder


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def seconds_per_step(times: list[float], device: str) -> float:
    """The median step on a CPU (robust to other processes' bursts on a shared
    machine); the mean on a GPU, where steps are timed together (no sync each step)."""
    return float(np.median(times)) if device != "cuda" else float(np.mean(times))


def time_today(recipe, fresh, config, steps: int, warmup: int, device: str) -> float:
    """Seconds per step of the loop before this change (fp32, 1 thread, contiguous, samples made
    in-line), on the same batches as the other rows (an EDSR step costs twice as much at x2 as at x4)."""
    torch.set_num_threads(1)
    model = copy.deepcopy(fresh).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(warmup + steps):
        began = time.perf_counter()
        loss = recipe.loss(model, _to_device(recipe.sample(config.batch, batch_rng(config.seed, i)), device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # today's loop reads every loss: on a GPU, a sync per step
        if i >= warmup:
            times.append(time.perf_counter() - began)
    return seconds_per_step(times, device)


def time_loop(recipe, fresh, config, steps: int, warmup: int, device: str, precision: str, threads: int,
              workers: int, channels_last: bool) -> float:
    """Seconds per step of ``train.py``'s loop with these choices."""
    torch.set_num_threads(threads)
    model = copy.deepcopy(fresh).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    _set_layout(model, optimizer, channels_last)
    losses, times = [], []
    with SampleStream(recipe, config.batch, config.seed, start=0, workers=workers) as stream:
        for i in range(warmup + steps):
            if i == warmup:
                _sync(device)
                began = time.perf_counter()
            step_began = time.perf_counter()
            losses.append(train_step(model, optimizer, recipe, next(stream), device, precision, channels_last))
            if i >= warmup:
                times.append(time.perf_counter() - step_began)
        _sync(device)
        if device == "cuda":
            times = [(time.perf_counter() - began) / steps]
    float(torch.stack(losses).float().mean())
    return seconds_per_step(times, device)


def benchmark(names, data: list[str], steps: int, warmup: int, thread_counts: list[int], device: str) -> list[dict]:
    cores = machine.usable_cores()
    rows = []
    precisions = ["fp32", "bf16"] if machine.has_bf16(device) else ["fp32"]
    for name in names:
        patch, batch, max_side = MODELS[name]
        spec = zoo.get_spec(name)
        config = TrainConfig(model=name, data=data, patch=patch, batch=batch, max_side=max_side, seed=0)
        recipe = recipes.build(config)
        torch.manual_seed(0)
        fresh = spec.build()
        pixels = patch * patch * batch

        def row(loop, precision, threads, workers, layout, seconds):
            rows.append({"model": name, "patch": patch, "batch": batch, "loop": loop, "precision": precision,
                         "threads": threads, "workers": workers, "layout": layout,
                         "patches_per_second": batch / seconds, "megapixels_per_second": pixels / seconds / 1e6})
            print(f"  {name} {loop} {precision} {threads} threads {workers} workers {layout}: "
                  f"{batch / seconds:.2f} patches/s", flush=True)

        today = time_today(recipe, fresh, config, steps, warmup, device)
        row("today's loop", "fp32", 1, 0, "contiguous", today)
        probe = recipe.sample(batch, np.random.default_rng(0))
        for precision in precisions:
            torch.set_num_threads(max(thread_counts))
            model = copy.deepcopy(fresh).to(device)
            layout, _, _ = prefer_channels_last(model, recipe, probe, device, precision)
            settings = []
            for threads in thread_counts:
                settings.append((threads, 0))
                if device == "cuda":
                    settings.append((threads, max(1, cores - 1)))
                elif threads == 1:
                    settings.append((1, 1))
                elif threads > 1:
                    settings.append((threads - 1, 1))  # all the cores: one of them makes the samples
            for threads, workers in dict.fromkeys(settings):
                seconds = time_loop(recipe, fresh, config, steps, warmup, device, precision, threads, workers, layout)
                row("train.py", precision, threads, workers, "channels-last" if layout else "contiguous", seconds)
    for r in rows:
        base = next(x for x in rows if x["model"] == r["model"] and x["loop"] == "today's loop")
        r["speedup"] = r["patches_per_second"] / base["patches_per_second"]
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", default=None,
                        help=f"training folder (repeatable; default {DEFAULT_DATA})")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", default="1,all", help="comma-separated thread counts; 'all' = the usable cores")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)

    device = machine.resolve_device(args.device)
    cores = machine.usable_cores()
    thread_counts = sorted({cores if t.strip() == "all" else int(t) for t in args.threads.split(",")})
    data = args.data or [str(DEFAULT_DATA)]
    note = ""
    if not all(Path(d).is_dir() for d in data):
        note = f" ({', '.join(data)} missing: eight scikit-image pictures instead)"
        data = [str(sample_folder())]
    flags = sorted(machine.cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    print(f"machine: CPU {machine.cpu_model()}, {cores} usable cores, flags found: {', '.join(flags) or 'none'}; "
          f"{'GPU ' + str(machine.gpu_name()) if device == 'cuda' else 'no GPU'}; torch {torch.__version__}")
    print(f"protocol: {args.steps} timed steps after {args.warmup} warm-up steps "
          f"({'their mean' if device == 'cuda' else 'the median step'}), threads {thread_counts}, "
          f"data {', '.join(data)}{note}")
    if not machine.has_bf16(device):
        print(f"bf16: no bf16 instructions on this {'GPU' if device == 'cuda' else 'CPU'}: fp32 rows only")
    rows = benchmark(args.models, data, args.steps, args.warmup, thread_counts, device)
    print()
    print("| model (patch, batch) | loop | precision | threads | sample workers | layout | patches/s | MP/s | "
          "vs today's loop |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['model']}` ({r['patch']}, {r['batch']}) | {r['loop']} | {r['precision']} | {r['threads']} | "
              f"{r['workers']} | {r['layout']} | {r['patches_per_second']:.2f} | {r['megapixels_per_second']:.3f} | "
              f"{r['speedup']:.2f}x |")
    return rows


if __name__ == "__main__":
    main()
