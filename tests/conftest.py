from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from helpers import chelsea, jpeg_bytes


def pytest_configure(config):
    config.addinivalue_line("markers", "quality: measures what a shipped model achieves (select with -m quality)")
    # Networks converted for OpenVINO go to a folder of this run, not the user's cache.
    os.environ.setdefault("PIXRESCUE_CACHE", tempfile.mkdtemp(prefix="pixrescue-test-cache-"))


if os.environ.get("PIXRESCUE_TEST_IDENTITY") == "1":

    @pytest.fixture(autouse=True)
    def _stand_in_models(monkeypatch):
        """Only for checking that quality tests can fail: see tests/identity.py."""
        from identity import load_stand_in

        from pixrescue import runner, zoo

        monkeypatch.setattr(zoo, "load_model", load_stand_in)
        monkeypatch.setattr(runner, "openvino_choice", lambda model: None)  # the stand-ins run in PyTorch


@pytest.fixture(autouse=True)
def _threads_and_precision_restored():
    """A test that sets torch's threads, the precision or the device (a command run in-process
    with --threads, --precision or --device does) leaves them as they were for the next test."""
    import torch

    from pixrescue import runner

    threads, precision, device = torch.get_num_threads(), runner.current_precision(), runner.current_device_choice()
    yield
    torch.set_num_threads(threads)
    runner.set_precision(precision)
    runner.set_device(device)


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real colour photograph shipped with scikit-image (CC0), 451x300."""
    return chelsea()


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
