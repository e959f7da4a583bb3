"""--device / set_device: where the networks run.

A machine without a GPU still checks the moving of networks and tensors: a
second CPU device (``cpu:0``, which PyTorch treats as a device other than the
default ``cpu``) takes the path a GPU takes, and must give the same pixels as
the CPU in fp32.  The tests on a real GPU run only where PyTorch sees one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import pixrescue
from helpers import decode, jpeg_bytes
from pixrescue import runner
from pixrescue.cli import main

has_cuda = torch.cuda.is_available()
STAND_IN = torch.device("cpu", 0)  # "another device" on a machine without one


@pytest.fixture
def small_photo(photo) -> Image.Image:
    return photo.crop((40, 30, 232, 190))  # 192x160: quick for every network


@pytest.fixture
def jpeg_photo(small_photo) -> Image.Image:
    return decode(jpeg_bytes(small_photo, 15))


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        pixrescue.set_device("gpu")
    assert runner.current_device_choice() == "auto"


@pytest.mark.skipif(has_cuda, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_clear_error_and_writes_nothing(tmp_path, small_photo):
    source = tmp_path / "in.jpg"
    small_photo.save(source, quality=20)
    result = CliRunner().invoke(main, ["fix", str(source), "-o", str(tmp_path / "out.png"), "--device", "cuda"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda") and "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(runner.DeviceError):
        pixrescue.set_device("cuda")


def test_cpu_is_the_default_where_there_is_no_gpu():
    pixrescue.set_device("auto")
    assert runner.device() == (torch.device("cuda") if has_cuda else runner.CPU)
    pixrescue.set_device("cpu")
    assert runner.device() == runner.CPU


def _every_task(jpeg_photo, small_photo) -> dict[str, np.ndarray]:
    shrunk = pixrescue.shrink(small_photo, 2)
    fingerprints = pixrescue.fingerprint(small_photo)
    return {
        "fix": np.asarray(pixrescue.restore(jpeg_photo)),
        "upscale": np.asarray(pixrescue.upscale(small_photo, 2)),
        "deblur": np.asarray(pixrescue.deblur(small_photo)),
        "shrink": np.asarray(shrunk.frames[0]),
        "expand": np.asarray(pixrescue.expand(shrunk).frames[0]),
        "fingerprint": np.concatenate([fingerprints[name].ravel() for name in ("ae", "cnn")]),
    }


def test_another_device_gives_the_cpus_fp32_pixels(monkeypatch, jpeg_photo, small_photo):
    pixrescue.set_precision("fp32")  # what a network placed on another device computes in
    on_cpu = _every_task(jpeg_photo, small_photo)
    monkeypatch.setattr(runner, "device", lambda: STAND_IN)
    elsewhere = _every_task(jpeg_photo, small_photo)
    moved = {type(module).__name__ for module, copies in runner._placed.items() if STAND_IN in copies}
    assert {"QGUNet", "EDSR", "DeblurUNet", "IRN", "ConvAutoencoder", "EmbeddingCNN"} <= moved, moved
    for task, pixels in on_cpu.items():
        assert elsewhere[task].shape == pixels.shape, task
        assert np.array_equal(elsewhere[task], pixels), f"{task} differs on another device"


def test_a_network_is_copied_to_a_device_once_and_the_cpu_one_is_left_alone(small_photo):
    from pixrescue import zoo

    network = zoo.load_model("edsr.sr-x234")
    first = runner.placed(network, STAND_IN)
    assert first is not network and runner.placed(network, STAND_IN) is first
    assert runner.placed(network, runner.CPU) is network


@pytest.mark.skipif(not has_cuda, reason="needs a CUDA GPU")
def test_on_a_gpu_every_task_stays_within_one_level_of_the_cpu(jpeg_photo, small_photo):
    pixrescue.set_precision("fp32")
    pixrescue.set_device("cpu")
    on_cpu = _every_task(jpeg_photo, small_photo)
    pixrescue.set_device("cuda")
    on_gpu = _every_task(jpeg_photo, small_photo)
    for task in ("fix", "upscale", "deblur", "shrink", "expand"):
        difference = np.abs(on_gpu[task].astype(int) - on_cpu[task].astype(int))
        assert difference.max() <= 1, task
    assert np.abs(on_gpu["fingerprint"] - on_cpu["fingerprint"]).max() < 1e-3
