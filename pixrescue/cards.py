"""Model cards: the JSON file beside each weights file that says what the
model is, how it was trained and what it measured.  This module is the one
place that finds, reads and writes them (atomically)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import write_atomically

WEIGHTS_DIR = Path(__file__).parent / "weights"


def card_path(name: str, directory: str | os.PathLike = WEIGHTS_DIR) -> Path:
    """Where the card of the model ``name`` lives in ``directory``."""
    return Path(directory) / f"{name}.json"


def beside(weights: str | os.PathLike) -> Path:
    """The card that belongs to a ``.safetensors`` weights file."""
    return Path(weights).with_suffix(".json")


def read(path: str | os.PathLike, missing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card at ``path``; ``missing`` (when given) if there is no file."""
    path = Path(path)
    if missing is not None and not path.exists():
        return dict(missing)
    return json.loads(path.read_text())


def write(path: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Write ``card`` to ``path`` atomically (indented JSON, a final newline)."""
    text = json.dumps(card, indent=2) + "\n"
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def update(path: str | os.PathLike, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read the card at ``path``, let ``change`` modify it in place, write it back atomically."""
    card = read(path)
    change(card)
    write(path, card)
    return card
