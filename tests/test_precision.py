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


def openvino_allowed(model: str) -> bool | None:
    from pixrescue import openvino_runtime

    if not openvino_runtime.installed():
        pytest.skip("the openvino extra is not installed")
    choice = runner.openvino_choice(model)
    if choice is None:
        pytest.skip(f"{model}: its card does not allow OpenVINO on this processor")
    return choice


@pytest.mark.parametrize("bf16_cpu", [True, False], ids=["bf16-cpu", "cpu-without-bf16"])
@pytest.mark.parametrize("model", ["qgunet.jpeg-blind", "edsr.sr-x234", "deblurunet.blind"])
def test_openvino_keeps_the_network_output_within_one_level_of_pytorch_fp32(model, bf16_cpu, monkeypatch):
    from pixrescue.tasks.deblur import deblur_frame

    from pixrescue import openvino_runtime
    from pixrescue.training import machine

    # Both of auto's choices, whatever this processor has: OpenVINO's bf16 hint where the
    # CPU computes in bf16, its fp32 elsewhere (the hint is what the compiled network is told).
    if bf16_cpu and not machine.cpu_has_bf16():
        pytest.skip("this CPU has no bf16 instructions: auto never gives OpenVINO the bf16 hint here")
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda *args, **kwargs: bf16_cpu)
    openvino_allowed(model)
    calls = []
    real = openvino_runtime.compiled

    def compiled(*args):
        made = real(*args)
        calls.append(made)
        return made

    monkeypatch.setattr(openvino_runtime, "compiled", compiled)
    spec = zoo.get_spec(model)
    if spec.task == "jpeg":
        degraded, info = round_trip(astronaut(), 20)
        job = lambda: restore_frame(degraded, model, jpeg=info, project=False)  # noqa: E731
    elif spec.task == "deblur":
        from PIL import ImageFilter

        soft = astronaut().filter(ImageFilter.GaussianBlur(1.5))
        job = lambda: deblur_frame(soft, model)  # noqa: E731
    else:
        small = astronaut().resize((64, 64), Image.BICUBIC)
        job = lambda: enlarge_with_model(small, 2, model)  # noqa: E731
    set_precision("fp32")
    pytorch = np.asarray(job()).astype(int)
    set_precision("auto")
    compiled = np.asarray(job()).astype(int)
    assert calls and all(made is not None for made in calls)  # OpenVINO ran
    assert np.abs(pytorch - compiled).max() <= 1


def test_without_openvino_or_when_it_fails_pytorch_runs(monkeypatch, capsys):
    from pixrescue import openvino_runtime

    model = "qgunet.jpeg-blind"
    degraded, info = round_trip(astronaut(64), 30)
    set_precision("fp32")
    expected = np.asarray(restore_frame(degraded, model, jpeg=info, project=False))
    set_precision("auto")
    from pixrescue.training import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)  # PyTorch's fallback is then fp32 too
    monkeypatch.setattr(runner, "openvino_choice", lambda name: False)  # as a card allowing it would say
    monkeypatch.setattr(openvino_runtime, "installed", lambda: False)
    assert np.array_equal(np.asarray(restore_frame(degraded, model, jpeg=info, project=False)), expected)

    monkeypatch.setattr(openvino_runtime, "installed", lambda: True)

    def broken(*args):
        raise RuntimeError("conversion failed\nsecond line")

    monkeypatch.setattr(openvino_runtime, "_converted", broken)
    monkeypatch.setattr(openvino_runtime, "_failed", set())
    monkeypatch.setattr(openvino_runtime, "_compiled", {})
    for _ in range(2):
        assert np.array_equal(np.asarray(restore_frame(degraded, model, jpeg=info, project=False)), expected)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "OpenVINO" in line]
    assert warnings == [f"warning: OpenVINO could not run {model} (conversion failed); using PyTorch"]


@pytest.fixture
def compiled_srcnn(tmp_path, monkeypatch):
    """The seed SRCNN compiled by OpenVINO into a cache folder of this test: (network, call)."""
    from pixrescue import openvino_runtime

    if not openvino_runtime.installed():
        pytest.skip("the openvino extra is not installed")
    monkeypatch.setenv("PIXRESCUE_CACHE", str(tmp_path))
    monkeypatch.setattr(openvino_runtime, "_compiled", {})
    network = zoo.load_model("srcnn.jpeg-q10-gray")
    call = openvino_runtime.compiled("srcnn.jpeg-q10-gray", zoo.weights_path("srcnn.jpeg-q10-gray"), "", network,
                                     (torch.rand(1, 1, 32, 32),), 1, False)
    assert call is not None
    return network, call


def test_a_converted_network_is_cached_on_disk(tmp_path, compiled_srcnn):
    network, call = compiled_srcnn
    assert list((tmp_path / "openvino").glob("srcnn.jpeg-q10-gray-*.xml"))
    x = torch.rand(1, 1, 45, 37)
    with torch.inference_mode():
        assert torch.allclose(call(x), network(x), atol=1e-4)


@pytest.mark.parametrize(("cpu", "allowed", "expected"), [
    (True, {"openvino_bf16", "bf16", "openvino_fp32"}, True),
    (True, {"bf16", "openvino_fp32"}, None),  # PyTorch's bf16 beats OpenVINO's fp32 there
    (True, {"openvino_fp32"}, False),
    (False, {"openvino_bf16", "bf16", "openvino_fp32"}, False),
    (False, {"openvino_bf16", "bf16"}, None),
    (True, set(), None),
])
def test_the_fastest_allowed_runtime_is_chosen(monkeypatch, cpu, allowed, expected):
    from pixrescue import openvino_runtime
    from pixrescue.training import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: cpu)
    monkeypatch.setattr(openvino_runtime, "installed", lambda: True)
    monkeypatch.setattr(zoo, "load_card", lambda name: {"inference": {
        key: {"allowed": key in allowed} for key in ("bf16", "openvino_fp32", "openvino_bf16")}})
    assert runner.openvino_choice("qgunet.jpeg-blind") is expected
    set_precision("fp32")
    assert runner.openvino_choice("qgunet.jpeg-blind") is None
    monkeypatch.setattr(openvino_runtime, "installed", lambda: False)
    set_precision("auto")
    assert runner.openvino_choice("qgunet.jpeg-blind") is None


def test_a_compiled_network_serves_several_threads_at_once(compiled_srcnn):
    """The web page runs jobs on several threads: each gets its own OpenVINO request."""
    from concurrent.futures import ThreadPoolExecutor

    _, call = compiled_srcnn
    inputs = [torch.rand(1, 1, 96 + 8 * i, 80) for i in range(8)]
    alone = [call(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(call, inputs))
    assert all(torch.equal(a, b) for a, b in zip(alone, together))
