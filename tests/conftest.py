from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from helpers import jpeg_bytes


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real colour photograph shipped with scikit-image (CC0), 451x300."""
    return Image.fromarray(data.chelsea())


@pytest.fixture(scope="session")
def gray_photo() -> Image.Image:
    """The 512x512 'camera' photograph shipped with scikit-image."""
    return Image.fromarray(data.camera())


@pytest.fixture
def write_jpeg(tmp_path: Path):
    def write(image: Image.Image, name: str = "in.jpg", quality: int = 10, **options) -> Path:
        path = tmp_path / name
        path.write_bytes(jpeg_bytes(image, quality, **options))
        return path

    return write
