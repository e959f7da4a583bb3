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
from .data import JpegPair, PatchSampler, load_clean_images, to_batch
from .metrics import psnr


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


def _log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def _split(items: list, fraction: float) -> tuple[list, list]:
    """Deterministic hold-out: every k-th item goes to validation."""
    if fraction <= 0 or len(items) < 4:
        return items, []
    k = max(2, round(1 / fraction))
    return [x for i, x in enumerate(items) if i % k], [x for i, x in enumerate(items) if not i % k]


@torch.no_grad()
def validate(model: torch.nn.Module, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean PSNR against the clean image, of the degraded input and of the output."""
    model.eval()
    raw, restored = [], []
    for degraded, clean in pairs:
        out = model(to_batch([degraded])).clamp(0, 1)
        out = (out[0, 0].numpy() * 255.0).round().astype(np.uint8)
        raw.append(psnr(clean, degraded))
        restored.append(psnr(clean, out))
    model.train()
    return {"psnr_input": float(np.mean(raw)), "psnr_output": float(np.mean(restored)), "images": len(pairs)}


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
) -> dict:
    """Train ``config.model``; resume from ``run_dir/checkpoint.pt`` when present.
    Returns the model card written beside the weights in ``out_dir``."""
    spec = zoo.get_spec(config.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    _log(f"loading images from {', '.join(config.data)}")
    images = load_clean_images(config.data, config.max_side, gray=True)
    train_images, val_images = _split(images, config.val_fraction)
    degrade = JpegPair(config.quality, config.target)
    sampler = PatchSampler([degrade(im) for im in train_images], config.patch)
    val_pairs = [(degrade(im)[0], np.asarray(im)) for im in val_images[:16]]
    per_epoch = sampler.patches_per_epoch()
    total = config.steps or max(1, math.ceil(config.epochs * per_epoch / config.batch))
    _log(f"{len(sampler.pairs)} training images ({per_epoch} patches per epoch), "
         f"{len(val_pairs)} validation images, {total} steps of {config.batch}")

    model = spec.build()
    if init is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(init)))
        _log(f"initialised from {init}")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps)
    step, elapsed, history = 0, 0.0, []
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        if state["config"]["model"] != config.model:
            raise SystemExit(f"{checkpoint} belongs to {state['config']['model']}, not {config.model}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        _log(f"resumed from {checkpoint} at step {step}")

    def save_checkpoint() -> None:
        state = {
            "config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "history": history,
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
        x, y = sampler.sample(config.batch, rng)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        running.append(loss.item())
        elapsed = time.time() - started
        if step % 25 == 0 or step == total:
            mean = float(np.mean(running))
            running = []
            _log(f"step {step}/{total} loss {mean:.6f} ({mean and 10 * math.log10(1 / mean):.2f} dB) "
                 f"lr {optimizer.param_groups[0]['lr']:.2e} {elapsed / step:.2f}s/step")
        if val_pairs and (step % config.val_every == 0 or step == total):
            result = validate(model, val_pairs)
            history.append({"step": step, **result})
            _log(f"validation at step {step}: input {result['psnr_input']:.2f} dB -> "
                 f"output {result['psnr_output']:.2f} dB")
        if step % config.checkpoint_every == 0 or step == total:
            save_checkpoint()
        if deadline and time.time() > deadline:
            _log(f"time budget of {max_minutes} min reached at step {step}")
            save_checkpoint()
            break

    validation = validate(model, val_pairs) if val_pairs else {}
    weights = zoo.weights_path(config.model, out_dir)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    _save_atomically(lambda p: save_file(state, str(p)), weights)
    card = _card(config, spec, model, step, total, elapsed, len(sampler.pairs), validation, history, command, init)
    card_file = zoo.card_path(config.model, out_dir)
    previous = json.loads(card_file.read_text()) if card_file.exists() else {}
    if "metrics" in previous and previous.get("training", {}).get("steps_done") == step:
        card["metrics"] = previous["metrics"]
    _save_atomically(lambda p: p.write_text(json.dumps(card, indent=2) + "\n"), card_file)
    _log(f"wrote {weights} and {card_file}")
    return card


def _card(config, spec, model, step, total, elapsed, n_train, validation, history, command, init) -> dict:
    parameters = sum(p.numel() for p in model.parameters())
    return {
        "name": config.model,
        "arch": spec.arch,
        "task": "jpeg-artifact-removal",
        "summary": f"{spec.arch} ({parameters:,} parameters), grayscale, trained on JPEG quality "
        f"{config.quality}; colour images are restored one channel at a time",
        "scale": 1,
        "colour": "grayscale network; colour images go through it one RGB channel at a time",
        "parameters": parameters,
        "training": {
            "data": config.data,
            "images": n_train,
            "degradation": f"grayscale image saved by Pillow (IJG libjpeg) at JPEG quality {config.quality}",
            "target": {"q100": "the same image saved at JPEG quality 100",
                       "original": "the clean image"}[config.target],
            "config": asdict(config),
            "steps_planned": total,
            "steps_done": step,
            "patches_seen": step * config.batch,
            "seconds": round(elapsed),
            "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, fp32",
            "initialised_from": str(init) if init else None,
            "command": command,
        },
        "validation": {"held_out": "every k-th training image, k = 1 / val_fraction", **validation},
        "history": history,
        "metrics": {},
    }
