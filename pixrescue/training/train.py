"""The one training loop: resumable, logs loss and validation PSNR, writes
``.safetensors`` weights and a JSON model card.

The default configuration is the seed recipe for the JPEG models: grayscale,
long side limited to 320 px, input compressed at quality 10, target the same
image at quality 100, random 64x64 patches, Adam with Keras defaults
(lr 1e-3, betas 0.9/0.999, eps 1e-7), batch 256, 24 epochs (an epoch being as
many patches as the training images hold without overlap), MSE loss.

The loop uses the whole machine: bf16 autocast (fp32 master weights) where the
hardware computes in bf16, channels-last tensors where the first steps show
that they are faster, all the cores for the steps, and sample workers where
making a batch is worth a core (``machine.py``; measured at the start of each
run, see ``_choose``).  Batch k is drawn from its own seed (``data.batch_rng``),
so it is the same with or without workers and after a resume.  SIGTERM and
SIGINT stop a run at the end of its step, with its checkpoint saved.

What each model learns is its recipe (``recipe.Recipe``, one file per family
in ``recipes/``), which also says which parameters train: the loop knows no
network's parameter names.  Cards go through ``pixrescue.cards``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from .. import cards, zoo
from ..atomic import write_atomically
from . import machine, recipes
from .data import SampleStream, batch_rng
from .recipe import Recipe


@dataclass
class TrainConfig:
    """What every run has; ``recipe`` holds the options of the model's recipe
    (its config class in ``recipes.RECIPES``; None: that class's defaults)."""

    model: str
    data: list[str] = field(default_factory=list)
    max_side: int = 320
    patch: int = 64
    batch: int = 256
    epochs: float = 24.0
    steps: int | None = None  # overrides epochs when given
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-7
    lr_schedule: str = "constant"  # or "cosine" (decays to 1% of lr at the last step)
    val_fraction: float = 0.05
    val_every: int = 250
    checkpoint_every: int = 50
    seed: int = 0
    lr_cycle_start: int = 0  # the step where the cosine starts (a campaign's session decays over its own steps)
    recipe: Any = None

    def __post_init__(self) -> None:
        wanted = recipes.registered(self.model).config
        if self.recipe is None:
            self.recipe = wanted()
        elif type(self.recipe) is not wanted:
            raise TypeError(f"{self.model} is trained with a {wanted.__name__}, not a {type(self.recipe).__name__}")

    @classmethod
    def from_options(cls, model: str, **options: Any) -> "TrainConfig":
        """From flat options (a plan's): this class's fields and those of the model's recipe config."""
        recipe_fields = {f.name for f in fields(recipes.registered(model).config)}
        recipe = recipes.registered(model).config(**{k: v for k, v in options.items() if k in recipe_fields})
        return cls(model=model, recipe=recipe, **{k: v for k, v in options.items() if k not in recipe_fields})

    def record(self) -> dict[str, Any]:
        """The flat record of the checkpoint and the card: the run's fields, then the recipe's."""
        own = asdict(self)
        del own["recipe"]
        return {**own, **asdict(self.recipe)}


def option_names(model: str) -> set[str]:
    """The options a run of ``model`` takes: ``TrainConfig``'s fields and its recipe config's."""
    own = {f.name for f in fields(TrainConfig)} - {"recipe"}
    return own | {f.name for f in fields(recipes.registered(model).config)}


# bf16 is kept only where the loss of the first batch stays within this
# fraction of its fp32 value: networks whose last layer writes the picture
# itself (FSRCNN, SRCNN on the enlarged picture) lose too much to bf16's 8-bit
# mantissa (FSRCNN: 2.4 times the fp32 loss), residual ones do not (0.1-1 %).
BF16_TOLERANCE = 0.02
# Channels-last is kept when a timed pass is faster with it by more than this.
LAYOUT_MARGIN = 0.05
# Steps after which a run that fits its steps to its minutes measures its speed.
FIT_AFTER = 10


class TrainingStopped(Exception):
    """A run stopped by SIGTERM or SIGINT after saving its checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: Path) -> None:
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved to "
                         f"{checkpoint}: run the same command again to resume")


def _log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def _learning_rate(config: TrainConfig, step: int, total: int) -> float:
    if config.lr_schedule == "cosine":
        floor = 0.01 * config.lr
        start = min(config.lr_cycle_start, total - 1) if total > 0 else 0
        progress = (step - start) / max(total - start, 1)
        return floor + 0.5 * (config.lr - floor) * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return config.lr


class _StopSignals:
    """While active, SIGTERM and SIGINT only note that they came; the loop saves
    and stops at the end of its step.  A second signal acts at once (the
    previous handlers are back by then): a checkpoint being written is written
    to a temporary file first, so it cannot be left half-written."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        self.received = signum
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


def autocast(device: str, precision: str):
    """bf16 autocast around a forward pass and its loss (nothing for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model, optimizer, recipe, batch, device: str, precision: str = "fp32",
               channels_last: bool = False) -> torch.Tensor:
    """One optimizer step on ``batch`` (a recipe's sample, on the CPU); returns the loss, detached."""
    batch = _to_device(batch, device, channels_last)
    with autocast(device, precision):
        loss = recipe.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.float().backward()
    optimizer.step()
    return loss.detach()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def _untouched(model: torch.nn.Module, device: str):
    """Measuring passes leave no trace: buffers (batch-norm statistics), gradients and the RNG restored."""
    buffers = {name: value.detach().clone() for name, value in model.named_buffers()}
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        try:
            yield
        finally:
            model.zero_grad(set_to_none=True)
            with torch.no_grad():
                for name, value in model.named_buffers():
                    value.copy_(buffers[name])


def time_pass(model, recipe, batch, device: str, precision: str, channels_last: bool, repeats: int = 2) -> float:
    """Seconds of one forward and backward pass on ``batch``, the network's
    weights and the batch in that layout: the best of ``repeats`` after a
    warm-up pass (which builds the kernels' plans).  The network is left
    contiguous (``_set_layout`` then sets the layout chosen)."""
    x = _to_device(batch, device, channels_last)
    best = math.inf
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    with _untouched(model, device):
        for i in range(repeats + 1):
            _sync(device)
            began = time.perf_counter()
            with autocast(device, precision):
                loss = recipe.loss(model, x)
            loss.float().backward()
            _sync(device)
            if i:
                best = min(best, time.perf_counter() - began)
    model.to(memory_format=torch.contiguous_format)
    return best


def prefer_channels_last(model, recipe, batch, device: str, precision: str) -> tuple[bool, float, float]:
    """Whether channels-last tensors make a forward and backward pass on
    ``batch`` faster by more than ``LAYOUT_MARGIN`` (a tie keeps the contiguous
    layout); with the two timings."""
    plain = time_pass(model, recipe, batch, device, precision, False)
    dense = time_pass(model, recipe, batch, device, precision, True)
    return dense < (1 - LAYOUT_MARGIN) * plain, plain, dense


def bf16_loss_change(model, recipe, batch, device: str) -> float:
    """Relative change of the loss of ``batch`` under bf16 autocast, against fp32."""
    x = _to_device(batch, device)
    losses = []
    with _untouched(model, device), torch.no_grad():
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            with autocast(device, precision):
                losses.append(float(recipe.loss(model, x).float()))
    return abs(losses[1] - losses[0]) / max(abs(losses[0]), 1e-12)


def _has_images(batch) -> bool:
    if isinstance(batch, torch.Tensor):
        return batch.dim() == 4 and batch.is_floating_point()
    if isinstance(batch, (tuple, list)):
        return any(_has_images(item) for item in batch)
    if isinstance(batch, dict):
        return any(_has_images(item) for item in batch.values())
    return False


def _set_layout(model: torch.nn.Module, optimizer, channels_last: bool) -> None:
    """The model's 4-D tensors (and Adam's moments of them) in channels-last or contiguous memory."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape and value.dim() == 4:
                state[key] = value.contiguous(memory_format=layout)


@dataclass
class Choices:
    """How a run uses its machine, and why."""

    device: str
    precision: str
    threads: int
    workers: int
    channels_last: bool
    notes: list[str] = field(default_factory=list)


def _choose(model, recipe, first_batch, sample_seconds: float, device: str, precision: str, threads: int | None,
            workers: int | None, channels_last: bool | None) -> Choices:
    """Settle what was left to the machine, measuring on the run's first batch.

    - precision ``auto``: bf16 where the device has bf16 arithmetic, unless the
      first batch's loss moves by more than ``BF16_TOLERANCE`` under it;
    - channels-last (``None``): kept when a forward and backward pass is
      faster with it by more than ``LAYOUT_MARGIN`` (on the AVX2 CPU here it
      halves SRCNN's pass and shortens EDSR's by a third; it slows IRN's);
    - workers on a CPU (``None``, with ``threads`` not given): a worker takes a
      core from the steps, so it is started when the step it would slow down,
      measured with one thread fewer, is still shorter than making a batch plus
      a step with all of them (on 2 cores only a recipe whose batches cost about
      a step gains); on a GPU, as many workers as the cores leave, and all the
      cores as threads for the validations, which run on the CPU.
    """
    cores = machine.usable_cores()
    notes = []
    asked = precision
    precision = machine.resolve_precision(precision, device)
    if precision == "bf16":
        change = bf16_loss_change(model, recipe, first_batch, device)
        if asked == "auto" and change > BF16_TOLERANCE:
            precision = "fp32"
            notes.append(f"fp32: bf16 moved the first batch's loss by {change:.1%}")
        elif change > BF16_TOLERANCE:
            notes.append(f"bf16 as asked, though it moved the first batch's loss by {change:.1%}")
    if workers is None:
        workers = machine.default_workers(device, cores) if threads is None else 0
    # On a GPU the main process's threads run the validations (on the CPU) and little else: all the cores.
    all_threads = cores if device == "cuda" or workers is None else max(1, cores - workers)
    torch.set_num_threads(threads or all_threads)
    layout = bool(channels_last)
    step_seconds = None
    if channels_last is None and _has_images(first_batch):
        layout, plain, dense = prefer_channels_last(model, recipe, first_batch, device, precision)
        step_seconds = min(plain, dense)
        notes.append(f"{'channels-last' if layout else 'contiguous'} tensors "
                     f"(a pass: {plain:.3g} s contiguous, {dense:.3g} s channels-last)")
    if workers is None:  # a CPU with a core to spare: measure
        if step_seconds is None:
            step_seconds = time_pass(model, recipe, first_batch, device, precision, layout)
        spare = min(cores // 2, max(1, math.ceil(sample_seconds / max(step_seconds, 1e-9))))
        torch.set_num_threads(cores - spare)
        fewer = time_pass(model, recipe, first_batch, device, precision, layout)
        inline, overlapped = sample_seconds + step_seconds, max(fewer, sample_seconds / spare)
        workers = spare if overlapped < 0.95 * inline else 0
        notes.append(f"{workers} sample worker{'s' if workers != 1 else ''} (a batch: {sample_seconds:.3g} s to "
                     f"make; a pass: {step_seconds:.3g} s on {cores} threads, {fewer:.3g} s on {cores - spare})")
    threads = threads or (cores if device == "cuda" else max(1, cores - workers))
    torch.set_num_threads(threads)
    return Choices(device, precision, threads, workers, layout, notes)


def fit_steps(seconds_left: float, seconds_per_step: float, validation_seconds: float, val_every: int) -> int:
    """How many more steps fit in ``seconds_left``, with a validation every
    ``val_every`` steps and a last one at the end (3 % kept in hand)."""
    usable = 0.97 * seconds_left - validation_seconds
    per_step = seconds_per_step + validation_seconds / max(val_every, 1)
    return max(1, int(usable / max(per_step, 1e-9)))


def train(
    config: TrainConfig,
    out_dir: Path,
    run_dir: Path,
    init: Path | None = None,
    max_minutes: float | None = None,
    command: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    threads: int | None = None,
    workers: int | None = 0,
    channels_last: bool | None = None,
    recipe: Recipe | None = None,
    deadline: float | None = None,
    fit_to_time: bool = False,
    validation_seconds: float | None = None,
    note: dict | None = None,
) -> dict:
    """Train ``config.model``; resume from ``run_dir/checkpoint.pt`` when present.
    Returns the model card written beside the weights in ``out_dir``.

    ``device``: where the training steps run ("cpu" or "cuda"); the recipes'
    samples are made on the CPU and moved there, and validation, the saved
    weights and the card are always computed on the CPU, so a run moves
    between machines through its checkpoint.  ``precision`` ("fp32", "bf16",
    "auto"), ``threads``, ``workers`` and ``channels_last``: ``None`` (or
    "auto") leaves them to the machine (``_choose``).  ``recipe``: one already
    built from ``config`` (a campaign's, which judged the shipped weights on
    it).  ``deadline`` (``time.time()``) or ``max_minutes`` (from the start of
    the steps) stop the run and save; with ``fit_to_time`` the number of steps
    is set, from the speed measured after ``FIT_AFTER`` steps and again until
    half-way, so that the cosine ends with the time (``validation_seconds``: what
    a validation costs, when known).  ``note``: added to this invocation's
    entry in the card's ``runs``.  SIGTERM or SIGINT: the checkpoint is saved
    and ``TrainingStopped`` raised."""
    spec = zoo.get_spec(config.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick its fastest kernels

    if recipe is None:
        _log(f"loading images from {', '.join(config.data)}")
        recipe = recipes.build(config)
    per_epoch = recipe.patches_per_epoch()
    total = config.steps or max(1, math.ceil(config.epochs * per_epoch / config.batch))
    _log(f"{recipe.train_images} training images ({per_epoch} patches per epoch), "
         f"steps of {config.batch}: {'as many as fit in the time' if fit_to_time else total}")

    model = spec.build()
    loaded = False
    lineage: list[dict] = []
    if init is not None:
        from safetensors.torch import load_file

        wanted = model.state_dict()
        state = {k: v for k, v in load_file(str(init)).items()
                 if k in wanted and v.shape == wanted[k].shape and not recipe.starts_fresh(k)}
        model.load_state_dict(state, strict=False)
        loaded = bool(state)
        fresh = sorted(set(wanted) - set(state))
        _log(f"initialised from {init}" + (f"; starting fresh: {', '.join(fresh)}" if fresh else ""))
        # The card of the weights it started from (the same model resumed, or another whose tensors
        # fit, such as irn.x4-jpeg from irn.x4) carries on as this card's lineage, newest first.
        if loaded and cards.beside(init).exists():
            previous = cards.read(cards.beside(init))
            lineage = [previous["training"], *previous.get("lineage", [])]
    trainable = list(recipe.trainable(model))
    chosen = {id(p) for p in trainable}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in chosen)  # the rest is frozen
    model.to(device)  # before the optimizer's state is loaded, which follows its parameters' device
    optimizer = torch.optim.Adam(trainable, lr=config.lr, betas=config.betas, eps=config.eps)
    step, elapsed, history, patches_seen, runs = 0, 0.0, [], 0, []
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True, map_location="cpu")
        if state["config"]["model"] != config.model:
            raise SystemExit(f"{checkpoint} belongs to {state['config']['model']}, not {config.model}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        patches_seen = state.get("patches_seen", step * config.batch)
        runs = state.get("runs", [])
        lineage = lineage or state.get("lineage", [])
        torch.set_rng_state(state["torch_rng"])
        _log(f"resumed from {checkpoint} at step {step}")
        if "numpy_rng" in state:  # written before batches had their own seeds
            _log(f"the checkpoint predates per-step batch seeds: the batches from step {step} on are drawn "
                 f"from (seed {config.seed}, step)")
    if config.lr_schedule == "cosine" and config.lr_cycle_start > step:
        raise ValueError(f"lr_cycle_start {config.lr_cycle_start} is after the run's step {step}")
    start_step = step
    if fit_to_time:
        if deadline is None and not max_minutes:
            raise ValueError("fitting the steps to the time needs a deadline or max_minutes")
        total = step + 10**6  # provisional: fitted to the speed after FIT_AFTER steps
    if step >= total:
        _log(f"the run is already at step {step} of {total}: nothing to train")

    # The first batch, made here and timed: the machine's choices measure on it.
    began = time.perf_counter()
    first = recipe.sample(config.batch, batch_rng(config.seed, step)) if step < total else None
    sample_seconds = time.perf_counter() - began
    if first is not None:
        choices = _choose(model, recipe, first, sample_seconds, device, precision, threads, workers, channels_last)
    else:
        choices = Choices(device, machine.resolve_precision(precision, device), threads or torch.get_num_threads(),
                          0, bool(channels_last))
    _set_layout(model, optimizer, choices.channels_last)
    described = machine.describe(device, choices.precision, choices.threads, choices.workers)
    _log(f"training on {described}" + "".join(f"; {n}" for n in choices.notes))

    # One entry per invocation: a run resumed with another batch, plan or machine says so in its card.
    this_run = {"from_step": step, "batch": config.batch, "patch": config.patch,
                "steps_planned": total, "machine": described, "cpu": machine.cpu_model(),
                "gpu": machine.gpu_name() if device == "cuda" else None, "device": device,
                "precision": choices.precision, "threads": choices.threads, "workers": choices.workers,
                "channels_last": choices.channels_last, "command": command, **(note or {})}
    stepping = {"seconds": 0.0}  # time in the steps and their batches, validations and saves excluded

    def all_runs() -> list[dict]:
        seen = (step - this_run["from_step"]) * config.batch
        rate = round(seen / stepping["seconds"], 2) if stepping["seconds"] else None
        return [*runs, {**this_run, "steps_planned": total, "to_step": step, "patches_seen": seen,
                        "patches_per_second": rate}]

    def save_checkpoint() -> None:
        state = {
            "config": config.record(),
            "model": {k: v.contiguous() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "history": history,
            "patches_seen": patches_seen,
            "runs": all_runs(),
            "lineage": lineage,
            "batch_seeds": "per step: numpy default_rng([seed, step])",
            "torch_rng": torch.get_rng_state(),
        }
        write_atomically(checkpoint, lambda stream: torch.save(state, stream))

    model.train()
    started = time.time() - elapsed
    if deadline is None and max_minutes:
        deadline = time.time() + max_minutes * 60  # from the first step: loading and measuring excluded
    window = {"began": time.perf_counter(), "waited": 0.0, "steps": 0}
    fitting = {"began": None, "at": start_step, "validating": 0.0}
    running: list[torch.Tensor] = []
    stop = _StopSignals()
    with SampleStream(recipe, config.batch, config.seed, start=step + 1, workers=choices.workers) as stream, stop:
        while step < total:
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, step, total)
            began = time.perf_counter()
            batch = first if first is not None else next(stream)
            first = None
            waited = time.perf_counter() - began
            running.append(train_step(model, optimizer, recipe, batch, device, choices.precision,
                                      choices.channels_last))
            step += 1
            patches_seen += config.batch
            if device == "cuda" and step % 25 == 0:
                _sync(device)
            now = time.perf_counter()
            stepping["seconds"] += now - began
            window["waited"] += waited
            window["steps"] += 1
            elapsed = time.time() - started
            if fit_to_time and step - start_step == 1:
                fitting["began"], fitting["at"] = now, step  # the first step warms up: measured after it
            measured = step - fitting["at"]
            if (fit_to_time and fitting["began"] is not None and measured >= FIT_AFTER and measured % FIT_AFTER == 0
                    and step - start_step < 0.5 * (total - start_step)):
                # Checkpoints count in the time of a step; validations have their own term.
                per_step = (now - fitting["began"] - fitting["validating"]) / measured
                total = step + fit_steps(deadline - time.time(), per_step, validation_seconds or 0.0,
                                         config.val_every)
            if step % 25 == 0 or step == total:
                mean = float(torch.stack(running).float().mean())
                running = []
                span = now - window["began"]
                _log(f"step {step}/{total} loss {mean:.6f} lr {optimizer.param_groups[0]['lr']:.2e} "
                     f"{span / window['steps']:.2f}s/step, {window['steps'] * config.batch / span:.1f} patches/s, "
                     f"{window['waited'] / span:.0%} of the time waiting for data")
                window = {"began": time.perf_counter(), "waited": 0.0, "steps": 0}
            paused = time.perf_counter()
            if step % config.val_every == 0 or step == total:
                result = recipe.validate(model.cpu())
                model.to(device)
                took = time.perf_counter() - paused
                validation_seconds = validation_seconds or took
                fitting["validating"] += took
                history.append({"step": step, **result})
                _log(f"validation at step {step}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float)))
            if step % config.checkpoint_every == 0 or step == total:
                save_checkpoint()
            window["began"] += time.perf_counter() - paused  # the log's rate is the steps'
            if stop.received is not None:
                save_checkpoint()
                stopped = TrainingStopped(stop.received, step, checkpoint)
                _log(str(stopped))
                raise stopped
            if deadline and time.time() > deadline:
                _log(f"time budget reached at step {step} of {total}")
                total_was = total
                save_checkpoint()
                if fit_to_time:
                    total = step  # the card says what was done, not the provisional plan
                    this_run["steps_planned_at_stop"] = total_was
                break

    model.cpu()
    model.to(memory_format=torch.contiguous_format)
    if history and history[-1]["step"] == step:
        validation = {k: v for k, v in history[-1].items() if k != "step"}  # computed just now
    else:
        validation = recipe.validate(model)
    weights = zoo.weights_path(config.model, out_dir)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    write_atomically(weights, lambda stream: stream.write(safetensors.torch.save(state)))
    card = _card(config, spec, model, recipe, step, total, elapsed, validation, history, command, init, described,
                 patches_seen, all_runs())
    card.update(recipe.calibrate(model))
    if lineage:
        card["lineage"] = lineage
    card_file = cards.card_path(config.model, out_dir)
    previous = cards.read(card_file, missing={})
    if "metrics" in previous and previous.get("training", {}).get("steps_done") == step:
        card["metrics"] = previous["metrics"]
    cards.write(card_file, card)
    _log(f"wrote {weights} and {card_file}")
    return card


def _to_device(batch, device: str, channels_last: bool = False):
    """A recipe's sample (tensors, alone or in tuples, lists and dicts) moved to
    ``device``; with ``channels_last``, its 4-D float tensors in that layout."""
    if isinstance(batch, torch.Tensor):
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            return batch.to(device, memory_format=torch.channels_last, non_blocking=True)
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device, channels_last) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device, channels_last) for key, value in batch.items()}
    return batch


def _card(config, spec, model, recipe, step, total, elapsed, validation, history, command, init, described,
          patches_seen, runs) -> dict:
    parameters = sum(p.numel() for p in model.parameters())
    about = recipe.card(spec.arch, parameters)
    return {
        "name": config.model,
        "arch": spec.arch,
        "architecture": {"class": type(model).__name__, "arguments": spec.arch_kwargs},
        "task": about["task"],
        "summary": about["summary"],
        "scale": about.get("scale", 1),
        "colour": about["colour"],
        **({"why": about["why"]} if "why" in about else {}),  # a recipe's design decisions, in a sentence or two
        "parameters": parameters,
        "training": {
            "data": config.data,
            "images": recipe.train_images,
            "degradation": about["degradation"],
            "target": about["target"],
            "config": config.record(),
            "steps_planned": total,
            "steps_done": step,
            "patches_seen": patches_seen,
            "seconds": round(elapsed),
            "machine": described,
            "initialised_from": str(init) if init else None,
            "command": command,
            "runs": runs,
        },
        "validation": {"held_out": "every k-th training image, k = 1 / val_fraction", **validation},
        "history": history,
        "metrics": {},
    }
