"""Training data for JPEG artifact removal: degraded / clean pairs and patches."""

from __future__ import annotations

import collections
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..imaging import load
from ..imaging.io import find_images, flatten
from ..imaging.jpeg import compress

TARGETS = ("q100", "original")


def limit_side(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` shrunk (Lanczos) so that its long side is at most ``max_side``."""
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    return image


@dataclass(frozen=True)
class JpegPair:
    """Input compressed at ``quality``; target the clean image or its q100 copy."""

    quality: int = 10
    target: str = "q100"

    def __call__(self, clean: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        degraded = compress(clean, self.quality)
        wanted = compress(clean, 100) if self.target == "q100" else clean
        return np.asarray(degraded), np.asarray(wanted)


def warn(message: str) -> None:
    """One line on stderr, timed like the training log."""
    print(time.strftime("%H:%M:%S"), "warning:", message, file=sys.stderr, flush=True)


def load_clean_images(folders: list[str | Path], max_side: int | None, mode: str | None = "L") -> list[Image.Image]:
    """Every readable image under ``folders`` (recursively), first frame only,
    converted to ``mode``; ``None`` keeps grayscale as L and makes the rest RGB.
    An unreadable or corrupt file is skipped with a one-line warning naming it:
    one bad picture in a folder of thousands does not stop a run."""
    images = []
    for path in find_images(list(folders), recursive=True):
        try:
            frame = load(path).image
            frame = flatten(frame, (255, 255, 255))
            frame = frame.convert(mode or ("L" if frame.mode == "L" else "RGB"))
            frame.load()
        except MemoryError:
            raise
        except Exception as exc:  # ImageLoadError, or a decoder's error that slipped through
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            warn(f"skipped unreadable image {path}: {reason}")
            continue
        if min(frame.size) >= 16:
            images.append(limit_side(frame, max_side))
    return images


def split(items: list, fraction: float) -> tuple[list, list]:
    """Deterministic hold-out: every k-th item goes to validation."""
    if fraction <= 0 or len(items) < 4:
        return items, []
    k = max(2, round(1 / fraction))
    return [x for i, x in enumerate(items) if i % k], [x for i, x in enumerate(items) if not i % k]


def photos_and_held_out(config, held_out_side: int) -> tuple[list[Image.Image], list[Image.Image]]:
    """``config``'s pictures (colour or gray, as they are), split as ``split`` does:
    the training ones at least a patch and 32 pixels wide, the held-out ones at least
    ``held_out_side`` and 32 (crops of both are cut with room for blur kernels)."""
    train, held_out = split(load_clean_images(config.data, config.max_side, mode=None), config.val_fraction)
    return ([im for im in train if min(im.size) >= config.patch + 32],
            [im for im in held_out if min(im.size) >= held_out_side + 32])


def patches_in(images: list[Image.Image], patch: int) -> int:
    """How many ``patch``-sized patches the pictures hold without overlap (an epoch)."""
    return sum((im.width // patch) * (im.height // patch) for im in images)


class PatchSampler:
    """Random aligned crops of (input, target) pairs, with flips and 90° turns."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], patch: int) -> None:
        self.pairs = [p for p in pairs if min(p[0].shape[:2]) >= patch]
        if not self.pairs:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch = patch

    def patches_per_epoch(self) -> int:
        return sum((a.shape[0] // self.patch) * (a.shape[1] // self.patch) for a, _ in self.pairs)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.patch
        xs, ys = [], []
        for index in rng.integers(len(self.pairs), size=batch):
            degraded, clean = self.pairs[index]
            top = rng.integers(degraded.shape[0] - p + 1)
            left = rng.integers(degraded.shape[1] - p + 1)
            x = degraded[top : top + p, left : left + p]
            y = clean[top : top + p, left : left + p]
            turns, flip = rng.integers(4), rng.integers(2)
            x, y = np.rot90(x, turns), np.rot90(y, turns)
            if flip:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        return to_batch(xs), to_batch(ys)


def to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxW or HxWxC arrays -> float NCHW tensor in [0, 1]."""
    stacked = np.stack([np.ascontiguousarray(a) for a in arrays])
    if stacked.ndim == 3:
        stacked = stacked[:, None]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked)).float().div_(255.0)


# --- Batches for the training loop, made in-line or by worker processes -------------------------

def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The generator that draws batch ``step`` of a run seeded ``seed``: each
    batch has its own (numpy's SeedSequence of the pair), so batch k is the
    same however many workers make the batches, and a resumed run needs only
    its step to carry on with the batches it would have drawn."""
    return np.random.default_rng([seed, step])


class _Tensor:
    """A tensor as it travels from a worker: its array, pickled by value (not through
    torch's shared-memory reductions, which a container's small /dev/shm can break)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _freeze(item):
    if isinstance(item, torch.Tensor):
        return _Tensor(item.detach().cpu().contiguous().numpy())
    if isinstance(item, (tuple, list)):
        return type(item)(_freeze(x) for x in item)
    if isinstance(item, dict):
        return {key: _freeze(value) for key, value in item.items()}
    return item


def _thaw(item):
    if isinstance(item, _Tensor):
        return torch.from_numpy(item.array)
    if isinstance(item, (tuple, list)):
        return type(item)(_thaw(x) for x in item)
    if isinstance(item, dict):
        return {key: _thaw(value) for key, value in item.items()}
    return item


_WORKER_RECIPE = None


def _start_worker(recipe, parent: int) -> None:
    """In each worker: the recipe (inherited through fork, not pickled), one torch
    thread, Ctrl-C left to the main process (which stops the workers itself)
    and SIGTERM's default action, so that stopping a worker stops it; on Linux
    the worker also ends when the main process dies, even killed outright."""
    import os
    import signal

    global _WORKER_RECIPE
    _WORKER_RECIPE = recipe
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the main process died before that
        os._exit(0)


def _make_batch(batch: int, seed: int, step: int):
    return _freeze(_WORKER_RECIPE.sample(batch, batch_rng(seed, step)))


class SampleStream:
    """Batch ``start``, ``start + 1``, ... of ``recipe`` (``recipe.sample(batch, batch_rng(seed, step))``).

    ``workers`` = 0 makes each batch when it is asked for; more start that many
    processes (forked: they share the recipe's decoded pictures) which make the
    next batches while the training steps run, ``2 * workers`` ahead at most.
    The order and the content are the same either way.  Use it as a context
    manager, or call ``close``."""

    def __init__(self, recipe, batch: int, seed: int, start: int = 0, workers: int = 0) -> None:
        self.recipe, self.batch, self.seed, self.next_step = recipe, batch, seed, start
        self.workers = workers
        self._pending: collections.deque = collections.deque()
        self._pool = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            if method is None:
                raise RuntimeError("sample workers need the 'fork' start method (Linux, macOS); use --workers 0")
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_start_worker, initargs=(recipe, os.getpid()))
            self._submitted = start

    def __iter__(self):
        return self

    def __next__(self):
        step = self.next_step
        self.next_step += 1
        if self._pool is None:
            return self.recipe.sample(self.batch, batch_rng(self.seed, step))
        while self._submitted < step + 2 * self.workers:
            self._pending.append(self._pool.submit(_make_batch, self.batch, self.seed, self._submitted))
            self._submitted += 1
        return _thaw(self._pending.popleft().result())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "SampleStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
