"""Inference precision: bf16 autocast only where the card allows it and the CPU
computes in bf16, the user's --precision reaching the network, and bf16 output
within one level of fp32 on a real photograph."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

from helpers import jpeg_bytes, watch_network_calls
from pixrescue import runner, set_precision, zoo
from pixrescue.cli import main
from pixrescue.imaging.jpeg import round_trip
from pixrescue.tasks.restore import restore_frame
from pixrescue.tasks.upscale import enlarge_with_model


@pytest.fixture(autouse=True)
def back_to_auto():
    yield
    set_precision("auto")


def allowed_by_card(monkeypatch, allowed: bool) -> None:
    real = zoo.load_card

    def card(name):
        found = dict(real(name))
        found["inference"] = {**found.get("inference", {}), "bf16": {"allowed": allowed}}
        return found

    monkeypatch.setattr(zoo, "load_card", card)


@pytest.mark.parametrize(("cpu", "card", "expected"), [(True, True, True), (True, False, False),
                                                       (False, True, False), (False, False, False)])
def test_auto_uses_bf16_only_where_the_card_allows_and_the_cpu_has_it(monkeypatch, cpu, card, expected):
    from pixrescue.training import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: cpu)
    allowed_by_card(monkeypatch, card)
    assert runner.uses_bf16("qgunet.jpeg-blind") is expected
    set_precision("fp32")
    assert runner.uses_bf16("qgunet.jpeg-blind") is False
    set_precision("bf16")
    assert runner.uses_bf16("qgunet.jpeg-blind") is True


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        set_precision("fp8")
    result = CliRunner().invoke(main, ["fix", "x.jpg", "--precision", "fp8"])
    assert result.exit_code != 0 and "fp8" in result.output


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_reaches_the_network(tmp_path, monkeypatch, precision):
    """--precision decides whether the network call runs under bf16 autocast (observed inside it)."""
    seen = watch_network_calls(monkeypatch, lambda: torch.is_autocast_enabled("cpu"))
    source = tmp_path / "a.jpg"
    source.write_bytes(jpeg_bytes(Image.new("RGB", (40, 32), (200, 90, 30)), 20))
    result = CliRunner().invoke(main, ["fix", str(source), "-o", str(tmp_path / "a.png"), "--precision", precision])
    assert result.exit_code == 0, result.output
    assert seen and all(enabled == (precision == "bf16") for enabled in seen)


def astronaut(side: int = 128) -> Image.Image:
    return Image.fromarray(skdata.astronaut()).crop((96, 64, 96 + side, 64 + side))


def outputs(job) -> tuple[np.ndarray, np.ndarray]:
    set_precision("fp32")
    a = np.asarray(job()).astype(int)
    set_precision("bf16")
    b = np.asarray(job()).astype(int)
    return a, b


@pytest.mark.parametrize("model", ["qgunet.jpeg-blind", "edsr.sr-x234"])
def test_bf16_keeps_the_network_output_within_one_level_of_fp32(model):
    """The rule the cards' ``inference.bf16`` follows, on a real photograph: a
    network that bf16 moves by more than one level may not use it."""
    if not zoo.load_card(model).get("inference", {}).get("bf16", {}).get("allowed"):
        pytest.skip(f"{model}: bf16 is not allowed by its card")
    if zoo.get_spec(model).task == "jpeg":
        degraded, info = round_trip(astronaut(), 20)
        fp32, bf16 = outputs(lambda: restore_frame(degraded, model, jpeg=info, project=False))
        reference = np.asarray(degraded).astype(int)
    else:
        small = astronaut().resize((64, 64), Image.BICUBIC)
        fp32, bf16 = outputs(lambda: enlarge_with_model(small, 2, model))
        reference = np.asarray(small.resize((128, 128), Image.BICUBIC)).astype(int)
    assert np.abs(fp32 - reference).max() > 1  # the network changed the picture: the comparison means something
    assert np.abs(fp32 - bf16).max() <= 1
