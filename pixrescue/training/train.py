"""The one training loop: resumable, logs loss and validation PSNR, writes
``.safetensors`` weights and a JSON model card.

The default configuration is the seed recipe for the JPEG models: grayscale,
long side limited to 320 px, input compressed at quality 10, target the same
image at quality 100, random 64x64 patches, Adam with Keras defaults
(lr 1e-3, betas 0.9/0.999, eps 1e-7), batch 256, 24 epochs (an epoch being as
many patches as the training images hold without overlap), MSE loss.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from .. import zoo
from .tasks import TASKS


@dataclass
class TrainConfig:
    model: str
    data: list[str] = field(default_factory=list)
    quality: int = 10
    target: str = "q100"
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
    only: str = "all"  # "estimator": train the blind model's quality estimator alone, the rest frozen
    guide_weight: float | None = None  # rescaling: weight of the small picture's pull to bicubic (None: the task's)


def _log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def _learning_rate(config: TrainConfig, step: int, total: int) -> float:
    if config.lr_schedule == "cosine":
        floor = 0.01 * config.lr
        return floor + 0.5 * (config.lr - floor) * (1 + math.cos(math.pi * min(step / total, 1.0)))
    return config.lr


def _save_atomically(write, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.part")
    write(temporary)
    os.replace(temporary, path)


def train(
    config: TrainConfig,
    out_dir: Path,
    run_dir: Path,
    init: Path | None = None,
    max_minutes: float | None = None,
    command: str | None = None,
    device: str = "cpu",
) -> dict:
    """Train ``config.model``; resume from ``run_dir/checkpoint.pt`` when present.
    Returns the model card written beside the weights in ``out_dir``.

    ``device``: where the training steps run ("cpu" or "cuda"); the tasks'
    samples are made on the CPU and moved there, and validation, the saved
    weights and the card are always computed on the CPU, so a run moves
    between machines through its checkpoint."""
    spec = zoo.get_spec(config.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    _log(f"loading images from {', '.join(config.data)}")
    task = TASKS[spec.trainer](config)
    per_epoch = task.patches_per_epoch()
    total = config.steps or max(1, math.ceil(config.epochs * per_epoch / config.batch))
    _log(f"{task.train_images} training images ({per_epoch} patches per epoch), {total} steps of {config.batch}")

    model = spec.build()
    loaded = False
    if init is not None:
        from safetensors.torch import load_file

        wanted = model.state_dict()
        state = {k: v for k, v in load_file(str(init)).items()
                 if k in wanted and v.shape == wanted[k].shape
                 and not (config.only == "estimator" and k.startswith("estimator."))}
        model.load_state_dict(state, strict=False)
        loaded = bool(state)
        fresh = sorted(set(wanted) - set(state))
        _log(f"initialised from {init}" + (f"; starting fresh: {', '.join(fresh)}" if fresh else ""))
    if config.only == "estimator":
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("estimator."))
    model.to(device)  # before the optimizer's state is loaded, which follows its parameters' device
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=config.betas, eps=config.eps)
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
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        _log(f"resumed from {checkpoint} at step {step}")

    # One entry per invocation: a run resumed with another batch, plan or machine says so in its card.
    this_run = {"from_step": step, "batch": config.batch, "patch": config.patch,
                "steps_planned": total, "machine": _machine(device), "command": command}

    def all_runs() -> list[dict]:
        return [*runs, {**this_run, "to_step": step}]

    def save_checkpoint() -> None:
        state = {
            "config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "history": history,
            "patches_seen": patches_seen,
            "runs": all_runs(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        _save_atomically(lambda p: torch.save(state, p), checkpoint)

    model.train()
    started = time.time() - elapsed
    deadline = time.time() + max_minutes * 60 if max_minutes else None
    running = []
    while step < total:
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step, total)
        loss = task.loss(model, _to_device(task.sample(config.batch, rng), device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        patches_seen += config.batch
        running.append(loss.item())
        elapsed = time.time() - started
        if step % 25 == 0 or step == total:
            mean = float(np.mean(running))
            running = []
            _log(f"step {step}/{total} loss {mean:.6f} "
                 f"lr {optimizer.param_groups[0]['lr']:.2e} {elapsed / step:.2f}s/step")
        if step % config.val_every == 0 or step == total:
            result = task.validate(model.cpu())
            model.to(device)
            history.append({"step": step, **result})
            _log(f"validation at step {step}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float)))
        if step % config.checkpoint_every == 0 or step == total:
            save_checkpoint()
        if deadline and time.time() > deadline:
            _log(f"time budget of {max_minutes} min reached at step {step}")
            save_checkpoint()
            break

    model.cpu()
    validation = task.validate(model)
    weights = zoo.weights_path(config.model, out_dir)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    _save_atomically(lambda p: save_file(state, str(p)), weights)
    card = _card(config, spec, model, task, step, total, elapsed, validation, history, command, init, device,
                 patches_seen, all_runs())
    if hasattr(task, "calibrate"):
        card.update(task.calibrate(model))
    # The card of the weights it started from (the same model resumed, or another whose tensors
    # fit, such as irn.x4-jpeg from irn.x4) carries on as this card's lineage, newest first.
    if loaded and zoo.card_path(init.stem, init.parent).exists():
        previous = json.loads(zoo.card_path(init.stem, init.parent).read_text())
        card["lineage"] = [previous["training"], *previous.get("lineage", [])]
    card_file = zoo.card_path(config.model, out_dir)
    previous = json.loads(card_file.read_text()) if card_file.exists() else {}
    if "metrics" in previous and previous.get("training", {}).get("steps_done") == step:
        card["metrics"] = previous["metrics"]
    _save_atomically(lambda p: p.write_text(json.dumps(card, indent=2) + "\n"), card_file)
    _log(f"wrote {weights} and {card_file}")
    return card


def _to_device(batch, device: str):
    """A task's sample (tensors, alone or in tuples, lists and dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch


def _machine(device: str) -> str:
    if device == "cuda":
        # cuDNN's default lets convolutions use TF32 on GPUs that have it.
        return f"{torch.cuda.get_device_name()} GPU, fp32 (TF32 convolutions)"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, fp32"


def _card(config, spec, model, task, step, total, elapsed, validation, history, command, init, device,
          patches_seen, runs) -> dict:
    parameters = sum(p.numel() for p in model.parameters())
    about = task.card(spec.arch, parameters)
    return {
        "name": config.model,
        "arch": spec.arch,
        "task": about["task"],
        "summary": about["summary"],
        "scale": about.get("scale", 1),
        "colour": about["colour"],
        "parameters": parameters,
        "training": {
            "data": config.data,
            "images": task.train_images,
            "degradation": about["degradation"],
            "target": about["target"],
            "config": asdict(config),
            "steps_planned": total,
            "steps_done": step,
            "patches_seen": patches_seen,
            "seconds": round(elapsed),
            "machine": _machine(device),
            "initialised_from": str(init) if init else None,
            "command": command,
            "runs": runs,
        },
        "validation": {"held_out": "every k-th training image, k = 1 / val_fraction", **validation},
        "history": history,
        "metrics": {},
    }
